"""How the cost of a switch grows with the work, fiber against greenlet (issue 13).

Run as ``python -m ci.bench.scaling [--quick]`` in a fresh interpreter (any supported version:
only the standard library, fiber, greenlet and ci.bench.timing are imported); prints one JSON
object:

- ``depth``: {frames: figures}, the round trip with the suspension point 1, 50 and 800 Python
  frames deep. Fiber: ``f.resume()`` into a fiber whose function recursed that deep and then
  loops on ``fiber.suspend()``; greenlet: ``g.switch()`` into a greenlet that recursed as deep
  and loops on ``parent.switch()``.
- ``live``: {N: figures}, round-robin resumes over N live fibers (10, 1,000, 10,000, 30,000),
  each looping ``while True: suspend()`` (greenlet: N greenlets looping ``parent.switch()``):
  every one resumed once per pass, several passes per batch; seconds per resume.
- ``live_small``: the same for N = 10,000 and 30,000 with fibers of ``stack_size=64 KiB``
  against greenlet, to show what the stack size does to the figure.
- ``_stack_sizes``: the stack_size argument of each fiber contender (None: the default) and
  the Fiber.stack_size it gave (the mapping, with what the core keeps above the stack);
  ``_notes``: {row: reason} for a size that could not be measured (the row is then absent).

Figures are as ci.bench.timing gives them ({contender: median seconds per operation,
"_ratios": {peer: paired ratio ours/peer}}); fiber is "ours".
"""

from __future__ import annotations

import gc
import json
import sys
from collections.abc import Callable
from typing import Any

from ci.bench.timing import Case, interleaved

# fiber and greenlet are imported where they are used, not here: ci/bench/pyrows.py reads the
# sizes below on the host side, where neither needs to be importable.

DEPTHS = (1, 50, 800)
LIVE = (10, 1_000, 10_000, 30_000)
SMALL_STACK = 64 * 1024
# The sizes where the small-stack companion rows are taken: below 10,000 the stack size made
# no difference measurable here (10 and 1,000: within the noise of a run).
SMALL_STACK_LIVE = (10_000, 30_000)


# --- a fiber or greenlet suspended `depth` frames deep, resumed in a loop -------------------


def _fiber_deep(depth: int, stack_size: int | None = None) -> Any:
    import fiber

    def deep(n: int) -> None:
        if n <= 1:
            suspend = fiber.suspend
            while True:
                suspend()
        deep(n - 1)

    f = fiber.Fiber(deep, depth, stack_size=stack_size)
    f.resume()  # now suspended `depth` frames deep (deep() itself counts as the first)
    return f


def _greenlet_deep(depth: int) -> Any:
    import greenlet

    def deep(n: int) -> None:
        if n <= 1:
            parent = greenlet.getcurrent().parent
            while True:
                parent.switch()
        deep(n - 1)

    g = greenlet.greenlet(deep)
    g.switch(depth)
    return g


def _loop(step: Callable[[], Any]) -> Callable[[int], None]:
    def run(n: int) -> None:
        for _ in range(n):
            step()

    return run


def _passes(steps: list[Callable[[], Any]]) -> Callable[[int], None]:
    """n resumes, in whole passes over `steps` (n is a multiple of len(steps))."""

    def run(n: int) -> None:
        for _ in range(n // len(steps)):
            for step in steps:
                step()

    return run


def depth_rows(reps: int, scale: int) -> dict[str, Any]:
    import greenlet

    out = {}
    for depth in DEPTHS:
        f, g = _fiber_deep(depth), _greenlet_deep(depth)
        figures = interleaved(
            {
                "ours": Case(_loop(f.resume), 100_000 // scale),
                "greenlet": Case(_loop(g.switch), 50_000 // scale),
            },
            reps,
        )
        out[str(depth)] = {**figures, "_ratios": figures.ratios_to_ours()}
        f.close()
        g.throw(greenlet.GreenletExit)
    return out


def _resumes_per_batch(n_live: int, scale: int) -> int:
    """Whole passes, about 100,000 resumes a batch (at least one pass): tens of ms, so that a
    batch is more than one scheduler tick of a loaded machine."""
    passes = max(1, 100_000 // scale // n_live)
    return passes * n_live


def live_row(n_live: int, reps: int, scale: int, stack_size: int | None) -> dict[str, Any]:
    """Both populations alive together, their batches interleaved; freed before returning so
    that the next size starts from the same process state (and under vm.max_map_count: a
    fiber stack is two mappings, the stack and its guard page)."""
    import greenlet

    fibers: list[Any] = []
    greenlets: list[Any] = []
    try:
        fibers += (_fiber_deep(1, stack_size) for _ in range(n_live))
        greenlets += (_greenlet_deep(1) for _ in range(n_live))
        n = _resumes_per_batch(n_live, scale)
        figures = interleaved(
            {
                "ours": Case(_passes([f.resume for f in fibers]), n),
                "greenlet": Case(_passes([g.switch for g in greenlets]), n),
            },
            reps,
        )
    finally:
        for f in fibers:
            f.close()
        for g in greenlets:
            g.throw(greenlet.GreenletExit)
        del fibers, greenlets
        gc.collect()
    return {**figures, "_ratios": figures.ratios_to_ours()}


def measure(quick: bool = False) -> dict[str, Any]:
    import fiber

    reps = 5 if quick else 15
    scale = 10 if quick else 1
    notes: dict[str, str] = {}
    out: dict[str, Any] = {"depth": depth_rows(reps, scale), "live": {}, "live_small": {}}
    plan = [("live", n, None) for n in LIVE]
    plan += [("live_small", n, SMALL_STACK) for n in SMALL_STACK_LIVE]
    for key, n_live, stack_size in plan:
        try:
            out[key][str(n_live)] = live_row(n_live, reps, scale, stack_size)
        except Exception as exc:  # noqa: BLE001 - that size is "not measured", with the reason
            notes[f"{key} {n_live}"] = f"{type(exc).__name__}: {exc}"
    out["_stack_sizes"] = {
        "live": {"argument": None, "Fiber.stack_size": fiber.Fiber(int).stack_size},
        "live_small": {
            "argument": SMALL_STACK,
            "Fiber.stack_size": fiber.Fiber(int, stack_size=SMALL_STACK).stack_size,
        },
    }
    out["_notes"] = notes
    return out


if __name__ == "__main__":
    print(json.dumps(measure("--quick" in sys.argv[1:])))
    sys.stdout.flush()
