"""Where the harness keeps things: the repository, reports, build outputs and its cache."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REPORTS = ROOT / "reports"
BUILD = ROOT / "build"
TESTS = ROOT / "tests"


def cache_root() -> Path:
    """FIBER_CACHE, else ${XDG_CACHE_HOME:-~/.cache}/fiber-harness (sysroots, Wine prefix)."""
    explicit = os.environ.get("FIBER_CACHE")
    if explicit:
        return Path(explicit).expanduser().resolve()
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg).expanduser().resolve() / "fiber-harness"
