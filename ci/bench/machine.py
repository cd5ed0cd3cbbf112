"""What a benchmark run ran on: date, CPU, cores, commit, Python, load."""

from __future__ import annotations

import datetime
import os
import platform
import subprocess
from pathlib import Path


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _git(root: Path, *args: str) -> str:
    try:
        return subprocess.run(
            ["git", *args],
            cwd=root,
            text=True,
            check=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


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
