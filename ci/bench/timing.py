"""Warm-up, repetitions, interleaving and medians for the Python-level benchmarks.

Every contender of a row runs one batch per repetition, in an order that alternates from one
repetition to the next, so load from elsewhere on the machine falls on all of them alike. A
batch of ``n`` operations is timed as a whole (the loop's own cost, the same for every
contender, is included); the figure of a contender is the median over repetitions of the time
per operation. The garbage collector is run before each batch and disabled during it.

Ratios between two contenders are the median over repetitions of the ratio of their batches
in that repetition (batches that ran next to each other), not the ratio of the two medians:
a burst of load that slows one repetition then moves both sides of its ratio together, and a
slow drift of the machine's speed cancels out (``Figures.ratio``).
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


class Figures(dict):
    """Median seconds per operation by contender, plus the paired ratios of contenders."""

    def __init__(self, medians: dict[str, float], samples: dict[str, list[float]]) -> None:
        super().__init__(medians)
        self.samples = samples

    def ratio(self, name: str, reference: str) -> float:
        """Median over repetitions of name's time / reference's time in that repetition."""
        pairs = zip(self.samples[name], self.samples[reference], strict=False)
        return statistics.median(a / b for a, b in pairs)

    def ratios_to_ours(self) -> dict[str, float]:
        """{peer: paired ratio ours / peer} when there is an "ours" contender (JSON-ready)."""
        if "ours" not in self:
            return {}
        return {peer: self.ratio("ours", peer) for peer in self if peer != "ours"}


class _Schedule:
    """The interleaved batches of a row: iterate to get the next case to run, report each
    batch's seconds with ``record``, read the figures with ``figures``. Shared by the
    synchronous and the asynchronous runner, which differ only in how they call a case."""

    def __init__(self, cases: dict, reps: int, warmup: int) -> None:
        self.cases, self.reps, self.warmup = cases, reps, warmup
        self.samples: dict[str, list[float]] = {name: [] for name in cases}
        self._current: tuple[str, int] | None = None

    def __iter__(self):
        names = list(self.cases)
        for rep in range(self.warmup + self.reps):
            # The order alternates from one repetition to the next.
            for name in names if rep % 2 == 0 else names[::-1]:
                self._current = (name, rep)
                yield self.cases[name]

    def record(self, inner: float | None, elapsed: float) -> None:
        """The batch just run took ``elapsed`` seconds, or ``inner`` by its own clock."""
        name, rep = self._current
        if rep >= self.warmup:
            self.samples[name].append(
                (inner if inner is not None else elapsed) / self.cases[name].n
            )

    def figures(self) -> Figures:
        medians = {name: statistics.median(values) for name, values in self.samples.items()}
        return Figures(medians, self.samples)


class _Batch:
    """Times one batch with the garbage collector collected beforehand and off during it."""

    def __enter__(self) -> _Batch:
        gc.collect()
        gc.disable()
        self.t0 = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.elapsed = time.perf_counter() - self.t0
        gc.enable()


def interleaved(cases: dict[str, Case], reps: int, warmup: int = 2) -> Figures:
    """Median seconds per operation of each case (and their paired ratios)."""
    schedule = _Schedule(cases, reps, warmup)
    for case in schedule:
        with _Batch() as batch:
            inner = case.run(case.n)
        schedule.record(inner, batch.elapsed)
    return schedule.figures()


async def interleaved_async(cases: dict[str, AsyncCase], reps: int, warmup: int = 2) -> Figures:
    """interleaved() for coroutines: call and await it from inside the event loop."""
    schedule = _Schedule(cases, reps, warmup)
    for case in schedule:
        with _Batch() as batch:
            inner = await case.run(case.n)
        schedule.record(inner, batch.elapsed)
    return schedule.figures()
