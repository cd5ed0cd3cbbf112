"""The soak run: a million fiber lives and a million suspend/resume round trips.

Two workloads, each measured the same way:

- cycles:      ``Fiber(fn, i).resume()`` to completion, N times (create, run, finish, free)
- round trips: F fibers alive and suspended at once, resumed round-robin until N resume/suspend
               round trips have been made in all, then closed

Before measuring, both workloads run once at a smaller size (warm-up: the core's stack pool
and the allocator's arenas reach their steady state), then
``gc.collect()`` and the figures "before" are taken: resident set size (from
/proc/self/statm) and the number of objects the GC tracks (``len(gc.get_objects())``). After
the full run and another ``gc.collect()`` the same figures are taken again. The run passes
when RSS grew by at most 1 MiB and the live-object count did not grow (beyond OBJECT_SLACK,
a few objects of interpreter-internal caches; a leak of one object per cycle would be a
million).

`python -m ci soak` runs the full counts and writes reports/soak.md and
reports/soak.json. tests/python/test_reliability_soak.py runs :func:`measure` with smaller counts.
This module imports nothing from ``ci`` at module level, so the test can load it by path.
"""

from __future__ import annotations

import gc
import json
import os
import platform
import time
from datetime import UTC, datetime
from pathlib import Path

RSS_LIMIT = 1 << 20  # bytes of RSS growth allowed (the soak's promise: within 1 MiB)
OBJECT_SLACK = 16  # GC-tracked objects of growth tolerated (interpreter caches)

FULL_CYCLES = 1_000_000
FULL_ROUND_TRIPS = 1_000_000
FULL_FIBERS = 1_000


def rss_bytes() -> int:
    """Resident set size of this process now (Linux /proc; under QEMU, the emulator's)."""
    with open("/proc/self/statm") as fh:
        resident_pages = int(fh.read().split()[1])
    return resident_pages * os.sysconf("SC_PAGE_SIZE")


def live_objects() -> int:
    return len(gc.get_objects())


def _settle() -> tuple[int, int]:
    for _ in range(3):
        gc.collect()
    return rss_bytes(), live_objects()


def _finish(value):
    return value


def _ping(first):
    import fiber

    value = first
    while True:
        value = fiber.suspend(value + 1)


def run_cycles(n: int) -> None:
    """n fibers, each created, run to completion and dropped."""
    from fiber import Fiber

    for i in range(n):
        f = Fiber(_finish, i)
        got = f.resume()
        if got != i or not f.done:
            raise AssertionError(f"cycle {i}: the fiber returned {got!r} (done={f.done})")


