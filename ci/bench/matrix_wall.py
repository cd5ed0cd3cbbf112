"""The harness rows: the matrix's wall time with a cold cache and with a warm one, for the
full matrix (every ABI x CPython pair) and for the "core" scope (the 4 x 4 Linux pairs of the
four original ABIs plus Windows, the 16 + 1 targets issue 13's time goal is stated for).

Measured by default, in the bench run itself: ``python -m ci matrix`` over the scope's targets
with FIBER_CACHE pointing at a new, empty temporary folder (cold: every sysroot downloaded from
the Debian mirror and built, the tools of other suites made, the Wine prefix created), then
again with that same folder (warm: builds and tests only), then the folder (several GB) is
deleted. The full matrix takes tens of minutes on this machine (docs/harness.md has the
figures), so ``--matrix-scope`` chooses what the bench measures (default: core).

With ``--matrix-from-history`` nothing runs: the newest passing cold run and the newest warm
one of each scope are quoted from reports/matrix-history.jsonl (ci/history.py) with their
dates and commits.

A figure is shown only for a run of exactly the scope's targets with the whole suite that
passed and started from the cache state its row names. Anything else, a mirror that cannot be
reached included, makes the row "not measured" with the reason: a short run that failed is not
a fast one.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ci import history
from ci.bench.results import Goal, Row
from ci.targets import CORE

COLD, WARM = "cold", "warm"
FULL = "full"
SCOPES = (CORE, FULL)
SCOPE_TITLE = {FULL: "full matrix", CORE: "core matrix (16 + 1)"}


def title(kind: str, scope: str = FULL) -> str:
    cache = "cold cache (new, empty)" if kind == COLD else "warm cache"
    return f"harness: {SCOPE_TITLE[scope]} wall time, {cache}"


MEASURED = "measured in this bench run"
FROM_HISTORY = f"from reports/{history.FILE}"


@dataclass
class Wall:
    """One row's figure: the run it comes from, or why there is none."""

    kind: str  # COLD or WARM
    record: dict | None  # the matrix run's record (ci/history.py), None when not measured
    source: str  # MEASURED or FROM_HISTORY
    reason: str = ""  # why there is no figure
    scope: str = FULL

    @property
    def seconds(self) -> float | None:
        return None if self.record is None or self.reason else self.record["wall_seconds"]


def judge(kind: str, record: dict | None, scope: str = FULL) -> str:
    """Why `record` cannot stand for the `scope` matrix's `kind` wall time ("" when it can)."""
    if record is None:
        return "the matrix run wrote no record"
    failed = [t for t in record.get("targets", []) if not t.get("ok")]
    unprovisioned = [t for t in failed if str(t.get("error", "")).startswith("provision:")]
    if unprovisioned:
        first = unprovisioned[0]
        why = str(first["error"]).removeprefix("provision:").strip().splitlines()[0]
        return (
            f"provisioning failed ({first['target']}: {why}); a sysroot is downloaded "
            "from the Debian mirror: is the network or the mirror down?"
        )
    if record.get("cache") != kind:
        missing = record.get("cache_missing") or []
        return f"the cache was {record.get('cache')} at the start, not {kind}" + (
            f" (missing: {', '.join(missing)})" if missing else ""
        )
    if record.get("scope", FULL if record.get("full") else "partial") != scope:
        return f"a partial run: {record.get('partial')}"
    if not record.get("ok"):
        names = ", ".join(t.get("target", "?") for t in failed) or "the run"
        return f"the run failed ({names}), so its time is not the matrix's"
    return ""


def run_matrix(
    root: Path, cache: Path, logfile: Path, scope: str = FULL
) -> tuple[int, dict | None]:
    """Run the `scope` matrix with `cache` as FIBER_CACHE; its record, read back from
    reports/matrix.json (None when the run wrote none for this cache)."""
    env = dict(os.environ, FIBER_CACHE=str(cache))
    # The scope's targets, whatever the caller's shell selects.
    env.pop("FIBER_TARGETS", None)
    env.pop("FIBER_PYTHONS", None)
    if scope == CORE:
        env["FIBER_TARGETS"] = CORE
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(root), env.get("PYTHONPATH")]))
    logfile.parent.mkdir(parents=True, exist_ok=True)
    with open(logfile, "w") as fh:
        rc = subprocess.run(
            [sys.executable, "-m", "ci", "matrix"],
            cwd=root,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=fh,
            stderr=subprocess.STDOUT,
        ).returncode
    records = [r for r in history.read(root / "reports") if r.get("cache_dir") == str(cache)]
    return rc, (records[-1] if records else None)


def remove_cache(cache: Path, log: Callable[[str], None]) -> None:
    """Delete the temporary cache; the Wine prefix's server is stopped first (it may still be
    writing the registry)."""
    from ci.runners import wine

    prefix = wine.prefix_dir(cache)
    if prefix.exists():
        wine.stop_server(prefix)
    shutil.rmtree(cache, ignore_errors=True)
    if cache.exists():
        log(f"matrix wall time: could not delete the temporary cache {cache}: remove it by hand")


