"""Run every benchmark and write the reports: ``python -m ci bench [--quick] [--no-callgrind]
[--matrix-from-history] [--matrix-scope core|full|both]``.

Needs, in the running environment: fiber built in place (``python -m fiber._build``), greenlet,
greenback and SQLAlchemy (``nox -s bench`` installs them), g++ and libboost-context-dev for the
fcontext peer, the cross compilers and binutils for the instruction counts, and valgrind for
the callgrind and cachegrind counts. The Python-level rows run again under every other
CPython version of the host ABI (ci/bench/versions.py: the Debian sysroot's interpreter, the
extension built for it, the peers from PyPI in the cache; ``--pythons 3.11,3.14`` selects);
for the harness rows, what ``python -m ci matrix`` needs (pytest and the
rest of ci.targets.PYTHON_DEPS, the cross compilers, QEMU, Wine, mmdebstrap and the Debian
mirror). Whatever is missing is reported as missing in the table, never guessed.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from ci.bench import c_bench, cachegrind, callgrind, insns, matrix_wall, pyrows, report, versions
from ci.bench.machine import describe
from ci.bench.results import Goal, Row

ROOT = Path(__file__).resolve().parent.parent.parent
REPORTS = ROOT / "reports"
BUILD = ROOT / "build" / "bench"


def c_rows(quick: bool) -> tuple[list[Row], dict]:
    try:
        rows = c_bench.measure(BUILD, rounds=1 if quick else 9, quick=quick)
        return rows, c_bench.build(BUILD)
    except Exception as exc:  # noqa: BLE001 - report, do not hide the other rows
        note = f"C benchmarks failed: {exc}"
        return [
            Row(
                "C: resume+suspend round trip",
                "ns",
                None,
                {c_bench.FCONTEXT: None},
                Goal("ratio", c_bench.FCONTEXT, 1.0),
                note,
            )
        ], {}


def log(text: str) -> None:
    print(text, flush=True)


def python_level_rows(quick: bool, pythons: list[dict], only: list[str]) -> list[Row]:
    """The Python and aio rows under every version's interpreter, one version after the other
    (each version's contenders interleaved in its own processes), grouped by benchmark; fills
    `pythons` with what each version ran on, for the report."""
    rows: list[Row] = []
    for interp in versions.all_interpreters(log, only):
        interp, facts = versions.probe(interp, ROOT)
        pythons.append(
            {
                "version": interp.version,
                "where": interp.where,
                "reason": interp.reason,
                **facts,
            }
        )
        rows += pyrows.rows_for(interp, quick, log)
    return pyrows.by_benchmark(rows)


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="python -m ci bench", description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="few repetitions: a smoke run")
    ap.add_argument(
        "--no-callgrind",
        action="store_true",
        help="skip the valgrind counts (callgrind's instructions and cachegrind's misses)",
    )
    ap.add_argument(
        "--pythons",
        default="",
        help="comma-separated CPython versions of the Python-level rows (default: every "
        "version of the host ABI in ci/targets.py)",
    )
    ap.add_argument(
        "--no-benchmarks-md",
        action="store_true",
        help="write reports/ only, leave BENCHMARKS.md alone",
    )
    ap.add_argument(
        "--matrix-from-history",
        action="store_true",
        help="do not run the matrix twice (cold cache, then warm); quote the newest "
        "passing runs of each scope from reports/matrix-history.jsonl",
    )
    ap.add_argument(
        "--matrix-scope",
        choices=(*matrix_wall.SCOPES, "both"),
        default=matrix_wall.CORE,
        help="which matrix to time cold and warm: core (16 + 1 targets, the default), full "
        "(every pair: tens of minutes), or both",
    )
    args = ap.parse_args(argv)

    machine = describe(ROOT)
    print(
        f"fiber benchmarks on {machine['cpu']} ({machine['cores']} cores), "
        f"commit {machine['commit']}, load {machine['load']}",
        flush=True,
    )
    rows: list[Row] = []
    pythons: list[dict] = []
    print("C benchmarks ...", flush=True)
    c, progs = c_rows(args.quick)
    rows += c
    only = [v.strip() for v in args.pythons.split(",") if v.strip()]
    rows += python_level_rows(args.quick, pythons, only)
    print("instruction counts ...", flush=True)
    counts = insns.count_all()
    cg: dict[str, dict[str, float]] = {}
    if not args.no_callgrind and callgrind.available():
        print("callgrind counts ...", flush=True)
        try:
            for bench, figures in callgrind.c_round_trips(progs).items():
                cg[f"C {bench}"] = figures
            cg["Python round trip"] = callgrind.py_round_trips(ROOT)
            cg["Python work() of the unfuelled row"] = callgrind.py_unfuelled(ROOT)
        except Exception as exc:  # noqa: BLE001
            print(f"callgrind counts failed: {exc}", file=sys.stderr)
    misses: dict = {}
    if not args.no_callgrind and cachegrind.available():
        print("cachegrind: misses per resume over N live fibers ...", flush=True)
        misses = cachegrind.measure(ROOT, log)
    # Last, so that the CPU figures above are not taken beside a matrix run's load.
    scopes = matrix_wall.SCOPES if args.matrix_scope == "both" else (args.matrix_scope,)
    if args.matrix_from_history:
        walls = matrix_wall.from_history(REPORTS)
    else:
        walls = []
        for scope in scopes:
            print(f"harness {scope} matrix wall time, cold cache then warm ...", flush=True)
            walls += matrix_wall.measure(ROOT, log=lambda s: print(s, flush=True), scope=scope)
    rows += matrix_wall.rows(walls)
    harness = matrix_wall.markdown(walls)
    machine["load_end"] = " ".join(f"{x:.2f}" for x in os.getloadavg())

    print()
    print(report.format_text(rows))
    print()
    REPORTS.mkdir(parents=True, exist_ok=True)
    report.write_json(rows, REPORTS / "bench.json")
    extra = {"pythons": pythons, "misses": misses}
    (REPORTS / "bench.md").write_text(
        report.bench_markdown(rows, machine, counts, cg, harness, **extra)
    )
    written = ["reports/bench.md", "reports/bench.json"]
    if not args.no_benchmarks_md:
        (ROOT / "BENCHMARKS.md").write_text(
            report.benchmarks_markdown(rows, machine, counts, cg, REPORTS, harness, **extra)
        )
        written.append("BENCHMARKS.md")
    met = [r for r in rows if r.goal_met is True]
    missed = [r for r in rows if r.goal_met is False]
    print(f"goals: {len(met)} met, {len(missed)} missed or missing; wrote {', '.join(written)}")
    for line in report.goals_by_version_lines(rows):
        print(f"  {line}")
    return 0
