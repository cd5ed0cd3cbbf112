"""Instructions executed per round trip, counted by valgrind's callgrind: deterministic, so it
separates "more work" from "slower work" on a machine whose timings are noisy.

Each program runs twice, with N and 2N operations; the difference of the two totals divided by
N is the cost of one operation, without start-up. C: our core against Boost.Context (fcontext
and its fiber API; the programs of c_bench). Python: fiber's resume+suspend against greenlet's
switch pair.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

_COLLECTED = re.compile(r"Collected : (\d+)")

PY_ROUND_TRIP = {
    "ours": """
import sys, fiber
n = int(sys.argv[1])
def body():
    while True: fiber.suspend()
f = fiber.Fiber(body); f.resume()
for _ in range(n): f.resume()
""",
    "greenlet": """
import sys, greenlet
n = int(sys.argv[1])
def body():
    p = greenlet.getcurrent().parent
    while True: p.switch()
g = greenlet.greenlet(body); g.switch()
for _ in range(n): g.switch()
""",
}

# The unfuelled-code row: the same work() on the plain stack and on a fiber.
PY_UNFUELLED = {
    "ours": """
import sys, fiber
from ci.bench.workload import work
n = int(sys.argv[1])
def loop():
    for _ in range(n): work()
fiber.Fiber(loop).resume()
""",
    "plain stack": """
import sys, fiber
from ci.bench.workload import work
n = int(sys.argv[1])
def loop():
    for _ in range(n): work()
loop()
""",
}


def available() -> bool:
    return shutil.which("valgrind") is not None


def _total(cmd: list[str], cwd: Path | None = None) -> int:
    proc = subprocess.run(
        ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", *cmd],
        cwd=cwd,
        text=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=dict(os.environ, PYTHONHASHSEED="0"),
    )
    m = _COLLECTED.search(proc.stderr)
    if proc.returncode != 0 or not m:
        raise RuntimeError(f"callgrind failed on {cmd}: {proc.stderr[-500:]}")
    return int(m.group(1))


def per_op(make_cmd, n: int, cwd: Path | None = None) -> float:
    return (_total(make_cmd(2 * n), cwd) - _total(make_cmd(n), cwd)) / n


def c_round_trips(progs: dict[str, Path | str]) -> dict[str, dict[str, float]]:
    """{benchmark: {contender: instructions per op}}: ours against Boost.Context's programs.

    The C programs run 3 untimed + 1 timed repetitions: 4 * iters round trips, and
    4 * (iters / 4) creates."""
    from ci.bench.c_bench import BOOST_FIBER, FCONTEXT

    # benchmark -> [(contender, program, the program's name for the benchmark)]
    plan = {
        "round_trip": [
            ("ours", "ours", "round_trip"),
            ("ours, FIBER_OWN_FP_CONTROL", "ours", "round_trip_own_fp"),
            (FCONTEXT, FCONTEXT, "round_trip"),
        ],
        "create": [
            ("ours", "ours", "create"),
            (BOOST_FIBER, FCONTEXT, "create_fiber"),
            (FCONTEXT + " (reused stack)", FCONTEXT, "create"),
        ],
    }
    out: dict[str, dict[str, float]] = {}
    for bench, contenders in plan.items():
        ops_per_iter = 4 if bench == "round_trip" else 1
        for contender, prog_key, prog_bench in contenders:
            prog = progs.get(prog_key)
            if isinstance(prog, Path):
                out.setdefault(bench, {})[contender] = (
                    per_op(lambda n, p=prog, b=prog_bench: [str(p), "1", str(n), b], 20_000)
                    / ops_per_iter
                )
    return out


def py_round_trips(root: Path) -> dict[str, float]:
    return {
        name: per_op(lambda n, c=code: [sys.executable, "-c", c, str(n)], 20_000, root)
        for name, code in PY_ROUND_TRIP.items()
    }


def py_unfuelled(root: Path) -> dict[str, float]:
    return {
        name: per_op(lambda n, c=code: [sys.executable, "-c", c, str(n)], 3, root)
        for name, code in PY_UNFUELLED.items()
    }
