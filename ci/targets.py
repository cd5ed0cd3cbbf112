"""The one table of targets: ABIs x CPython versions. Everything else in the harness is derived
from it.

Two small tables:

- :data:`ABIS`: one row per ABI (compiler, Debian architecture, how its programs run, the host
  tools it needs, what ``platform.machine()`` says there);
- :data:`PYTHONS`: one row per CPython version (the Debian suite that carries it, its Debian
  packages, and which ABIs that suite has it for; a version some ABIs take from another suite
  has a second row for those).

A *target* is a pair of the two (:class:`Target`), named ``<abi>-py<version>``
(``aarch64-linux-py3.14``); an ABI that runs no Python of its own (x86_64-windows: its programs
run under Wine, its Python suite on the CI workflow's Windows runner) is one target named after
the ABI alone. :data:`TARGETS` lists every pair, ABI by ABI in table order, each ABI's pairs
from the oldest Python to the newest.

The nox sessions (noxfile.py), the CI workflow (ci/github-workflow.yml, written by
``python -m ci workflow --write``), the README's table (``python -m ci readme --write``), the
sysroots (per Debian suite and architecture), the reports and the per-target parameters of the
tests (tests/core/test_unwind_info.py, tests/core/test_c_conformance.py, tests/harness/) all
come from these tables; tests/harness/test_generated.py fails when a committed copy drifts from
them.

Adding an ABI is one row of ABIS (plus its stack-switch assembly: docs/harness.md, "Adding a
target"); adding a CPython version is one row of PYTHONS (plus its fiber/glue/compat_3XX.c).
How a pair's programs and Python run is its runner kind, a module of ci/runners/.

This module is plain data: it imports nothing from ci, so that any module can use it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from fiber import _build

# What every Linux sysroot holds besides the interpreters: what the suite imports. Debian's
# pure-Python packages serve every python3.X of their suite; the compiled ones (cffi's backend,
# coverage's tracer) are built for each of the suite's supported versions.
MODULE_PACKAGES = (
    "python3-cffi",
    "python3-pytest",
    "python3-pytest-xdist",
    "python3-pytest-timeout",
    "python3-hypothesis",
    "python3-coverage",  # coverage of code on fibers (tests/python/test_fiber_state.py)
    "python3-trio",  # fiber.aio under trio (tests/python/test_aio*.py)
)

# What the host's Python needs to build the extension and drive pytest (the nox sessions and
# the CI workflow install exactly this list).
PYTHON_DEPS = (
    "cffi",
    "pytest",
    "pytest-xdist",
    "pytest-timeout",
    "hypothesis",
    "coverage",
    "trio",
)


class UnknownTarget(ValueError):
    """A target, ABI or Python version that is not in the tables; the message lists the
    known ones."""


# ----------------------------------------------------------------------------------------
# Debian suites: what building a sysroot of each needs
# ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Suite:
    """A Debian release the sysroots come from.

    merged_usr      its packages expect /bin, /lib, /sbin, /lib64 to point into /usr (trixie
                    on); the extract variant of mmdebstrap needs the merged-usr setup hook
    valid_until     False: apt ignores the Release file's Valid-Until date (sid's Release files
                    expire within days; on a machine whose mirror or clock lags, they read as
                    expired and apt refuses the suite)
    """

    name: str
    merged_usr: bool
    valid_until: bool = True


SUITES: dict[str, Suite] = {
    s.name: s
    for s in (
        Suite("bookworm", merged_usr=False),
        Suite("trixie", merged_usr=True),
        Suite("sid", merged_usr=True, valid_until=False),
    )
}


# ----------------------------------------------------------------------------------------
# The ABIs
# ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Abi:
    """One row of the ABI table.

    name          the ABI's name, ``<arch>-<os>``: the first half of its pairs' names, and what
                  the tests see as FIBER_TARGET
    arch, os      fiber._build.Toolchain's terms (arch: a label, os: linux/windows)
    cc            the C compiler command; "" means the host's compiler (fiber._build)
    debian_arch   the Debian architecture of its sysroots; "" when it needs none
    runner        how its programs run: "native", "qemu" (user-mode QEMU with a sysroot) or
                  "wine"; with a Python other than the host's, a native ABI's pairs run the
                  sysroot's interpreter through its own dynamic loader ("loader")
    emulator      the command that runs its programs ("qemu-aarch64", "wine64"); "" natively
    emulator_args arguments the emulator always gets (a faster QEMU CPU model)
    tools         host commands it needs, each with the Debian package providing it; a
                  package written ``PACKAGE/SUITE`` is not installed on the host but taken from
                  that suite into the harness's cache (ci/suite_tools.py), and
                  ``PACKAGE,PACKAGE/SUITE`` takes more than one for the command (a cross
                  compiler and its C library)
    machine       what platform.machine() says inside its Python (the smoke check)
    """

    name: str
    arch: str
    os: str
    cc: str
    debian_arch: str
    runner: str
    emulator: str
    tools: tuple[tuple[str, str], ...]
    machine: str
    emulator_args: tuple[str, ...] = ()

    @property
    def compiler(self) -> str:
        return self.cc or "host gcc"

    @property
    def objdump(self) -> str:
        """The objdump that reads this ABI's objects (the host's for the host compiler)."""
        return self.cc.removesuffix("gcc") + "objdump" if self.cc else "objdump"

    def toolchain(self, sysroot: Path | None = None, cc: str | None = None) -> _build.Toolchain:
        """The fiber._build.Toolchain that compiles for this ABI (`cc`: the compiler's full
        path, when the caller resolved it)."""
        if not self.cc:
            return _build.host_toolchain()
        return _build.Toolchain(cc=(cc or self.cc,), arch=self.arch, os=self.os, sysroot=sysroot)


ABIS: tuple[Abi, ...] = (
    Abi(
        name="x86_64-linux",
        arch="x86_64",
        os="linux",
        cc="",
        debian_arch="amd64",
        runner="native",
        emulator="",
        tools=(("gcc", "gcc"),),
        machine="x86_64",
    ),
    Abi(
        name="i686-linux",
        arch="i686",
        os="linux",
        cc="i686-linux-gnu-gcc",
        debian_arch="i386",
        runner="qemu",
        emulator="qemu-i386",
        tools=(("i686-linux-gnu-gcc", "gcc-i686-linux-gnu"), ("qemu-i386", "qemu-user")),
        machine="i686",
    ),
    Abi(
        name="aarch64-linux",
        arch="aarch64",
        os="linux",
        cc="aarch64-linux-gnu-gcc",
        debian_arch="arm64",
        runner="qemu",
        emulator="qemu-aarch64",
        # Pointer authentication with QEMU's cheap implementation-defined algorithm instead of
        # the architected QARMA (Debian's newer builds sign every return address).
        emulator_args=("-cpu", "max,pauth-impdef=on"),
        tools=(("aarch64-linux-gnu-gcc", "gcc-aarch64-linux-gnu"), ("qemu-aarch64", "qemu-user")),
        machine="aarch64",
    ),
    Abi(
        name="armhf-linux",
        arch="armhf",
        os="linux",
        cc="arm-linux-gnueabihf-gcc",
        debian_arch="armhf",
        runner="qemu",
        emulator="qemu-arm",
        tools=(("arm-linux-gnueabihf-gcc", "gcc-arm-linux-gnueabihf"), ("qemu-arm", "qemu-user")),
        machine="armv7l",
    ),
    Abi(
        name="s390x-linux",
        arch="s390x",
        os="linux",
        cc="s390x-linux-gnu-gcc",
        debian_arch="s390x",
        runner="qemu",
        emulator="qemu-s390x",
        tools=(("s390x-linux-gnu-gcc", "gcc-s390x-linux-gnu"), ("qemu-s390x", "qemu-user")),
        machine="s390x",
    ),
    Abi(
        name="ppc64le-linux",
        arch="ppc64le",
        os="linux",
        cc="powerpc64le-linux-gnu-gcc",
        debian_arch="ppc64el",
        runner="qemu",
        emulator="qemu-ppc64le",
        tools=(
            ("powerpc64le-linux-gnu-gcc", "gcc-powerpc64le-linux-gnu"),
            ("qemu-ppc64le", "qemu-user"),
        ),
        machine="ppc64le",
    ),
    Abi(
        name="riscv64-linux",
        arch="riscv64",
        os="linux",
        cc="riscv64-linux-gnu-gcc",
        debian_arch="riscv64",
        runner="qemu",
        emulator="qemu-riscv64",
        tools=(("riscv64-linux-gnu-gcc", "gcc-riscv64-linux-gnu"), ("qemu-riscv64", "qemu-user")),
        machine="riscv64",
    ),
    Abi(
        name="loongarch64-linux",
        arch="loongarch64",
        os="linux",
        cc="loongarch64-linux-gnu-gcc",
        debian_arch="loong64",
        runner="qemu",
        emulator="qemu-loongarch64",
        # Bookworm has no loongarch64 cross compiler, and its QEMU 7.2 dies on Debian's
        # loongarch64 code (SIGILL): trixie's compiler, run in a trixie chroot, and the
        # QEMU 10 of bookworm-backports, both kept in the harness's cache.
        tools=(
            (
                "loongarch64-linux-gnu-gcc",
                "gcc-14-loongarch64-linux-gnu,libc6-dev-loong64-cross/trixie",
            ),
            ("loongarch64-linux-gnu-objdump", "binutils-loongarch64-linux-gnu/trixie"),
            ("loongarch64-linux-gnu-readelf", "binutils-loongarch64-linux-gnu/trixie"),
            ("qemu-loongarch64", "qemu-user/bookworm-backports"),
        ),
        machine="loongarch64",
    ),
    Abi(
        name="x86_64-windows",
        arch="x86_64",
        os="windows",
        cc="x86_64-w64-mingw32-gcc",
        debian_arch="",
        runner="wine",
        emulator="wine64",
        # wine64 is the 64-bit loader; the `wine` package adds the launcher and wineboot.
        tools=(
            ("x86_64-w64-mingw32-gcc", "gcc-mingw-w64-x86-64"),
            ("wine64", "wine64"),
            ("wineboot", "wine"),
        ),
        machine="AMD64",
    ),
)


# ----------------------------------------------------------------------------------------
# The CPython versions
# ----------------------------------------------------------------------------------------


def linux_abis(*lacking: str) -> tuple[str, ...]:
    """Every Linux ABI of the table but those a suite lacks (a new ABI joins every CPython row
    whose suite has it without touching the row)."""
    unknown = set(lacking) - {a.name for a in ABIS}
    if unknown:
        raise ValueError(f"unknown ABI {sorted(unknown)}")
    return tuple(a.name for a in ABIS if a.os == "linux" and a.name not in lacking)


@dataclass(frozen=True)
class CPython:
    """One row of the CPython table.

    version       major.minor; the interpreter is /usr/bin/python<version> of the sysroot
    suite         the Debian suite whose packages provide it (a key of SUITES)
    abis          the ABIs that suite carries this version for (each makes a pair):
                  linux_abis(<those the suite lacks>)
    packages      its Debian packages (interpreter and headers) beside MODULE_PACKAGES
    host_native   on the ABI that runs natively here, this version is the host's own Python
                  (the nox session's) rather than the suite's
    pypi          requirements Debian lacks for this version: installed from PyPI into the
                  sysroot (pip install --target, binary wheels for the sysroot's platform)
    """

    version: str
    suite: str
    abis: tuple[str, ...]
    host_native: bool = False
    pypi: tuple[str, ...] = ()

    @property
    def packages(self) -> tuple[str, ...]:
        return (f"python{self.version}", f"python{self.version}-dev")

    @property
    def tag(self) -> str:
        """ "311" for 3.11: the cpython-311 of extension suffixes and wheel tags."""
        return self.version.replace(".", "")


PYTHONS: tuple[CPython, ...] = (
    # bookworm has no riscv64 or loong64 (riscv64 became a release architecture in trixie,
    # loong64 after it); sid has 3.14 and 3.15 for all eight (riscv64's 3.14 lags a patch
    # release: 3.14.9 when the others have 3.14.10).
    CPython("3.11", "bookworm", linux_abis("riscv64-linux", "loongarch64-linux"), True),
    # 3.13 is trixie's default. For s390x and ppc64el the Debian mirror here lacks files of
    # trixie's point release (libc6-dev, libssl3t64, zlib1g-dev ... 2.41-12+deb13u5: 404), so
    # those two take sid's 3.13, for which sid has no python3-cffi: cffi comes from PyPI
    # (binary wheels exist for both).
    CPython("3.13", "trixie", linux_abis("loongarch64-linux", "s390x-linux", "ppc64le-linux")),
    CPython("3.13", "sid", ("s390x-linux", "ppc64le-linux"), pypi=("cffi",)),
    CPython("3.14", "sid", linux_abis()),
    CPython("3.15", "sid", linux_abis()),
)


# ----------------------------------------------------------------------------------------
# The pairs
# ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """An ABI x CPython pair (or an ABI alone, when it runs no Python of its own)."""

    abi: Abi
    python: CPython | None

    @property
    def name(self) -> str:
        return f"{self.abi.name}-py{self.python.version}" if self.python else self.abi.name

    @property
    def version(self) -> str:
        """The CPython version ("3.14"), "" for an ABI that runs none of its own."""
        return self.python.version if self.python else ""

    @property
    def suite(self) -> str:
        return self.python.suite if self.python else ""

    @property
    def runner_kind(self) -> str:
        """The module of ci/runners/ that runs this pair."""
        if self.abi.runner == "native" and self.python and not self.python.host_native:
            return "loader"
        return self.abi.runner

    @property
    def runner(self) -> str:
        """The runner as reports show it: "native", "loader", "qemu-aarch64", "wine64"."""
        return self.abi.emulator or self.runner_kind

    # The ABI's facts, for the modules that only care about the ABI.
    @property
    def arch(self) -> str:
        return self.abi.arch

    @property
    def os(self) -> str:
        return self.abi.os

    @property
    def cc(self) -> str:
        return self.abi.cc

    @property
    def debian_arch(self) -> str:
        return self.abi.debian_arch

    @property
    def tools(self) -> tuple[tuple[str, str], ...]:
        return self.abi.tools

    @property
    def machine(self) -> str:
        return self.abi.machine

    @property
    def compiler(self) -> str:
        return self.abi.compiler

    def toolchain(self, sysroot: Path | None = None, cc: str | None = None) -> _build.Toolchain:
        return self.abi.toolchain(sysroot, cc)


VERSIONS: tuple[str, ...] = tuple(dict.fromkeys(p.version for p in PYTHONS))


def _pairs() -> tuple[Target, ...]:
    known = {a.name for a in ABIS}
    for p in PYTHONS:
        unknown = set(p.abis) - known
        if unknown or p.suite not in SUITES:
            raise ValueError(f"CPython {p.version}: unknown ABI or suite {unknown or p.suite}")
    out: list[Target] = []
    for abi in ABIS:
        pairs = []
        for version in VERSIONS:
            rows = [p for p in PYTHONS if p.version == version and abi.name in p.abis]
            if len(rows) > 1:
                raise ValueError(f"CPython {version} has more than one row for {abi.name}")
            pairs += [Target(abi, p) for p in rows]
        out += pairs or [Target(abi, None)]
    return tuple(out)


TARGETS: tuple[Target, ...] = _pairs()
NAMES: tuple[str, ...] = tuple(t.name for t in TARGETS)
ABI_NAMES: tuple[str, ...] = tuple(a.name for a in ABIS)

# The ABIs issue 13's wall-time goal is stated for (their 4 x 4 Linux pairs and Windows: 16 + 1
# targets); "core" selects them (FIBER_TARGETS=core), and reports call a run of exactly these
# with the whole suite a "core" run.
CORE_ABIS = ("x86_64-linux", "i686-linux", "aarch64-linux", "armhf-linux", "x86_64-windows")
CORE = "core"


def abi(name: str) -> Abi:
    for a in ABIS:
        if a.name == name:
            return a
    raise UnknownTarget(f"unknown ABI {name!r}; known ABIs: {', '.join(ABI_NAMES)}")


def python(version: str) -> CPython:
    """The (first) row of `version`."""
    for p in PYTHONS:
        if p.version == version:
            return p
    raise UnknownTarget(
        f"unknown CPython version {version!r}; known versions: {', '.join(VERSIONS)}"
    )


def abis_on(version: str) -> tuple[str, ...]:
    """Every ABI with a pair on `version` (over all of its rows)."""
    return tuple(a for p in PYTHONS if p.version == version for a in p.abis)


def _unknown(name: str) -> UnknownTarget:
    return UnknownTarget(
        f"unknown target {name!r}; known targets: {', '.join(NAMES)} (or an ABI, for all of "
        f"its pairs: {', '.join(ABI_NAMES)})"
    )


def get(name: str) -> Target:
    """The target called `name`; UnknownTarget (listing the known names) otherwise."""
    for t in TARGETS:
        if t.name == name:
            return t
    raise _unknown(name)


def core_names() -> list[str]:
    return [t.name for t in select(CORE)]


def pairs_of(abi_name: str) -> list[Target]:
    """Every target of one ABI, oldest Python first."""
    return [t for t in TARGETS if t.abi.name == abi_name]


def _split(names: str | list[str] | tuple[str, ...] | None) -> list[str]:
    if names is None:
        return []
    if isinstance(names, str):
        names = names.split(",")
    return [n for n in (p.strip() for p in names) if n]


def select(
    names: str | list[str] | tuple[str, ...] | None,
    pythons: str | list[str] | tuple[str, ...] | None = None,
) -> list[Target]:
    """Targets named in a comma-separated string or a list (None or empty: all of them), in
    the order named; an ABI's name stands for all of its pairs, "core" for those of CORE_ABIS.
    `pythons` ("3.14,3.15") keeps only the pairs on those CPython versions (an ABI without a
    Python of its own, the Windows one, then drops out)."""
    chosen: list[Target] = []
    wanted = _split(names)
    for n in wanted or NAMES:
        if n in NAMES:
            found = [get(n)]
        elif n in ABI_NAMES:
            found = pairs_of(n)
        elif n == CORE:
            found = [t for t in TARGETS if t.abi.name in CORE_ABIS]
        else:
            raise _unknown(n)
        chosen += [t for t in found if t not in chosen]
    versions = _split(pythons)
    for v in versions:
        python(v)  # an unknown version is an error, not an empty run
    if versions:
        chosen = [t for t in chosen if t.version in versions]
    return chosen


def from_environment() -> list[Target]:
    """The selection of FIBER_TARGETS and FIBER_PYTHONS (all targets when neither is set)."""
    return select(os.environ.get("FIBER_TARGETS"), os.environ.get("FIBER_PYTHONS"))


def per_abi_carriers(selected: list[Target]) -> dict[str, Target]:
    """Which selected target does its ABI's once-per-ABI work (the C conformance program's
    build and run, and the tests that drive the host's own tools): the ABI's first selected
    target, so that every run does that work once for every ABI it touches."""
    out: dict[str, Target] = {}
    for t in selected:
        out.setdefault(t.abi.name, t)
    return out


def host_target() -> Target | None:
    """The table's target that runs natively on this machine with the host's Python, if any."""
    for t in TARGETS:
        if t.runner_kind == "native" and t.arch == _build.host_arch():
            return t
    return None


def runs_natively(name: str | None = None) -> bool:
    """True when FIBER_TARGET (or `name`: an ABI's or a target's name) is unset or names an
    ABI that runs natively here.

    Tests that drive the host's own tools (the harness's tests, the cross compilers) run only
    there: tests/conftest.py skips them elsewhere.
    """
    if name is None:
        name = os.environ.get("FIBER_TARGET", "")
    if not name:
        return True
    if name in ABI_NAMES:
        return abi(name).runner == "native"
    try:
        return get(name).abi.runner == "native"
    except UnknownTarget:
        return False
