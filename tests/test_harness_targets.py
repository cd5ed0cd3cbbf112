"""The target table: consistent, complete, and the one source of the targets' names."""

from __future__ import annotations

import os

import pytest

from ci.targets import runs_natively

pytestmark = pytest.mark.harness
if not runs_natively():
    pytest.skip(f"harness tests run natively only (this run is for {os.environ['FIBER_TARGET']})",
                allow_module_level=True)

from ci import fiberbuild, targets  # noqa: E402

EXPECTED = {
    # name: (compiler, debian arch, runner, Toolchain arch, os)
    "x86_64-linux": ("host gcc", "amd64", "native", "x86_64", "linux"),
    "i686-linux": ("i686-linux-gnu-gcc", "i386", "qemu-i386", "i686", "linux"),
    "aarch64-linux": ("aarch64-linux-gnu-gcc", "arm64", "qemu-aarch64", "aarch64", "linux"),
    "armhf-linux": ("arm-linux-gnueabihf-gcc", "armhf", "qemu-arm", "armhf", "linux"),
    "x86_64-windows": ("x86_64-w64-mingw32-gcc", "", "wine64", "x86_64", "windows"),
}


def test_table_has_the_issue_targets_in_order():
    assert targets.NAMES == tuple(EXPECTED)
    for t in targets.TARGETS:
        assert (t.compiler, t.debian_arch, t.runner, t.arch, t.os) == EXPECTED[t.name]


def test_names_are_unique_and_shaped_arch_os():
    assert len(set(targets.NAMES)) == len(targets.NAMES)
    for t in targets.TARGETS:
        assert t.name == f"{t.name.split('-')[0]}-{t.os}"


def test_every_linux_target_has_an_assembly_file_known_to_the_build():
    build = fiberbuild.module()
    for t in targets.TARGETS:
        if t.os == "linux":
            assert t.arch in build.ASM_FILES, t.name


def test_toolchains_come_from_the_table():
    build = fiberbuild.module()
    for t in targets.TARGETS:
        tc = t.toolchain()
        assert isinstance(tc, build.Toolchain)
        assert (tc.arch, tc.os) == (t.arch, t.os)
        if t.cc:
            assert tc.cc == (t.cc,)
    assert targets.get("x86_64-windows").toolchain().exe_suffix == ".exe"


def test_runner_kinds_and_sysroots():
    kinds = {t.name: t.runner_kind for t in targets.TARGETS}
    assert kinds == {"x86_64-linux": "native", "i686-linux": "qemu", "aarch64-linux": "qemu",
                     "armhf-linux": "qemu", "x86_64-windows": "wine"}
    assert [t.name for t in targets.TARGETS if t.needs_sysroot] == [
        "i686-linux", "aarch64-linux", "armhf-linux"]


def test_every_tool_has_a_debian_package():
    for t in targets.TARGETS:
        assert t.packages, t.name
        for cmd, pkg in t.all_tools():
            assert cmd and pkg and " " not in pkg
    assert "mmdebstrap" in targets.get("aarch64-linux").packages
    assert "mmdebstrap" not in targets.get("x86_64-linux").packages
    assert "qemu-user" in targets.get("armhf-linux").packages
    assert {"gcc-mingw-w64-x86-64", "wine64", "wine"} <= set(targets.get("x86_64-windows").packages)


def test_unknown_target_lists_the_known_ones():
    with pytest.raises(targets.UnknownTarget) as err:
        targets.get("sparc-linux")
    msg = str(err.value)
    assert "sparc-linux" in msg
    for name in targets.NAMES:
        assert name in msg


def test_select():
    assert targets.select(None) == list(targets.TARGETS)
    assert targets.select("") == list(targets.TARGETS)
    assert [t.name for t in targets.select("armhf-linux, x86_64-linux")] == [
        "armhf-linux", "x86_64-linux"]
    assert [t.name for t in targets.select(["i686-linux", "i686-linux"])] == ["i686-linux"]
    with pytest.raises(targets.UnknownTarget, match="known targets: x86_64-linux"):
        targets.select("x86_64-linux,riscv64-linux")


def test_runs_natively():
    assert runs_natively("")
    assert runs_natively("x86_64-linux")
    assert not runs_natively("aarch64-linux")
    assert not runs_natively("x86_64-windows")
    assert not runs_natively("no-such-target")


def test_host_target_is_the_native_row():
    host = targets.host_target()
    if fiberbuild.module().host_arch() == "x86_64":
        assert host is not None and host.name == "x86_64-linux"
