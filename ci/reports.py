"""Reports: JUnit XML per target, reports/matrix.json and matrix.md, the printed summary.

reports/matrix.json is the last run's record (ci/history.py: date, commit, full or partial,
cold or warm cache, wall time) with its per-target rows under "targets". A row is one ABI x
CPython pair: its ``python`` is the exact version that ran, and ``per_abi`` says where its ABI's
once-per-ABI share of the suite (the C conformance program, the tests of the host's tools)
ran in this run: ``here``, or the name of the ABI's target that ran it.

Counts come from the JUnit XML's test cases: a case with a <failure> or <error> is failed, one
with <skipped> is skipped, any other passed. A fault of the harness's own steps for a target (a
build that fails, a run that crashes, times out or runs no test) is written into that target's
XML as a failed case named ``harness.<target>::<step>`` carrying the message (the compiler's
error, the output's tail), so every failed target has failed > 0 in every report.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from dataclasses import asdict, dataclass, field
from pathlib import Path

# The keys of each object in reports/matrix.json, in order.
MATRIX_KEYS = (
    "target",
    "abi",
    "runner",
    "python",
    "per_abi",
    "passed",
    "failed",
    "skipped",
    "seconds",
)
# TargetResult.per_abi of the target that did its ABI's once-per-ABI work.
HERE = "here"


@dataclass
class Counts:
    passed: int = 0
    failed: int = 0
    skipped: int = 0
    failures: list[tuple[str, str]] = field(default_factory=list)  # (test id, first line)

    @property
    def total(self) -> int:
        return self.passed + self.failed + self.skipped


def _first_line(text: str | None, limit: int = 200) -> str:
    for line in (text or "").splitlines():
        if line.strip():
            line = line.strip()
            return line if len(line) <= limit else line[: limit - 3] + "..."
    return ""


def parse_junit(path: Path) -> Counts:
    """Count passed, failed and skipped cases in a JUnit XML file (pytest's or anyone's)."""
    root = ET.parse(path).getroot()
    counts = Counts()
    for case in root.iter("testcase"):
        bad = case.find("failure")
        if bad is None:
            bad = case.find("error")
        if bad is not None:
            counts.failed += 1
            test_id = "::".join(x for x in (case.get("classname"), case.get("name")) if x)
            counts.failures.append(
                (test_id, _first_line(bad.get("message")) or _first_line(bad.text))
            )
        elif case.find("skipped") is not None:
            counts.skipped += 1
        else:
            counts.passed += 1
    return counts


def add_harness_failure(path: Path, target: str, step: str, message: str) -> None:
    """Record a failed harness step for `target` in its JUnit XML (created if missing/broken)."""
    root = None
    if path.is_file():
        try:
            root = ET.parse(path).getroot()
        except ET.ParseError:
            root = None
    if root is None:
        root = ET.Element("testsuites")
    suite = root if root.tag == "testsuite" else root.find("testsuite")
    if suite is None:
        suite = ET.SubElement(root, "testsuite", name=target)
    case = ET.SubElement(suite, "testcase", classname=f"harness.{target}", name=step, time="0")
    fail = ET.SubElement(case, "failure", message=_first_line(message, 500) or step)
    fail.text = message
    for attr in ("tests", "failures"):
        suite.set(attr, str(int(suite.get(attr, "0")) + 1))
    path.parent.mkdir(parents=True, exist_ok=True)
    ET.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)


def mark_hangs(path: Path, hung: dict[str, str], target: str, seconds: float) -> None:
    """Say 'hung' (with the dumped stacks) on the cases whose worker the hang watch ended."""
    if not hung or not path.is_file():
        return
    tree = ET.parse(path)
    for case in tree.getroot().iter("testcase"):
        for bad in (case.find("failure"), case.find("error")):
            if bad is None:
                continue
            for test_id, stacks in hung.items():
                if f"'{test_id}'" in (bad.get("message") or "") + (bad.text or ""):
                    bad.set(
                        "message",
                        f"hung on {target}: still running after {seconds:g} s "
                        f"(stopped by the hang watch; per-test timeout)",
                    )
                    bad.text = f"{bad.text or ''}\n{stacks}"
    tree.write(path, encoding="utf-8", xml_declaration=True)


@dataclass
class TargetResult:
    target: str
    runner: str
    python: str = "?"
    abi: str = ""
    per_abi: str = HERE  # where the ABI's once-per-ABI tests ran: HERE or another target
    passed: int = 0
    failed: int = 0
    skipped: int = 0
    seconds: float = 0.0
    error: str = ""  # why the target failed, beyond failed tests (build error, crash...)
    failures: list[tuple[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Passed: no failure, no harness error, and at least one test actually ran."""
        return self.failed == 0 and not self.error and self.passed > 0

    @property
    def status(self) -> str:
        if self.ok:
            return "ok"
        if self.passed + self.failed == 0 and not self.error:
            return "FAILED (ran no test)"
        return "FAILED"

    def row(self) -> dict:
        d = asdict(self)
        out = {k: d[k] for k in MATRIX_KEYS}
        out["seconds"] = round(self.seconds, 1)
        out["ok"] = self.ok
        out["error"] = self.error
        return out


