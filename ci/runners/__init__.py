"""Runner kinds: how a target's programs and its Python run, one module per kind.

A target's kind is ``Target.runner_kind`` (ci/targets.py: the ABI's runner, "loader" for a
native ABI on a Python other than the host's); :func:`kind` imports the module of that name
from this package. The kinds:

- ``native``: the host's Python runs pytest, the target's programs run directly.
- ``loader``: a Debian sysroot's interpreter of the host's architecture runs pytest natively,
  through the sysroot's own dynamic loader (``SYSROOT/lib64/ld-linux-x86-64.so.2
  --library-path ... SYSROOT/usr/bin/python3.14``), and so do its xdist workers and the
  programs it starts (its glibc is newer than the host's).
- ``qemu``: a Debian sysroot's Python runs pytest under ``qemu-ARCH -L SYSROOT``, and so do its
  xdist workers (no binfmt_misc here: nothing can exec an emulated ``sys.executable``).
- ``wine``: the host's Python runs pytest; the target's Windows programs run under Wine.

The interface every kind module provides (the harness calls nothing else of it):

``TEST_TIMEOUT_SCALE: float``
    the per-test timeout is the native one (FIBER_TEST_TIMEOUT, default 120 s) times this.
``RUN_TIMEOUT: float``
    seconds after which a target's whole pytest run is stopped (FIBER_RUN_TIMEOUT overrides).
``WORKERS: int``
    xdist workers for a target's run (FIBER_WORKERS overrides).
``host_needs(target) -> tuple[(what, debian_package), ...]``
    host commands (or absolute file paths) the kind needs beyond the ABI's own ``tools``.
``cache_entry(target) -> str | None``
    what the kind keeps in the cache folder for `target`, as reports name it ("sysroot sid
    arm64", "Wine prefix"; pairs that share one name it alike); None when it keeps nothing.
``find(target, cache=None) -> Prepared | None``
    the prepared state if the cache already holds everything `target` needs; never builds.
``prepare(target, log) -> Prepared``
    the same, building what is missing (a sysroot, a Wine prefix); raises a
    ``ci.tools.SetupError`` with the reason when it cannot.
``prefix(target, prepared) -> list[str]``
    the command prefix that runs one of the target's programs (the tests get it as
    FIBER_RUNNER).
``interpreter(target, prepared, host_python) -> list[str]``
    the command that runs the Python that runs pytest, controller and workers alike.
``environment(target, prepared) -> Environment``
    variables to set and to remove for that Python.

A new kind is one more module here with these names.
"""

from __future__ import annotations

import importlib
import os
import shlex
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

from ci import paths
from ci.sysroots import Sysroot
from ci.targets import Target
from ci.tools import cache_bin

Log = Callable[[str], None]

# The native per-test timeout in seconds (FIBER_TEST_TIMEOUT overrides). 120, not 60: the
# randomised-schedule test (tests/python/test_fiber_stateful.py) took 70 s natively on this 2-core
# machine while the matrix and other work loaded it, and a timeout is there to catch hangs,
# not to judge speed.
BASE_TEST_TIMEOUT = 120


@dataclass(frozen=True)
class Prepared:
    """What a runner kind made ready for one target.

    python    the version of the Python that runs the suite, as reports show it
    sysroot   the Debian sysroot the target's extension is built against and run from, if any
    cached    the folder the kind uses from the cache (a sysroot, a Wine prefix), if any
    """

    python: str
    sysroot: Sysroot | None = None
    cached: Path | None = None

    @property
    def sysroot_path(self) -> Path | None:
        return self.sysroot.path if self.sysroot is not None else None


@dataclass(frozen=True)
class Environment:
    """Variables a kind sets for its Python, and the harness's own it removes."""

    set: dict[str, str] = field(default_factory=dict)
    unset: tuple[str, ...] = ()


@dataclass(frozen=True)
class Invocation:
    argv: list[str]
    env: dict[str, str]  # set on top of the harness's own environment
    unset: tuple[str, ...]  # removed from it
    timeout: float  # for the whole run, seconds
    test_timeout: float  # per test, seconds
    python: str  # the Python version that runs the suite, for the report
    isolated: bool = True  # every test in an xdist worker (False: one pytest process)


def kind(target: Target) -> ModuleType:
    """The module of `target`'s runner kind (ci/runners/<kind>.py)."""
    name = target.runner_kind
    if not name.isidentifier() or name.startswith("_"):
        raise ValueError(f"target {target.name}: runner kind {name!r} is not a module name")
    try:
        return importlib.import_module(f"{__name__}.{name}")
    except ModuleNotFoundError as e:
        if e.name != f"{__name__}.{name}":
            raise
        raise ValueError(
            f"target {target.name}: no runner kind {name!r} (no module ci/runners/{name}.py)"
        ) from None


