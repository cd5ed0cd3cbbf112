"""The matrix survives faults: a failing build, a hang, a crash, a run with no test."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from ci import build, matrix, paths, reports, runners, targets


def quiet(_line):
    pass


def junit_of(inv: runners.Invocation) -> Path:
    return Path(next(a for a in inv.argv if a.startswith("--junitxml=")).split("=", 1)[1])


def write_junit(path: Path, passed: int, skipped: int = 0) -> None:
    cases = "".join(f'<testcase classname="tests.test_x" name="test_{i}"/>' for i in range(passed))
    cases += "".join(
        f'<testcase classname="tests.test_x" name="skip_{i}"><skipped/></testcase>'
        for i in range(skipped)
    )
    path.write_text(f'<testsuites><testsuite name="t">{cases}</testsuite></testsuites>')


def fake_invocation(target, prepared, *, junit, **kw):
    return runners.Invocation(["true"], {}, (), 5.0, 1.0, "3.11.2")


def passing_run(inv, logfile, log):
    write_junit(junit_of_fake(inv, logfile), passed=2, skipped=1)
    return matrix.RunOutcome(0, "")


def junit_of_fake(inv, logfile: Path) -> Path:
    return logfile.with_suffix(".xml")


def fake_stages(**kw) -> matrix.Stages:
    stages = dict(
        prepare=lambda t, log: runners.Prepared("3.11.2"),
        build=lambda t, p, per_abi: build.Built(conformance=Path("/b/conformance")),
        run=passing_run,
        invocation=fake_invocation,
    )
    stages.update(kw)
    return matrix.Stages(**stages)


def test_a_single_process_run_that_dies_is_run_again_isolated(tmp_path):
    """One pytest process (one worker's kinds) crashes before its report: the target runs
    again with each test in an xdist worker, and that run's report is the target's."""
    calls = []

    def invocation(target, prepared, *, junit, isolate=None, **kw):
        calls.append(isolate)
        return runners.Invocation(
            ["true"],
            {"FIBER_HANG_DIR": str(tmp_path / "hang")},
            (),
            5.0,
            1.0,
            "3.11.2",
            isolated=bool(isolate),
        )

    def run(inv, logfile, log):
        if not inv.isolated:
            (tmp_path / "hang").mkdir()
            return matrix.RunOutcome(-11, "Fatal Python error: Segmentation fault")
        assert not (tmp_path / "hang").exists()  # the first run's hang files are gone
        return passing_run(inv, logfile, log)

    lines = []
    r = matrix.run_target(
        targets.get("aarch64-linux-py3.14"),
        reports_dir=tmp_path,
        stages=fake_stages(invocation=invocation, run=run),
        log=lines.append,
    )
    assert calls == [None, True]
    assert r.ok and (r.passed, r.failed) == (2, 0), r.error
    assert any("exited -11 without its report" in line for line in lines)


def test_a_single_process_run_with_a_report_is_not_run_again(tmp_path):
    calls = []

    def invocation(target, prepared, *, junit, isolate=None, **kw):
        calls.append(isolate)
        return runners.Invocation(["true"], {}, (), 5.0, 1.0, "3.11.2", isolated=False)

    def failing_run(inv, logfile, log):
        write_junit(junit_of_fake(inv, logfile), passed=1)
        return matrix.RunOutcome(1, "1 failed")  # a test failed: the report says which

    matrix.run_target(
        targets.get("aarch64-linux-py3.14"),
        reports_dir=tmp_path,
        stages=fake_stages(invocation=invocation, run=failing_run),
        log=quiet,
    )
    assert calls == [None]


@pytest.mark.parametrize("jobs", [1, 2])
def test_failing_build_is_shown_as_failed_and_the_others_still_run(tmp_path, jobs):
    def build_fn(t, prepared, per_abi):
        if t.name == "aarch64-linux-py3.14":
            raise build.BuildError(
                "the extension",
                ["aarch64-linux-gnu-gcc", "x.c"],
                "x.c:3:1: error: expected ';' before '}' token\n",
            )
        return build.Built()

    ran: list[str] = []

    def run(inv, logfile, log):
        ran.append(logfile.stem)
        return passing_run(inv, logfile, log)

    lines: list[str] = []
    status, results = matrix.run_matrix(
        list(targets.TARGETS),
        reports_dir=tmp_path,
        stages=fake_stages(build=build_fn, run=run),
        log=lines.append,
        ensure_tools=lambda sel: None,
        jobs=jobs,
    )
    assert status == 1
    assert sorted(ran) == sorted(t for t in targets.NAMES if t != "aarch64-linux-py3.14")
    assert [r.target for r in results] == list(targets.NAMES)  # table order, whatever ran first
    by = {r.target: r for r in results}
    bad = by["aarch64-linux-py3.14"]
    assert not bad.ok and bad.failed == 1 and bad.passed == 0
    assert "expected ';'" in bad.error
    assert all(by[n].ok and by[n].passed == 2 for n in ran)
    out = "\n".join(lines)
    if jobs > 1:
        assert (
            "[aarch64-linux-py3.14] === aarch64-linux-py3.14 (qemu-aarch64; the aarch64-linux "
            "C conformance runs in aarch64-linux-py3.11) ===" in out
        )
    assert (
        "aarch64-linux-py3.14: harness.aarch64-linux-py3.14::build: building the extension "
        "failed: x.c:3:1: error: expected ';' before '}' token" in out
    )
    n = len(targets.NAMES) - 1
    assert out.splitlines()[-1] == f"matrix: {2 * n} passed, 1 failed, {n} skipped"
    rows = reports.read_matrix(tmp_path)
    assert [r["target"] for r in rows] == list(targets.NAMES)
    assert "expected ';'" in (tmp_path / "aarch64-linux-py3.14.xml").read_text()


def test_the_per_abi_work_is_done_once_per_abi_and_each_row_says_where(tmp_path):
    built: dict[str, bool] = {}
    shares: dict[str, str] = {}

    def build_fn(t, prepared, per_abi):
        built[t.name] = per_abi
        return build.Built(conformance=Path("/b/conformance") if per_abi else None)

    def invocation(t, prepared, *, junit, per_abi_in="", **kw):
        shares[t.name] = per_abi_in
        return runners.Invocation(["true"], {}, (), 5.0, 1.0, "3.14.10")

    selected = targets.select("aarch64-linux,x86_64-linux-py3.14")
    status, results = matrix.run_matrix(
        selected,
        reports_dir=tmp_path,
        stages=fake_stages(build=build_fn, invocation=invocation),
        log=quiet,
        ensure_tools=lambda sel: None,
    )
    assert status == 0
    assert built == {
        t.name: t.name in ("aarch64-linux-py3.11", "x86_64-linux-py3.14") for t in selected
    }
    assert shares["aarch64-linux-py3.15"] == "aarch64-linux-py3.11"
    assert shares["x86_64-linux-py3.14"] == ""
    rows = {r["target"]: r for r in reports.read_matrix(tmp_path)}
    assert rows["aarch64-linux-py3.11"]["per_abi"] == reports.HERE
    assert rows["aarch64-linux-py3.13"]["per_abi"] == "aarch64-linux-py3.11"
    assert rows["aarch64-linux-py3.13"]["abi"] == "aarch64-linux"
    assert "in aarch64-linux-py3.11" in reports.format_text(results)


def test_all_passing_exits_zero(tmp_path):
    status, results = matrix.run_matrix(
        targets.select("x86_64-linux-py3.11,i686-linux-py3.14"),
        reports_dir=tmp_path,
        stages=fake_stages(),
        log=quiet,
        ensure_tools=lambda sel: None,
    )
    assert status == 0 and all(r.ok for r in results)


@pytest.mark.parametrize(
    "rc, passed, skipped, step",
    [
        (5, 0, 0, "pytest-exit-5"),  # pytest found no test
        (0, 0, 3, "ran-no-test"),  # everything skipped: nothing was proven
        (1, 2, 0, "pytest"),  # non-zero exit yet no failed test in the report
        (3, 2, 0, "pytest-exit-3"),  # internal error
    ],
)
def test_runs_that_prove_nothing_fail(tmp_path, rc, passed, skipped, step):
    def run(inv, logfile, log):
        write_junit(logfile.with_suffix(".xml"), passed, skipped)
        return matrix.RunOutcome(rc, "last words\n")

    r = matrix.run_target(
        targets.get("armhf-linux-py3.13"),
        reports_dir=tmp_path,
        stages=fake_stages(run=run),
        log=quiet,
    )
    assert not r.ok and r.failed >= 1
    assert r.error.startswith(step + ":")
    assert (f"harness.armhf-linux-py3.13::{step}",) == (r.failures[-1][0],)


def test_crash_without_report_fails_with_the_output(tmp_path):
    def run(inv, logfile, log):
        return matrix.RunOutcome(-11, "Fatal Python error: Segmentation fault\n")

    r = matrix.run_target(
        targets.get("i686-linux-py3.15"),
        reports_dir=tmp_path,
        stages=fake_stages(run=run),
        log=quiet,
    )
    assert not r.ok and r.failed == 1
    assert "Segmentation fault" in (tmp_path / "i686-linux-py3.15.xml").read_text()


def test_provisioning_failure_of_one_target(tmp_path):
    from ci import sysroots

    def prepare(t, log):
        if t.name == "armhf-linux-py3.14":
            raise sysroots.SysrootError("mmdebstrap failed for the sid armhf sysroot (exit 1)")
        return runners.Prepared("3.11.7")

    status, results = matrix.run_matrix(
        targets.select("armhf-linux-py3.14,x86_64-linux-py3.11"),
        reports_dir=tmp_path,
        stages=fake_stages(prepare=prepare),
        log=quiet,
        ensure_tools=lambda sel: None,
    )
    assert status == 1
    assert [r.ok for r in results] == [False, True]
    assert results[0].error.startswith("provision: mmdebstrap failed")


def test_run_timeout_stops_the_whole_run_and_goes_on(tmp_path):
    inv = runners.Invocation(
        [sys.executable, "-c", "import time; print('started', flush=True); time.sleep(60)"],
        {},
        (),
        1.0,
        1.0,
        "3.11.7",
    )
    r = matrix.run_target(
        targets.get("x86_64-linux-py3.11"),
        reports_dir=tmp_path,
        stages=fake_stages(run=matrix.run_process, invocation=lambda t, p, **kw: inv),
        log=quiet,
    )
    assert not r.ok and r.error.startswith("timeout:")
    assert "started" in r.error and "x86_64-linux-py3.11" in r.error
    assert r.seconds < 30


def test_hung_test_fails_by_timeout_with_target_and_name(tmp_path, monkeypatch):
    """A real pytest run: one test hangs in Python code, one where SIGALRM cannot reach it
    (as a hang in C would); both fail, named, and the tests after them still run."""
    suite = tmp_path / "suite"
    suite.mkdir()
    (suite / "test_hangs.py").write_text(
        textwrap.dedent("""
        import signal, time
        def test_before(): pass
        def test_hang_in_python(): time.sleep(60)
        def test_hang_signal_blocked():
            signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})
            time.sleep(60)
        def test_after(): pass
    """)
    )
    monkeypatch.setenv("FIBER_TEST_TIMEOUT", "1")
    monkeypatch.setenv("FIBER_WORKERS", "2")
    target = targets.get("x86_64-linux-py3.11")

    def invocation(t, prepared, **kw):
        kw.update(pytest_args=("-p", "no:cacheprovider", str(suite)), root=suite)
        return runners.pytest_invocation(t, prepared, **kw)

    r = matrix.run_target(
        target,
        reports_dir=tmp_path / "reports",
        log=quiet,
        stages=fake_stages(run=matrix.run_process, invocation=invocation),
    )
    assert (r.passed, r.failed) == (2, 2), r.error
    msgs = dict(r.failures)
    assert "Timeout" in msgs["test_hangs::test_hang_in_python"]
    assert msgs["test_hangs::test_hang_signal_blocked"].startswith(
        "hung on x86_64-linux-py3.11: still running after"
    )
    assert (
        "x86_64-linux-py3.11: test_hangs::test_hang_signal_blocked: hung on x86_64-linux-py3.11"
        in reports.details([r])
    )
    assert r.seconds < 60


def test_a_crash_in_a_single_process_run_fails_only_its_test(tmp_path, monkeypatch):
    """A real pytest run with one worker (so one process, no xdist): a test kills the process;
    the rerun isolates it, and the tests around it pass."""
    suite = tmp_path / "suite"
    suite.mkdir()
    (suite / "test_crash.py").write_text(
        textwrap.dedent("""
        import os
        def test_before(): pass
        def test_crash(): os.abort()
        def test_after(): pass
    """)
    )
    monkeypatch.setenv("FIBER_WORKERS", "1")
    seen = []

    def invocation(t, prepared, **kw):
        kw.update(pytest_args=("-p", "no:cacheprovider", str(suite)), root=suite)
        inv = runners.pytest_invocation(t, prepared, **kw)
        seen.append(inv.isolated)
        return inv

    r = matrix.run_target(
        targets.get("x86_64-linux-py3.11"),
        reports_dir=tmp_path / "reports",
        log=quiet,
        stages=fake_stages(run=matrix.run_process, invocation=invocation),
    )
    assert seen == [False, True]
    assert (r.passed, r.failed) == (2, 1), r.error
    assert "test_crash::test_crash" in dict(r.failures)


def test_unknown_target_on_the_command_line():
    proc = subprocess.run(
        [sys.executable, "-m", "ci", "matrix", "--targets", "mips-linux"],
        cwd=paths.ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert "unknown target 'mips-linux'" in proc.stderr
    assert "known targets: " + ", ".join(targets.NAMES) in proc.stderr


def test_unknown_python_and_an_empty_selection_on_the_command_line():
    def matrix_cli(*args):
        return subprocess.run(
            [sys.executable, "-m", "ci", "matrix", *args],
            cwd=paths.ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )

    proc = matrix_cli("--pythons", "3.12")
    assert proc.returncode == 2 and "known versions: 3.11, 3.13" in proc.stderr
    proc = matrix_cli("--targets", "x86_64-windows", "--pythons", "3.14")
    assert proc.returncode == 2 and "no target is on CPython 3.14" in proc.stderr


def test_unknown_target_in_provision_and_build():
    for args in (["provision", "mips-linux"], ["build", "mips-linux"]):
        proc = subprocess.run(
            [sys.executable, "-m", "ci", *args],
            cwd=paths.ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert proc.returncode == 2, args
        assert "known targets: x86_64-linux-py3.11" in proc.stderr


def test_killing_the_process_group_reaches_grandchildren(tmp_path):
    """The run timeout kills pytest's workers too (they are in its process group)."""
    pidfile = tmp_path / "pid"
    code = (
        f"import subprocess, sys, time; p = subprocess.Popen([sys.executable, '-c', "
        f"'import time; time.sleep(60)']); open({str(pidfile)!r}, 'w').write(str(p.pid)); "
        f"time.sleep(60)"
    )
    inv = runners.Invocation([sys.executable, "-c", code], {}, (), 2.0, 1.0, "3.11.7")
    out = matrix.run_process(inv, tmp_path / "log", quiet)
    assert out.timed_out
    pid = int(pidfile.read_text())
    deadline = time.monotonic() + 5
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    if alive(pid):
        os.kill(pid, signal.SIGKILL)
        pytest.fail("the grandchild survived the run timeout")


def alive(pid: int) -> bool:
    """Running (a killed process may linger as a zombie until someone reaps it)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def test_several_at_once_start_the_longest_first_and_report_in_table_order():
    sel = targets.select("x86_64-linux-py3.11,aarch64-linux-py3.14,i686-linux-py3.11")
    records = [
        {"targets": [{"target": "x86_64-linux-py3.11", "seconds": 30.0, "ok": True}]},
        {
            "targets": [
                {"target": "aarch64-linux-py3.14", "seconds": 200.0, "ok": True},
                {"target": "x86_64-linux-py3.11", "seconds": 40.0, "ok": True},
            ]
        },
    ]
    order = [t.name for t in matrix.schedule(sel, records)]
    # i686 was never timed: it may be long, so it goes first
    assert order == ["i686-linux-py3.11", "aarch64-linux-py3.14", "x86_64-linux-py3.11"]
