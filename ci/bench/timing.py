"""Warm-up, repetitions, interleaving and medians for the Python-level benchmarks.

Every contender of a row runs one batch per repetition, in an order that alternates from one
repetition to the next, so load from elsewhere on the machine falls on all of them alike. A
batch of ``n`` operations is timed as a whole (the loop's own cost, the same for every
contender, is included); the figure of a contender is the median over repetitions of the time
per operation. The garbage collector is run before each batch and disabled during it.
"""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Case:
    """One contender: ``run(n)`` performs ``n`` operations and returns seconds elapsed (or None
    to have the batch timed from outside)."""

    run: Callable[[int], float | None]
    n: int


@dataclass(frozen=True)
class AsyncCase:
    """Like Case, for code that must run inside an event loop."""

    run: Callable[[int], Awaitable[float | None]]
    n: int


def _order(names: list[str], rep: int) -> list[str]:
    return names if rep % 2 == 0 else names[::-1]


def interleaved(cases: dict[str, Case], reps: int, warmup: int = 2) -> dict[str, float]:
    """Median seconds per operation of each case."""
    samples: dict[str, list[float]] = {name: [] for name in cases}
    for rep in range(warmup + reps):
        for name in _order(list(cases), rep):
            case = cases[name]
            gc.collect()
            gc.disable()
            try:
                t0 = time.perf_counter()
                inner = case.run(case.n)
                elapsed = time.perf_counter() - t0
            finally:
                gc.enable()
            if rep >= warmup:
                samples[name].append((inner if inner is not None else elapsed) / case.n)
    return {name: statistics.median(values) for name, values in samples.items()}


async def interleaved_async(cases: dict[str, AsyncCase], reps: int,
                            warmup: int = 2) -> dict[str, float]:
    """interleaved() for coroutines: call and await it from inside the event loop."""
    samples: dict[str, list[float]] = {name: [] for name in cases}
    for rep in range(warmup + reps):
        for name in _order(list(cases), rep):
            case = cases[name]
            gc.collect()
            gc.disable()
            try:
                t0 = time.perf_counter()
                inner = await case.run(case.n)
                elapsed = time.perf_counter() - t0
            finally:
                gc.enable()
            if rep >= warmup:
                samples[name].append((inner if inner is not None else elapsed) / case.n)
    return {name: statistics.median(values) for name, values in samples.items()}
