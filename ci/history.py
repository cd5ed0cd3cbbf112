"""The record of one matrix run, and the history of them: reports/matrix-history.jsonl.

Every run of ``python -m ci matrix`` produces one record (the same object is reports/matrix.json
and one line of the history): when it started (UTC) and at which commit, the targets it ran,
whether that was the full matrix, whether the cache was cold or warm at the start
(ci/cache_state.py), its wall time from start to end (host tools, sysroots, Wine prefix,
builds, tests), and the per-target results.

A run is *full* only when it ran every target of the table with the whole suite (no pytest
arguments: ``-k registers`` runs a fraction of it). Anything else is partial and says why, so
that its wall time is never quoted as the matrix's: :func:`newest` picks only full runs that
passed. A record's ``scope`` is "full", "core" (exactly the targets of targets.CORE_ABIS, the
4 x 4 Linux pairs plus Windows that issue 13's time goal is stated for, with the whole suite),
or "partial".
"""

from __future__ import annotations

import datetime
import json
import os
import subprocess
from collections.abc import Iterable
from pathlib import Path

from ci import paths

FILE = "matrix-history.jsonl"

# Settings that change a run's wall time; recorded when set so that a figure can be explained.
TIMING_SETTINGS = (
    "FIBER_WORKERS",
    "FIBER_TEST_TIMEOUT",
    "FIBER_RUN_TIMEOUT",
    "FIBER_DEBIAN_MIRROR",
)


def git(root: Path, *args: str) -> str | None:
    """What `git ARGS` prints in `root`, stripped; None when git or the checkout is missing."""
    try:
        return subprocess.run(
            ["git", *args],
            cwd=root,
            text=True,
            check=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            timeout=30,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None


def commit(root: Path = paths.ROOT) -> dict:
    """The checkout's short commit and whether tracked files differ from it (BENCHMARKS.md
    aside: the bench rewrites it before its own matrix runs, and it is an output, not code)."""
    sha = git(root, "rev-parse", "--short", "HEAD")
    status = git(
        root, "status", "--porcelain", "--untracked-files=no", "--", ".", ":(exclude)BENCHMARKS.md"
    )
    return {"commit": sha or "unknown", "dirty": bool(status)}


def partial_reason(
    ran: list[str], all_targets: Iterable[str], pytest_args: tuple[str, ...] | list[str]
) -> str:
    """Why a run is not the full matrix ("" when it is)."""
    everything = list(all_targets)
    reasons = []
    left_out = [n for n in everything if n not in ran]
    if left_out:
        shown = ", ".join(left_out[:12]) + (
            f" and {len(left_out) - 12} more" if len(left_out) > 12 else ""
        )
        reasons.append(f"{len(ran)} of {len(everything)} targets (not run: {shown})")
    if pytest_args:
        reasons.append(f"pytest arguments {' '.join(pytest_args)!r} (not the whole suite)")
    return "; ".join(reasons)


def now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def make_record(
    *,
    ran: list[str],
    all_targets: Iterable[str],
    pytest_args: tuple[str, ...],
    cache: dict,
    core: Iterable[str] = (),
    wall_seconds: float,
    status: int,
    jobs: int,
    rows: list[dict],
    date: str | None = None,
    revision: dict | None = None,
    env: dict[str, str] | None = None,
) -> dict:
    """One run's record. `cache` is a CacheState as a dict; `rows` the per-target results;
    `date` when the run started (default: now); `core` the targets of the "core" scope."""
    env = os.environ if env is None else env
    reason = partial_reason(ran, all_targets, pytest_args)
    is_core = bool(reason) and not pytest_args and sorted(ran) == sorted(core)
    return {
        "date": date or now(),
        **(revision if revision is not None else commit()),
        "targets_run": list(ran),
        "full": not reason,
        "scope": "full" if not reason else "core" if is_core else "partial",
        "partial": reason,
        "cache": cache["kind"],
        "cache_dir": cache["cache"],
        "cache_missing": list(cache.get("missing", [])),
        "wall_seconds": round(wall_seconds, 1),
        "ok": status == 0,
        "status": status,
        "jobs": jobs,
        "pytest_args": list(pytest_args),
        "settings": {k: env[k] for k in TIMING_SETTINGS if env.get(k)},
        "targets": rows,
    }


def append(record: dict, reports_dir: Path) -> Path:
    """Add the record as one line (O_APPEND: a line from another run is never interleaved)."""
    path = reports_dir / FILE
    reports_dir.mkdir(parents=True, exist_ok=True)
    line = json.dumps(record, separators=(",", ":")) + "\n"
    # A run killed in mid-write leaves a line without its newline: start on a fresh line, or
    # this record would be glued to the broken one and lost with it.
    with open(path, "ab+") as fh:
        fh.seek(0, os.SEEK_END)
        if fh.tell():
            fh.seek(-1, os.SEEK_END)
            if fh.read(1) != b"\n":
                line = "\n" + line
        fh.write(line.encode())
    return path


def read(reports_dir: Path) -> list[dict]:
    """Every record, oldest first; a line that is not a JSON object (a run killed while
    writing it) is skipped."""
    try:
        lines = (reports_dir / FILE).read_text().splitlines()
    except OSError:
        return []
    out = []
    for line in lines:
        try:
            rec = json.loads(line)
        except ValueError:
            continue
        if isinstance(rec, dict):
            out.append(rec)
    return out


def newest(records: list[dict], cache: str, scope: str = "full") -> dict | None:
    """The newest run of `scope` ("full" or "core") that passed with the cache `cache`
    ("cold" or "warm"), or None.

    Partial runs, failed runs (a build error or a mirror that was down makes a run short, not
    fast) and runs with a mixed cache never qualify.
    """
    for rec in reversed(records):
        if (
            rec.get("scope", "full" if rec.get("full") else "partial") == scope
            and rec.get("ok") is True
            and rec.get("cache") == cache
            and isinstance(rec.get("wall_seconds"), (int, float))
        ):
            return rec
    return None
