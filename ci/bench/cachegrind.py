"""Cache misses per resume over N live fibers, counted by valgrind's cachegrind.

`perf` has no hardware counters in this guest, so the misses behind the round-robin rows
(ci/bench/scaling.py) are counted in cachegrind's simulation instead: per event, with no
noise from other jobs (the instruction counts repeat exactly; the miss counts repeat for one
build and environment, and move by a few misses with the memory layout). Each program runs
twice, with P and 2P passes over its N fibers (or greenlets); the difference of the two
totals divided by P x N is the cost of one resume, without the start-up and the creation of
the N.

The simulated caches are this machine's, read from /sys/devices/system/cpu/cpu0/cache (the L1
data and instruction caches, and the last level as cachegrind's LL), because cachegrind's own
detection reads the CPUID leaves, which a KVM guest may report wrongly (here: a 256 MiB
direct-mapped L3). As valgrind's manual says, cachegrind indexes its caches by virtual
address, where real ones (beyond L1) are physically indexed, and it counts no TLB misses.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

SIZES = (10, 1_000, 10_000, 30_000)
SMALL_STACK = 64 * 1024
FIBER = "fiber"
FIBER_SMALL = f"fiber, stack_size={SMALL_STACK // 1024} KiB"
GREENLET = "greenlet"
# The small-stack fibers at one size: the timing rows show the stack size mattering from
# 10,000 live fibers on; cachegrind shows whether the simulated misses move with it.
PLAN = [(n, c) for n in SIZES for c in (FIBER, GREENLET)] + [(10_000, FIBER_SMALL)]

PROGRAM = """
import os, sys
kind, n, passes, stack = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
if kind == "greenlet":
    import greenlet
    def body():
        parent = greenlet.getcurrent().parent
        while True:
            parent.switch()
    items = [greenlet.greenlet(body) for _ in range(n)]
    steps = [g.switch for g in items]
else:
    import fiber
    def body():
        suspend = fiber.suspend
        while True:
            suspend()
    items = [fiber.Fiber(body, stack_size=stack or None) for _ in range(n)]
    steps = [f.resume for f in items]
for step in steps:
    step()
for _ in range(passes):
    for step in steps:
        step()
