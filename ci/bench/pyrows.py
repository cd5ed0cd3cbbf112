"""The Python-level rows of one interpreter: run the bench modules under it and make rows.

Each module (python_bench, memory, aio_bench, scaling) runs as ``python -m ci.bench.<module>``
in a fresh process of the interpreter (ci/bench/versions.py: the host's, or a sysroot's
through its loader) and prints JSON; the rows made from it carry the interpreter's version,
and their goals are evaluated per version. An interpreter that is not ready, or a module that
fails under it, gives the same rows with no figures: "not measured" and the reason.
"""

from __future__ import annotations

import json
import statistics
import subprocess
from typing import Any

from ci import paths
from ci.bench.results import Goal, Row
from ci.bench.scaling import DEPTHS, LIVE, SMALL_STACK, SMALL_STACK_LIVE
from ci.bench.versions import Interpreter

GREENLET_RT = "greenlet switch round trip"
SA_AWAIT = "SQLAlchemy await_only in greenlet_spawn"
GB_PORTAL = "greenback.with_portal_run_sync"
FLOOR = "plain await asyncio.sleep(0) (floor)"
SCALING_LIMIT = 0.5  # issue 13: at most 0.5x greenlet at every depth and every live count


class ModuleFailed(RuntimeError):
    pass


def run_module(interp: Interpreter, module: str, *args: str) -> str:
    """The module's stdout, run by `interp` from the repository root."""
    proc = subprocess.run(
        [*interp.command, "-m", module, *args],
        cwd=paths.ROOT,
        env=interp.environ(),
        text=True,
        capture_output=True,
        stdin=subprocess.DEVNULL,
    )
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise ModuleFailed(f"{module} failed under Python {interp.version}: {last[-300:]}")
    return proc.stdout


def _json(interp: Interpreter, module: str, quick: bool) -> tuple[dict, str]:
    """The module's JSON, or {} and the reason it is missing."""
    if not interp.ready:
        return {}, interp.reason
    try:
        return json.loads(run_module(interp, module, *(["--quick"] if quick else []))), ""
    except Exception as exc:  # noqa: BLE001 - report, do not hide the other rows
        return {}, str(exc)


def _scaled(value: float | None, factor: float) -> float | None:
    return None if value is None else value * factor


def timed_row(
    title: str,
    unit: str,
    scale: float,
    figures: dict,
    peers: dict[str, str],
    goal: Goal,
    *,
    python: str,
    note: str = "",
    reason: str = "",
) -> Row:
    """A row from one benchmark's figures: ``peers`` maps each peer's label in the table to its
    contender name there. With `reason` (or no figures at all) the row is not measured."""
    if not figures and not reason:
        reason = "no figures"
    paired = figures.get("_ratios", {})
    if reason:
        note = f"Python {python}: not measured: {reason}"
    return Row(
        title,
        unit,
        _scaled(figures.get("ours"), scale),
        {label: _scaled(figures.get(key), scale) for label, key in peers.items()},
        goal,
        note,
        paired={label: paired.get(key) for label, key in peers.items()},
        python=python,
        unmeasured=reason,
    )


def python_rows(interp: Interpreter, quick: bool) -> list[Row]:
    py, reason = _json(interp, "ci.bench.python_bench", quick)
    v = interp.version
    ns = 1e9
    return [
        timed_row(
            "Python: resume+suspend round trip",
            "ns",
            ns,
            py.get("round_trip", {}),
            {GREENLET_RT: "greenlet", "generator send (floor)": "generator"},
            Goal("ratio", GREENLET_RT, 0.6),
            python=v,
            reason=reason,
        ),
        timed_row(
            "Python: create, run and finish a trivial fiber",
            "ns",
            ns,
            py.get("create", {}),
            {"greenlet": "greenlet"},
            Goal("ratio", "greenlet", 1.0),
            python=v,
            reason=reason,
        ),
        memory_row(interp, quick),
    ]


def memory_row(interp: Interpreter, quick: bool) -> Row:
    """Each sample in a fresh process of the interpreter, fiber and greenlet alternating."""
    reps = 1 if quick else 3
    count = 2_000 if quick else 10_000
    samples: dict[str, list[float]] = {"fiber": [], "greenlet": []}
    reason = interp.reason
    for rep in range(reps if interp.ready else 0):
        for kind in ["fiber", "greenlet"] if rep % 2 == 0 else ["greenlet", "fiber"]:
            try:
                out = run_module(interp, "ci.bench.memory", kind, str(count), "20")
                samples[kind].append(float(out))
            except Exception as exc:  # noqa: BLE001
                reason = str(exc)
    med = {k: statistics.median(v) if v else None for k, v in samples.items()}
    if med["fiber"] is None or med["greenlet"] is None:
        reason = reason or "no samples"
    return Row(
        f"Python: memory per suspended fiber ({count:,} alive, 20 frames deep)",
        "B",
        med["fiber"],
        {"greenlet": med["greenlet"]},
        Goal("ratio", "greenlet", 1.0),
        f"Python {interp.version}: not measured: {reason}" if reason else "",
        python=interp.version,
        unmeasured=reason,
    )


