"""Tools of other Debian suites, made in the harness's cache: which packages, the private apt
configuration, the chroot and its wrappers, idempotence."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from ci import suite_tools, targets, tools


def quiet(_line):
    pass


def test_package_of_another_suite_is_written_package_slash_suite():
    assert suite_tools.split("qemu-user/bookworm-backports") == ("qemu-user", "bookworm-backports")
    assert suite_tools.split("qemu-user") is None


def test_by_suite_groups_the_tables_tools():
    every = [(w, p) for t in targets.TARGETS for w, p in t.tools]
    groups = suite_tools.by_suite(every)
    assert groups["bookworm-backports"] == [("qemu-loongarch64", "qemu-user")]
    assert ("loongarch64-linux-gnu-gcc", "gcc-14-loongarch64-linux-gnu") in groups["trixie"]
    assert ("loongarch64-linux-gnu-gcc", "libc6-dev-loong64-cross") in groups["trixie"]
    assert len(groups["trixie"]) == len(set(groups["trixie"]))  # each once


def test_apt_uses_only_the_private_configuration(tmp_path):
    opts = suite_tools.apt_options(tmp_path)
    joined = " ".join(opts)
    assert f"Dir::Etc::SourceList={tmp_path / 'sources.list'}" in joined
    assert "Dir::Etc::SourceParts=/dev/null" in joined
    assert f"Dir::State::Lists={tmp_path / 'lists'}" in joined
    assert f"Dir::Cache={tmp_path / 'cache'}" in joined


def test_the_chroot_is_keyed_by_its_packages(tmp_path):
    a = suite_tools.chroot_dir("trixie", "amd64", ["b", "a"], tmp_path)
    assert a == suite_tools.chroot_dir("trixie", "amd64", ["a", "b", "a"], tmp_path)
    assert a != suite_tools.chroot_dir("trixie", "amd64", ["a"], tmp_path)
    assert a.parent == tmp_path / "tools" and a.name.startswith("trixie-amd64-")
    cmd = suite_tools.mmdebstrap_chroot_command("trixie", "amd64", ["b", "a"], a, "http://m/d")
    assert cmd[:2] == ["mmdebstrap", "--variant=apt"] and "--include=a,b" in cmd
    assert cmd[-1].endswith("http://m/d trixie main")


def test_the_chroots_command_is_found_unversioned_or_newest_versioned(tmp_path):
    bindir = tmp_path / "usr" / "bin"
    bindir.mkdir(parents=True)
    for name in ("x-gcc-13", "x-gcc-14", "x-gcc-ar-14", "y-readelf"):
        (bindir / name).write_text("")
    assert suite_tools.command_in(tmp_path, "x-gcc") == "/usr/bin/x-gcc-14"
    assert suite_tools.command_in(tmp_path, "y-readelf") == "/usr/bin/y-readelf"
    with pytest.raises(suite_tools.SuiteToolError, match="z-gcc"):
        suite_tools.command_in(tmp_path, "z-gcc")


def test_the_wrapper_binds_the_hosts_own_folders_and_keeps_the_working_directory(tmp_path):
    script = suite_tools.wrapper_script(tmp_path / "chroot", "/usr/bin/x-gcc-14", "trixie")
    assert script.startswith("#!/bin/sh\n")
    assert "exec unshare -m /bin/sh -c" in script
    assert '"$PWD" /usr/bin/x-gcc-14 "$@"' in script
    assert "mount --bind" in script and "exec chroot" in script
    for system in ("/usr", "/etc", "/proc", "/var"):
        assert system + "|" in script or system + ")" in script
    proc = subprocess.run(["sh", "-n", "-c", script], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def fake_chroot_builder(calls):
    def run(cmd, what, log, cwd=None):
        calls.append(cmd)
        if cmd[0] == "mmdebstrap":
            dest = Path(cmd[-2])
            (dest / "usr" / "bin").mkdir(parents=True)
            (dest / "usr" / "bin" / "x-gcc-14").write_text("")
            (dest / "usr" / "bin" / "x-objdump").write_text("")
        return ""

    return run


def test_a_wrapper_that_cannot_run_says_what_it_needs(tmp_path):
    wrapper = tmp_path / "x-gcc"
    wrapper.write_text(
        "#!/bin/sh\necho 'unshare: unshare failed: Operation not permitted' >&2\nexit 1\n"
    )
    wrapper.chmod(0o755)
    with pytest.raises(suite_tools.SuiteToolError, match="Operation not permitted") as err:
        suite_tools.check_wrapper(wrapper, "trixie")
    assert "privileged" in str(err.value)


def test_provide_makes_one_chroot_with_every_package_of_its_suite_once(tmp_path, monkeypatch):
    calls: list[list[str]] = []
    monkeypatch.setattr(suite_tools, "_run", fake_chroot_builder(calls))
    monkeypatch.setattr(suite_tools, "check_wrapper", lambda wrapper, suite: None)
    every = [
        ("x-gcc", "gcc-14-x,libc-x/trixie"),
        ("x-objdump", "binutils-x/trixie"),
        ("gcc", "gcc"),
    ]
    missing = [("x-gcc", "gcc-14-x,libc-x/trixie")]
    suite_tools.provide(missing, every, "http://m/d", quiet, cache=tmp_path)
    suite_tools.provide(missing, every, "http://m/d", quiet, cache=tmp_path)
    (build,) = calls  # the second run found the complete chroot
    assert "--include=binutils-x,gcc-14-x,libc-x" in build
    pkgs = ["gcc-14-x", "binutils-x", "libc-x"]
    chroot = suite_tools.chroot_dir("trixie", "amd64", pkgs, tmp_path)
    marker = json.loads((chroot / suite_tools.MARKER).read_text())
    assert marker["packages"] == ["binutils-x", "gcc-14-x", "libc-x"]
    for name in ("x-gcc", "x-objdump"):
        wrapper = tools.cache_bin(tmp_path) / name
        assert os.access(wrapper, os.X_OK) and str(chroot) in wrapper.read_text()
    assert "/usr/bin/x-gcc-14" in (tools.cache_bin(tmp_path) / "x-gcc").read_text()
    assert suite_tools.is_current("x-gcc", "gcc-14-x,libc-x/trixie", every, tmp_path)
    # one more package for the suite in the table: what was made is out of date
    more = [*every, ("x-as", "binutils-x,as-x/trixie")]
    assert not suite_tools.is_current("x-gcc", "gcc-14-x,libc-x/trixie", more, tmp_path)
    assert suite_tools.is_current("gcc", "gcc", more, tmp_path)  # a host package: always


def test_an_interrupted_chroot_is_built_again(tmp_path, monkeypatch):
    calls: list[list[str]] = []
    monkeypatch.setattr(suite_tools, "_run", fake_chroot_builder(calls))
    monkeypatch.setattr(suite_tools, "check_wrapper", lambda wrapper, suite: None)
    chroot = suite_tools.chroot_dir("trixie", "amd64", ["gcc-14-x"], tmp_path)
    (chroot / "usr").mkdir(parents=True)  # no marker
    suite_tools.ensure_chroot("trixie", "amd64", ["gcc-14-x"], "http://m/d", quiet, tmp_path)
    assert len(calls) == 1 and (chroot / suite_tools.MARKER).is_file()


def test_backports_are_downloaded_unpacked_and_linked(tmp_path, monkeypatch):
    calls: list[list[str]] = []

    def run(cmd, what, log, cwd=None):
        calls.append(cmd)
        if "download" in cmd:
            (cwd / "qemu-user_10_amd64.deb").write_text("")
        if cmd[0] == "dpkg":
            exe = Path(cmd[-1]) / "usr" / "bin" / "qemu-x"
            exe.parent.mkdir(parents=True)
            exe.write_text("#!/bin/sh\n")
            exe.chmod(0o755)
        return ""

    monkeypatch.setattr(suite_tools, "_run", run)
    every = [("qemu-x", "qemu-user/bookworm-backports")]
    suite_tools.provide(every, every, "http://m/d", quiet, cache=tmp_path)
    suite_tools.provide(every, every, "http://m/d", quiet, cache=tmp_path)
    assert [c[0] for c in calls] == ["apt-get", "apt-get", "dpkg"]  # once
    assert "qemu-user/bookworm-backports" in calls[1]
    conf = tmp_path / "tools" / "apt-bookworm-backports"
    assert (
        (conf / "sources.list").read_text().strip().endswith("http://m/d bookworm-backports main")
    )
    link = tools.cache_bin(tmp_path) / "qemu-x"
    assert link.resolve() == tmp_path / "tools" / "bookworm-backports" / "usr" / "bin" / "qemu-x"


def test_find_tool_looks_in_the_cache_bin(tmp_path, monkeypatch):
    monkeypatch.setenv("FIBER_CACHE", str(tmp_path))
    exe = tools.cache_bin() / "fiber-test-only-tool"
    exe.parent.mkdir(parents=True)
    exe.write_text("#!/bin/sh\n")
    exe.chmod(0o755)
    assert tools.find_tool("fiber-test-only-tool") == str(exe)
    assert tools.is_provided(tools.find_tool("fiber-test-only-tool"))
    assert tools.find_tool("fiber-no-such-tool") is None
    # the harness's own copy comes before the host's command of the same name
    sh = tools.cache_bin() / "sh"
    sh.write_text("#!/bin/sh\n")
    sh.chmod(0o755)
    assert tools.find_tool("sh") == str(sh)
    assert not tools.is_provided("/bin/sh")
