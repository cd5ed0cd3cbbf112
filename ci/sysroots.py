"""Sysroots: Debian's own Pythons for a suite and an architecture, built with mmdebstrap and
cached.

A sysroot is ``mmdebstrap --variant=extract`` of one Debian suite for one architecture, with
the interpreters of every CPython version of the table that suite carries for that ABI (so
sid's 3.14 and 3.15 share one sysroot per architecture) and what the suite imports
(targets.MODULE_PACKAGES). It lives in ``<cache>/sysroots/<debian-arch>-<suite>-<key>``, where
the key hashes the suite, the architecture, the package list and the PyPI requirements: change
any of them and a new sysroot is built beside the old.

The steps, in a ``.partial`` folder renamed into place only at the end:

1. mmdebstrap, with the suite's settings (targets.SUITES): the merged-/usr setup hook for
   trixie on (the extract variant does not create /bin, /lib, /lib64 -> usr/...; a
   ``usr/lib64`` without its ``lib64`` link, loong64's, gets one), Release files whose
   Valid-Until has passed accepted for sid.
2. ``ldconfig -r``: the sysroot's own ld.so.cache. Without one, a guest loader under
   ``qemu-ARCH -L`` reads the host's /etc/ld.so.cache and can load the host's libraries
   (qemu-i386 took the host's 32-bit libc 2.36 for sid's 2.42: "GLIBC_2.38 not found").
3. Requirements Debian lacks for a version (the table's ``pypi``): ``pip install --target`` of
   binary wheels for the sysroot's platform into its ``/usr/local/lib/python3.X/dist-packages``
   (on that interpreter's sys.path only).
4. Bytecode, written by an interpreter of the same version running natively (bytecode does not
   depend on the CPU): the host's Python when its version matches, else the same suite's amd64
   sysroot's interpreter through its own dynamic loader (that sysroot is built first if
   needed). Measured on sid arm64 with 3.14: 7 s of CPU that way, 73 s under QEMU; without
   bytecode each emulated start of pytest pays the compilation again. When the two
   interpreters' magic numbers differ (a lagging architecture), the sysroot's own interpreter
   compiles it, under its runner.
5. The smoke check, per interpreter, run the way the runner kind runs it: it must import the
   suite's modules and report the ABI's CPU; its version, extension suffix and bytecode magic
   go into the completeness marker ``.fiber-sysroot.json``.

A folder without the marker (an interrupted or older build) is never used: it is removed and
built again. The runner kinds that use sysroots (ci/runners/qemu.py, loader.py) say how to run
a sysroot's Python; this module knows only how to run an amd64 one natively (its loader).

The Debian mirror is the one in the host's apt sources (FIBER_DEBIAN_MIRROR overrides it); it
serves every suite.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from ci import paths, pip_wheels
from ci.targets import ABIS, MODULE_PACKAGES, PYTHONS, SUITES, Abi, Target
from ci.tools import SetupError

# Bump when the layout or the build steps change in a way the package list does not show.
FORMAT = 2
MARKER = ".fiber-sysroot.json"
KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg"

# What building a sysroot needs on the host: (command or file, Debian package).
HOST_NEEDS = (("mmdebstrap", "mmdebstrap"), (KEYRING, "debian-archive-keyring"))

# The Debian architectures whose programs run natively here through their own loader: the
# loader's path in the sysroot, and the multiarch library folder.
LOADERS = {"amd64": ("lib64/ld-linux-x86-64.so.2", "x86_64-linux-gnu")}

# Wheel platform names by platform.machine() (PyPI's manylinux tags).
WHEEL_MACHINE = {"armv7l": "armv7l", "i686": "i686"}

Log = Callable[[str], None]
# The command that runs interpreter `version` of the sysroot at a path (the runner kind's way).
PythonCommand = Callable[[Path, str], list[str]]

SMOKE = (
    "import importlib.util, json, platform, sys, sysconfig\n"
    "import cffi, pytest, xdist, pytest_timeout, hypothesis, coverage, trio\n"
    "print(json.dumps({'machine': platform.machine(),"
    " 'python': platform.python_version(),"
    " 'ext_suffix': sysconfig.get_config_var('EXT_SUFFIX'),"
    " 'magic': importlib.util.MAGIC_NUMBER.hex()}))\n"
)
MAGIC = "import importlib.util; print(importlib.util.MAGIC_NUMBER.hex())"


class SysrootError(SetupError):
    """A sysroot could not be built or failed its smoke check."""


# ----------------------------------------------------------------------------------------
# What a sysroot holds
# ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Spec:
    """What goes into one sysroot: a suite, an architecture, the versions it serves."""

    suite: str
    debian_arch: str
    machine: str  # what platform.machine() must say there
    versions: tuple[str, ...]
    pypi: tuple[tuple[str, tuple[str, ...]], ...] = ()  # (version, requirements)

    @property
    def packages(self) -> tuple[str, ...]:
        pkgs = [p for v in self.versions for p in (f"python{v}", f"python{v}-dev")]
        return tuple(sorted(set(pkgs) | set(MODULE_PACKAGES)))

    @property
    def key(self) -> str:
        """A short hash of the inputs: same inputs, same key; any change, a new key."""
        blob = json.dumps(
            {
                "format": FORMAT,
                "suite": self.suite,
                "arch": self.debian_arch,
                "packages": list(self.packages),
                "pypi": [[v, sorted(r)] for v, r in self.pypi if r],
            },
            sort_keys=True,
        )
        return hashlib.sha256(blob.encode()).hexdigest()[:12]

    @property
    def dirname(self) -> str:
        return f"{self.debian_arch}-{self.suite}-{self.key}"

    @property
    def label(self) -> str:
        """How reports name it: "sysroot sid arm64"."""
        return f"sysroot {self.suite} {self.debian_arch}"

    def requirements(self, version: str) -> tuple[str, ...]:
        return next((r for v, r in self.pypi if v == version), ())


def spec_of(abi: Abi, suite: str) -> Spec:
    """The sysroot of `suite` for `abi`: every version of the table that suite carries for it."""
    rows = [p for p in PYTHONS if p.suite == suite and abi.name in p.abis]
    return Spec(
        suite=suite,
        debian_arch=abi.debian_arch,
        machine=abi.machine,
        versions=tuple(p.version for p in rows),
        pypi=tuple((p.version, p.pypi) for p in rows if p.pypi),
    )


def spec_for(target: Target) -> Spec:
    if not target.debian_arch or target.python is None:
        raise SysrootError(f"target {target.name} runs without a sysroot")
    return spec_of(target.abi, target.python.suite)


def native_spec(suite: str, version: str) -> Spec:
    """The host architecture's sysroot of `suite` serving `version` (for bytecode)."""
    host = next(a for a in ABIS if a.runner == "native" and a.os == "linux")
    spec = spec_of(host, suite)
    if version not in spec.versions:  # not a pair of the table: a sysroot of that one only
        pypi = tuple(
            (p.version, p.pypi)
            for p in PYTHONS
            if p.suite == suite and p.version == version and p.pypi
        )[:1]
        spec = Spec(suite, host.debian_arch, host.machine, (version,), pypi)
    return spec


