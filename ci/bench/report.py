"""The outputs: the printed table, reports/bench.md, reports/bench.json and BENCHMARKS.md.

BENCHMARKS.md is generated whole from one run: the machine, the table, the instruction counts,
the soak figures (reports/soak.md, when another job has written it), the full matrix's wall
times with a cold and a warm cache (ci/bench/matrix_wall.py) and the analysis kept in
ci/bench/analysis.md.
"""

from __future__ import annotations

import json
from pathlib import Path

from ci.bench import cachegrind
from ci.bench.insns import Count
from ci.bench.results import Row

ANALYSIS = Path(__file__).resolve().parent / "analysis.md"


def _num(value: float | None, unit: str = "") -> str:
    if value is None:
        return "missing"
    if unit == "B" or abs(value) >= 1000:
        return f"{value:,.0f}"
    if abs(value) >= 100:
        return f"{value:.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def table(rows: list[Row]) -> tuple[list[str], list[list[str]]]:
    head = [
        "benchmark",
        "Python",
        "unit",
        "ours",
        "peer",
        "peer value",
        "ours/peer",
        "goal",
        "status",
    ]
    body = []
    for row in rows:
        peers = list(row.peers.items()) or [("-", None)]
        for i, (peer, value) in enumerate(peers):
            ratio = row.ratio(peer) if peer != "-" else None
            is_goal_peer = peer == row.goal.peer or (row.goal.peer is None and i == 0)
            body.append(
                [
                    row.benchmark if i == 0 else "",
                    (row.python or "-") if i == 0 else "",
                    row.unit if i == 0 else "",
                    _num(row.ours, row.unit) if i == 0 else "",
                    peer,
                    _num(value, row.unit) if peer != "-" else "-",
                    f"{ratio:.2f}x" if ratio is not None else "-",
                    row.goal.text if is_goal_peer else "",
                    row.status if is_goal_peer else "",
                ]
            )
    return head, body


def format_text(rows: list[Row]) -> str:
    head, body = table(rows)
    widths = [max(len(r[i]) for r in [head, *body]) for i in range(len(head))]
    fmt = lambda cells: "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=False)).rstrip()  # noqa: E731
    return "\n".join([fmt(head), fmt(["-" * w for w in widths]), *map(fmt, body)])


def _md(head: list[str], body: list[list[str]]) -> str:
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    lines += ["| " + " | ".join(c.replace("|", "\\|") for c in r) + " |" for r in body]
    return "\n".join(lines)


def format_markdown(rows: list[Row]) -> str:
    return _md(*table(rows))


def _executed_and_static(c: Count, executed: int | None, static: int | None) -> str:
    return f"{executed} ({static})" if executed is not None else f"missing: {c.note}"


def _to_boost(c: Count, executed: int | None) -> str:
    return f"{executed / c.boost:.2f}x" if executed and c.boost else "-"


def insns_markdown(counts: list[Count]) -> str:
    head = [
        "ABI",
        "ours: fiber_asm_switch executed (static)",
        "ours: fiber_asm_switch_fp executed (static)",
        "Boost.Context jump_fcontext",
        "ours/Boost",
        "ours _fp/Boost",
        "Boost figure from",
    ]
    body = [
        [
            c.arch,
            _executed_and_static(c, c.ours_executed, c.ours_static),
            _executed_and_static(c, c.ours_fp_executed, c.ours_fp_static),
            str(c.boost) if c.boost else "-",
            _to_boost(c, c.ours_executed),
            _to_boost(c, c.ours_fp_executed),
            c.boost_source,
        ]
        for c in counts
    ]
    return _md(head, body)


def callgrind_markdown(cg: dict[str, dict[str, float]]) -> str:
    if not cg:
        return "(valgrind not available: not counted)"
    head = ["operation", "ours", "peer", "peer instructions", "ours/peer"]
    body = []
    for bench, figures in cg.items():
        ours = figures.get("ours")
        for peer, value in figures.items():
            if peer == "ours":
                continue
            body.append(
                [
                    bench,
                    _num(ours),
                    peer,
                    _num(value),
                    f"{ours / value:.2f}x" if ours and value else "-",
                ]
            )
    return _md(head, body)


def goals_by_version(rows: list[Row]) -> dict[str, dict[str, list[str]]]:
    """{Python version ("-" for rows that run none): {"met"|"missed"|"not measured": [row
    titles]}}, over the rows that have a goal."""
    out: dict[str, dict[str, list[str]]] = {}
    for row in rows:
        if row.goal.kind == "record":
            continue
        key = "not measured" if row.unmeasured else "met" if row.goal_met else "missed"
        by = out.setdefault(row.python or "-", {"met": [], "missed": [], "not measured": []})
        by[key].append(row.benchmark)
    return out


def goals_by_version_lines(rows: list[Row]) -> list[str]:
    lines = []
    for version, by in goals_by_version(rows).items():
        label = f"Python {version}" if version != "-" else "C (no Python)"
        counts = ", ".join(f"{len(v)} {k}" for k, v in by.items() if v)
        missed = "; ".join(by["missed"])
        lines.append(f"{label}: {counts}" + (f" (missed: {missed})" if missed else ""))
    return lines


def goals_markdown(rows: list[Row]) -> str:
    head = ["Python", "goals met", "missed", "not measured", "which missed"]
    body = [
        [
            version,
            str(len(by["met"])),
            str(len(by["missed"])),
            str(len(by["not measured"])),
            "; ".join(by["missed"]) or "-",
        ]
        for version, by in goals_by_version(rows).items()
    ]
    return _md(head, body)


