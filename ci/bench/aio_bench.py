"""asyncio bridge benchmarks: fiber.aio against SQLAlchemy's greenlet bridge and greenback.

Run as ``python -m ci.bench.aio_bench [--quick]`` in a fresh interpreter; prints one JSON object
{benchmark: {contender: seconds per operation or null}, "_notes": {...}}. Everything runs in one
``asyncio.run`` on the default event loop; contenders are interleaved repetition by repetition.

- await_done: wait for a coroutine that finishes without blocking, from synchronous code:
  ``fiber.aio.await_(noop())`` inside ``fiber.aio.run``; SQLAlchemy ``await_only(noop())``
  inside ``greenlet_spawn``; ``greenback.await_(noop())`` in a task with a portal.
- await_sleep0: the same with ``asyncio.sleep(0)`` (one trip through the event loop), and the
  floor: ``await asyncio.sleep(0)`` in plain async code.
- run_trivial: ``await fiber.aio.run(fn)`` of a function that returns at once, against
  ``await greenback.with_portal_run_sync(fn)`` and ``await greenlet_spawn(fn)``. greenback's
  batches run in a task of their own: in a task that already has a portal (this one gets
  one from the await rows' ``ensure_portal()``), with_portal_run_sync is a plain call of fn
  and sets nothing up, which is not the work the row compares (until 2026-12-01 it was
  measured that way, and its goal looked missed on 3.13+ where that plain call is cheaper).
- unfuelled: CPU-bound pure Python (calls, loops, arithmetic; a fraction of a millisecond) run with
  ``await fiber.aio.run(work)`` against ``work()`` called directly in the coroutine.

Each waiting benchmark times only its loop of waits (the bridge's own start is outside it).
A contender whose library is not importable is reported as null with the reason in _notes.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from typing import Any

from ci.bench.timing import AsyncCase, interleaved_async
from ci.bench.workload import work

perf_counter = time.perf_counter
notes: dict[str, str] = {}


def _import(name: str) -> Any:
    try:
        module = __import__(name, fromlist=["_"])
    except Exception as exc:  # noqa: BLE001 - any import failure means "missing"
        notes[name] = f"missing: {type(exc).__name__}: {exc}"
        return None
    return module


aio = _import("fiber.aio")
if aio is not None and not all(hasattr(aio, n) for n in ("run", "await_")):
    notes["fiber.aio"] = "missing: fiber.aio has no run/await_"
    aio = None
greenback = _import("greenback")
sa_util = _import("sqlalchemy.util")
if sa_util is not None and not hasattr(sa_util, "greenlet_spawn"):
    notes["sqlalchemy.util"] = "missing: sqlalchemy.util.greenlet_spawn"
    sa_util = None


async def noop() -> None:
    return None


def _trivial() -> int:
    return 1


# --- the waits, as synchronous loops parameterised by the wait function --------------------


def _loop_done(wait: Any, n: int) -> float:
    t0 = perf_counter()
    for _ in range(n):
        wait(noop())
    return perf_counter() - t0


def _loop_sleep(wait: Any, n: int) -> float:
    sleep = asyncio.sleep
    t0 = perf_counter()
    for _ in range(n):
        wait(sleep(0))
    return perf_counter() - t0


def _ours(loop: Any):
    async def case(n: int) -> float:
        return await aio.run(loop, aio.await_, n)

    return case


def _sqlalchemy(loop: Any):
    async def case(n: int) -> float:
        return await sa_util.greenlet_spawn(loop, sa_util.await_only, n)

    return case


def _greenback(loop: Any):
    async def case(n: int) -> float:
        await greenback.ensure_portal()
        return loop(greenback.await_, n)

    return case


async def _plain_sleep(n: int) -> float:
    sleep = asyncio.sleep
    t0 = perf_counter()
    for _ in range(n):
        await sleep(0)
    return perf_counter() - t0


async def _ours_run(n: int) -> None:
    run = aio.run
    for _ in range(n):
        await run(_trivial)


async def _greenback_run(n: int) -> None:
    async def in_a_task_without_portal() -> None:
        run = greenback.with_portal_run_sync
        for _ in range(n):
            await run(_trivial)

    await asyncio.get_running_loop().create_task(in_a_task_without_portal())


async def _sqlalchemy_run(n: int) -> None:
    spawn = sa_util.greenlet_spawn
    for _ in range(n):
        await spawn(_trivial)


async def _ours_work(n: int) -> None:
    for _ in range(n):
        await aio.run(work)


async def _plain_work(n: int) -> None:
    for _ in range(n):
        work()


def _cases(pairs: list[tuple[str, Any, Any, int]]) -> tuple[dict[str, AsyncCase], list[str]]:
    """(name, needed module, factory, n) -> the cases whose module is there, and the others."""
    cases, absent = {}, []
    for name, module, run, n in pairs:
        if module is None:
            absent.append(name)
        else:
            cases[name] = AsyncCase(run, n)
    return cases, absent


async def _measure(quick: bool) -> dict[str, Any]:
    reps = 5 if quick else 15
    s = 10 if quick else 1
    # The unfuelled row's goal (1.02x) is finer than one batch's noise here (a few percent):
    # three times the repetitions, so that the median of its paired ratios is good to well
    # under 1% (15 repetitions of 10 ms batches gave 1.00x to 1.03x from run to run).
    reps_of = {"unfuelled": reps * 3}
    plan = {
        "await_done": [
            ("ours", aio, aio and _ours(_loop_done), 20_000 // s),
            ("sqlalchemy", sa_util, sa_util and _sqlalchemy(_loop_done), 20_000 // s),
            ("greenback", greenback, greenback and _greenback(_loop_done), 10_000 // s),
        ],
        "await_sleep0": [
            ("ours", aio, aio and _ours(_loop_sleep), 5_000 // s),
            ("plain", asyncio, _plain_sleep, 5_000 // s),
            ("sqlalchemy", sa_util, sa_util and _sqlalchemy(_loop_sleep), 5_000 // s),
            ("greenback", greenback, greenback and _greenback(_loop_sleep), 5_000 // s),
        ],
        "run_trivial": [
            ("ours", aio, _ours_run, 10_000 // s),
            ("greenback", greenback, _greenback_run, 10_000 // s),
            ("sqlalchemy", sa_util, _sqlalchemy_run, 2_000 // s),
        ],
        "unfuelled": [
            # 50 runs of a 0.2 ms work(): batches of about 10 ms, long enough that a
            # batch is not one scheduler tick of a loaded machine.
            ("ours", aio, _ours_work, 50 // min(s, 5)),
            ("plain", asyncio, _plain_work, 50 // min(s, 5)),
        ],
    }
    out: dict[str, Any] = {}
    for bench, pairs in plan.items():
        cases, absent = _cases(pairs)
        figures = await interleaved_async(cases, reps_of.get(bench, reps))
        out[bench] = {
            **figures,
            **{name: None for name in absent},
            "_ratios": figures.ratios_to_ours(),
        }
    out["_notes"] = notes
    return out


def measure(quick: bool = False) -> dict[str, Any]:
    return asyncio.run(_measure(quick))


if __name__ == "__main__":
    print(json.dumps(measure("--quick" in sys.argv[1:])))