@dataclass(frozen=True)
class Interpreter:
    version: str  # platform.python_version(): 3.14.10
    ext_suffix: str  # EXT_SUFFIX: .cpython-314-aarch64-linux-gnu.so
    magic: str  # importlib.util.MAGIC_NUMBER, in hex

    @property
    def major_minor(self) -> str:
        return ".".join(self.version.split(".")[:2])


@dataclass(frozen=True)
class Sysroot:
    path: Path
    suite: str
    debian_arch: str
    interpreters: tuple[Interpreter, ...]

    def interpreter(self, version: str) -> Interpreter:
        for i in self.interpreters:
            if i.major_minor == version:
                return i
        raise SysrootError(f"the {self.suite} {self.debian_arch} sysroot has no Python {version}")

    def python_exe(self, version: str) -> Path:
        return python_exe(self.path, version)

    def python_include(self, version: str) -> Path:
        return self.path / "usr" / "include" / f"python{version}"

    def loader(self) -> list[str]:
        return loader_command(self.path, self.debian_arch)


def python_exe(root: Path, version: str) -> Path:
    return root / "usr" / "bin" / f"python{version}"


def loader_command(root: Path, debian_arch: str) -> list[str]:
    """The command prefix that runs a program of the sysroot at `root` natively, with the
    sysroot's own dynamic loader and libraries (not the host's libc)."""
    if debian_arch not in LOADERS:
        raise SysrootError(f"programs of a {debian_arch} sysroot do not run natively here")
    loader, multiarch = LOADERS[debian_arch]
    libs = [root / "usr" / "lib" / multiarch, root / "usr" / "lib"]
    return [str(root / loader), "--library-path", ":".join(map(str, libs))]