def pythons_markdown(pythons: list[dict]) -> str:
    """What each version's rows ran on: the interpreter, and the peers' versions there."""
    head = ["Python", "interpreter", "greenlet", "greenback", "SQLAlchemy", "status"]
    body = [
        [
            p.get("python") or p["version"],
            p.get("where") or "-",
            p.get("greenlet", "-"),
            p.get("greenback", "-"),
            p.get("sqlalchemy", "-"),
            f"not measured: {p['reason']}" if p.get("reason") else "measured",
        ]
        for p in pythons
    ]
    return _md(head, body)


def write_json(rows: list[Row], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    objects = [obj for row in rows for obj in row.json_objects()]
    path.write_text(json.dumps(objects, indent=2) + "\n")


def _machine_lines(machine: dict[str, str]) -> str:
    return "\n".join(
        [
            f"- Date: {machine['date']}",
            f"- Machine: {machine['cpu']}, {machine['cores']} cores ({machine['machine']})",
            f"- Commit: {machine['commit']}",
            f"- Python: {machine['python']} runs the bench (the Python-level rows ran under "
            f"each version of the Python column); load average at start / end: {machine['load']} / "
            f"{machine.get('load_end', '?')}",
        ]
    )


def _notes(rows: list[Row]) -> str:
    notes = sorted({row.note for row in rows if row.note})
    return "\n".join(f"- {n}" for n in notes)


def bench_markdown(
    rows: list[Row],
    machine: dict[str, str],
    counts: list[Count],
    cg: dict[str, dict[str, float]],
    harness: str = "",
    *,
    pythons: list[dict] | None = None,
    misses: dict | None = None,
) -> str:
    parts = [
        "# fiber benchmarks",
        _machine_lines(machine),
        "Medians over repetitions (warm-up first), contenders of a row interleaved; "
        "ratio = ours / peer (lower is better for every row; the median of paired ratios of "
        "adjacent batches or rounds).",
        format_markdown(rows),
    ]
    if _notes(rows):
        parts += ["Notes:", _notes(rows)]
    parts += ["## Goals per Python version", goals_markdown(rows)]
    if pythons:
        parts += ["## Python versions", pythons_markdown(pythons)]
    parts += [
        "## Instructions per switch, per ABI",
        insns_markdown(counts),
        "## Instructions executed per operation (callgrind, x86_64)",
        callgrind_markdown(cg),
        "## Cache misses per resume over N live fibers (cachegrind, x86_64)",
        cachegrind.markdown(misses or {}),
    ]
    if harness:
        parts += ["## Harness: full matrix wall time", harness]
    return "\n\n".join(parts) + "\n"


def _soak(reports: Path) -> str:
    soak = reports / "soak.md"
    if not soak.exists():
        return "reports/soak.md was not there at this run (the soak job writes it)."
    text = soak.read_text().strip()
    # Demote its headings below ours.
    return "\n".join("##" + line if line.startswith("#") else line for line in text.splitlines())


def benchmarks_markdown(
    rows: list[Row],
    machine: dict[str, str],
    counts: list[Count],
    cg: dict[str, dict[str, float]],
    reports: Path,
    harness: str,
    *,
    pythons: list[dict] | None = None,
    misses: dict | None = None,
) -> str:
    parts = [
        "# Benchmarks",
        "Generated by `nox -s bench` (ci/bench); do not edit by hand: rerun and commit.",
        _machine_lines(machine),
        "## Results",
        "Medians over repetitions after warm-up; the contenders of a row are interleaved "
        "repetition by repetition, in the same run on the same machine. Ratio = ours / peer "
        "(lower is better): for the Python and aio rows the median over repetitions of the "
        "ratio of the two batches that ran next to each other, for the C rows the median over "
        "rounds of the ratio of the two programs' figures in the same round (robust to a "
        "burst of load on one side). The C peers are Boost.Context 1.74 (Debian) and glibc "
        "ucontext; the Python peers are greenlet, greenback and SQLAlchemy from PyPI. The "
        "Python-level rows ran under each CPython version of the Python column, one version "
        "after the other, with the peers installed for that interpreter (the next section but "
        "one); a goal is met or missed per version.",
        format_markdown(rows),
    ]
    if _notes(rows):
        parts += ["Notes:", _notes(rows)]
    parts += ["## Goals per Python version", goals_markdown(rows)]
    if pythons:
        parts += [
            "## Python versions",
            "3.11 is the host's Python (the nox session's, peers installed there with pip); "
            "the others are the interpreters of the harness's Debian sysroots, run natively "
            "through the sysroot's dynamic loader, with fiber built for each and the peers' "
            "binary wheels from PyPI installed for each into the harness cache "
            "(ci/bench/versions.py).",
            pythons_markdown(pythons),
        ]
    parts += [
        "## Instructions per switch, per ABI",
        "A time for an emulated target (QEMU) means nothing, so each ABI's switch is compared "
        "by instruction count.",
        insns_markdown(counts),
        "## Instructions executed per operation (callgrind, x86_64)",
        callgrind_markdown(cg),
        "## Cache misses per resume over N live fibers (cachegrind, x86_64)",
        "`perf` has no hardware counters in this guest; cachegrind simulates the caches "
        "instead (instructions repeat exactly; misses move by a few with the memory layout, "
        "see the analysis below). As its manual says, it indexes every cache by virtual "
        "address, where real caches beyond L1 are physically indexed, and it counts no TLB "
        "misses. The programs are the round-robin rows' loops (ci/bench/cachegrind.py).",
        cachegrind.markdown(misses or {}),
        "## Soak",
        _soak(reports),
        "## Harness: full matrix wall time, cold and warm cache (recorded each run)",
        harness,
    ]
    if ANALYSIS.exists():
        parts.append(ANALYSIS.read_text().strip())
    return "\n\n".join(parts) + "\n"