os._exit(0)
"""

# The per-resume figures the report shows: (label, events summed).
COLUMNS = (
    ("instructions", ("Ir",)),
    ("D1 misses (read + write)", ("D1mr", "D1mw")),
    ("LL misses (read + write)", ("DLmr", "DLmw")),
)

_FATAL = re.compile(r"(FATAL|error|Error)[^\n]*")


def available() -> bool:
    return shutil.which("valgrind") is not None


def cache_geometry(sysfs: Path = Path("/sys/devices/system/cpu/cpu0/cache")) -> dict[str, str]:
    """{"I1"|"D1"|"LL": "size,assoc,line"} from sysfs (LL: the highest level); {} if unknown."""
    found: dict[str, tuple[int, str]] = {}
    for index in sorted(sysfs.glob("index*")):
        try:
            level = int((index / "level").read_text())
            kind = (index / "type").read_text().strip()
            size = (index / "size").read_text().strip()
            ways = int((index / "ways_of_associativity").read_text())
            line = int((index / "coherency_line_size").read_text())
        except (OSError, ValueError):
            continue
        nbytes = int(size[:-1]) * 1024 if size.endswith("K") else int(size)
        spec = f"{nbytes},{ways},{line}"
        if level == 1 and kind == "Data":
            found["D1"] = (1, spec)
        elif level == 1 and kind == "Instruction":
            found["I1"] = (1, spec)
        elif kind == "Unified" and level > found.get("LL", (0, ""))[0]:
            found["LL"] = (level, spec)
    return {k: v[1] for k, v in found.items()} if len(found) == 3 else {}


def describe(geometry: dict[str, str]) -> str:
    if not geometry:
        return "cachegrind's own detection of the caches"

    def one(name: str) -> str:
        size, ways, line = (int(x) for x in geometry[name].split(","))
        return f"{name} {size // 1024:,} KiB {ways}-way {line} B lines"

    return ", ".join(one(n) for n in ("I1", "D1", "LL"))


def parse(out_file: str) -> dict[str, int]:
    """The totals of a cachegrind output file: {event: count}."""
    events: list[str] = []
    summary: list[int] = []
    for line in Path(out_file).read_text().splitlines():
        if line.startswith("events:"):
            events = line.split()[1:]
        elif line.startswith("summary:"):
            summary = [int(x) for x in line.split()[1:]]
    if not events or len(events) != len(summary):
        raise RuntimeError(f"no summary in {out_file}")
    return dict(zip(events, summary, strict=True))


def _total(python: str, args: list[str], geometry: dict[str, str], root: Path) -> dict[str, int]:
    with tempfile.NamedTemporaryFile(suffix=".cachegrind") as out:
        cmd = [
            "valgrind",
            "--tool=cachegrind",
            "--cache-sim=yes",
            f"--cachegrind-out-file={out.name}",
            *(f"--{k}={v}" for k, v in geometry.items()),
            python,
            "-c",
            PROGRAM,
            *args,
        ]
        env = dict(os.environ, PYTHONHASHSEED="0")
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(root), env.get("PYTHONPATH")]))
        proc = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True)
        if proc.returncode != 0:
            m = _FATAL.search(proc.stderr)
            raise RuntimeError(m.group(0).strip() if m else proc.stderr.strip()[-300:])
        return parse(out.name)


def per_resume(
    contender: str, n: int, geometry: dict[str, str], root: Path, python: str = sys.executable
) -> dict[str, float]:
    """{column label: count per resume} for `contender` over `n` live fibers (or greenlets)."""
    kind = GREENLET if contender == GREENLET else FIBER
    stack = SMALL_STACK if contender == FIBER_SMALL else 0
    passes = max(1, 20_000 // n)
    a = _total(python, [kind, str(n), str(passes), str(stack)], geometry, root)
    b = _total(python, [kind, str(n), str(2 * passes), str(stack)], geometry, root)
    per = passes * n
    return {label: sum(b[e] - a[e] for e in events) / per for label, events in COLUMNS}


def measure(root: Path, log=print) -> dict:
    """{"geometry": text, "python": version, "rows": [(n, contender, figures or reason)]}."""
    geometry = cache_geometry()
    rows: list[tuple[int, str, dict[str, float] | str]] = []
    for n, contender in PLAN:
        log(f"cachegrind: {contender}, {n:,} live ...")
        try:
            rows.append((n, contender, per_resume(contender, n, geometry, root)))
        except Exception as exc:  # noqa: BLE001 - that row says why
            rows.append((n, contender, f"not counted: valgrind: {exc}"))
    rows.sort(key=lambda r: (r[0], [FIBER, FIBER_SMALL, GREENLET].index(r[1])))
    version = f"{sys.version_info[0]}.{sys.version_info[1]}.{sys.version_info[2]}"
    return {"geometry": describe(geometry), "python": version, "rows": rows}


def markdown(data: dict) -> str:
    if not data:
        return "(valgrind not available: not counted)"
    head = ["live", "contender", *(label for label, _ in COLUMNS)]
    lines = [
        f"Per resume, Python {data['python']} on x86_64, simulated caches: {data['geometry']}. "
        "The difference of two runs (P and 2P passes over the N) divided by P x N.",
        "",
        "| " + " | ".join(head) + " |",
        "|" + " --- |" * len(head),
    ]
    for n, contender, figures in data["rows"]:
        if isinstance(figures, str):
            cells = [figures] + [""] * (len(COLUMNS) - 1)
        else:
            cells = [
                f"{figures[label]:,.0f}" if label == "instructions" else f"{figures[label]:.1f}"
                for label, _ in COLUMNS
            ]
        lines.append("| " + " | ".join([f"{n:,}", contender, *cells]) + " |")
    return "\n".join(lines)
