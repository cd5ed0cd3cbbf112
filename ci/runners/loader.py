"""The loader runner kind: a native ABI on a CPython other than the host's.

The interpreter is the one of a Debian sysroot of the host's own architecture (trixie's 3.13,
sid's 3.14 and 3.15 for amd64), run natively through the sysroot's own dynamic loader, since
that Python and its modules need the sysroot's glibc, newer than the host's:

    SYSROOT/lib64/ld-linux-x86-64.so.2 --library-path SYSROOT/usr/lib/x86_64-linux-gnu:...
        SYSROOT/usr/bin/python3.14 -m pytest ...

That Python's sys.executable is SYSROOT/usr/bin/python3.14: a child that execs it directly
would get the host's loader and libc and fail, so the xdist workers are started with the same
command (``--tx 'N*popen//python=<the command>'``, as the qemu kind does) and the tests run
their child interpreters and programs through FIBER_RUNNER, the loader prefix. Starting
Python that way costs about 0.03 s: no chroot, no root. The sysroot (ci/sysroots.py) is what
this kind keeps in the cache; its bytecode is compiled by that same interpreter.
"""

from __future__ import annotations

from pathlib import Path

from ci import sysroots
from ci.runners import Environment, Log, Prepared
from ci.runners.qemu import HOST_PYTHON_VARIABLES
from ci.targets import Target

TEST_TIMEOUT_SCALE = 1.0
RUN_TIMEOUT = 20 * 60.0
# Two workers on this 2-core machine, as natively.
WORKERS = 2


def host_needs(target: Target) -> tuple[tuple[str, str], ...]:
    return sysroots.HOST_NEEDS


def cache_entry(target: Target) -> str | None:
    return sysroots.spec_for(target).label


def python_at(target: Target, root: Path, version: str | None = None) -> list[str]:
    """The command that runs the Python of the sysroot at `root` through its loader."""
    v = version or target.version
    return [*sysroots.loader_command(root, target.debian_arch), str(sysroots.python_exe(root, v))]


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
        raise ValueError(f"{target.name} runs through a sysroot's loader and needs the sysroot")
    return prepared.sysroot


def prefix(target: Target, prepared: Prepared) -> list[str]:
    return _sysroot(target, prepared).loader()


def interpreter(target: Target, prepared: Prepared, host_python: str) -> list[str]:
    return python_at(target, _sysroot(target, prepared).path)


def environment(target: Target, prepared: Prepared) -> Environment:
    return Environment(unset=HOST_PYTHON_VARIABLES)
