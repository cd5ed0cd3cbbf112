"""The harness's compiler cache: ccache, kept in the harness's cache folder.

Every pair of an ABI compiles the same core and glue sources, and a warm run compiles what the
last run compiled: ccache gives each unchanged compile back in tens of milliseconds. Its
settings make the cache shared by every checkout of the repository (a CI run starts from a
fresh clone): paths under the checkout are hashed relative to it (CCACHE_BASEDIR) and the
working directory is left out of the hash (CCACHE_NOHASHDIR), so an object may carry another
checkout's directory in its debug information; the sources' paths in it stay relative. The
cache lives in the harness's cache folder, so a run with a new, empty FIBER_CACHE is cold in
this respect too. Without ccache on the host, builds run the compiler directly.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from ci import paths

# The host tool and its Debian package (ci/provision.py installs it with the others).
TOOL = ("ccache", "ccache")


def directory(cache: Path | None = None) -> Path:
    return (cache or paths.cache_root()) / "ccache"


def launcher(cache: Path | None = None) -> tuple[str, ...]:
    """What fiber._build.Toolchain.launcher should be for the harness's builds: () without
    ccache."""
    ccache = shutil.which(TOOL[0])
    if ccache is None:
        return ()
    return (
        "env",
        f"CCACHE_DIR={directory(cache)}",
        f"CCACHE_BASEDIR={paths.ROOT}",
        "CCACHE_NOHASHDIR=1",
        ccache,
    )
