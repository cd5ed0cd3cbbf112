"""The target table: consistent and complete. These tests check properties every row must
have; they do not restate the rows (ci/targets.py is the one place that lists them)."""

from __future__ import annotations

import pytest

from ci import provision, runners, sysroots, targets
from ci.targets import runs_natively
from fiber import _build


def test_names_are_unique_and_shaped_arch_os():
    assert len(set(targets.NAMES)) == len(targets.NAMES)
    for t in targets.TARGETS:
        assert t.name == f"{t.name.split('-')[0]}-{t.os}"
        assert t.os in ("linux", "windows")


def test_every_linux_target_has_an_assembly_file_known_to_the_build():
    for t in targets.TARGETS:
        if t.os == "linux":
            assert t.arch in _build.ASM_FILES, t.name


def test_toolchains_come_from_the_table():
    for t in targets.TARGETS:
        tc = t.toolchain()
        assert isinstance(tc, _build.Toolchain)
        if t.cc:
            assert (tc.cc, tc.arch, tc.os) == ((t.cc,), t.arch, t.os)
        else:  # the host's compiler: the native row of this machine's CPU
            assert t.runner_kind == "native"
        assert tc.exe_suffix == (".exe" if t.os == "windows" else "")


def test_every_tool_has_a_debian_package():
    for t in targets.TARGETS:
        assert provision.packages(t), t.name
        assert t.cc in ("", *(cmd for cmd, _ in t.tools)), f"{t.name}: its compiler's package"
        for what, pkg in provision.needs(t):
            assert what and pkg and " " not in pkg


def test_the_runner_kind_adds_its_own_host_needs():
    for t in targets.TARGETS:
        extra = runners.kind(t).host_needs(t)
        assert set(extra) <= set(provision.needs(t))
        if t.runner_kind == "qemu":
            assert extra == sysroots.HOST_NEEDS and t.debian_arch, t.name
            assert (t.runner, "qemu-user") in t.tools
        else:
            assert "mmdebstrap" not in provision.packages(t), t.name


def test_unknown_target_lists_the_known_ones():
    with pytest.raises(targets.UnknownTarget) as err:
        targets.get("sparc-linux")
    msg = str(err.value)
    assert "sparc-linux" in msg
    for name in targets.NAMES:
        assert name in msg


def test_select():
    first, last = targets.NAMES[0], targets.NAMES[-1]
    assert targets.select(None) == list(targets.TARGETS)
    assert targets.select("") == list(targets.TARGETS)
    assert [t.name for t in targets.select(f"{last}, {first}")] == [last, first]
    assert [t.name for t in targets.select([first, first])] == [first]
    with pytest.raises(targets.UnknownTarget, match=f"known targets: {first}"):
        targets.select(f"{first},riscv64-linux")


def test_runs_natively():
    assert runs_natively("")
    assert runs_natively("no-such-target") is False
    for t in targets.TARGETS:
        assert runs_natively(t.name) == (t.runner_kind == "native")


def test_host_target_is_the_native_row_of_this_cpu():
    host = targets.host_target()
    rows = [
        t for t in targets.TARGETS if t.runner_kind == "native" and t.arch == _build.host_arch()
    ]
    assert host == (rows[0] if rows else None)
