"""Run code in a new interpreter of the target under test.

Under QEMU user mode `sys.executable` is a foreign binary that cannot be exec'd directly
("Exec format error"): the harness passes the runner's command prefix in FIBER_RUNNER
(``qemu-aarch64 -L SYSROOT``), which is a host program, so it can be exec'd from the guest.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import textwrap

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))  # the checkout: tests/python/../..
RUNNER = tuple(shlex.split(os.environ.get("FIBER_RUNNER", "")))
# Python start-up under QEMU is 10-20x slower than native.
TIMEOUT = 600 if RUNNER else 120


def importable_env() -> dict[str, str]:
    """os.environ with this folder and the checkout first on PYTHONPATH."""
    path = [HERE, ROOT, os.environ.get("PYTHONPATH", "")]
    return dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, path)))


def run_python(code: str, *args: str, timeout: float = TIMEOUT) -> subprocess.CompletedProcess:
    """Run `code` (dedented) in a fresh interpreter with the checkout importable (and whatever
    PYTHONPATH already holds, where an installed copy under test may live); returns the
    completed process with text stdout and stderr."""
    env = importable_env()
    env.pop("PYTHONDEVMODE", None)
    return subprocess.run(
        [*RUNNER, sys.executable, *args, "-c", textwrap.dedent(code)],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
