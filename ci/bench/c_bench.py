"""The C benchmarks: our core against Boost.Context's fcontext and ucontext, on the host.

Each program (ci/bench/c/) prints "NAME MEDIAN_NS" lines (median over its own repetitions,
after warm-up). The programs are run ``rounds`` times, interleaved, and the figure of each is
the median of its per-round medians; a ratio is the median over rounds of the two programs'
figures in the same round. All of them are built by fiber._build.compile_native: our
program with the core and the host's assembly, the fcontext one as C++ (g++) against
-lboost_context.
"""

from __future__ import annotations

import shutil
import statistics
import subprocess
from pathlib import Path

from ci.bench.results import Goal, Row
from fiber._build import Toolchain, compile_native, core_sources, host_toolchain

C_DIR = Path(__file__).resolve().parent / "c"

FCONTEXT = "Boost.Context fcontext"
# Boost.Context's fiber API with its pooled stack allocator: the like-for-like peer of
# fiber_create + fiber_resume + fiber_destroy on pooled stacks (fcontext_bench.cpp).
BOOST_FIBER = "Boost.Context fiber (pooled_fixedsize_stack)"
UCONTEXT = "ucontext swapcontext"


def _boost_available() -> bool:
    return Path("/usr/include/boost/context/detail/fcontext.hpp").exists() and bool(
        shutil.which("g++")
    )


def build(out_dir: Path) -> dict[str, Path | str]:
    """Build the programs; a value that is a str is the reason a program could not be built."""
    tc = host_toolchain()
    progs: dict[str, Path | str] = {}
    progs["ours"] = compile_native(
        tc,
        [C_DIR / "fiber_bench.c", *core_sources(tc)],
        out_dir / "fiber_bench",
        include_dirs=(C_DIR,),
    )
    progs[UCONTEXT] = compile_native(
        tc, [C_DIR / "ucontext_bench.c"], out_dir / "ucontext_bench", include_dirs=(C_DIR,)
    )
    if _boost_available():
        cxx = Toolchain(cc=("g++",), arch=tc.arch)
        try:
            progs[FCONTEXT] = compile_native(
                cxx,
                [C_DIR / "fcontext_bench.cpp"],
                out_dir / "fcontext_bench",
                include_dirs=(C_DIR,),
                libs=("-lboost_context",),
            )
        except subprocess.CalledProcessError as exc:
            progs[FCONTEXT] = f"build failed: {(exc.stdout or '').strip()[:300]}"
    else:
        progs[FCONTEXT] = "missing: libboost-context-dev (apt-get install libboost-context-dev)"
    return progs


def _run(prog: Path, reps: int, iters: int) -> dict[str, float]:
    out = subprocess.run(
        [str(prog), str(reps), str(iters)], check=True, text=True, stdout=subprocess.PIPE
    ).stdout
    return {name: float(value) for name, value in (line.split() for line in out.splitlines())}


def measure(out_dir: Path, rounds: int = 9, quick: bool = False) -> list[Row]:
    progs = build(out_dir)
    plan = {"ours": (21, 1_000_000), FCONTEXT: (21, 1_000_000), UCONTEXT: (11, 100_000)}
    if quick:
        plan = {k: (5, n // 10) for k, (r, n) in plan.items()}
    samples: dict[str, dict[str, list[float]]] = {}
    for rnd in range(rounds):
        names = list(plan) if rnd % 2 == 0 else list(plan)[::-1]
        for name in names:
            prog = progs.get(name)
            if isinstance(prog, Path):
                for bench, value in _run(prog, *plan[name]).items():
                    samples.setdefault(name, {}).setdefault(bench, []).append(value)

    def fig(name: str, bench: str) -> float | None:
        values = samples.get(name, {}).get(bench)
        return statistics.median(values) if values else None

    def paired(bench: str, peer: str, peer_bench: str) -> float | None:
        """Median over rounds of ours / peer in the same round (see ci/bench/timing.py)."""
        pairs = zip(
            samples.get("ours", {}).get(bench, []),
            samples.get(peer, {}).get(peer_bench, []),
            strict=False,
        )
        ratios = [a / b for a, b in pairs]
        return statistics.median(ratios) if ratios else None

    def row(title: str, bench: str, peers: dict[str, tuple[str, str]], goal: Goal) -> Row:
        """peers: {label: (program, the program's name for the benchmark)}."""
        return Row(
            title,
            "ns",
            fig("ours", bench),
            {label: fig(prog, b) for label, (prog, b) in peers.items()},
            goal,
            notes,
            paired={label: paired(bench, prog, b) for label, (prog, b) in peers.items()},
        )

    notes = "; ".join(f"{k}: {v}" for k, v in progs.items() if isinstance(v, str))
    round_trip_peers = {FCONTEXT: (FCONTEXT, "round_trip"), UCONTEXT: (UCONTEXT, "round_trip")}
    return [
        row(
            "C: resume+suspend round trip",
            "round_trip",
            round_trip_peers,
            Goal("ratio", FCONTEXT, 1.0),
        ),
        # Like for like: fcontext and swapcontext save and load the FP control state on every
        # switch; our fibers do that only with FIBER_OWN_FP_CONTROL (fiber.h says why).
        row(
            "C: resume+suspend round trip, fiber owning its FP control state "
            "(FIBER_OWN_FP_CONTROL)",
            "round_trip_own_fp",
            round_trip_peers,
            Goal("record"),
        ),
        row(
            "C: create + run + destroy, empty fiber (pooled stack)",
            "create",
            {
                BOOST_FIBER: (FCONTEXT, "create_fiber"),
                FCONTEXT + " (reused stack, nothing to destroy: a floor)": (FCONTEXT, "create"),
            },
            Goal("ratio", BOOST_FIBER, 1.0),
        ),
    ]
