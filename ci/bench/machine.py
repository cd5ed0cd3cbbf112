"""What a benchmark run ran on: date, CPU, cores, commit, Python, load."""

from __future__ import annotations

import datetime
import os
import platform
from pathlib import Path

from ci import history


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _git(root: Path, *args: str) -> str:
    out = history.git(root, *args)
    return "unknown" if out is None else out


def describe(root: Path) -> dict[str, str]:
    dirty = _git(root, "status", "--porcelain", "--untracked-files=no", "--", "fiber", "asm")
    return {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": _cpu_model(),
        "cores": str(os.cpu_count()),
        "machine": f"{platform.system()} {platform.release()} {platform.machine()}",
        "python": platform.python_version(),
        "commit": _git(root, "rev-parse", "--short", "HEAD")
        + (" (with uncommitted changes in fiber/ or asm/)" if dirty.strip() else ""),
        "load": " ".join(f"{x:.2f}" for x in os.getloadavg()),
    }