def measure(
    root: Path,
    log: Callable[[str], None] = print,
    run: Callable[..., tuple[int, dict | None]] = run_matrix,
    scope: str = FULL,
) -> list[Wall]:
    """The cold run, then the warm run in the same new cache, then the cache deleted."""
    reports = root / "reports"
    cache = Path(tempfile.mkdtemp(prefix="fiber-cold-cache-")).resolve()
    walls: list[Wall] = []
    try:
        for kind in (COLD, WARM):
            if walls and walls[0].reason.startswith("provisioning failed"):
                # The cache did not fill: a second run would be cold again and fail the same way.
                walls.append(
                    Wall(
                        kind,
                        None,
                        MEASURED,
                        "not run: the cold run could not fill the cache (its row says why)",
                        scope,
                    )
                )
                continue
            logfile = reports / f"bench-matrix-{scope}-{kind}.log"
            log(
                f"{SCOPE_TITLE[scope]}, {kind} cache ({cache}); output in "
                f"{logfile.relative_to(root)} ..."
            )
            rc, record = run(root, cache, logfile, scope)
            reason = judge(kind, record, scope)
            if record is None:
                reason = f"the matrix run wrote no record (exit {rc}; see {logfile.name})"
            walls.append(Wall(kind, record, MEASURED, reason, scope))
            log(
                f"{SCOPE_TITLE[scope]}, {kind} cache: "
                + (f"{record['wall_seconds']:.1f} s" if not reason else f"not measured: {reason}")
            )
    finally:
        remove_cache(cache, log)
    return walls


def from_history(reports: Path, scopes: tuple[str, ...] = SCOPES) -> list[Wall]:
    """The newest passing run of each kind and scope in the history, or why there is none."""
    records = history.read(reports)
    walls = []
    for scope in scopes:
        for kind in (COLD, WARM):
            rec = history.newest(records, kind, scope)
            reason = (
                ""
                if rec
                else f"no passing {scope} run with a {kind} cache in reports/{history.FILE}"
            )
            walls.append(Wall(kind, rec, FROM_HISTORY, reason, scope))
    return walls


def _when(rec: dict) -> str:
    dirty = " with uncommitted changes" if rec.get("dirty") else ""
    return f"{rec.get('date')}, commit {rec.get('commit')}{dirty}"


def rows(walls: list[Wall]) -> list[Row]:
    out = []
    for w in walls:
        what = f"{w.kind} {SCOPE_TITLE[w.scope]}"
        if w.reason:
            note = f"{what}: not measured: {w.reason}"
        else:
            assert w.record is not None
            note = f"{what}: {w.source} ({_when(w.record)})"
        out.append(Row(title(w.kind, w.scope), "s", w.seconds, {}, Goal("record"), note))
    return out


def _minutes(seconds: float) -> str:
    m, s = divmod(round(seconds), 60)
    return f"{m} min {s:02d} s" if m else f"{s} s"


def markdown(walls: list[Wall]) -> str:
    """The BENCHMARKS.md section: both wall times with their runs, then the per-target times."""
    lines = [
        "Wall time of `python -m ci matrix`, from its start to its end: the host tool check, "
        "the sysroots, the tools of other suites and the Wine prefix (made only when the cache "
        "lacks them), the builds and the test runs, two targets at a time. Full: every ABI x "
        "CPython pair; core: the 4 x 4 Linux pairs of x86_64, i686, aarch64 and armhf plus "
        "Windows (FIBER_TARGETS=core). Cold: FIBER_CACHE is a new, empty folder; warm: the same "
        "folder again, right after. Debian packages and the Python environment were already "
        "installed in both.",
        "",
        "| scope | cache | wall time | run | result | source |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for w in walls:
        rec = w.record
        if w.reason:
            lines.append(
                f"| {w.scope} | {w.kind} | not measured | "
                f"{_when(rec) if rec else '-'} | {w.reason} | {w.source} |"
            )
            continue
        assert rec is not None
        n = len(rec.get("targets", []))
        lines.append(
            f"| {w.scope} | {w.kind} | {rec['wall_seconds']:.1f} s "
            f"({_minutes(rec['wall_seconds'])}) | {_when(rec)} | {n} targets passed | "
            f"{w.source} |"
        )
    per = _per_target(walls)
    if per:
        lines += [
            "",
            "Per target (seconds from its provisioning to the end of its tests; two "
            "targets run at once, so these overlap and do not add up to the wall time):",
            "",
            per,
        ]
    return "\n".join(lines)


def _per_target(walls: list[Wall]) -> str:
    """Target | runner | seconds in each run | the last run's test counts."""
    by_kind = {
        f"{w.scope} {w.kind}": {t.get("target"): t for t in w.record.get("targets", [])}
        for w in walls
        if w.record is not None
    }
    if not by_kind:
        return ""
    names: list[str] = []
    for table in by_kind.values():
        names += [n for n in table if n not in names]
    head = ["target", "runner"] + [f"{k}: seconds" for k in by_kind] + ["tests (last run)"]
    out = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for name in names:
        last = [table[name] for table in by_kind.values() if name in table][-1]
        secs = [str(table[name]["seconds"]) if name in table else "-" for table in by_kind.values()]
        tests = (
            f"{last.get('passed')} passed, {last.get('failed')} failed, "
            f"{last.get('skipped')} skipped"
        )
        out.append("| " + " | ".join([str(name), str(last.get("runner")), *secs, tests]) + " |")
    return "\n".join(out)
