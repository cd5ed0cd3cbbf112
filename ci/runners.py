"""Runners: the pytest command line and environment for one target.

- native: the host's Python runs pytest.
- qemu: the sysroot's Python runs pytest under ``qemu-ARCH -L SYSROOT``, and so do its xdist
  workers (``--tx N*popen//python=qemu-ARCH -L SYSROOT SYSROOT/usr/bin/python3``): xdist sends
  the controller's sys.path to the workers, so both must be the same emulated Python, and
  ``-n`` cannot work because there is no binfmt_misc to exec an emulated sys.executable.
- wine: the host's Python runs pytest with FIBER_TARGET=x86_64-windows; the Python tests skip
  ("no Windows Python under Wine") and the target_program tests run the mingw-built programs
  through FIBER_RUNNER=wine64.

Every run goes through pytest-xdist with at least one worker, so a test that crashes its worker
fails alone and the run and its JUnit report go on. The per-test timeout (pytest-timeout,
signal method: a clean failure for a hang in Python code) is scaled per runner kind; the
ci.hangwatch plugin backs it up for hangs in native code, ending the worker at 1.5x the
timeout with the stacks dumped and the test named.
"""

from __future__ import annotations

import os
import platform
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path

from ci import paths, wine
from ci.provision import find_tool
from ci.targets import Target

# Per-test timeout natively, in seconds (FIBER_TEST_TIMEOUT overrides), and how much longer a
# test may take under each runner (Python under QEMU runs about 10-19x slower than native).
BASE_TEST_TIMEOUT = 60
TIMEOUT_SCALE = {"native": 1, "wine": 3, "qemu": 6}
# A whole target's pytest run is stopped after this long (FIBER_RUN_TIMEOUT overrides).
RUN_TIMEOUT = {"native": 20 * 60, "wine": 20 * 60, "qemu": 40 * 60}
# xdist workers per runner kind (FIBER_WORKERS overrides). Measured on 2 cores: see README.
WORKERS = {"native": 2, "wine": 1, "qemu": 1}


@dataclass(frozen=True)
class Invocation:
    argv: list[str]
    env: dict[str, str]  # set on top of the harness's own environment
    unset: tuple[str, ...]  # removed from it
    timeout: float  # for the whole run, seconds
    test_timeout: float  # per test, seconds
    python: str  # the Python version that runs the suite, for the report


def test_timeout(target: Target) -> float:
    base = float(os.environ.get("FIBER_TEST_TIMEOUT") or BASE_TEST_TIMEOUT)
    return base * TIMEOUT_SCALE[target.runner_kind]


def hang_backstop(per_test: float) -> float:
    """When the hang watch ends a test that pytest-timeout could not interrupt."""
    return per_test * 1.5 + min(10.0, per_test)


def run_timeout(target: Target) -> float:
    return float(os.environ.get("FIBER_RUN_TIMEOUT") or RUN_TIMEOUT[target.runner_kind])


def workers(target: Target) -> int:
    n = int(os.environ.get("FIBER_WORKERS") or WORKERS[target.runner_kind])
    return max(1, n)


def runner_prefix(target: Target, sysroot=None) -> list[str]:
    """What runs one of the target's programs from the host (FIBER_RUNNER)."""
    kind = target.runner_kind
    if kind == "native":
        return []
    if kind == "qemu":
        if sysroot is None:
            raise ValueError(f"{target.name} runs under QEMU and needs its sysroot")
        return [find_tool(target.runner) or target.runner, "-L", str(sysroot.path)]
    return [wine.wine_command()]


def python_command(target: Target, sysroot=None, host_python: str = sys.executable) -> list[str]:
    """The Python that runs pytest for the target (an emulated one under QEMU)."""
    if target.runner_kind == "qemu":
        return [*runner_prefix(target, sysroot), str(sysroot.python_exe)]
    return [host_python]


def pytest_invocation(target: Target, *, junit: Path, sysroot=None, wineprefix: Path | None = None,
                      conformance: Path | None = None, pytest_args: tuple[str, ...] = (),
                      host_python: str = sys.executable, n_workers: int | None = None,
                      root: Path = paths.ROOT, hang_dir: Path | None = None) -> Invocation:
    python = python_command(target, sysroot, host_python)
    n = workers(target) if n_workers is None else n_workers
    per_test = test_timeout(target)
    argv = [
        *python, "-m", "pytest",
        "--rootdir", str(root), "-o", "testpaths=tests",
        f"--junitxml={junit}", "-o", f"junit_suite_name={target.name}",
        "-o", "junit_logging=no",
        f"--timeout={per_test:g}", "--timeout-method=signal",
        "-p", "ci.hangwatch", f"--hang-backstop={hang_backstop(per_test):g}",
        "-p", "xdist", "--dist", "load", "--tx", f"{n}*popen//python={shlex.join(python)}",
        "-rfE",
        *pytest_args,
    ]
    env = {"FIBER_TARGET": target.name,
           "FIBER_RUNNER": shlex.join(runner_prefix(target, sysroot)),
           "FIBER_HANG_DIR": str(hang_dir or junit.parent / ".hang" / target.name)}
    if conformance is not None:
        env["FIBER_CONFORMANCE_EXE"] = str(conformance)
    unset: tuple[str, ...] = ()
    if target.runner_kind == "qemu":
        # The emulated Python must see its own library only, not the host venv's.
        unset = ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "PYTHONUSERBASE")
        version = sysroot.python
    elif target.runner_kind == "wine":
        if wineprefix is not None:
            env.update(wine.environment(wineprefix))
        version = f"host {platform.python_version()}"
    else:
        version = platform.python_version()
    return Invocation(argv, env, unset, run_timeout(target), per_test, version)
