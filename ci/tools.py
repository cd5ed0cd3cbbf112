"""Host tools: where a command is, and the error every setup step raises.

A leaf module (it imports nothing from ci but the folder names of ci.paths), so that
provisioning, sysroots and the runner kinds can all use it without importing each other.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from ci import paths

# Some tools live outside PATH on Debian (wine64 is /usr/lib/wine/wine64 in bookworm).
EXTRA_LOCATIONS = {"wine64": ("/usr/lib/wine/wine64",)}


class SetupError(RuntimeError):
    """Something a target needs on this machine is missing or could not be made: a host
    tool, a sysroot, a Wine prefix. The message says what and what to do."""


def cache_bin(cache: Path | None = None) -> Path:
    """Where the harness keeps the commands it provides itself (ci/suite_tools.py: tools of
    other Debian suites, run from the cache): <cache>/tools/bin."""
    return (cache or paths.cache_root()) / "tools" / "bin"


def find_tool(name: str) -> str | None:
    """The full path of a host command: on PATH, in the known off-PATH places, or one the
    harness provides in its cache."""
    found = shutil.which(name)
    if found:
        return found
    for path in (*EXTRA_LOCATIONS.get(name, ()), str(cache_bin() / name)):
        if os.access(path, os.X_OK):
            return path
    return None
