"""The one table of targets. Everything else in the harness is derived from it.

The nox sessions (noxfile.py), the CI workflow (ci/github-workflow.yml, written by
``python -m ci workflow --write``), the README's target table (``python -m ci readme
--write``) and the per-target parameters of the tests (tests/test_unwind_info.py,
tests/test_c_conformance.py, tests/harness/) all come from :data:`TARGETS`;
tests/harness/test_generated.py fails when a committed copy drifts from what this table says.

Adding a target is one row here (plus its stack-switch assembly file when its ABI is new),
then the two ``--write`` commands above. How a row's programs run is its runner kind: a
module of ci/runners/.

This module is plain data: it imports nothing from ci, so that any module can use it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from fiber import _build

# The Debian release every sysroot comes from; its Python (3.11) is the one the targets run.
SUITE = "bookworm"

# What goes into every Linux sysroot: a foreign Python with what the suite imports.
SYSROOT_PACKAGES = (
    "python3",
    "python3-dev",
    "python3-cffi",
    "python3-pytest",
    "python3-pytest-xdist",
    "python3-pytest-timeout",
    "python3-hypothesis",
    "python3-coverage",  # coverage of code on fibers (tests/test_fiber_state.py)
    "python3-trio",  # fiber.aio under trio (tests/test_aio*.py)
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
    """A target name that is not in the table; the message lists the known ones."""


@dataclass(frozen=True)
class Target:
    """One row of the table.

    name          the target's name, used by nox sessions, reports and FIBER_TARGET
    arch, os      fiber._build.Toolchain's terms (arch: a key of ASM_FILES; os: linux/windows)
    cc            the C compiler command; "" means the host's compiler (fiber._build)
    debian_arch   the Debian architecture of the target's sysroot; "" when it needs none
    runner_kind   how its programs and its Python run: the name of a module of ci/runners/
                  ("native", "qemu", "wine")
    runner        the runner's command as reports show it: "native", "qemu-<cpu>", "wine64"
    tools         host commands the target needs, each with the Debian package providing it
                  (the runner kind adds its own: ci/runners/)
    machine       what platform.machine() says inside the target's Python (the smoke check)
    """

    name: str
    arch: str
    os: str
    cc: str
    debian_arch: str
    runner_kind: str
    runner: str
    tools: tuple[tuple[str, str], ...]
    machine: str

    @property
    def compiler(self) -> str:
        return self.cc or "host gcc"

    def toolchain(self, sysroot: Path | None = None) -> _build.Toolchain:
        """The fiber._build.Toolchain that compiles for this target."""
        if not self.cc:
            return _build.host_toolchain()
        return _build.Toolchain(cc=(self.cc,), arch=self.arch, os=self.os, sysroot=sysroot)


def _tools(cc: tuple[str, str] | None, runner: tuple[str, str] | None, *more: tuple[str, str]):
    return tuple(t for t in (cc, runner, *more) if t)


TARGETS: tuple[Target, ...] = (
    Target(
        name="x86_64-linux",
        arch="x86_64",
        os="linux",
        cc="",
        debian_arch="amd64",
        runner_kind="native",
        runner="native",
        tools=_tools(("gcc", "gcc"), None),
        machine="x86_64",
    ),
    Target(
        name="i686-linux",
        arch="i686",
        os="linux",
        cc="i686-linux-gnu-gcc",
        debian_arch="i386",
        runner_kind="qemu",
        runner="qemu-i386",
        tools=_tools(("i686-linux-gnu-gcc", "gcc-i686-linux-gnu"), ("qemu-i386", "qemu-user")),
        machine="i686",
    ),
    Target(
        name="aarch64-linux",
        arch="aarch64",
        os="linux",
        cc="aarch64-linux-gnu-gcc",
        debian_arch="arm64",
        runner_kind="qemu",
        runner="qemu-aarch64",
        tools=_tools(
            ("aarch64-linux-gnu-gcc", "gcc-aarch64-linux-gnu"), ("qemu-aarch64", "qemu-user")
        ),
        machine="aarch64",
    ),
    Target(
        name="armhf-linux",
        arch="armhf",
        os="linux",
        cc="arm-linux-gnueabihf-gcc",
        debian_arch="armhf",
        runner_kind="qemu",
        runner="qemu-arm",
        tools=_tools(
            ("arm-linux-gnueabihf-gcc", "gcc-arm-linux-gnueabihf"), ("qemu-arm", "qemu-user")
        ),
        machine="armv7l",
    ),
    Target(
        name="s390x-linux",
        arch="s390x",
        os="linux",
        cc="s390x-linux-gnu-gcc",
        debian_arch="s390x",
        runner_kind="qemu",
        runner="qemu-s390x",
        tools=_tools(("s390x-linux-gnu-gcc", "gcc-s390x-linux-gnu"), ("qemu-s390x", "qemu-user")),
        machine="s390x",
    ),
    Target(
        name="ppc64le-linux",
        arch="ppc64le",
        os="linux",
        cc="powerpc64le-linux-gnu-gcc",
        debian_arch="ppc64el",
        runner_kind="qemu",
        runner="qemu-ppc64le",
        tools=_tools(
            ("powerpc64le-linux-gnu-gcc", "gcc-powerpc64le-linux-gnu"),
            ("qemu-ppc64le", "qemu-user"),
        ),
        machine="ppc64le",
    ),
    Target(
        name="x86_64-windows",
        arch="x86_64",
        os="windows",
        cc="x86_64-w64-mingw32-gcc",
        debian_arch="",
        runner_kind="wine",
        runner="wine64",
        # wine64 is the 64-bit loader; the `wine` package adds the launcher and wineboot.
        tools=_tools(
            ("x86_64-w64-mingw32-gcc", "gcc-mingw-w64-x86-64"),
            ("wine64", "wine64"),
            ("wineboot", "wine"),
        ),
        machine="AMD64",
    ),
)

NAMES: tuple[str, ...] = tuple(t.name for t in TARGETS)


def get(name: str) -> Target:
    """The target called `name`; UnknownTarget (listing the known names) otherwise."""
    for t in TARGETS:
        if t.name == name:
            return t
    raise UnknownTarget(f"unknown target {name!r}; known targets: {', '.join(NAMES)}")


def select(names: str | list[str] | tuple[str, ...] | None) -> list[Target]:
    """Targets named in a comma-separated string or a list (None or empty: all of them)."""
    if names is None:
        return list(TARGETS)
    if isinstance(names, str):
        names = [n for n in (p.strip() for p in names.split(",")) if n]
    if not names:
        return list(TARGETS)
    out: list[Target] = []
    for n in names:
        t = get(n)
        if t not in out:
            out.append(t)
    return out


def host_target() -> Target | None:
    """The table's row that runs natively on this machine, if any."""
    for t in TARGETS:
        if t.runner_kind == "native" and t.arch == _build.host_arch():
            return t
    return None


def runs_natively(name: str | None = None) -> bool:
    """True when FIBER_TARGET (or `name`) is unset or names the native target.

    Tests that drive the host's own tools (the harness's tests, the cross compilers) run only
    there: tests/conftest.py skips them elsewhere.
    """
    if name is None:
        name = os.environ.get("FIBER_TARGET", "")
    if not name:
        return True
    try:
        return get(name).runner_kind == "native"
    except UnknownTarget:
        return False
