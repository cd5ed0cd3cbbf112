"""JUnit parsing, harness failures in the XML, matrix.json / matrix.md, the closing line."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

from ci import reports

PYTEST_XML = """<?xml version="1.0" encoding="utf-8"?>
<testsuites name="pytest tests"><testsuite name="aarch64-linux" errors="1" failures="1"
 skipped="2" tests="6" time="1.0">
 <testcase classname="tests.test_a" name="test_ok" time="0.1"/>
 <testcase classname="tests.test_a" name="test_ok2" time="0.1"/>
 <testcase classname="tests.test_a" name="test_bad" time="0.1">
   <failure message="assert 1 == 2&#10;more">trace</failure></testcase>
 <testcase classname="tests.test_a" name="test_err" time="0.1">
   <error message="failed on setup with &quot;worker 'gw0' crashed while running
 'tests/test_a.py::test_err'&quot;">x</error></testcase>
 <testcase classname="tests.test_b" name="test_skip" time="0"><skipped message="no"/>
 </testcase>
 <testcase classname="tests.test_b" name="test_xfail" time="0">
   <skipped type="pytest.xfail" message="x"/></testcase>
</testsuite></testsuites>
"""


def test_parse_pytest_junit(tmp_path):
    p = tmp_path / "t.xml"
    p.write_text(PYTEST_XML)
    c = reports.parse_junit(p)
    assert (c.passed, c.failed, c.skipped, c.total) == (2, 2, 2, 6)
    assert c.failures[0] == ("tests.test_a::test_bad", "assert 1 == 2")
    assert c.failures[1][0] == "tests.test_a::test_err"


def test_parse_bare_testsuite(tmp_path):
    p = tmp_path / "t.xml"
    p.write_text('<testsuite tests="1"><testcase classname="c" name="n"/></testsuite>')
    assert (reports.parse_junit(p).passed, reports.parse_junit(p).failed) == (1, 0)


def test_empty_report_counts_nothing(tmp_path):
    p = tmp_path / "t.xml"
    p.write_text('<testsuites><testsuite name="x" tests="0"/></testsuites>')
    assert reports.parse_junit(p).total == 0


def test_harness_failure_is_added_to_an_existing_report(tmp_path):
    p = tmp_path / "t.xml"
    p.write_text(PYTEST_XML)
    reports.add_harness_failure(p, "aarch64-linux", "ran-no-test", "nothing ran\ndetails")
    c = reports.parse_junit(p)
    assert c.failed == 3
    assert ("harness.aarch64-linux::ran-no-test", "nothing ran") in c.failures
    suite = ET.parse(p).getroot().find("testsuite")
    assert suite.get("tests") == "7" and suite.get("failures") == "2"


def test_harness_failure_creates_a_report(tmp_path):
    p = tmp_path / "sub" / "t.xml"
    reports.add_harness_failure(p, "armhf-linux", "build", "x.c:1: error: boom\n$ gcc x.c")
    c = reports.parse_junit(p)
    assert (c.passed, c.failed) == (0, 1)
    assert c.failures == [("harness.armhf-linux::build", "x.c:1: error: boom")]
    assert "$ gcc x.c" in p.read_text()


def test_broken_xml_is_replaced(tmp_path):
    p = tmp_path / "t.xml"
    p.write_text("<testsuites><testsuite")  # a run killed while writing
    reports.add_harness_failure(p, "i686-linux", "timeout", "stopped")
    assert reports.parse_junit(p).failed == 1


def test_hangs_are_named_in_the_report(tmp_path):
    p = tmp_path / "t.xml"
    p.write_text(PYTEST_XML)
    reports.mark_hangs(
        p, {"tests/test_a.py::test_err": "Timeout (0:00:13)!\nThread 0x1"}, "aarch64-linux", 13
    )
    c = reports.parse_junit(p)
    msg = dict(c.failures)["tests.test_a::test_err"]
    assert msg.startswith("hung on aarch64-linux: still running after 13 s")
    assert "Thread 0x1" in p.read_text()


def result(name, **kw):
    kw.setdefault("python", "3.11.2")
    return reports.TargetResult(name, kw.pop("runner", "qemu-arm"), **kw)


def test_status_rules():
    assert result("a", passed=3).ok
    assert not result("a", passed=3, failed=1).ok
    assert not result("a", passed=3, error="build: boom").ok
    nothing = result("a", skipped=4)
    assert not nothing.ok and nothing.status == "FAILED (ran no test)"


def test_matrix_files(tmp_path):
    rs = [
        result("x86_64-linux", runner="native", passed=10, skipped=1, seconds=3.14159),
        result(
            "armhf-linux",
            passed=0,
            failed=1,
            error="build: x.c:1: error: boom",
            failures=[("harness.armhf-linux::build", "x.c:1: error: boom")],
        ),
    ]
    reports.write_matrix(rs, tmp_path)
    rows = json.loads((tmp_path / "matrix.json").read_text())["targets"]
    assert [r["target"] for r in rows] == ["x86_64-linux", "armhf-linux"]
    for r in rows:
        assert list(r)[: len(reports.MATRIX_KEYS)] == list(reports.MATRIX_KEYS)
    assert rows[0]["seconds"] == 3.1 and rows[0]["ok"] is True
    assert rows[1]["failed"] == 1 and rows[1]["ok"] is False
    md = (tmp_path / "matrix.md").read_text()
    assert md.startswith(
        "| target | runner | python | C conformance | passed | failed | skipped | seconds |"
    )
    assert "| armhf-linux | qemu-arm | 3.11.2 | here | 0 | 1 | 0 | 0.0 | FAILED |" in md
    assert "armhf-linux: harness.armhf-linux::build: x.c:1: error: boom" in md


def test_matrix_json_carries_the_run_and_md_says_its_wall_time(tmp_path):
    run = {
        "date": "2026-11-24T10:00:00Z",
        "commit": "abc1234",
        "dirty": False,
        "full": False,
        "partial": "1 of 5 targets (not run: ...)",
        "cache": "warm",
        "wall_seconds": 61.2,
    }
    reports.write_matrix([result("x86_64-linux", runner="native", passed=1)], tmp_path, run)
    data = json.loads((tmp_path / "matrix.json").read_text())
    assert data["wall_seconds"] == 61.2 and data["full"] is False and data["cache"] == "warm"
    assert [r["target"] for r in data["targets"]] == ["x86_64-linux"]
    assert [r["target"] for r in reports.read_matrix(tmp_path)] == ["x86_64-linux"]
    md = (tmp_path / "matrix.md").read_text()
    assert "Wall time 61.2 s, cache warm at start, partial run (1 of 5 targets" in md


def test_older_plain_list_matrix_json_is_still_read(tmp_path):
    (tmp_path / "matrix.json").write_text(json.dumps([{"target": "i686-linux"}]))
    assert reports.read_matrix(tmp_path) == [{"target": "i686-linux"}]


def test_text_table_and_closing_line():
    rs = [
        result("x86_64-linux", runner="native", passed=10, skipped=1),
        result("i686-linux", runner="qemu-i386", passed=8, failed=2),
    ]
    text = reports.format_text(rs)
    head, rule, *rows = text.splitlines()
    assert head.split() == [
        "target",
        "runner",
        "python",
        "C",
        "conformance",
        "passed",
        "failed",
        "skipped",
        "seconds",
        "status",
    ]
    assert rows[1].split()[:7] == ["i686-linux", "qemu-i386", "3.11.2", "here", "8", "2", "0"]
    elsewhere = result(
        "i686-linux-py3.15", runner="qemu-i386", passed=1, per_abi="i686-linux-py3.11"
    )
    assert "in i686-linux-py3.11" in reports.format_text([elsewhere])
    assert elsewhere.row()["per_abi"] == "i686-linux-py3.11"
    line = reports.closing_line(reports.totals(rs))
    assert line == "matrix: 18 passed, 2 failed, 1 skipped"


def test_summary_command(tmp_path, monkeypatch, capsys):
    from ci import paths

    monkeypatch.setattr(paths, "REPORTS", tmp_path)
    reports.write_matrix([result("x86_64-linux", passed=5, skipped=1)], tmp_path)
    harness = tmp_path / "harness.xml"
    harness.write_text('<testsuite><testcase classname="c" name="n"/></testsuite>')
    assert reports.main(["--label", "test", str(harness)]) == 0
    assert capsys.readouterr().out.strip() == "test: 6 passed, 0 failed, 1 skipped"
    reports.write_matrix([result("x86_64-linux", skipped=1)], tmp_path)  # ran no test
    assert reports.main([str(harness)]) == 1
    assert reports.main([str(tmp_path / "missing.xml")]) == 1