def run_round_trips(total: int, fibers: int, stack_size: int | None = None) -> int:
    """`fibers` suspended fibers resumed round-robin for `total` round trips; returns the
    number of round trips made (a multiple of `fibers`, at least `total`)."""
    from fiber import Fiber

    rounds = -(-total // fibers)
    fs = [Fiber(_ping, 0, stack_size=stack_size) for _ in range(fibers)]
    for f in fs:
        if f.resume(None) != 1:  # noqa: PLR2004 - first resume: fn(0) suspends 1
            raise AssertionError("a fiber did not suspend 1 on its first resume")
    for r in range(rounds):
        want = r + 2
        for i, f in enumerate(fs):
            got = f.resume(r + 1)
            if got != want:
                raise AssertionError(f"round {r}, fiber {i}: got {got!r}, expected {want}")
    for f in fs:
        f.close()
        if not f.done:
            raise AssertionError("close() left a fiber unfinished")
    return rounds * fibers


def measure(
    cycles: int,
    round_trips: int,
    fibers: int,
    *,
    warmup_cycles: int | None = None,
    warmup_round_trips: int | None = None,
    stack_size: int | None = None,
) -> dict:
    """Warm up, then run both workloads and return the figures (see the module docstring)."""
    from fiber._native import lib

    warmup_cycles = warmup_cycles if warmup_cycles is not None else max(1000, cycles // 20)
    warmup_round_trips = (
        warmup_round_trips if warmup_round_trips is not None else max(2 * fibers, round_trips // 20)
    )
    for _ in range(2):
        run_cycles(warmup_cycles)
        run_round_trips(warmup_round_trips, fibers, stack_size)
    rss0, obj0 = _settle()
    pool0 = lib.fiber_pool_size()

    t0 = time.perf_counter()
    run_cycles(cycles)
    t1 = time.perf_counter()
    rss_mid, obj_mid = _settle()
    t2 = time.perf_counter()
    made = run_round_trips(round_trips, fibers, stack_size)
    t3 = time.perf_counter()
    rss1, obj1 = _settle()
    pool1 = lib.fiber_pool_size()
    return {
        "cycles": cycles,
        "cycles_seconds": round(t1 - t0, 3),
        "round_trips": made,
        "round_trip_fibers": fibers,
        "round_trip_stack_size": stack_size or "default",
        "round_trips_seconds": round(t3 - t2, 3),
        "warmup_cycles": warmup_cycles,
        "warmup_round_trips": warmup_round_trips,
        "rss_before": rss0,
        "rss_after_cycles": rss_mid,
        "rss_after": rss1,
        "rss_growth": rss1 - rss0,
        "rss_limit": RSS_LIMIT,
        "objects_before": obj0,
        "objects_after_cycles": obj_mid,
        "objects_after": obj1,
        "objects_growth": obj1 - obj0,
        "object_slack": OBJECT_SLACK,
        "stack_pool_before": pool0,
        "stack_pool_after": pool1,
    }


def problems(fig: dict) -> list[str]:
    """What is wrong with a measurement (empty: the soak passed)."""
    out = []
    if abs(fig["rss_after_cycles"] - fig["rss_before"]) > RSS_LIMIT:
        out.append(
            f"RSS changed by {fig['rss_after_cycles'] - fig['rss_before']} bytes over "
            f"{fig['cycles']} create/run/finish cycles (limit {RSS_LIMIT})"
        )
    if abs(fig["rss_growth"]) > RSS_LIMIT:
        out.append(
            f"RSS changed by {fig['rss_growth']} bytes over the whole run (limit {RSS_LIMIT})"
        )
    if fig["objects_after_cycles"] - fig["objects_before"] > OBJECT_SLACK:
        out.append(
            f"{fig['objects_after_cycles'] - fig['objects_before']} more live objects "
            f"after {fig['cycles']} cycles"
        )
    if fig["objects_growth"] > OBJECT_SLACK:
        out.append(f"{fig['objects_growth']} more live objects after the whole run")
    if fig["stack_pool_after"] != fig["stack_pool_before"]:
        out.append(
            f"the core's stack pool held {fig['stack_pool_before']} stacks before and "
            f"{fig['stack_pool_after']} after"
        )
    return out


def _mib(n: int) -> str:
    return f"{n / (1 << 20):.2f} MiB"


def render_markdown(fig: dict, meta: dict, found: list[str]) -> str:
    cyc_us = 1e6 * fig["cycles_seconds"] / max(1, fig["cycles"])
    rt_us = 1e6 * fig["round_trips_seconds"] / max(1, fig["round_trips"])
    lines = [
        "## Soak",
        "",
        f"{meta['date']}, {meta['machine']}, Python {meta['python']}, "
        f"`python -m ci soak` (`nox -s soak`). RSS and live objects are taken after "
        f"a warm-up and `gc.collect()`; limits: RSS within {_mib(RSS_LIMIT)}, live objects "
        f"+{OBJECT_SLACK} at most.",
        "",
        "| workload | count | seconds | per op |",
        "| --- | ---: | ---: | ---: |",
        f"| create / run / finish cycles | {fig['cycles']:,} | {fig['cycles_seconds']:.2f} | "
        f"{cyc_us:.2f} us |",
        f"| suspend/resume round trips across {fig['round_trip_fibers']:,} fibers | "
        f"{fig['round_trips']:,} | {fig['round_trips_seconds']:.2f} | {rt_us:.3f} us |",
        "",
        "| figure | before | after the cycles | after the round trips | change |",
        "| --- | ---: | ---: | ---: | ---: |",
        f"| resident set size | {_mib(fig['rss_before'])} | {_mib(fig['rss_after_cycles'])} | "
        f"{_mib(fig['rss_after'])} | {fig['rss_growth'] / 1024:+.0f} KiB |",
        f"| live objects (gc.get_objects) | {fig['objects_before']:,} | "
        f"{fig['objects_after_cycles']:,} | {fig['objects_after']:,} | "
        f"{fig['objects_growth']:+d} |",
        f"| stacks in the core's pool | {fig['stack_pool_before']} | | "
        f"{fig['stack_pool_after']} | |",
        "",
        "Result: " + ("**pass**" if not found else "**FAIL**: " + "; ".join(found)),
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    import argparse

    ap = argparse.ArgumentParser(prog="python -m ci soak")
    ap.add_argument("--cycles", type=int, default=FULL_CYCLES)
    ap.add_argument("--round-trips", type=int, default=FULL_ROUND_TRIPS)
    ap.add_argument("--fibers", type=int, default=FULL_FIBERS)
    ap.add_argument("--out", type=Path, default=None, help="report directory (reports/)")
    args = ap.parse_args(argv)
    from ci import paths

    out_dir = args.out or paths.REPORTS
    try:
        import fiber._native  # noqa: F401
    except ImportError as e:
        print(
            f"[soak] fiber's extension is not built for this Python ({e}): run "
            "`python -m fiber._build` first (nox -s soak does)"
        )
        return 2
    print(
        f"[soak] {args.cycles:,} cycles, {args.round_trips:,} round trips across "
        f"{args.fibers:,} fibers ...",
        flush=True,
    )
    fig = measure(args.cycles, args.round_trips, args.fibers)
    found = problems(fig)
    meta = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d"),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.system()} "
        f"{platform.release()}",
        "python": platform.python_version(),
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "soak.json").write_text(
        json.dumps({**meta, "figures": fig, "problems": found, "passed": not found}, indent=2)
        + "\n"
    )
    md = render_markdown(fig, meta, found)
    (out_dir / "soak.md").write_text(md)
    print(md)
    print(f"[soak] wrote {out_dir / 'soak.md'} and {out_dir / 'soak.json'}")
    return 1 if found else 0
