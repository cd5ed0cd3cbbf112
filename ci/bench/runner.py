"""Run every benchmark and write the reports: ``python -m ci bench [--quick] [--no-callgrind]
[--matrix-from-history] [--matrix-scope core|full|both]``.

Needs, in the running environment: fiber built in place (``python -m fiber._build``), greenlet,
greenback and SQLAlchemy (``nox -s bench`` installs them), g++ and libboost-context-dev for the
fcontext peer, the cross compilers and binutils for the instruction counts, and valgrind for
the callgrind counts; for the harness rows, what ``python -m ci matrix`` needs (pytest and the
rest of ci.targets.PYTHON_DEPS, the cross compilers, QEMU, Wine, mmdebstrap and the Debian
mirror). Whatever is missing is reported as missing in the table, never guessed.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

from ci.bench import c_bench, callgrind, insns, matrix_wall, report
from ci.bench.machine import describe
from ci.bench.results import Goal, Row

ROOT = Path(__file__).resolve().parent.parent.parent
REPORTS = ROOT / "reports"
BUILD = ROOT / "build" / "bench"

GREENLET_RT = "greenlet switch round trip"
SA_AWAIT = "SQLAlchemy await_only in greenlet_spawn"
GB_PORTAL = "greenback.with_portal_run_sync"
FLOOR = "plain await asyncio.sleep(0) (floor)"


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return env


def _python(module: str, *args: str) -> str:
    proc = subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=ROOT,
        env=_env(),
        text=True,
        capture_output=True,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{module} failed: {proc.stderr.strip()[-600:]}")
    return proc.stdout


def _scaled(value: float | None, factor: float) -> float | None:
    return None if value is None else value * factor


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


def _timed_row(
    title: str, unit: str, scale: float, figures: dict, peers: dict[str, str], goal: Goal, note: str
) -> Row:
    """A row from one benchmark's figures (python_bench / aio_bench output): ``peers`` maps
    each peer's label in the table to its contender name there."""
    paired = figures.get("_ratios", {})
    return Row(
        title,
        unit,
        _scaled(figures.get("ours"), scale),
        {label: _scaled(figures.get(key), scale) for label, key in peers.items()},
        goal,
        note,
        paired={label: paired.get(key) for label, key in peers.items()},
    )


def python_rows(quick: bool) -> list[Row]:
    note = ""
    try:
        py = json.loads(_python("ci.bench.python_bench", *(["--quick"] if quick else [])))
    except Exception as exc:  # noqa: BLE001
        py, note = {}, str(exc)
    rt, cr = py.get("round_trip", {}), py.get("create", {})
    ns = 1e9
    rows = [
        _timed_row(
            "Python: resume+suspend round trip",
            "ns",
            ns,
            rt,
            {GREENLET_RT: "greenlet", "generator send (floor)": "generator"},
            Goal("ratio", GREENLET_RT, 0.6),
            note,
        ),
        _timed_row(
            "Python: create, run and finish a trivial fiber",
            "ns",
            ns,
            cr,
            {"greenlet": "greenlet"},
            Goal("ratio", "greenlet", 1.0),
            note,
        ),
    ]
    reps = 1 if quick else 3
    count = 2_000 if quick else 10_000
    samples: dict[str, list[float]] = {"fiber": [], "greenlet": []}
    mem_note = ""
    for rep in range(reps):
        for kind in ["fiber", "greenlet"] if rep % 2 == 0 else ["greenlet", "fiber"]:
            try:
                samples[kind].append(float(_python("ci.bench.memory", kind, str(count), "20")))
            except Exception as exc:  # noqa: BLE001
                mem_note = str(exc)
    med = {k: statistics.median(v) if v else None for k, v in samples.items()}
    rows.append(
        Row(
            f"Python: memory per suspended fiber ({count:,} alive, 20 frames deep)",
            "B",
            med["fiber"],
            {"greenlet": med["greenlet"]},
            Goal("ratio", "greenlet", 1.0),
            mem_note,
        )
    )
    return rows


def aio_rows(quick: bool) -> list[Row]:
    note = ""
    try:
        data = json.loads(_python("ci.bench.aio_bench", *(["--quick"] if quick else [])))
    except Exception as exc:  # noqa: BLE001
        data, note = {}, str(exc)
    notes = data.get("_notes", {})
    if "fiber.aio" in notes:
        note = f"fiber.aio {notes['fiber.aio']}"
    others = "; ".join(f"{k} {v}" for k, v in notes.items() if k != "fiber.aio")
    note = "; ".join(filter(None, [note, others]))
    us = 1e6

    def row(title: str, bench: str, peers: dict[str, str], goal: Goal) -> Row:
        return _timed_row(title, "us", us, data.get(bench, {}), peers, goal, note)

    return [
        row(
            "aio: await_ of an already finished coroutine",
            "await_done",
            {SA_AWAIT: "sqlalchemy", "greenback.await_": "greenback"},
            Goal("ratio", SA_AWAIT, 0.75),
        ),
        row(
            "aio: await_(asyncio.sleep(0))",
            "await_sleep0",
            {FLOOR: "plain", SA_AWAIT: "sqlalchemy", "greenback.await_": "greenback"},
            Goal("floor_plus", FLOOR, 1.0, "us"),
        ),
        row(
            "aio: run of a trivial function",
            "run_trivial",
            {GB_PORTAL: "greenback", "SQLAlchemy greenlet_spawn": "sqlalchemy"},
            Goal("ratio", GB_PORTAL, 0.75),
        ),
        row(
            "aio: unfuelled code on a bridge fiber",
            "unfuelled",
            {"same code on the plain stack": "plain"},
            Goal("ratio", "same code on the plain stack", 1.02),
        ),
    ]


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="python -m ci bench", description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="few repetitions: a smoke run")
    ap.add_argument("--no-callgrind", action="store_true", help="skip the valgrind counts")
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
    print("C benchmarks ...", flush=True)
    c, progs = c_rows(args.quick)
    rows += c
    print("Python benchmarks ...", flush=True)
    rows += python_rows(args.quick)
    print("aio benchmarks ...", flush=True)
    rows += aio_rows(args.quick)
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
    (REPORTS / "bench.md").write_text(report.bench_markdown(rows, machine, counts, cg, harness))
    written = ["reports/bench.md", "reports/bench.json"]
    if not args.no_benchmarks_md:
        (ROOT / "BENCHMARKS.md").write_text(
            report.benchmarks_markdown(rows, machine, counts, cg, REPORTS, harness)
        )
        written.append("BENCHMARKS.md")
    met = [r for r in rows if r.goal_met is True]
    missed = [r for r in rows if r.goal_met is False]
    print(f"goals: {len(met)} met, {len(missed)} missed or missing; wrote {', '.join(written)}")
    return 0
