"""Host tools that bookworm lacks, taken from another Debian suite into the harness's cache.

In the ABI table (ci/targets.py) such a tool's package is written ``PACKAGE/SUITE`` (or
``PACKAGE,PACKAGE/SUITE`` when the command needs more than one: a cross compiler and the C
library it links against). Nothing is
installed on the host; everything lives under ``<cache>/tools/`` and each command gets an
executable of its name in ``<cache>/tools/bin/``, where ci.tools.find_tool looks:

- ``PACKAGE/bookworm-backports``: the .deb is downloaded with apt-get through a private apt
  configuration (``<cache>/tools/apt-bookworm-backports/``: the host's sources stay as they
  are) and unpacked with ``dpkg -x`` into ``<cache>/tools/bookworm-backports/``; its commands
  are linked into the bin folder. Installing bookworm-backports' qemu-user (10) on the host
  would replace bookworm's 7.2, which the other ABIs use.
- ``PACKAGE/SUITE`` for a release suite (trixie): installed into one chroot of that suite for
  the host's architecture, ``<cache>/tools/<suite>-<arch>-<key>/`` (``mmdebstrap
  --variant=apt``, with every package the table takes from that suite; the key hashes the
  list). Each command gets a wrapper script that runs it inside the chroot: in a private
  mount namespace (``unshare -m``) the host's own top-level folders (everything but the
  system's: /usr, /etc, /var, /proc, ...) are bind-mounted at the same paths inside the
  chroot, so that the paths on its command line (the repository, /tmp, the cache) mean the
  same there. A compiler that needs a newer glibc than the host's runs that way. Needs root
  (mount namespaces, chroot).

Both are built beside their final place and renamed into it when complete, with a marker, so
that an interrupted provisioning is redone, never used half-made; a second run finds them and
does nothing.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shlex
import shutil
import subprocess
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from ci import paths
from ci.tools import SetupError, cache_bin

Log = Callable[[str], None]
MARKER = ".fiber-tools.json"
KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg"
BACKPORTS = "bookworm-backports"

# Top-level folders of the host that stay the chroot's own: the system. Every other one
# (/root, /home, /tmp, /work, /srv, /opt, ...) is the host's inside the chroot too.
SYSTEM_FOLDERS = (
    "bin",
    "boot",
    "dev",
    "etc",
    "lib",
    "lib32",
    "lib64",
    "libx32",
    "lost+found",
    "proc",
    "run",
    "sbin",
    "sys",
    "usr",
    "var",
)


class SuiteToolError(SetupError):
    """A tool from another suite could not be provided."""


def split(package: str) -> tuple[str, str] | None:
    """("qemu-user", "bookworm-backports") for "qemu-user/bookworm-backports"; None for a
    package of the host's own suite."""
    if "/" not in package:
        return None
    name, suite = package.split("/", 1)
    return name, suite


def tools_dir(cache: Path | None = None) -> Path:
    return (cache or paths.cache_root()) / "tools"


