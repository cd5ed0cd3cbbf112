"""The qemu runner kind: a Debian sysroot's Python runs pytest under user-mode QEMU.

``qemu-ARCH [ARGS] -L SYSROOT SYSROOT/usr/bin/python3.X -m pytest ... --tx
'N*popen//python=qemu-ARCH [ARGS] -L SYSROOT SYSROOT/usr/bin/python3.X'``: the controller and
its xdist workers are the same emulated Python (xdist sends the controller's sys.path to the
workers), and ``-n`` cannot work because there is no binfmt_misc to exec an emulated
sys.executable. The target's programs (the C conformance program) run as ``qemu-ARCH [ARGS] -L
SYSROOT PROGRAM``. ARGS are the ABI's ``emulator_args`` (aarch64: ``-cpu
max,pauth-impdef=on``: sid's Python signs its return addresses, and QEMU's default QARMA
pointer authentication made its start 3x slower: 7.0 s of CPU against 2.4 s, measured here).
The sysroot (ci/sysroots.py: one per suite and architecture, shared by the suite's versions)
is what this kind keeps in the cache.
"""

from __future__ import annotations

from pathlib import Path

from ci import sysroots
from ci.runners import Environment, Log, Prepared
from ci.targets import Target
from ci.tools import find_tool

# Python under QEMU runs about 10-19x slower than natively; a test's budget is 6 min.
TEST_TIMEOUT_SCALE = 3.0
RUN_TIMEOUT = 40 * 60.0
# One worker: every emulated worker pays Python's start-up under QEMU and the controller
# already holds one core (measured: docs/harness.md). With one, the suite runs in a single
# emulated pytest process, isolated in an xdist worker only when that process dies
# (pytest_invocation, ci/matrix.py).
WORKERS = 1

# The sysroot's Python must see its own library only, not the host venv's.
HOST_PYTHON_VARIABLES = ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "PYTHONUSERBASE")


def host_needs(target: Target) -> tuple[tuple[str, str], ...]:
    return sysroots.HOST_NEEDS


def cache_entry(target: Target) -> str | None:
    return sysroots.spec_for(target).label


def command(target: Target, root: Path) -> list[str]:
    """The prefix that runs a program of the sysroot at `root` under QEMU."""
    emulator = find_tool(target.abi.emulator) or target.abi.emulator
    return [emulator, *target.abi.emulator_args, "-L", str(root)]


def python_at(target: Target, root: Path, version: str | None = None) -> list[str]:
    """The command that runs the Python of the sysroot at `root` under QEMU."""
    return [*command(target, root), str(sysroots.python_exe(root, version or target.version))]


def _prepared(target: Target, sysroot: sysroots.Sysroot) -> Prepared:
    return Prepared(
        python=sysroot.interpreter(target.version).version, sysroot=sysroot, cached=sysroot.path
    )


def find(target: Target, cache: Path | None = None) -> Prepared | None:
    sysroot = sysroots.find(sysroots.spec_for(target), cache)
    return None if sysroot is None else _prepared(target, sysroot)


def prepare(target: Target, log: Log = print) -> Prepared:
    def python(root: Path, version: str) -> list[str]:
        return python_at(target, root, version)

    return _prepared(target, sysroots.ensure(sysroots.spec_for(target), python=python, log=log))


def _sysroot(target: Target, prepared: Prepared) -> sysroots.Sysroot:
    if prepared.sysroot is None:
        raise ValueError(f"{target.name} runs under QEMU and needs its sysroot")
    return prepared.sysroot


def prefix(target: Target, prepared: Prepared) -> list[str]:
    return command(target, _sysroot(target, prepared).path)


def interpreter(target: Target, prepared: Prepared, host_python: str) -> list[str]:
    return python_at(target, _sysroot(target, prepared).path)


def environment(target: Target, prepared: Prepared) -> Environment:
    return Environment(unset=HOST_PYTHON_VARIABLES)