def aio_rows(interp: Interpreter, quick: bool) -> list[Row]:
    data, reason = _json(interp, "ci.bench.aio_bench", quick)
    notes = data.get("_notes", {})
    if "fiber.aio" in notes and not reason:
        reason = f"fiber.aio {notes['fiber.aio']}"
    others = "; ".join(f"{k} {v}" for k, v in notes.items() if k != "fiber.aio")
    note = f"Python {interp.version}: {others}" if others else ""
    us = 1e6

    def row(title: str, bench: str, peers: dict[str, str], goal: Goal) -> Row:
        figures = data.get(bench, {})
        return timed_row(
            title,
            "us",
            us,
            figures,
            peers,
            goal,
            python=interp.version,
            note=note,
            reason=reason,
        )

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


# --- scaling (ci/bench/scaling.py) -----------------------------------------------------------


def _frames(n: int) -> str:
    return f"{n} frame{'s' if n != 1 else ''}"


def depth_title(depth: int) -> str:
    return f"Python: round trip, suspended {_frames(depth)} deep"


def live_title(n: int, small_stack: int | None = None) -> str:
    title = f"Python: round-robin resume over {n:,} live fibers"
    if small_stack:
        title += f", stack_size={small_stack // 1024} KiB"
    return title


def _stack_note(data: dict[str, Any], key: str) -> str:
    """What the fibers of the live rows were created with (the same on every version: the
    core's default; the note is then one line for all of them)."""
    sizes = data.get("_stack_sizes", {}).get(key)
    if not sizes:
        return ""
    arg = sizes.get("argument")
    given = f"Fiber.stack_size reports {sizes.get('Fiber.stack_size'):,} B"
    if arg is None:
        return f"round-robin rows: fibers with the default stack_size ({given})"
    return f"round-robin rows, stack_size={arg // 1024} KiB: {given}"


def scaling_rows(interp: Interpreter, quick: bool) -> list[Row]:
    data, reason = _json(interp, "ci.bench.scaling", quick)
    return scaling_rows_from(data, reason, interp.version)


def scaling_rows_from(data: dict[str, Any], reason: str, v: str) -> list[Row]:
    """The depth and live-fiber rows from ci/bench/scaling.py's JSON (`reason`: why there is
    none); a size that scaling.py could not measure is not measured, with its note."""
    notes = data.get("_notes", {})
    ns = 1e9
    rows = []
    for depth in DEPTHS:
        rows.append(
            timed_row(
                depth_title(depth),
                "ns",
                ns,
                data.get("depth", {}).get(str(depth), {}),
                {"greenlet switch round trip, as deep": "greenlet"},
                Goal("ratio", "greenlet switch round trip, as deep", SCALING_LIMIT),
                python=v,
                reason=reason,
            )
        )
    plan = [("live", n, None, Goal("ratio", "greenlet", SCALING_LIMIT)) for n in LIVE]
    small = data.get("_stack_sizes", {}).get("live_small", {}).get("argument") or SMALL_STACK
    plan += [("live_small", n, small, Goal("record")) for n in SMALL_STACK_LIVE]
    for key, n, stack, goal in plan:
        figures = data.get(key, {}).get(str(n), {})
        why = reason or notes.get(f"{key} {n}", "")
        row = timed_row(
            live_title(n, stack),
            "ns",
            ns,
            figures,
            {"greenlet": "greenlet"},
            goal,
            python=v,
            note=_stack_note(data, key),
            reason=why,
        )
        rows.append(row)
    return rows


def rows_for(interp: Interpreter, quick: bool, log=print) -> list[Row]:
    """Every Python-level row of one interpreter, in table order."""
    log(f"Python {interp.version} ({interp.where or 'host'}): Python benchmarks ...")
    rows = python_rows(interp, quick)
    log(f"Python {interp.version}: scaling (depth, live fibers) ...")
    rows += scaling_rows(interp, quick)
    log(f"Python {interp.version}: aio benchmarks ...")
    rows += aio_rows(interp, quick)
    return rows


def by_benchmark(rows: list[Row]) -> list[Row]:
    """Rows of several versions grouped by benchmark (in first-seen order), versions in the
    order they came: the table then reads one benchmark across the versions."""
    order: dict[str, int] = {}
    for row in rows:
        order.setdefault(row.benchmark, len(order))
    return sorted(rows, key=lambda r: order[r.benchmark])  # stable: versions keep their order
