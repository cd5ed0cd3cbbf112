"""Sysroots: a foreign Debian Python per Linux target, built with mmdebstrap and cached.

A sysroot is ``mmdebstrap --variant=extract`` of Debian bookworm for the target's architecture
with Python and what the suite imports (targets.SYSROOT_PACKAGES). It lives in
``<cache>/sysroots/<debian-arch>-<suite>-<key>``, where the key is a hash of the suite, the
architecture and the package list: change the list and a new sysroot is built beside the old.

A sysroot is built in a ``.partial`` folder, its bytecode precompiled, smoke-checked (its Python,
run the way the target's runner kind runs it, must import the suite's modules and report the
target's CPU), and only then given its completeness marker and renamed into place. A folder
without the marker (an interrupted or older build) is never used: it is removed and built
again. The runner kind that uses a sysroot (ci/runners/qemu.py) says how to run its Python;
this module knows nothing of QEMU.

The Debian mirror is taken from the host's own apt sources (FIBER_DEBIAN_MIRROR overrides it).
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

from ci import paths
from ci.targets import SUITE, SYSROOT_PACKAGES, Target
from ci.tools import SetupError

# Bump when the layout or the build steps change in a way the package list does not show.
FORMAT = 1
MARKER = ".fiber-sysroot.json"
KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg"

# What building a sysroot needs on the host: (command or file, Debian package).
HOST_NEEDS = (("mmdebstrap", "mmdebstrap"), (KEYRING, "debian-archive-keyring"))

Log = Callable[[str], None]
# The command that runs the Python of the sysroot at a path (the runner kind's way).
PythonCommand = Callable[[Path], list[str]]
# What builds a sysroot into a folder and returns the smoke check's facts.
Builder = Callable[[Target, Path, Log], dict]

SMOKE = (
    "import json, platform, sys, sysconfig\n"
    "import cffi, pytest, xdist, pytest_timeout, hypothesis\n"
    "print(json.dumps({'machine': platform.machine(),"
    " 'python': platform.python_version(),"
    " 'ext_suffix': sysconfig.get_config_var('EXT_SUFFIX')}))\n"
)


class SysrootError(SetupError):
    """A sysroot could not be built or failed its smoke check."""


@dataclass(frozen=True)
class Sysroot:
    path: Path
    python: str  # the version of its Python, e.g. 3.11.2
    ext_suffix: str  # EXT_SUFFIX of its Python, e.g. .cpython-311-aarch64-linux-gnu.so

    @property
    def python_exe(self) -> Path:
        return self.path / "usr" / "bin" / "python3"

    @property
    def python_include(self) -> Path:
        major_minor = ".".join(self.python.split(".")[:2])
        return self.path / "usr" / "include" / f"python{major_minor}"


# ----------------------------------------------------------------------------------------
# Cache keys and places
# ----------------------------------------------------------------------------------------


def cache_key(
    debian_arch: str, packages: tuple[str, ...] = SYSROOT_PACKAGES, suite: str = SUITE
) -> str:
    """A short hash of what goes into a sysroot: same inputs, same key; any change, new key."""
    blob = json.dumps(
        {"format": FORMAT, "suite": suite, "arch": debian_arch, "packages": sorted(set(packages))},
        sort_keys=True,
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


def sysroot_dir(
    target: Target, cache: Path | None = None, packages: tuple[str, ...] = SYSROOT_PACKAGES
) -> Path:
    cache = cache or paths.cache_root()
    key = cache_key(target.debian_arch, packages)
    return cache / "sysroots" / f"{target.debian_arch}-{SUITE}-{key}"


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


# ----------------------------------------------------------------------------------------
# The Debian mirror, from the host's apt configuration
# ----------------------------------------------------------------------------------------


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


def mirrors_in(sources: dict[str, str], suite: str = SUITE) -> list[str]:
    """Mirrors carrying `suite` main, from apt source files ({file name: text})."""
    found: list[str] = []
    for name, text in sources.items():
        if name.endswith(".sources"):
            for st in _deb822_stanzas(text):
                if st.get("enabled", "yes").lower() == "no":
                    continue
                if "deb" not in st.get("types", "").split():
                    continue
                if suite not in st.get("suites", "").split():
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
                    and words[2] == suite
                    and "main" in words[3:]
                ):
                    found.append(words[1])
    return [u.rstrip("/") for u in found if re.match(r"^(https?|file|ftp)://", u)]


def host_mirror(suite: str = SUITE, etc_apt: Path = Path("/etc/apt")) -> str:
    """FIBER_DEBIAN_MIRROR, else the first mirror of `suite` in the host's apt sources."""
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
    found = mirrors_in(sources, suite)
    if not found:
        raise SysrootError(
            f"no Debian mirror for {suite} main in {etc_apt}/sources.list or "
            f"{etc_apt}/sources.list.d/; set FIBER_DEBIAN_MIRROR to one"
        )
    return found[0]


