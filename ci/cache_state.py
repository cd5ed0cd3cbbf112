"""Whether the cache was cold or warm when a matrix run started.

A run's wall time means little without this: a cold cache (nothing the targets need is there
yet) pays for the sysroots (Debian packages downloaded and extracted, bytecode, smoke checks)
and the Wine prefix; a warm one (all of it is there) pays for builds and tests only. What
counts is exactly what the run would reuse: what each target's runner kind keeps in the cache
and finds complete (``cache_entry`` and ``find`` of ci/runners/: a sysroot of the target's suite
and architecture under the current key for the QEMU and loader targets, shared by the pairs of
one suite, and the Wine prefix for the Windows target). Anything else in the folder (sysroots
under an older key, lock files) would not be reused, so it does not make the cache warm. The
tools of other suites (ci/suite_tools.py, in the same folder) are host tools: a run makes them
before it looks at targets, like the Debian packages, and they do not count either way.

- ``cold``: none of what the targets need was there;
- ``warm``: all of it was there;
- ``mixed``: some of it (an earlier partial run, or a package-list change that rebuilt one);
- ``unused``: the targets need nothing from the cache (x86_64-linux-py3.11 alone).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from ci import paths, runners
from ci.targets import Target

COLD, WARM, MIXED, UNUSED = "cold", "warm", "mixed", "unused"


@dataclass(frozen=True)
class CacheState:
    kind: str  # one of COLD, WARM, MIXED, UNUSED
    cache: str  # the cache folder that was looked at
    present: list[str] = field(default_factory=list)  # "sysroot i686-linux", "Wine prefix"
    missing: list[str] = field(default_factory=list)


def _needs(target: Target, cache: Path) -> tuple[str, bool] | None:
    """What `target` takes from the cache, and whether it is there and complete."""
    kind = runners.kind(target)
    what = kind.cache_entry(target)
    if what is None:
        return None
    return what, kind.find(target, cache) is not None


def of(selected: Iterable[Target], cache: Path | None = None) -> CacheState:
    """Look (read only) at what the cache holds for `selected`, before the run changes it."""
    cache = cache or paths.cache_root()
    present: list[str] = []
    missing: list[str] = []
    for t in selected:
        need = _needs(t, cache)
        if need is None:
            continue
        what, there = need
        bucket = present if there else missing
        if what not in bucket:  # the Wine prefix is shared, should a second Windows row come
            bucket.append(what)
    if not present and not missing:
        kind = UNUSED
    elif not present:
        kind = COLD
    elif not missing:
        kind = WARM
    else:
        kind = MIXED
    return CacheState(kind, str(cache), present, missing)