def _table(results: list[TargetResult]) -> tuple[list[str], list[list[str]]]:
    head = [
        "target",
        "runner",
        "python",
        "C conformance",
        "passed",
        "failed",
        "skipped",
        "seconds",
        "status",
    ]
    rows = [
        [
            r.target,
            r.runner,
            r.python,
            r.per_abi if r.per_abi == HERE else f"in {r.per_abi}",
            str(r.passed),
            str(r.failed),
            str(r.skipped),
            f"{r.seconds:.1f}",
            r.status,
        ]
        for r in results
    ]
    return head, rows


def format_text(results: list[TargetResult]) -> str:
    head, rows = _table(results)
    widths = [max(len(x) for x in col) for col in zip(head, *rows, strict=True)]
    numeric = {4, 5, 6, 7}

    def fmt(cells: list[str]) -> str:
        return "  ".join(
            c.rjust(w) if i in numeric else c.ljust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    lines = [fmt(head), fmt(["-" * w for w in widths])] + [fmt(r) for r in rows]
    return "\n".join(lines)


def format_markdown(results: list[TargetResult], run: dict | None = None) -> str:
    head, rows = _table(results)
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    if run:
        out += ["", run_line(run)]
    problems = details(results)
    if problems:
        out += ["", "## Failures", "", "```", problems, "```"]
    return "\n".join(out) + "\n"


def details(results: list[TargetResult], per_target: int = 20) -> str:
    """Each failed target's failed tests (with the target's name) and harness errors."""
    lines: list[str] = []
    for r in results:
        for test_id, msg in r.failures[:per_target]:
            lines.append(f"{r.target}: {test_id}: {msg}")
        if len(r.failures) > per_target:
            lines.append(f"{r.target}: ... and {len(r.failures) - per_target} more failures")
        if r.error and not r.failures:
            lines.append(f"{r.target}: {r.error.splitlines()[0] if r.error else ''}")
    return "\n".join(lines)


def totals(results: list[TargetResult]) -> Counts:
    return Counts(
        sum(r.passed for r in results),
        sum(r.failed for r in results),
        sum(r.skipped for r in results),
    )


def closing_line(counts: Counts, label: str = "matrix") -> str:
    """The plain 'N passed, N failed, N skipped' line CI reads."""
    return f"{label}: {counts.passed} passed, {counts.failed} failed, {counts.skipped} skipped"


def run_line(run: dict) -> str:
    """The run's wall time and what it covered, for matrix.md."""
    scope = "full matrix" if run.get("full") else f"partial run ({run.get('partial')})"
    return (
        f"Wall time {run.get('wall_seconds')} s, cache {run.get('cache')} at start, "
        f"{scope}; {run.get('date')}, commit {run.get('commit')}"
        + (" with uncommitted changes" if run.get("dirty") else "")
        + "."
    )


def write_matrix(results: list[TargetResult], reports: Path, run: dict | None = None) -> None:
    """reports/matrix.json: the run's record (ci/history.py) with one row per target under
    "targets"; reports/matrix.md: the table, the run line, the failures."""
    reports.mkdir(parents=True, exist_ok=True)
    data = {**(run or {}), "targets": [r.row() for r in results]}
    (reports / "matrix.json").write_text(json.dumps(data, indent=2) + "\n")
    (reports / "matrix.md").write_text(format_markdown(results, run))


def read_matrix(reports: Path) -> list[dict]:
    """The per-target rows of reports/matrix.json (also from the older plain-list format)."""
    data = json.loads((reports / "matrix.json").read_text())
    return data["targets"] if isinstance(data, dict) else data


def main(argv: list[str]) -> int:
    """`python -m ci summary [--label L] [XML...]`: one closing line over the matrix and XMLs.

    Adds reports/matrix.json's targets and the given JUnit files (the harness session's, say);
    exits 1 when any of them failed, ran no test, or is missing.
    """
    import sys

    from ci import paths

    label = "total"
    if argv[:1] == ["--label"]:
        label, argv = argv[1], argv[2:]
    total = Counts()
    ok = True
    try:
        rows = read_matrix(paths.REPORTS)
    except (OSError, ValueError):
        print(f"summary: no {paths.REPORTS}/matrix.json (the matrix did not run)", file=sys.stderr)
        rows, ok = [], False
    for row in rows:
        total.passed += row["passed"]
        total.failed += row["failed"]
        total.skipped += row["skipped"]
        ok = ok and bool(row.get("ok"))
    for xml in argv:
        try:
            c = parse_junit(Path(xml))
        except (OSError, ET.ParseError):
            print(f"summary: no report {xml}", file=sys.stderr)
            ok = False
            continue
        total.passed += c.passed
        total.failed += c.failed
        total.skipped += c.skipped
        ok = ok and c.failed == 0 and c.passed > 0
    ok = ok and total.failed == 0
    print(closing_line(total, label))
    return 0 if ok else 1