# ----------------------------------------------------------------------------------------
# Building
# ----------------------------------------------------------------------------------------


def mmdebstrap_command(
    target: Target, dest: Path, mirror: str, packages: tuple[str, ...] = SYSROOT_PACKAGES
) -> list[str]:
    signed = f"[signed-by={KEYRING}] " if os.path.exists(KEYRING) else ""
    return [
        "mmdebstrap",
        "--variant=extract",
        f"--arch={target.debian_arch}",
        "--skip=check/qemu",
        '--aptopt=Acquire::Retries "3"',
        f"--include={','.join(packages)}",
        SUITE,
        str(dest),
        f"deb {signed}{mirror} {SUITE} main",
    ]


def first_apt_error(output: str) -> str:
    """apt's first "E: ..." line in mmdebstrap's output ("E: Failed to fetch URL  Could not
    connect ..."), or "": it names a mirror or network outage where the exit code does not."""
    for line in output.splitlines():
        if line.startswith("E: "):
            return line.strip()
    return ""


def mmdebstrap(target: Target, dest: Path, mirror: str, log: Log) -> None:
    cmd = mmdebstrap_command(target, dest, mirror)
    for attempt in (1, 2):  # a mirror hiccup ("File has unexpected size") deserves a retry
        log(f"sysroot: {shlex.join(cmd)}")
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
            # The first line is what summaries show: put apt's own error there.
            raise SysrootError(
                f"mmdebstrap failed for {target.name} "
                f"(exit {proc.returncode}): {first_apt_error(proc.stdout)}"
                f"\n{tail}"
            )
        log(f"sysroot: mmdebstrap failed (exit {proc.returncode}), retrying:\n{tail}")
        shutil.rmtree(dest, ignore_errors=True)


def precompile(root: Path, python: PythonCommand, log: Log) -> None:
    """Write the sysroot's bytecode once (importing pytest under QEMU: ~8 s -> ~3 s)."""
    libs = sorted((root / "usr" / "lib").glob("python3.*"))
    dirs = [str(d) for d in libs] + [str(root / "usr" / "lib" / "python3" / "dist-packages")]
    version = libs[-1].name.removeprefix("python") if libs else ""
    host = f"{sys.version_info[0]}.{sys.version_info[1]}"
    # The host's compileall writes the same .pyc as the target's when the versions match
    # (bytecode does not depend on the CPU); otherwise the sysroot's own Python does it, slower.
    same = version == host
    cmd = [
        *([sys.executable] if same else python(root)),
        "-m",
        "compileall",
        "-q",
        "-q",
        "-j0",
        *dirs,
    ]
    log(f"sysroot: precompiling bytecode with {'the host' if same else 'its own'} Python")
    subprocess.run(
        cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )


