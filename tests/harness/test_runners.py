"""Runner kinds: every kind module has the interface, and the command lines and environments
each one builds."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from ci import runners, sysroots, targets
from ci.runners import Prepared, loader, native, qemu, wine

SR = sysroots.Sysroot(
    Path("/cache/sysroots/arm64-sid-k"),
    "sid",
    "arm64",
    (
        sysroots.Interpreter("3.14.10", ".cpython-314-aarch64-linux-gnu.so", "2b0e0d0a"),
        sysroots.Interpreter("3.15.2", ".cpython-315-aarch64-linux-gnu.so", "2c0e0d0a"),
    ),
)
ON_QEMU = Prepared(python="3.14.10", sysroot=SR, cached=SR.path)
AMD64 = sysroots.Sysroot(
    Path("/cache/sysroots/amd64-sid-k"),
    "sid",
    "amd64",
    (sysroots.Interpreter("3.14.10", ".cpython-314-x86_64-linux-gnu.so", "2b0e0d0a"),),
)
ON_LOADER = Prepared(python="3.14.10", sysroot=AMD64, cached=AMD64.path)
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


def _abi(runner: str) -> targets.Abi:
    return targets.Abi("z-linux", "z", "linux", "", "", runner, "", (), "z")


def test_a_kind_without_a_module_is_a_clear_error():
    bad = targets.Target(_abi("chroot"), None)
    with pytest.raises(ValueError, match="no runner kind 'chroot'.*ci/runners/chroot.py"):
        runners.kind(bad)
    with pytest.raises(ValueError, match="not a module name"):
        runners.kind(targets.Target(_abi("../x"), None))


def test_native_runs_the_host_python():
    t = targets.get("x86_64-linux-py3.11")
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
    assert "junit_suite_name=x86_64-linux-py3.11" in inv.argv
    assert tx_of(inv.argv) == f"{native.WORKERS}*popen//python=/venv/bin/python"
    assert inv.argv[-2:] == ["-k", "x"]  # pytest arguments come last, so they win
    assert inv.env["FIBER_TARGET"] == "x86_64-linux"  # the ABI: what the tests run on
    assert inv.env["FIBER_PAIR"] == "x86_64-linux-py3.11"
    assert inv.env["FIBER_PER_ABI_IN"] == ""  # this target does the ABI's share
    assert inv.env["FIBER_RUNNER"] == ""
    assert inv.env["FIBER_CONFORMANCE_EXE"] == "/b/conformance"
    assert inv.test_timeout == runners.BASE_TEST_TIMEOUT
    assert inv.python == "3.11.7"


def test_target_runs_leave_the_harness_tests_out():
    inv = runners.pytest_invocation(
        targets.get("x86_64-linux-py3.11"), NATIVE, junit=JUNIT, root=Path("/r")
    )
    assert "--ignore=/r/tests/harness" in inv.argv


def test_the_cache_tools_come_first_on_path():
    inv = runners.pytest_invocation(targets.get("x86_64-linux-py3.11"), NATIVE, junit=JUNIT)
    assert inv.env["PATH"].split(":")[0].endswith("tools/bin")


def test_a_target_that_leaves_its_abis_share_to_another_says_which():
    t = targets.get("aarch64-linux-py3.15")
    inv = runners.pytest_invocation(
        t, ON_QEMU, junit=JUNIT, per_abi_in="aarch64-linux-py3.11", root=Path("/r")
    )
    assert "--ignore=/r/tests/core" in inv.argv  # all of it is the ABI's once-per-ABI share
    assert inv.env["FIBER_PER_ABI_IN"] == "aarch64-linux-py3.11"
    assert inv.env["FIBER_TARGET"] == "aarch64-linux"


def test_qemu_runs_controller_and_workers_in_the_emulated_python():
    t = targets.get("aarch64-linux-py3.14")
    inv = runners.pytest_invocation(t, ON_QEMU, junit=JUNIT, n_workers=2)
    qemu_cmd = inv.argv[0]
    assert qemu_cmd.endswith("qemu-aarch64")
    exe = str(SR.python_exe("3.14"))
    assert exe.endswith("/usr/bin/python3.14")
    assert inv.argv[1:7] == ["-cpu", "max,pauth-impdef=on", "-L", str(SR.path), exe, "-m"]
    assert tx_of(inv.argv) == (
        f"2*popen//python={shlex.quote(qemu_cmd)} -cpu max,pauth-impdef=on -L {SR.path} {exe}"
    )
    assert "-n" not in inv.argv  # -n would exec sys.executable: no binfmt_misc here
    assert shlex.split(inv.env["FIBER_RUNNER"]) == [
        qemu_cmd,
        "-cpu",
        "max,pauth-impdef=on",
        "-L",
        str(SR.path),
    ]
    assert "PYTHONPATH" in inv.unset and "PYTHONHOME" in inv.unset
    assert inv.python == "3.14.10"


def test_the_version_picks_the_sysroots_interpreter():
    t = targets.get("aarch64-linux-py3.15")
    prepared = qemu._prepared(t, SR)
    assert prepared.python == "3.15.2"
    inv = runners.pytest_invocation(t, prepared, junit=JUNIT)
    assert inv.argv[inv.argv.index("-m") - 1].endswith("/usr/bin/python3.15")


def test_loader_runs_the_sysroots_python_natively_through_its_own_loader():
    t = targets.get("x86_64-linux-py3.14")
    assert t.runner_kind == "loader"
    inv = runners.pytest_invocation(t, ON_LOADER, junit=JUNIT, n_workers=2)
    ld = str(AMD64.path / "lib64" / "ld-linux-x86-64.so.2")
    libs = f"{AMD64.path}/usr/lib/x86_64-linux-gnu:{AMD64.path}/usr/lib"
    python = [ld, "--library-path", libs, str(AMD64.python_exe("3.14"))]
    assert inv.argv[:5] == [*python, "-m"]
    # -n would exec sys.executable without the loader (the host's older glibc): --tx instead.
    assert tx_of(inv.argv) == f"2*popen//python={shlex.join(python)}"
    assert "-n" not in inv.argv
    assert shlex.split(inv.env["FIBER_RUNNER"]) == python[:3]
    assert "PYTHONPATH" in inv.unset
    assert inv.test_timeout == runners.BASE_TEST_TIMEOUT
    assert runners.workers(t) == loader.WORKERS


def test_qemu_and_loader_need_their_sysroot():
    with pytest.raises(ValueError, match="sysroot"):
        runners.pytest_invocation(targets.get("armhf-linux-py3.11"), NATIVE, junit=JUNIT)
    with pytest.raises(ValueError, match="sysroot"):
        runners.pytest_invocation(targets.get("x86_64-linux-py3.13"), NATIVE, junit=JUNIT)


def test_native_refuses_a_host_python_of_another_version(monkeypatch):
    import platform

    from ci.tools import SetupError

    monkeypatch.setattr(platform, "python_version_tuple", lambda: ("3", "99", "0"))
    with pytest.raises(SetupError, match="not 3.11"):
        native.prepare(targets.get("x86_64-linux-py3.11"))


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
    i686, win, host = (
        targets.get(n) for n in ("i686-linux-py3.11", "x86_64-windows", "x86_64-linux-py3.11")
    )
    assert native.cache_entry(host) is None
    assert native.find(host, tmp_path) is not None  # nothing to build: always ready
    assert qemu.cache_entry(i686) == "sysroot bookworm i386"
    assert qemu.find(i686, tmp_path) is None
    # sid's 3.14 and 3.15 share one sysroot per architecture
    a14, a15 = targets.get("aarch64-linux-py3.14"), targets.get("aarch64-linux-py3.15")
    assert qemu.cache_entry(a14) == qemu.cache_entry(a15) == "sysroot sid arm64"
    x14 = targets.get("x86_64-linux-py3.14")
    assert loader.cache_entry(x14) == "sysroot sid amd64" and loader.find(x14, tmp_path) is None
    assert wine.cache_entry(win) == "Wine prefix"
    assert wine.find(win, tmp_path) is None


def test_timeouts_scale_per_runner(monkeypatch):
    per = {t.name: runners.test_timeout(t) for t in targets.TARGETS}
    a64, arm = "aarch64-linux-py3.14", "armhf-linux-py3.14"
    assert per["x86_64-linux-py3.11"] == per["x86_64-linux-py3.14"]
    assert per["x86_64-linux-py3.11"] < per["x86_64-windows"] < per[a64]
    assert per["i686-linux-py3.14"] == per[arm] == per[a64]
    inv = runners.pytest_invocation(targets.get(arm), ON_QEMU, junit=JUNIT)
    assert f"--timeout={per[arm]:g}" in inv.argv
    assert "--timeout-method=signal" in inv.argv
    backstop = runners.hang_backstop(per[arm])
    assert backstop > per[arm]
    assert f"--hang-backstop={backstop:g}" in inv.argv and "ci.hangwatch" in inv.argv
    assert inv.env["FIBER_HANG_DIR"].endswith(arm)
    monkeypatch.setenv("FIBER_TEST_TIMEOUT", "2")
    assert runners.test_timeout(targets.get(a64)) == 2 * qemu.TEST_TIMEOUT_SCALE


def test_workers_override_and_floor(monkeypatch):
    t = targets.get("aarch64-linux-py3.14")
    assert runners.workers(t) == qemu.WORKERS
    monkeypatch.setenv("FIBER_WORKERS", "3")
    assert runners.workers(t) == 3
    monkeypatch.setenv("FIBER_WORKERS", "0")
    assert runners.workers(t) == 1  # at least one: a rerun isolates each test in a worker


def test_one_worker_runs_the_suite_in_one_process_and_isolates_on_request():
    t = targets.get("aarch64-linux-py3.14")
    inv = runners.pytest_invocation(t, ON_QEMU, junit=JUNIT)
    assert not inv.isolated
    assert "--tx" not in inv.argv and "no:xdist" in inv.argv
    inv = runners.pytest_invocation(t, ON_QEMU, junit=JUNIT, isolate=True)
    assert inv.isolated and "no:xdist" not in inv.argv
    assert tx_of(inv.argv).startswith("1*popen//python=")
    native_run = runners.pytest_invocation(targets.get("x86_64-linux-py3.11"), NATIVE, junit=JUNIT)
    assert native_run.isolated  # two workers: in parallel, each test in a worker