def test_timeout(target: Target) -> float:
    base = float(os.environ.get("FIBER_TEST_TIMEOUT") or BASE_TEST_TIMEOUT)
    return base * kind(target).TEST_TIMEOUT_SCALE


def hang_backstop(per_test: float) -> float:
    """When the hang watch ends a test that pytest-timeout could not interrupt."""
    return per_test * 1.5 + min(10.0, per_test)


def run_timeout(target: Target) -> float:
    return float(os.environ.get("FIBER_RUN_TIMEOUT") or kind(target).RUN_TIMEOUT)


def workers(target: Target) -> int:
    n = int(os.environ.get("FIBER_WORKERS") or kind(target).WORKERS)
    return max(1, n)


def pytest_invocation(
    target: Target,
    prepared: Prepared,
    *,
    junit: Path,
    conformance: Path | None = None,
    per_abi_in: str = "",
    pytest_args: tuple[str, ...] = (),
    host_python: str = sys.executable,
    n_workers: int | None = None,
    root: Path = paths.ROOT,
    hang_dir: Path | None = None,
    isolate: bool | None = None,
) -> Invocation:
    """The pytest run of the suite for `target`, as its runner kind runs it.

    The suite is tests/ less tests/harness/: tests/core/ and tests/python/ (the harness's own
    tests run once, natively, in `nox -s harness`). `per_abi_in` names the target of the same
    ABI that does the ABI's once-per-ABI work in this run (tests/conftest.py then deselects the
    tests marked ``target_program`` or ``native_only`` here); "" when this target does it.

    `isolate`: run every test in a pytest-xdist worker, so that a test that crashes or hangs
    its worker fails alone and the run and its JUnit report go on. None (the default) isolates
    where there are two workers or more (they also run tests in parallel) and runs the suite
    in one pytest process where there would be one worker (QEMU, Wine): there an xdist
    controller is a second emulated Python that starts, imports pytest and relays every
    report, about 12 s of a QEMU pair's 80 (measured on aarch64-linux-py3.14). ci/matrix.py
    runs such a target again isolated when its one process dies without its report. The
    per-test timeout (pytest-timeout, signal method: a clean failure for a hang in Python
    code) is scaled per kind; the ci.hangwatch plugin backs it up for hangs in native code,
    ending the process at 1.5x the timeout with the stacks dumped and the test named.
    """
    k = kind(target)
    python = k.interpreter(target, prepared, host_python)
    n = workers(target) if n_workers is None else n_workers
    if isolate is None:
        isolate = n > 1
    per_test = test_timeout(target)
    distribution = (
        ["-p", "xdist", "--dist", "load", "--tx", f"{n}*popen//python={shlex.join(python)}"]
        if isolate
        else ["-p", "no:xdist"]
    )
    argv = [
        *python,
        "-m",
        "pytest",
        "--rootdir",
        str(root),
        "-o",
        "testpaths=tests",
        f"--ignore={root / 'tests' / 'harness'}",
        # tests/core/ is all once-per-ABI work: another target of the ABI does it, and not
        # collecting it spares its imports (2.4 s of an emulated aarch64 run's start).
        *([f"--ignore={root / 'tests' / 'core'}"] if per_abi_in else []),
        f"--junitxml={junit}",
        "-o",
        f"junit_suite_name={target.name}",
        "-o",
        "junit_logging=no",
        f"--timeout={per_test:g}",
        "--timeout-method=signal",
        "-p",
        "ci.hangwatch",
        f"--hang-backstop={hang_backstop(per_test):g}",
        *distribution,
        "-rfE",
        *pytest_args,
    ]
    environment = k.environment(target, prepared)
    env = {
        # The tests see the ABI (what they run on), and the pair apart.
        "FIBER_TARGET": target.abi.name,
        "FIBER_PAIR": target.name,
        "FIBER_PER_ABI_IN": per_abi_in,
        "FIBER_RUNNER": shlex.join(k.prefix(target, prepared)),
        "FIBER_HANG_DIR": str(hang_dir or junit.parent / ".hang" / target.name),
        # The commands the harness provides in its cache (ci/suite_tools.py) by their names.
        "PATH": os.pathsep.join([str(cache_bin()), os.environ.get("PATH", os.defpath)]),
        **environment.set,
    }
    if conformance is not None:
        env["FIBER_CONFORMANCE_EXE"] = str(conformance)
    return Invocation(
        argv, env, environment.unset, run_timeout(target), per_test, prepared.python, isolate
    )