def smoke(target: Target, root: Path, python: PythonCommand) -> dict:
    """Run the sysroot's Python: it must import the suite's needs, on the target's CPU."""
    cmd = [*python(root), "-c", SMOKE]
    try:
        proc = subprocess.run(
            cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=300
        )
    except subprocess.TimeoutExpired:
        raise SysrootError(
            f"smoke check of the {target.name} sysroot timed out: {shlex.join(cmd)}"
        ) from None
    if proc.returncode != 0:
        raise SysrootError(
            f"smoke check of the {target.name} sysroot failed "
            f"(exit {proc.returncode}): {shlex.join(cmd)}\n{proc.stderr[-2000:]}"
        )
    info = json.loads(proc.stdout.strip().splitlines()[-1])
    if info.get("machine") != target.machine:
        raise SysrootError(
            f"smoke check of the {target.name} sysroot: its Python says it runs "
            f"on {info.get('machine')!r}, expected {target.machine!r}"
        )
    return info


def relativize_symlinks(root: Path) -> int:
    """Point the sysroot's absolute symlinks inside it, relatively. QEMU's -L maps the guest's
    paths into the sysroot, but a symlink's absolute target is read on the host: ppc64el's
    loader /lib64/ld64.so.2 -> /lib/powerpc64le-linux-gnu/ld64.so.2 would name the host's
    (missing) file. Returns how many links changed."""
    changed = 0
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            link = Path(dirpath) / name
            if not link.is_symlink():
                continue
            dest = os.readlink(link)
            if not dest.startswith("/"):
                continue
            link.unlink()
            link.symlink_to(os.path.relpath(root / dest.lstrip("/"), link.parent))
            changed += 1
    return changed


def build_into(target: Target, dest: Path, log: Log, python: PythonCommand) -> dict:
    """The real build: mmdebstrap, symlinks, bytecode, smoke check. Returns the smoke check's
    facts."""
    mmdebstrap(target, dest, host_mirror(), log)
    relativize_symlinks(dest)
    precompile(dest, python, log)
    return smoke(target, dest, python)


@contextlib.contextmanager
def _lock(path: Path) -> Iterator[None]:
    """One builder per sysroot at a time (two nox sessions may race for the same one)."""
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


def find(
    target: Target, cache: Path | None = None, packages: tuple[str, ...] = SYSROOT_PACKAGES
) -> Sysroot | None:
    """The target's sysroot if the cache holds it complete (under the current key), else None.
    Never builds."""
    path = sysroot_dir(target, cache, packages)
    data = read_marker(path)
    if data and data.get("key") == cache_key(target.debian_arch, packages):
        return Sysroot(path, data["python"], data["ext_suffix"])
    return None


def ensure(
    target: Target,
    *,
    python: PythonCommand | None = None,
    cache: Path | None = None,
    packages: tuple[str, ...] = SYSROOT_PACKAGES,
    builder: Builder | None = None,
    log: Log = print,
) -> Sysroot:
    """The target's sysroot, built (or rebuilt, when half-built) if needed.

    `python` runs a sysroot's Python (for the bytecode and the smoke check); `builder`
    replaces the whole build (the tests' fake).
    """
    if not target.debian_arch:
        raise SysrootError(f"target {target.name} runs without a sysroot")
    if builder is None:
        if python is None:
            raise ValueError("sysroots.ensure needs `python` (how to run the sysroot's Python)")
        run_python = python

        def builder(t: Target, dest: Path, lg: Log) -> dict:
            return build_into(t, dest, lg, run_python)

    path = sysroot_dir(target, cache, packages)
    key = cache_key(target.debian_arch, packages)
    with _lock(path.with_name(path.name + ".lock")):
        found = find(target, cache, packages)
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
        log(f"sysroot: building {target.debian_arch} {SUITE} sysroot for {target.name} in {path}")
        info = builder(target, partial, log)
        marker = {
            "key": key,
            "target": target.name,
            "arch": target.debian_arch,
            "suite": SUITE,
            "packages": sorted(set(packages)),
            "python": info["python"],
            "ext_suffix": info["ext_suffix"],
            "machine": info["machine"],
        }
        (partial / MARKER).write_text(json.dumps(marker, indent=1) + "\n")
        os.rename(partial, path)
        return Sysroot(path, info["python"], info["ext_suffix"])
