"""Host tools: find what the targets need, install the missing Debian packages.

As root, missing packages are installed with apt-get (one `apt-get update`, one `apt-get
install`), and the tools the table takes from another suite (a package written PACKAGE/SUITE:
trixie's loongarch64 compiler, bookworm-backports' QEMU) are made in the harness's cache by
ci/suite_tools.py. Otherwise :class:`ProvisionError` is raised with a message that names each
missing tool, its Debian package and the exact command to run.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from ci import compiler_cache, runners, suite_tools
from ci.targets import TARGETS, Target
from ci.tools import SetupError, find_tool, is_provided


class ProvisionError(SetupError):
    """Something the harness needs is missing and could not be installed here."""


@dataclass(frozen=True)
class Missing:
    what: str  # a command name or a file path
    package: str


def needs(target: Target) -> tuple[tuple[str, str], ...]:
    """What `target` needs on the host, each with its Debian package: the row's own tools,
    then its runner kind's, then the compiler cache of its builds. An entry starting with "/"
    is a file, any other a command."""
    return target.tools + runners.kind(target).host_needs(target) + (compiler_cache.TOOL,)


def packages(target: Target) -> tuple[str, ...]:
    """The Debian packages `target` needs on the host, each once, in table order."""
    return tuple(packages_of(Missing(what, pkg) for what, pkg in needs(target)))


def table_tools() -> list[tuple[str, str]]:
    """Every (command, package) of the table."""
    return [(what, pkg) for t in TARGETS for what, pkg in needs(t)]


def is_current(what: str, package: str) -> bool:
    return suite_tools.is_current(what, package, table_tools())


def missing_for(
    targets: Iterable[Target],
    which: Callable[[str], str | None] = find_tool,
    exists: Callable[[str], bool] = os.path.exists,
    current: Callable[[str, str], bool] = is_current,
) -> list[Missing]:
    """Tools and files the targets need that this host lacks, each once, in table order. A
    tool of another suite (PACKAGE/SUITE) counts only as the harness's own copy in its cache:
    the host's command of the same name is another version (bookworm's qemu-loongarch64 7.2
    dies on Debian's loongarch64 code)."""
    out: list[Missing] = []
    for t in targets:
        for what, pkg in needs(t):
            m = Missing(what, pkg)
            if what.startswith("/"):
                there = exists(what)
            elif suite_tools.split(pkg):
                # made from the table's current packages of that suite, too
                there = is_provided(which(what)) and current(what, pkg)
            else:
                there = which(what) is not None
            if m not in out and not there:
                out.append(m)
    return out


def packages_of(missing: Iterable[Missing]) -> list[str]:
    seen: dict[str, None] = {}
    for m in missing:
        seen.setdefault(m.package, None)
    return list(seen)


def apt_install_command(packages: list[str]) -> list[str]:
    return ["apt-get", "install", "-y", *packages]


def from_other_suites(missing: Iterable[Missing]) -> list[Missing]:
    """The missing tools the harness makes itself from another suite (PACKAGE/SUITE)."""
    return [m for m in missing if suite_tools.split(m.package)]


def not_root_message(missing: list[Missing]) -> str:
    apt = [m for m in missing if not suite_tools.split(m.package)]
    other = from_other_suites(missing)
    lines = ["missing host tools (not root, so the harness cannot install them):"]
    for m in apt:
        lines.append(f"  {m.what}: Debian package {m.package}")
    for m in other:
        name, suite = suite_tools.split(m.package) or ("", "")
        lines.append(
            f"  {m.what}: Debian package {name} of {suite}, which the harness keeps in its "
            "cache (not installed on the host)"
        )
    if apt:
        lines.append("install them with:")
        lines.append(
            f"  sudo apt-get update && sudo {shlex.join(apt_install_command(packages_of(apt)))}"
        )
    if other:
        lines.append(
            "the harness makes the others itself when run as root (a chroot of the suite, or the "
            "package unpacked into its cache: ci/suite_tools.py): sudo python3 -m ci provision"
        )
    return "\n".join(lines)


def is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def run_apt(packages: list[str], log: Callable[[str], None] = print) -> None:
    """apt-get update, then apt-get install the packages (root only), without prompts."""
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    # Wait for another apt/dpkg (two package managers at once fail on dpkg's lock).
    wait = ["-o", "DPkg::Lock::Timeout=600"]
    install = apt_install_command(packages)
    for cmd in (["apt-get", *wait, "update"], [install[0], *wait, *install[1:]]):
        log(f"provision: {shlex.join(cmd)}")
        proc = subprocess.run(
            cmd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        if proc.returncode != 0:
            tail = "\n".join(proc.stdout.splitlines()[-30:])
            raise ProvisionError(f"{shlex.join(cmd)} failed (exit {proc.returncode}):\n{tail}")


def provide_from_suites(missing: list[Missing], log: Callable[[str], None] = print) -> None:
    """Make the tools of other suites (ci/suite_tools.py) in the cache."""
    from ci import sysroots

    try:
        suite_tools.provide(
            [(m.what, m.package) for m in missing], table_tools(), sysroots.host_mirror(), log
        )
    except SetupError as e:
        raise ProvisionError(str(e)) from None


def ensure_tools(
    targets: Iterable[Target],
    *,
    which: Callable[[str], str | None] = find_tool,
    exists: Callable[[str], bool] = os.path.exists,
    current: Callable[[str, str], bool] = is_current,
    root: bool | None = None,
    installer: Callable[[list[str]], None] | None = None,
    suite_installer: Callable[[list[Missing]], None] | None = None,
    log: Callable[[str], None] = print,
) -> list[str]:
    """Make sure the targets' host tools are here. Returns the packages it installed (those of
    other suites as PACKAGE/SUITE).

    Not root and something missing: ProvisionError naming the packages and the command.
    """
    targets = list(targets)
    missing = missing_for(targets, which, exists, current)
    if not missing:
        return []
    if root is None:
        root = is_root()
    if not root:
        raise ProvisionError(not_root_message(missing))
    apt = [m for m in missing if not suite_tools.split(m.package)]
    other = from_other_suites(missing)
    pkgs = packages_of(apt)
    if pkgs:
        log(f"provision: installing {' '.join(pkgs)} (for {', '.join(m.what for m in apt)})")
        (installer or (lambda p: run_apt(p, log)))(pkgs)
    if other:
        log(
            f"provision: making {', '.join(m.what for m in other)} from "
            f"{', '.join(packages_of(other))} in the harness's cache"
        )
        (suite_installer or (lambda m: provide_from_suites(m, log)))(other)
    pkgs = pkgs + packages_of(other)
    still = missing_for(targets, which, exists, current)
    if still:
        raise ProvisionError(
            "still missing after apt-get install: "
            + ", ".join(f"{m.what} ({m.package})" for m in still)
        )
    return pkgs


def main(argv: list[str] | None = None) -> int:
    """`python -m ci provision [TARGET...]`: host tools, then what each target's runner kind
    keeps in the cache (sysroots, the Wine prefix)."""
    from ci import targets

    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        sel = targets.select(
            argv or os.environ.get("FIBER_TARGETS"), os.environ.get("FIBER_PYTHONS")
        )
        ensure_tools(sel)
        for t in sel:
            prepared = runners.kind(t).prepare(t, log=print)
            if prepared.cached is not None:
                print(f"provision: {t.name}: {prepared.cached} (Python {prepared.python})")
    except (SetupError, targets.UnknownTarget) as e:
        print(f"provision: error: {e}", file=sys.stderr)
        return 2
    print("provision: ready")
    return 0
