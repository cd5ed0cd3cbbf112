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
    """The full path of a host command: one the harness provides in its cache first (the
    table asked for that one: bookworm-backports' qemu-loongarch64, not the host's older one of
    the same name), else on PATH, else in the known off-PATH places."""
    provided = cache_bin() / name
    if os.access(provided, os.X_OK):
        return str(provided)
    found = shutil.which(name)
    if found:
        return found
    for path in EXTRA_LOCATIONS.get(name, ()):
        if os.access(path, os.X_OK):
            return path
    return None


def is_provided(path: str | None) -> bool:
    """Whether `path` is a command the harness provides in its cache."""
    return bool(path) and Path(str(path)).parent == cache_bin()
