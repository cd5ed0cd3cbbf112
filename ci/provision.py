"""Host tools: find what the targets need, install the missing Debian packages.

As root, missing packages are installed with apt-get (one `apt-get update`, one `apt-get
install`). Otherwise :class:`ProvisionError` is raised with a message that names each missing
tool, its Debian package and the exact command to run.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from ci import runners
from ci.targets import Target
from ci.tools import SetupError, find_tool


class ProvisionError(SetupError):
    """Something the harness needs is missing and could not be installed here."""


@dataclass(frozen=True)
class Missing:
    what: str  # a command name or a file path
    package: str


def needs(target: Target) -> tuple[tuple[str, str], ...]:
    """What `target` needs on the host, each with its Debian package: the row's own tools,
    then its runner kind's. An entry starting with "/" is a file, any other a command."""
    return target.tools + runners.kind(target).host_needs(target)


def packages(target: Target) -> tuple[str, ...]:
    """The Debian packages `target` needs on the host, each once, in table order."""
    return tuple(packages_of(Missing(what, pkg) for what, pkg in needs(target)))


def missing_for(
    targets: Iterable[Target],
    which: Callable[[str], str | None] = find_tool,
    exists: Callable[[str], bool] = os.path.exists,
) -> list[Missing]:
    """Tools and files the targets need that this host lacks, each once, in table order."""
    out: list[Missing] = []
    for t in targets:
        for what, pkg in needs(t):
            m = Missing(what, pkg)
            there = exists(what) if what.startswith("/") else which(what) is not None
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


def not_root_message(missing: list[Missing]) -> str:
    pkgs = packages_of(missing)
    lines = ["missing host tools (not root, so the harness cannot install them):"]
    for m in missing:
        lines.append(f"  {m.what}: Debian package {m.package}")
    lines.append("install them with:")
    lines.append(f"  sudo apt-get update && sudo {shlex.join(apt_install_command(pkgs))}")
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


def ensure_tools(
    targets: Iterable[Target],
    *,
    which: Callable[[str], str | None] = find_tool,
    exists: Callable[[str], bool] = os.path.exists,
    root: bool | None = None,
    installer: Callable[[list[str]], None] | None = None,
    log: Callable[[str], None] = print,
) -> list[str]:
    """Make sure the targets' host tools are here. Returns the packages it installed.

    Not root and something missing: ProvisionError naming the packages and the command.
    """
    targets = list(targets)
    missing = missing_for(targets, which, exists)
    if not missing:
        return []
    if root is None:
        root = is_root()
    if not root:
        raise ProvisionError(not_root_message(missing))
    pkgs = packages_of(missing)
    log(f"provision: installing {' '.join(pkgs)} (for {', '.join(m.what for m in missing)})")
    (installer or (lambda p: run_apt(p, log)))(pkgs)
    still = missing_for(targets, which, exists)
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
        sel = targets.select(argv or os.environ.get("FIBER_TARGETS"))
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
