"""Run a command with its output streamed, line by line, to a file and to a log callback, and
stopped with its whole process group (pytest and its xdist workers) when it outlives a timeout.
The matrix's target runs (ci/matrix.py) and the installed-copy runs (ci/installed.py) both run
pytest this way."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Outcome:
    returncode: int | None  # None when the timeout stopped it
    tail: str  # the output's last lines


def run(
    argv: list[str],
    *,
    cwd: Path,
    env: dict[str, str],
    logfile: Path,
    log: Callable[[str], None],
    timeout: float,
    tail_lines: int = 60,
) -> Outcome:
    logfile.parent.mkdir(parents=True, exist_ok=True)
    tail: list[str] = []
    with open(logfile, "w") as fh:
        proc = subprocess.Popen(
            argv,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
            start_new_session=True,
        )
        stopped = threading.Event()

        def stop() -> None:
            stopped.set()
            try:
                if hasattr(os, "killpg"):
                    os.killpg(proc.pid, signal.SIGKILL)  # the run and its workers
                else:
                    proc.kill()  # Windows: no process groups to signal
            except ProcessLookupError:
                pass

        timer = threading.Timer(timeout, stop)
        timer.start()
        try:
            assert proc.stdout is not None
            for line in proc.stdout:
                fh.write(line)
                log(line.rstrip("\n"))
                tail.append(line)
                del tail[:-tail_lines]
            rc = proc.wait()
        finally:
            timer.cancel()
    return Outcome(None if stopped.is_set() else rc, "".join(tail))