# ----------------------------------------------------------------------------------------
# Cache places and markers
# ----------------------------------------------------------------------------------------


def sysroot_dir(spec: Spec, cache: Path | None = None) -> Path:
    return (cache or paths.cache_root()) / "sysroots" / spec.dirname


def read_marker(path: Path) -> dict | None:
    """The completeness marker's contents, or None when the sysroot is absent or half-built."""
    try:
        data = json.loads((path / MARKER).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def is_complete(path: Path, key: str) -> bool:
    data = read_marker(path)
    return bool(data) and data.get("key") == key


def _from_marker(path: Path, spec: Spec, data: dict) -> Sysroot:
    pythons = data["pythons"]
    return Sysroot(
        path,
        spec.suite,
        spec.debian_arch,
        tuple(
            Interpreter(pythons[v]["python"], pythons[v]["ext_suffix"], pythons[v]["magic"])
            for v in spec.versions
        ),
    )


# ----------------------------------------------------------------------------------------
# The Debian mirror, from the host's apt configuration
# ----------------------------------------------------------------------------------------

# Any of these in the host's apt sources names a Debian mirror; every suite is on it.
DEBIAN_SUITES = ("bookworm", "trixie", "forky", "sid", "bullseye")


def _deb822_stanzas(text: str) -> Iterator[dict[str, str]]:
    stanza: dict[str, str] = {}
    last = None
    for raw in text.splitlines() + [""]:
        line = raw.rstrip()
        if line.startswith("#"):
            continue
        if not line.strip():
            if stanza:
                yield stanza
            stanza, last = {}, None
            continue
        if line[0].isspace() and last:
            stanza[last] += " " + line.strip()
            continue
        if ":" in line:
            k, v = line.split(":", 1)
            last = k.strip().lower()
            stanza[last] = v.strip()


def mirrors_in(sources: dict[str, str], suites: tuple[str, ...] = DEBIAN_SUITES) -> list[str]:
    """Mirrors carrying one of `suites` main, from apt source files ({file name: text})."""
    found: list[str] = []
    for name, text in sources.items():
        if name.endswith(".sources"):
            for st in _deb822_stanzas(text):
                if st.get("enabled", "yes").lower() == "no":
                    continue
                if "deb" not in st.get("types", "").split():
                    continue
                if not set(suites) & set(st.get("suites", "").split()):
                    continue
                if "main" not in st.get("components", "").split():
                    continue
                found += st.get("uris", "").split()
        else:
            for line in text.splitlines():
                line = line.split("#", 1)[0]
                line = re.sub(r"\[[^]]*\]", " ", line)  # [signed-by=... arch=...]
                words = line.split()
                if (
                    len(words) >= 4
                    and words[0] == "deb"
                    and words[2] in suites
                    and "main" in words[3:]
                ):
                    found.append(words[1])
    return [u.rstrip("/") for u in found if re.match(r"^(https?|file|ftp)://", u)]


def host_mirror(etc_apt: Path = Path("/etc/apt")) -> str:
    """FIBER_DEBIAN_MIRROR, else the first Debian mirror in the host's apt sources."""
    explicit = os.environ.get("FIBER_DEBIAN_MIRROR")
    if explicit:
        return explicit.rstrip("/")
    sources: dict[str, str] = {}
    files = [etc_apt / "sources.list"]
    d = etc_apt / "sources.list.d"
    if d.is_dir():
        files += sorted(p for p in d.iterdir() if p.suffix in (".list", ".sources"))
    for f in files:
        with contextlib.suppress(OSError):
            sources[f.name] = f.read_text()
    found = mirrors_in(sources)
    if not found:
        raise SysrootError(
            f"no Debian mirror ({'/'.join(DEBIAN_SUITES)} main) in {etc_apt}/sources.list or "
            f"{etc_apt}/sources.list.d/; set FIBER_DEBIAN_MIRROR to one"
        )
    return found[0]


# ----------------------------------------------------------------------------------------
# Building
# ----------------------------------------------------------------------------------------


def mmdebstrap_command(spec: Spec, dest: Path, mirror: str) -> list[str]:
    suite = SUITES[spec.suite]
    signed = f"[signed-by={KEYRING}] " if os.path.exists(KEYRING) else ""
    cmd = [
        "mmdebstrap",
        "--variant=extract",
        f"--arch={spec.debian_arch}",
        "--skip=check/qemu",
        '--aptopt=Acquire::Retries "3"',
    ]
    if not suite.valid_until:
        cmd.append('--aptopt=Acquire::Check-Valid-Until "false"')
    if suite.merged_usr:
        cmd.append("--setup-hook=/usr/share/mmdebstrap/hooks/merged-usr/setup00.sh")
    return [
        *cmd,
        f"--include={','.join(spec.packages)}",
        spec.suite,
        str(dest),
        f"deb {signed}{mirror} {spec.suite} main",
    ]


def first_apt_error(output: str) -> str:
    """apt's first "E: ..." line in mmdebstrap's output ("E: Failed to fetch URL  Could not
    connect ..."), or "": it names a mirror or network outage where the exit code does not."""
    for line in output.splitlines():
        if line.startswith("E: "):
            return line.strip()
    return ""


def mmdebstrap(spec: Spec, dest: Path, mirror: str, log: Log) -> None:
    run_mmdebstrap(
        mmdebstrap_command(spec, dest, mirror),
        dest,
        f"the {spec.suite} {spec.debian_arch} sysroot",
        log,
    )


def run_mmdebstrap(
    cmd: list[str],
    dest: Path,
    what: str,
    log: Log,
    label: str = "sysroot",
    error: type[SetupError] = SysrootError,
) -> None:
    """Run mmdebstrap `cmd` into `dest`, and once more after a failure (a mirror hiccup, "File
    has unexpected size", deserves a retry). When both fail, `error` names `what` with apt's
    own error on its first line (what summaries show) and the output's tail; `label` starts
    each log line."""
    for attempt in (1, 2):
        log(f"{label}: {shlex.join(cmd)}")
        proc = subprocess.run(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        if proc.returncode == 0:
            return
        tail = "\n".join(proc.stdout.splitlines()[-25:])
        if attempt == 2:
            raise error(
                f"mmdebstrap failed for {what} (exit {proc.returncode}): "
                f"{first_apt_error(proc.stdout)}\n{tail}"
            )
        log(f"{label}: mmdebstrap failed (exit {proc.returncode}), retrying:\n{tail}")
        shutil.rmtree(dest, ignore_errors=True)


def finish_layout(root: Path) -> None:
    """Links the merged-/usr hook does not make (loong64 keeps its loader in usr/lib64), and
    every absolute symbolic link made relative: QEMU's -L looks a guest path up under the
    sysroot, but the host's kernel follows an absolute link from the host's root (bookworm
    ppc64el's /lib64/ld64.so.2 -> /lib/powerpc64le-linux-gnu/ld64.so.2: "Could not open
    '/lib64/ld64.so.2'")."""
    for name in ("lib64", "lib32", "libx32"):
        if (root / "usr" / name).is_dir() and not os.path.lexists(root / name):
            (root / name).symlink_to(f"usr/{name}")
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            link = Path(folder) / name
            if not link.is_symlink():
                continue
            target = os.readlink(link)
            if target.startswith("/"):
                link.unlink()
                link.symlink_to(os.path.relpath(root / target.lstrip("/"), folder))


def ldconfig(root: Path, log: Log) -> None:
    """The sysroot's own /etc/ld.so.cache (see the module's docstring)."""
    exe = shutil.which("ldconfig") or "/sbin/ldconfig"
    proc = subprocess.run(
        [exe, "-r", str(root)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    if proc.returncode != 0 or not (root / "etc" / "ld.so.cache").is_file():
        raise SysrootError(f"ldconfig -r {root} failed (exit {proc.returncode}):\n{proc.stdout}")


def pip_command(spec: Spec, root: Path, version: str) -> list[str]:
    """pip install --target of the version's PyPI requirements, as wheels for the sysroot's
    platform (pip evaluates environment markers against the host: list marker-only
    dependencies in the table by hand)."""
    machine = WHEEL_MACHINE.get(spec.machine, spec.machine)
    platforms = [f"manylinux_2_{n}_{machine}" for n in (17, 28, 34)]
    return pip_wheels.install_command(
        site_dir(root, version), version, platforms, spec.requirements(version)
    )


def site_dir(root: Path, version: str) -> Path:
    """A folder on that interpreter's sys.path only (Debian's /usr/local site folder)."""
    return root / "usr" / "local" / "lib" / f"python{version}" / "dist-packages"


def install_pypi(spec: Spec, root: Path, log: Log) -> None:
    for version, reqs in spec.pypi:
        if not reqs:
            continue
        cmd = pip_command(spec, root, version)
        log(f"sysroot: {shlex.join(cmd)}")
        proc = subprocess.run(
            cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=600
        )
        if proc.returncode != 0:
            raise SysrootError(
                f"pip install of {' '.join(reqs)} for Python {version} into the "
                f"{spec.suite} {spec.debian_arch} sysroot failed:\n{proc.stderr[-2000:]}"
            )


def _output(cmd: list[str], what: str, timeout: float = 300) -> str:
    try:
        proc = subprocess.run(
            cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout
        )
    except subprocess.TimeoutExpired:
        raise SysrootError(f"{what} timed out: {shlex.join(cmd)}") from None
    except OSError as e:
        raise SysrootError(f"{what}: {e}: {shlex.join(cmd)}") from None
    if proc.returncode != 0:
        raise SysrootError(
            f"{what} failed (exit {proc.returncode}): {shlex.join(cmd)}\n{proc.stderr[-2000:]}"
        )
    return proc.stdout


def bytecode_dirs(root: Path, version: str) -> list[Path]:
    dirs = [
        root / "usr" / "lib" / f"python{version}",
        root / "usr" / "lib" / "python3" / "dist-packages",
        site_dir(root, version),
    ]
    return [d for d in dirs if d.is_dir()]


def precompile(
    root: Path, version: str, compiler: list[str], target_python: list[str], log: Log
) -> str:
    """Write the bytecode of `version` under `root` with `compiler` (a native interpreter of
    the same version), or with the sysroot's own (`target_python`) when their magic numbers
    differ. Returns which one did it."""
    theirs = _output([*target_python, "-S", "-c", MAGIC], "asking the sysroot's Python").strip()
    ours = _output([*compiler, "-S", "-c", MAGIC], "asking the native Python").strip()
    use, who = (compiler, "a native") if ours == theirs else (target_python, "its own")
    # No -j: compileall's workers exec sys.executable, which through a loader or QEMU would not
    # be the command that started it.
    cmd = [*use, "-m", "compileall", "-q", "-q", *map(str, bytecode_dirs(root, version))]
    log(f"sysroot: bytecode of Python {version} by {who} interpreter: {shlex.join(cmd)}")
    subprocess.run(
        cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    return who


def smoke(spec: Spec, root: Path, version: str, python: list[str]) -> dict:
    """Run the sysroot's Python: it must import the suite's needs, on the ABI's CPU."""
    out = _output(
        [*python, "-c", SMOKE], f"smoke check of Python {version} in the {spec.label}", 300
    )
    info = json.loads(out.strip().splitlines()[-1])
    if info.get("machine") != spec.machine:
        raise SysrootError(
            f"smoke check of the {spec.label}: its Python {version} says it runs on "
            f"{info.get('machine')!r}, expected {spec.machine!r}"
        )
    if not str(info.get("python", "")).startswith(version + "."):
        raise SysrootError(
            f"smoke check of the {spec.label}: python{version} is {info.get('python')}"
        )
    return info


# What builds a sysroot into a folder: returns {version: smoke facts}.
Builder = Callable[[Spec, Path, Log], dict]


def native_python(suite: str, version: str, cache: Path | None, log: Log) -> list[str]:
    """A native interpreter of `version` (for bytecode): the host's, or the same suite's
    amd64 sysroot's through its loader (built if needed)."""
    if f"{sys.version_info[0]}.{sys.version_info[1]}" == version:
        return [sys.executable]
    spec = native_spec(suite, version)
    sysroot = ensure(spec, python=native_command(spec), cache=cache, log=log)
    return [*sysroot.loader(), str(sysroot.python_exe(version))]


def native_command(spec: Spec) -> PythonCommand:
    def run(root: Path, version: str) -> list[str]:
        return [*loader_command(root, spec.debian_arch), str(python_exe(root, version))]

    return run


def build_into(
    spec: Spec, dest: Path, log: Log, python: PythonCommand, cache: Path | None = None
) -> dict:
    """The real build (the module's docstring, steps 1 to 5)."""
    mmdebstrap(spec, dest, host_mirror(), log)
    finish_layout(dest)
    ldconfig(dest, log)
    install_pypi(spec, dest, log)
    facts = {}
    for version in spec.versions:
        own = python(dest, version)
        if spec.debian_arch in LOADERS:
            compiler = own  # natively already
        else:
            compiler = native_python(spec.suite, version, cache, log)
        precompile(dest, version, compiler, own, log)
        facts[version] = smoke(spec, dest, version, own)
    return facts


@contextlib.contextmanager
def _lock(path: Path) -> Iterator[None]:
    """One builder per sysroot at a time (two pairs, or two nox sessions, may race for it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as fh:
        try:
            import fcntl
        except ImportError:  # pragma: no cover - not on POSIX
            yield
            return
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def find(spec: Spec, cache: Path | None = None) -> Sysroot | None:
    """The sysroot if the cache holds it complete (under the current key), else None.
    Never builds."""
    path = sysroot_dir(spec, cache)
    data = read_marker(path)
    if data and data.get("key") == spec.key:
        return _from_marker(path, spec, data)
    return None


def ensure(
    spec: Spec,
    *,
    python: PythonCommand | None = None,
    cache: Path | None = None,
    builder: Builder | None = None,
    log: Log = print,
) -> Sysroot:
    """The sysroot, built (or rebuilt, when half-built) if needed.

    `python` runs a sysroot's interpreter of a version (for the bytecode and the smoke check);
    `builder` replaces the whole build (the tests' fake).
    """
    if builder is None:
        if python is None:
            raise ValueError("sysroots.ensure needs `python` (how to run the sysroot's Python)")
        run_python = python

        def builder(s: Spec, dest: Path, lg: Log) -> dict:
            return build_into(s, dest, lg, run_python, cache)

    path = sysroot_dir(spec, cache)
    with _lock(path.with_name(path.name + ".lock")):
        found = find(spec, cache)
        if found is not None:
            return found
        if path.exists():
            log(f"sysroot: {path} is incomplete (no marker: an interrupted build); rebuilding")
            shutil.rmtree(path)
        partial = path.with_name(path.name + ".partial")
        if partial.exists():
            log(f"sysroot: removing {partial}, left by an interrupted build")
            shutil.rmtree(partial)
        partial.parent.mkdir(parents=True, exist_ok=True)
        log(
            f"sysroot: building the {spec.suite} {spec.debian_arch} sysroot "
            f"(Python {', '.join(spec.versions)}) in {path}"
        )
        facts = builder(spec, partial, log)
        marker = {
            "key": spec.key,
            "suite": spec.suite,
            "arch": spec.debian_arch,
            "machine": spec.machine,
            "packages": list(spec.packages),
            "pypi": {v: list(r) for v, r in spec.pypi},
            "pythons": {
                v: {k: facts[v][k] for k in ("python", "ext_suffix", "magic")}
                for v in spec.versions
            },
        }
        (partial / MARKER).write_text(json.dumps(marker, indent=1) + "\n")
        os.rename(partial, path)
        return _from_marker(path, spec, marker)
