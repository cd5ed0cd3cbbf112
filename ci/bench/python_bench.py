"""Python-level benchmarks: fiber against greenlet (and the generator floor).

Run as ``python -m ci.bench.python_bench [--quick]`` in a fresh interpreter; prints one JSON
object {contender: seconds per operation} per benchmark, keyed by benchmark id.

- round_trip: ``f.resume()`` into a fiber that loops on ``fiber.suspend()``; greenlet:
  ``g.switch()`` into a greenlet that loops on ``parent.switch()``; generator: ``g.send(None)``
  into a generator that loops on ``yield``.
- create: create, run and finish a fiber whose function returns at once (``Fiber(fn).resume()``),
  against ``greenlet(fn).switch()``.
"""

from __future__ import annotations

import json
import sys

import greenlet

import fiber
from ci.bench.timing import Case, interleaved


def _fiber_round_trip(n: int) -> None:
    def body() -> None:
        suspend = fiber.suspend
        while True:
            suspend()

    f = fiber.Fiber(body)
    f.resume()
    resume = f.resume
    for _ in range(n):
        resume()
    f.close()


def _greenlet_round_trip(n: int) -> None:
    def body() -> None:
        parent = greenlet.getcurrent().parent
        while True:
            parent.switch()

    g = greenlet.greenlet(body)
    g.switch()
    switch = g.switch
    for _ in range(n):
        switch()
    g.throw(greenlet.GreenletExit)


def _generator_round_trip(n: int) -> None:
    def body():
        while True:
            yield

    g = body()
    next(g)
    send = g.send
    for _ in range(n):
        send(None)
    g.close()


def _trivial() -> int:
    return 1


def _fiber_create(n: int) -> None:
    Fiber = fiber.Fiber
    for _ in range(n):
        Fiber(_trivial).resume()


def _greenlet_create(n: int) -> None:
    Greenlet = greenlet.greenlet
    for _ in range(n):
        Greenlet(_trivial).switch()


def measure(quick: bool = False) -> dict[str, dict[str, float]]:
    """{benchmark: {contender: median seconds per operation, "_ratios": {peer: paired
    ratio ours/peer}}}."""
    reps = 5 if quick else 15
    scale = 10 if quick else 1
    figures = {
        "round_trip": interleaved(
            {
                "ours": Case(_fiber_round_trip, 100_000 // scale),
                "greenlet": Case(_greenlet_round_trip, 50_000 // scale),
                "generator": Case(_generator_round_trip, 200_000 // scale),
            },
            reps,
        ),
        "create": interleaved(
            {
                "ours": Case(_fiber_create, 20_000 // scale),
                "greenlet": Case(_greenlet_create, 2_000 // scale),
            },
            reps,
        ),
    }
    return {bench: {**fig, "_ratios": fig.ratios_to_ours()} for bench, fig in figures.items()}


if __name__ == "__main__":
    print(json.dumps(measure("--quick" in sys.argv[1:])))