def _marker(path: Path) -> dict | None:
    try:
        data = json.loads((path / MARKER).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


@contextlib.contextmanager
def _lock(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    import fcntl

    with open(path, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _run(cmd: list[str], what: str, log: Log, cwd: Path | None = None) -> str:
    log(f"tools: {shlex.join(cmd)}")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    proc = subprocess.run(
        cmd,
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    if proc.returncode != 0:
        tail = "\n".join(proc.stdout.splitlines()[-25:])
        raise SuiteToolError(f"{what} failed (exit {proc.returncode}): {shlex.join(cmd)}\n{tail}")
    return proc.stdout


def _replace(partial: Path, final: Path) -> None:
    if final.exists():
        shutil.rmtree(final)
    os.rename(partial, final)


# ----------------------------------------------------------------------------------------
# bookworm-backports: download and unpack
# ----------------------------------------------------------------------------------------


def apt_options(conf: Path) -> list[str]:
    """apt-get options that use only the private configuration in `conf` (sources.list,
    lists, cache): the host's apt state is neither read for sources nor written."""
    return [
        "-o",
        f"Dir::Etc::SourceList={conf / 'sources.list'}",
        "-o",
        "Dir::Etc::SourceParts=/dev/null",
        "-o",
        f"Dir::State::Lists={conf / 'lists'}",
        "-o",
        f"Dir::Cache={conf / 'cache'}",
        "-o",
        'Acquire::Retries="3"',
    ]


def ensure_backports(packages: Iterable[str], mirror: str, log: Log, cache: Path | None = None):
    """The packages of bookworm-backports unpacked in the cache; returns their folder."""
    wanted = sorted(set(packages))
    root = tools_dir(cache)
    dest = root / BACKPORTS
    with _lock(root / f"{BACKPORTS}.lock"):
        data = _marker(dest)
        if data and data.get("packages") == wanted:
            return dest
        conf = root / f"apt-{BACKPORTS}"
        for d in (conf / "lists" / "partial", conf / "cache" / "archives" / "partial"):
            d.mkdir(parents=True, exist_ok=True)
        signed = f"[signed-by={KEYRING}] " if os.path.exists(KEYRING) else ""
        (conf / "sources.list").write_text(f"deb {signed}{mirror} {BACKPORTS} main\n")
        opts = apt_options(conf)
        _run(["apt-get", *opts, "update"], f"apt-get update of {BACKPORTS}", log)
        debs = conf / "debs"
        shutil.rmtree(debs, ignore_errors=True)
        debs.mkdir()
        _run(
            ["apt-get", *opts, "download", *(f"{p}/{BACKPORTS}" for p in wanted)],
            f"downloading {', '.join(wanted)} from {BACKPORTS}",
            log,
            cwd=debs,
        )
        partial = dest.with_name(dest.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir(parents=True)
        for deb in sorted(debs.glob("*.deb")):
            _run(["dpkg", "-x", str(deb), str(partial)], f"unpacking {deb.name}", log)
        (partial / MARKER).write_text(json.dumps({"packages": wanted}) + "\n")
        _replace(partial, dest)
        shutil.rmtree(debs, ignore_errors=True)
    return dest


def link_backports_command(name: str, dest: Path, cache: Path | None = None) -> Path:
    """<cache>/tools/bin/NAME -> the unpacked package's usr/bin/NAME."""
    exe = dest / "usr" / "bin" / name
    if not exe.is_file():
        raise SuiteToolError(f"{name} is not in the unpacked {BACKPORTS} packages ({dest})")
    link = cache_bin(cache) / name
    link.parent.mkdir(parents=True, exist_ok=True)
    tmp = link.with_name(f".{name}.tmp")
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(exe)
    os.replace(tmp, link)
    return link


# ----------------------------------------------------------------------------------------
# Release suites: a chroot and wrappers
# ----------------------------------------------------------------------------------------


def chroot_key(suite: str, arch: str, packages: Iterable[str]) -> str:
    blob = json.dumps({"suite": suite, "arch": arch, "packages": sorted(set(packages))})
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


def chroot_dir(suite: str, arch: str, packages: Iterable[str], cache: Path | None = None) -> Path:
    return tools_dir(cache) / f"{suite}-{arch}-{chroot_key(suite, arch, packages)}"


def mmdebstrap_chroot_command(
    suite: str, arch: str, packages: Iterable[str], dest: Path, mirror: str
) -> list[str]:
    signed = f"[signed-by={KEYRING}] " if os.path.exists(KEYRING) else ""
    return [
        "mmdebstrap",
        "--variant=apt",
        f"--arch={arch}",
        '--aptopt=Acquire::Retries "3"',
        f"--include={','.join(sorted(set(packages)))}",
        suite,
        str(dest),
        f"deb {signed}{mirror} {suite} main",
    ]


def ensure_chroot(
    suite: str, arch: str, packages: Iterable[str], mirror: str, log: Log, cache: Path | None = None
) -> Path:
    """A chroot of `suite` for `arch` with `packages` installed, in the cache."""
    wanted = sorted(set(packages))
    dest = chroot_dir(suite, arch, wanted, cache)
    with _lock(dest.with_name(dest.name + ".lock")):
        data = _marker(dest)
        if data and data.get("packages") == wanted:
            return dest
        partial = dest.with_name(dest.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        log(f"tools: building a {suite} {arch} chroot for {', '.join(wanted)} in {dest}")
        _run(
            mmdebstrap_chroot_command(suite, arch, wanted, partial, mirror),
            f"mmdebstrap of the {suite} chroot",
            log,
        )
        (partial / MARKER).write_text(json.dumps({"suite": suite, "packages": wanted}) + "\n")
        _replace(partial, dest)
    return dest


def command_in(chroot: Path, name: str) -> str:
    """The chroot's command for `name`: /usr/bin/NAME, else its newest versioned one
    (trixie names its loongarch64 compiler loongarch64-linux-gnu-gcc-14 only)."""
    bindir = chroot / "usr" / "bin"
    if (bindir / name).exists():
        return f"/usr/bin/{name}"
    versioned = sorted(
        (p for p in bindir.glob(f"{name}-*") if p.name[len(name) + 1 :].isdigit()),
        key=lambda p: int(p.name[len(name) + 1 :]),
    )
    if not versioned:
        raise SuiteToolError(f"{name} is not in the chroot {chroot} (neither {name} nor {name}-N)")
    return f"/usr/bin/{versioned[-1].name}"


def wrapper_script(chroot: Path, command: str, suite: str) -> str:
    """A shell script that runs `command` of `chroot` with the caller's arguments and working
    directory (see the module's docstring)."""
    system = "|".join(f"/{d}" for d in SYSTEM_FOLDERS)
    inner = (
        'root=$1 cwd=$2; shift 2; for d in /*; do [ -d "$d" ] && [ ! -L "$d" ] || continue; '
        f'case "$d" in {system}) continue;; esac; '
        'mkdir -p "$root$d" && mount --bind "$d" "$root$d" || exit 125; done; '
        'exec chroot "$root" /bin/sh -c \'cd "$1" && shift && exec "$@"\' sh "$cwd" "$@"'
    )
    return (
        "#!/bin/sh\n"
        f"# Generated by ci/suite_tools.py: {suite}'s {command}, run in the chroot {chroot}.\n"
        "# The host's own top-level folders are bind-mounted at the same paths inside it, in a\n"
        "# private mount namespace (unshare -m): the mounts exist only for this command, and\n"
        "# the paths on its command line mean the same inside.\n"
        f"exec unshare -m /bin/sh -c {shlex.quote(inner)} sh {shlex.quote(str(chroot))} "
        f'"$PWD" {shlex.quote(command)} "$@"\n'
    )


def check_wrapper(wrapper: Path, suite: str) -> None:
    """Run `wrapper --version`: a host where mount namespaces or chroot are not allowed (not
    root, an unprivileged container) says so here, not in the middle of a build."""
    proc = subprocess.run(
        [str(wrapper), "--version"],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if proc.returncode != 0:
        raise SuiteToolError(
            f"{wrapper.name} of {suite} cannot run through its chroot here (exit "
            f"{proc.returncode}): {proc.stderr.strip()[-500:]}\nIt needs root with mount "
            "namespaces and chroot (unshare -m); in a container, run it privileged."
        )


def write_wrapper(name: str, chroot: Path, suite: str, cache: Path | None = None) -> Path:
    path = cache_bin(cache) / name
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{name}.tmp")
    tmp.write_text(wrapper_script(chroot, command_in(chroot, name), suite))
    tmp.chmod(0o755)
    os.replace(tmp, path)
    return path


# ----------------------------------------------------------------------------------------
# The entry point of ci/provision.py
# ----------------------------------------------------------------------------------------


def by_suite(tools: Iterable[tuple[str, str]]) -> dict[str, list[tuple[str, str]]]:
    """{suite: [(command, package), ...]} of the tools written PACKAGE/SUITE (a command with
    PACKAGE,PACKAGE/SUITE comes once per package)."""
    out: dict[str, list[tuple[str, str]]] = {}
    for what, package in tools:
        parts = split(package)
        if not parts:
            continue
        for name in parts[0].split(","):
            if (what, name) not in out.get(parts[1], []):
                out.setdefault(parts[1], []).append((what, name))
    return out


def stamp(suite: str, every: Iterable[tuple[str, str]], host_arch: str = "amd64") -> str:
    """What a command provided from `suite` was made from: the suite's package set of the
    table (a change of it, a package added for a command, makes every command of that suite
    out of date)."""
    packages = sorted({pkg for _, pkg in by_suite(every).get(suite, [])})
    return chroot_key(suite, host_arch, packages)


def _stamp_file(name: str, cache: Path | None = None) -> Path:
    return cache_bin(cache) / f".{name}.stamp"


def is_current(
    name: str, package: str, every: Iterable[tuple[str, str]], cache: Path | None = None
) -> bool:
    """Whether the provided command `name` (of `package`, PACKAGE/SUITE) was made from the
    table's current package set of its suite."""
    parts = split(package)
    if not parts:
        return True
    try:
        made = _stamp_file(name, cache).read_text().strip()
    except OSError:
        return False
    return made == stamp(parts[1], every)


def provide(
    missing: Iterable[tuple[str, str]],
    every: Iterable[tuple[str, str]],
    mirror: str,
    log: Log,
    host_arch: str = "amd64",
    cache: Path | None = None,
) -> None:
    """Provide the `missing` (command, PACKAGE/SUITE) tools. `every` is all such tools of the
    table: a suite's chroot gets every package the table takes from that suite, so that one
    chroot serves them all and does not change when another of them goes missing."""
    every = list(every)
    table = by_suite(every)
    for suite in sorted(by_suite(missing)):
        tools = table.get(suite, [])
        packages = sorted({pkg for _, pkg in tools})
        commands = list(dict.fromkeys(name for name, _ in tools))
        if suite == BACKPORTS:
            dest = ensure_backports(packages, mirror, log, cache)
            for name in commands:
                link_backports_command(name, dest, cache)
        else:
            chroot = ensure_chroot(suite, host_arch, packages, mirror, log, cache)
            for name in commands:
                check_wrapper(write_wrapper(name, chroot, suite, cache), suite)
        for name in commands:
            _stamp_file(name, cache).write_text(stamp(suite, every, host_arch) + "\n")
