"""Runner kinds: every kind module has the interface, and the command lines and environments
each one builds."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from ci import runners, sysroots, targets
from ci.runners import Prepared, native, qemu, wine

SR = sysroots.Sysroot(
    Path("/cache/sysroots/arm64-bookworm-k"), "3.11.2", ".cpython-311-aarch64-linux-gnu.so"
)
ON_QEMU = Prepared(python="3.11.2", sysroot=SR, cached=SR.path)
NATIVE = Prepared(python="3.11.7")
JUNIT = Path("/r/reports/t.xml")

# What ci/runners/__init__.py's docstring promises of every kind module.
INTERFACE = (
    "TEST_TIMEOUT_SCALE",
    "RUN_TIMEOUT",
    "WORKERS",
    "host_needs",
    "cache_entry",
    "find",
    "prepare",
    "prefix",
    "interpreter",
    "environment",
)


@pytest.fixture(autouse=True)
def _no_overrides(monkeypatch):
    for var in ("FIBER_TEST_TIMEOUT", "FIBER_RUN_TIMEOUT", "FIBER_WORKERS"):
        monkeypatch.delenv(var, raising=False)


def tx_of(argv):
    return argv[argv.index("--tx") + 1]


@pytest.mark.parametrize("target", targets.TARGETS, ids=targets.NAMES)
def test_every_row_names_a_kind_module_with_the_whole_interface(target):
    kind = runners.kind(target)
    assert kind.__name__ == f"ci.runners.{target.runner_kind}"
    missing = [name for name in INTERFACE if not hasattr(kind, name)]
    assert not missing, f"{kind.__name__} lacks {missing}"


def test_a_kind_without_a_module_is_a_clear_error():
    bad = targets.Target("z-linux", "z", "linux", "", "", "chroot", "chroot", (), "z")
    with pytest.raises(ValueError, match="no runner kind 'chroot'.*ci/runners/chroot.py"):
        runners.kind(bad)
    with pytest.raises(ValueError, match="not a module name"):
        runners.kind(targets.Target("z-linux", "z", "linux", "", "", "../x", "x", (), "z"))


def test_native_runs_the_host_python():
    t = targets.get("x86_64-linux")
    inv = runners.pytest_invocation(
        t,
        NATIVE,
        junit=JUNIT,
        host_python="/venv/bin/python",
        conformance=Path("/b/conformance"),
        pytest_args=("-k", "x"),
    )
    assert inv.argv[:3] == ["/venv/bin/python", "-m", "pytest"]
    assert f"--junitxml={JUNIT}" in inv.argv
    assert "junit_suite_name=x86_64-linux" in inv.argv
    assert tx_of(inv.argv) == f"{native.WORKERS}*popen//python=/venv/bin/python"
    assert inv.argv[-2:] == ["-k", "x"]  # pytest arguments come last, so they win
    assert inv.env["FIBER_TARGET"] == "x86_64-linux"
    assert inv.env["FIBER_RUNNER"] == ""
    assert inv.env["FIBER_CONFORMANCE_EXE"] == "/b/conformance"
    assert inv.test_timeout == runners.BASE_TEST_TIMEOUT
    assert inv.python == "3.11.7"


def test_target_runs_leave_the_harness_tests_out():
    inv = runners.pytest_invocation(
        targets.get("x86_64-linux"), NATIVE, junit=JUNIT, root=Path("/r")
    )
    assert "--ignore=/r/tests/harness" in inv.argv


def test_qemu_runs_controller_and_workers_in_the_emulated_python():
    t = targets.get("aarch64-linux")
    inv = runners.pytest_invocation(t, ON_QEMU, junit=JUNIT, n_workers=2)
    qemu_cmd = inv.argv[0]
    assert qemu_cmd.endswith("qemu-aarch64")
    assert inv.argv[1:5] == ["-L", str(SR.path), str(SR.python_exe), "-m"]
    assert tx_of(inv.argv) == (
        f"2*popen//python={shlex.quote(qemu_cmd)} -L {SR.path} {SR.python_exe}"
    )
    assert "-n" not in inv.argv  # -n would exec sys.executable: no binfmt_misc here
    assert shlex.split(inv.env["FIBER_RUNNER"]) == [qemu_cmd, "-L", str(SR.path)]
    assert "PYTHONPATH" in inv.unset and "PYTHONHOME" in inv.unset
    assert inv.python == "3.11.2"


def test_qemu_needs_its_sysroot():
    with pytest.raises(ValueError, match="sysroot"):
        runners.pytest_invocation(targets.get("armhf-linux"), NATIVE, junit=JUNIT)


def test_wine_runs_host_pytest_with_the_target_programs_under_wine(tmp_path):
    t = targets.get("x86_64-windows")
    prepared = Prepared(python="host 3.11.7", cached=tmp_path)
    inv = runners.pytest_invocation(
        t, prepared, junit=JUNIT, host_python="/py", conformance=Path("/b/conformance.exe")
    )
    assert inv.argv[:3] == ["/py", "-m", "pytest"]
    assert inv.env["FIBER_TARGET"] == "x86_64-windows"
    assert Path(shlex.split(inv.env["FIBER_RUNNER"])[0]).name in ("wine64", "wine")
    assert inv.env["FIBER_CONFORMANCE_EXE"] == "/b/conformance.exe"
    assert inv.env["WINEPREFIX"] == str(tmp_path) and inv.env["WINEDEBUG"] == "-all"
    assert inv.python == "host 3.11.7"


def test_what_each_kind_keeps_in_the_cache(tmp_path):
    i686, win, host = (targets.get(n) for n in ("i686-linux", "x86_64-windows", "x86_64-linux"))
    assert native.cache_entry(host) is None
    assert native.find(host, tmp_path) is not None  # nothing to build: always ready
    assert qemu.cache_entry(i686) == "sysroot i686-linux"
    assert qemu.find(i686, tmp_path) is None
    assert wine.cache_entry(win) == "Wine prefix"
    assert wine.find(win, tmp_path) is None


def test_timeouts_scale_per_runner(monkeypatch):
    per = {t.name: runners.test_timeout(t) for t in targets.TARGETS}
    assert per["x86_64-linux"] < per["x86_64-windows"] < per["aarch64-linux"]
    assert per["i686-linux"] == per["armhf-linux"] == per["aarch64-linux"]
    inv = runners.pytest_invocation(targets.get("armhf-linux"), ON_QEMU, junit=JUNIT)
    assert f"--timeout={per['armhf-linux']:g}" in inv.argv
    assert "--timeout-method=signal" in inv.argv
    backstop = runners.hang_backstop(per["armhf-linux"])
    assert backstop > per["armhf-linux"]
    assert f"--hang-backstop={backstop:g}" in inv.argv and "ci.hangwatch" in inv.argv
    assert inv.env["FIBER_HANG_DIR"].endswith("armhf-linux")
    monkeypatch.setenv("FIBER_TEST_TIMEOUT", "2")
    assert runners.test_timeout(targets.get("aarch64-linux")) == 2 * qemu.TEST_TIMEOUT_SCALE


def test_workers_override_and_floor(monkeypatch):
    t = targets.get("aarch64-linux")
    assert runners.workers(t) == qemu.WORKERS
    monkeypatch.setenv("FIBER_WORKERS", "3")
    assert runners.workers(t) == 3
    monkeypatch.setenv("FIBER_WORKERS", "0")
    assert runners.workers(t) == 1  # always through xdist: a crash fails one test, not the run
