"""The command lines and environments each runner builds."""

from __future__ import annotations

import os
import shlex
from pathlib import Path

import pytest

from ci.targets import runs_natively

pytestmark = pytest.mark.harness
if not runs_natively():
    pytest.skip(f"harness tests run natively only (this run is for {os.environ['FIBER_TARGET']})",
                allow_module_level=True)

from ci import runners, sysroots, targets  # noqa: E402

SR = sysroots.Sysroot(Path("/cache/sysroots/arm64-bookworm-k"), "3.11.2",
                      ".cpython-311-aarch64-linux-gnu.so")
JUNIT = Path("/r/reports/t.xml")


@pytest.fixture(autouse=True)
def _no_overrides(monkeypatch):
    for var in ("FIBER_TEST_TIMEOUT", "FIBER_RUN_TIMEOUT", "FIBER_WORKERS"):
        monkeypatch.delenv(var, raising=False)


def tx_of(argv):
    return argv[argv.index("--tx") + 1]


def test_native_runs_the_host_python():
    t = targets.get("x86_64-linux")
    inv = runners.pytest_invocation(t, junit=JUNIT, host_python="/venv/bin/python",
                                    conformance=Path("/b/conformance"), pytest_args=("-k", "x"))
    assert inv.argv[:3] == ["/venv/bin/python", "-m", "pytest"]
    assert f"--junitxml={JUNIT}" in inv.argv
    assert "junit_suite_name=x86_64-linux" in inv.argv
    n = runners.WORKERS["native"]
    assert tx_of(inv.argv) == f"{n}*popen//python=/venv/bin/python"
    assert inv.argv[-2:] == ["-k", "x"]  # pytest arguments come last, so they win
    assert inv.env["FIBER_TARGET"] == "x86_64-linux"
    assert inv.env["FIBER_RUNNER"] == ""
    assert inv.env["FIBER_CONFORMANCE_EXE"] == "/b/conformance"
    assert inv.test_timeout == runners.BASE_TEST_TIMEOUT


def test_qemu_runs_controller_and_workers_in_the_emulated_python():
    t = targets.get("aarch64-linux")
    inv = runners.pytest_invocation(t, junit=JUNIT, sysroot=SR, n_workers=2)
    qemu = inv.argv[0]
    assert qemu.endswith("qemu-aarch64")
    assert inv.argv[1:5] == ["-L", str(SR.path), str(SR.python_exe), "-m"]
    assert tx_of(inv.argv) == (f"2*popen//python={shlex.quote(qemu)} -L {SR.path} "
                               f"{SR.python_exe}")
    assert "-n" not in inv.argv  # -n would exec sys.executable: no binfmt_misc here
    assert shlex.split(inv.env["FIBER_RUNNER"]) == [qemu, "-L", str(SR.path)]
    assert "PYTHONPATH" in inv.unset and "PYTHONHOME" in inv.unset
    assert inv.python == "3.11.2"


def test_qemu_needs_its_sysroot():
    with pytest.raises(ValueError, match="sysroot"):
        runners.pytest_invocation(targets.get("armhf-linux"), junit=JUNIT)


def test_wine_runs_host_pytest_with_the_target_programs_under_wine(tmp_path):
    t = targets.get("x86_64-windows")
    inv = runners.pytest_invocation(t, junit=JUNIT, wineprefix=tmp_path, host_python="/py",
                                    conformance=Path("/b/conformance.exe"))
    assert inv.argv[:3] == ["/py", "-m", "pytest"]
    assert inv.env["FIBER_TARGET"] == "x86_64-windows"
    assert Path(shlex.split(inv.env["FIBER_RUNNER"])[0]).name in ("wine64", "wine")
    assert inv.env["FIBER_CONFORMANCE_EXE"] == "/b/conformance.exe"
    assert inv.env["WINEPREFIX"] == str(tmp_path) and inv.env["WINEDEBUG"] == "-all"
    assert inv.python.startswith("host ")


def test_timeouts_scale_per_runner(monkeypatch):
    per = {t.name: runners.test_timeout(t) for t in targets.TARGETS}
    assert per["x86_64-linux"] < per["x86_64-windows"] < per["aarch64-linux"]
    assert per["i686-linux"] == per["armhf-linux"] == per["aarch64-linux"]
    inv = runners.pytest_invocation(targets.get("armhf-linux"), junit=JUNIT, sysroot=SR)
    assert f"--timeout={per['armhf-linux']:g}" in inv.argv
    assert "--timeout-method=signal" in inv.argv
    backstop = runners.hang_backstop(per["armhf-linux"])
    assert backstop > per["armhf-linux"]
    assert f"--hang-backstop={backstop:g}" in inv.argv and "ci.hangwatch" in inv.argv
    assert inv.env["FIBER_HANG_DIR"].endswith("armhf-linux")
    monkeypatch.setenv("FIBER_TEST_TIMEOUT", "2")
    assert runners.test_timeout(targets.get("aarch64-linux")) == 2 * runners.TIMEOUT_SCALE["qemu"]


def test_workers_override_and_floor(monkeypatch):
    t = targets.get("aarch64-linux")
    monkeypatch.setenv("FIBER_WORKERS", "3")
    assert runners.workers(t) == 3
    monkeypatch.setenv("FIBER_WORKERS", "0")
    assert runners.workers(t) == 1  # always through xdist: a crash fails one test, not the run
