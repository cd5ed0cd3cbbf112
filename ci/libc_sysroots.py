"""Old-glibc sysroots for the wheels: Debian bullseye's C library (glibc 2.31) per architecture.

A wheel's manylinux tag is set by the newest glibc symbol version its extension needs, and a
cross compiler links against its own C library (bookworm's glibc 2.36: ``pthread_key_create``
and friends moved into libc.so.6 at 2.34, so the extension needs GLIBC_2.34 and auditwheel
can only call it manylinux_2_34). Linked against bullseye's glibc 2.31 the same extension needs
nothing newer than each architecture's oldest symbols (GLIBC_2.17 on aarch64), and auditwheel
tags it manylinux2014 / manylinux_2_17: installable on every distribution of the last decade.
The Python headers still come from the target's own sysroot (CPython's ABI does not depend on
the libc the extension links against); the extension then runs on the target's newer glibc.

A libc sysroot is ``mmdebstrap --variant=extract`` of bullseye with ``libc6-dev`` (about 6 s
and 60 MB an architecture), its absolute symlinks made relative (else the linker cannot follow
``libpthread.so`` inside the sysroot and links libpthread statically), cached under
``<cache>/libc/<debian-arch>-bullseye-<key>`` with the same protocol as ci/sysroots.py: built
in a ``.partial`` folder under a lock, checked, given its marker, renamed into place.

:func:`compiler_flags` makes a compiler use it: ``--sysroot`` alone is not enough for Debian's
cross compilers, which search their own libc folder (/usr/<triplet>/lib) before the sysroot's,
so the sysroot's library and header folders are named first.

Architectures for which the mirror has no bullseye (s390x and ppc64el today; riscv64 and
loong64 never had it) have no libc sysroot: their wheels link against the cross compiler's own
libc (bookworm's 2.36) and get the newer tag it implies, manylinux_2_34 (docs/packaging.md).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from ci import paths, sysroots
from ci.tools import SetupError

SUITE = "bullseye"
# The architectures Debian's mirror still serves bullseye for: its LTS ones. (The release had
# s390x, ppc64el, mips64el and mipsel too; their indices left the mirror in 2025: "apt-get
# update did not find any indices for architecture 's390x' in suite 'bullseye'".)
ARCHES = ("amd64", "i386", "arm64", "armhf")
PACKAGES = ("libc6-dev",)
FORMAT = 1
MARKER = ".fiber-libc.json"

Log = Callable[[str], None]
# What builds a libc sysroot into a folder (the tests' fake replaces mmdebstrap).
Builder = Callable[[str, Path, Log], None]


class LibcSysrootError(SetupError):
    """A libc sysroot could not be built."""


@dataclass(frozen=True)
class LibcSysroot:
    path: Path
    debian_arch: str
    multiarch: str  # the folder under usr/lib: aarch64-linux-gnu, arm-linux-gnueabihf, ...
    glibc: str  # the version of its glibc, e.g. 2.31

    @property
    def label(self) -> str:
        return f"{SUITE} glibc {self.glibc}"


def available(debian_arch: str) -> bool:
    """Whether `debian_arch` has a libc sysroot (bullseye carries the architecture)."""
    return debian_arch in ARCHES


def cache_key(debian_arch: str) -> str:
    blob = json.dumps(
        {"format": FORMAT, "suite": SUITE, "arch": debian_arch, "packages": sorted(PACKAGES)},
        sort_keys=True,
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


def sysroot_dir(debian_arch: str, cache: Path | None = None) -> Path:
    cache = cache or paths.cache_root()
    return cache / "libc" / f"{debian_arch}-{SUITE}-{cache_key(debian_arch)}"


def mmdebstrap_command(debian_arch: str, dest: Path, mirror: str) -> list[str]:
    keyring = sysroots.KEYRING
    signed = f"[signed-by={keyring}] " if os.path.exists(keyring) else ""
    return [
        "mmdebstrap",
        "--variant=extract",
        f"--arch={debian_arch}",
        "--skip=check/qemu",
        '--aptopt=Acquire::Retries "3"',
        # bullseye is an old release: its Release file may outlive a Valid-Until date.
        '--aptopt=Acquire::Check-Valid-Until "false"',
        f"--include={','.join(PACKAGES)}",
        SUITE,
        str(dest),
        # The host's mirror (bookworm's) carries bullseye too: FIBER_DEBIAN_MIRROR overrides.
        f"deb {signed}{mirror} {SUITE} main",
    ]


def mmdebstrap(debian_arch: str, dest: Path, log: Log) -> None:
    sysroots.run_mmdebstrap(
        mmdebstrap_command(debian_arch, dest, sysroots.host_mirror()),
        dest,
        f"the {debian_arch} {SUITE} libc sysroot",
        log,
        label="libc sysroot",
        error=LibcSysrootError,
    )


def inspect(root: Path, debian_arch: str) -> LibcSysroot:
    """The sysroot's multiarch folder and glibc version; LibcSysrootError if it lacks what a
    link needs (crti.o, libc.so, libc.so.6)."""
    found = sorted(root.glob("usr/lib/*/crti.o"))
    if len(found) != 1:
        raise LibcSysrootError(
            f"{root}: expected one usr/lib/<triplet>/crti.o (libc6-dev), found {len(found)}"
        )
    multiarch = found[0].parent.name
    for need in (f"usr/lib/{multiarch}/libc.so", f"lib/{multiarch}/libc.so.6"):
        if not (root / need).exists():
            raise LibcSysrootError(f"{root}: no {need} (libc6-dev is incomplete)")
    versions = sorted(
        p.name[len("libc-") : -len(".so")] for p in root.glob(f"lib/{multiarch}/libc-*.so")
    )
    return LibcSysroot(root, debian_arch, multiarch, versions[-1] if versions else "?")


def build_into(debian_arch: str, dest: Path, log: Log) -> None:
    mmdebstrap(debian_arch, dest, log)
    sysroots.relativize_symlinks(dest)


@contextlib.contextmanager
def _lock(path: Path) -> Iterator[None]:
    """One builder per libc sysroot at a time (two sessions may race for the same one)."""
    import fcntl

    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def find(debian_arch: str, cache: Path | None = None) -> LibcSysroot | None:
    """The cached libc sysroot of `debian_arch` if it is complete; never builds."""
    path = sysroot_dir(debian_arch, cache)
    try:
        data = json.loads((path / MARKER).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("key") != cache_key(debian_arch):
        return None
    return LibcSysroot(path, debian_arch, data["multiarch"], data["glibc"])


def ensure(
    debian_arch: str,
    *,
    cache: Path | None = None,
    builder: Builder = build_into,
    log: Log = print,
) -> LibcSysroot:
    """The libc sysroot of `debian_arch`, built if the cache lacks it."""
    if not available(debian_arch):
        raise LibcSysrootError(f"{SUITE} has no {debian_arch!r} architecture")
    path = sysroot_dir(debian_arch, cache)
    with _lock(path.with_name(path.name + ".lock")):
        found = find(debian_arch, cache)
        if found is not None:
            return found
        for stale in (path, path.with_name(path.name + ".partial")):
            if stale.exists():
                log(f"libc sysroot: removing {stale}, left by an interrupted build")
                shutil.rmtree(stale)
        partial = path.with_name(path.name + ".partial")
        partial.parent.mkdir(parents=True, exist_ok=True)
        log(f"libc sysroot: building {debian_arch} {SUITE} ({', '.join(PACKAGES)}) in {path}")
        builder(debian_arch, partial, log)
        info = inspect(partial, debian_arch)
        marker = {
            "key": cache_key(debian_arch),
            "suite": SUITE,
            "arch": debian_arch,
            "packages": sorted(PACKAGES),
            "multiarch": info.multiarch,
            "glibc": info.glibc,
        }
        (partial / MARKER).write_text(json.dumps(marker, indent=1) + "\n")
        os.rename(partial, path)
        return LibcSysroot(path, debian_arch, info.multiarch, info.glibc)


def compiler_flags(libc: LibcSysroot) -> tuple[str, ...]:
    """Compiler flags that compile and link against `libc` instead of the compiler's own C
    library: its headers and libraries first, its crt files, and --sysroot for the linker
    (which then reads libc.so's absolute paths inside the sysroot)."""
    r, m = libc.path, libc.multiarch
    return (
        f"--sysroot={r}",
        f"-B{r}/usr/lib/{m}",
        f"-L{r}/lib/{m}",
        f"-L{r}/usr/lib/{m}",
        "-isystem",
        f"{r}/usr/include/{m}",
        "-isystem",
        f"{r}/usr/include",
    )
