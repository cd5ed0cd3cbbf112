"""Sysroots and the Wine prefix: cache keys and places, half-built detection, the mirror."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from ci import paths, sysroots, targets
from ci.runners import qemu, wine

ARM64 = targets.get("aarch64-linux")


def quiet(_line):
    pass


# ---- cache keys and places -------------------------------------------------------------


def test_cache_key_is_stable_and_order_free():
    a = sysroots.cache_key("arm64", ("python3", "python3-cffi"))
    assert a == sysroots.cache_key("arm64", ("python3-cffi", "python3"))
    assert a == sysroots.cache_key("arm64", ("python3-cffi", "python3", "python3"))
    assert len(a) == 12 and int(a, 16) >= 0


def test_cache_key_changes_with_packages_arch_and_suite():
    base = sysroots.cache_key("arm64", ("python3",))
    assert sysroots.cache_key("arm64", ("python3", "python3-dev")) != base
    assert sysroots.cache_key("armhf", ("python3",)) != base
    assert sysroots.cache_key("arm64", ("python3",), suite="trixie") != base


def test_default_package_list_has_what_the_smoke_check_imports():
    """The smoke check imports what the suite needs; each of those comes from a package in
    the list (Debian names them python3-<distribution>), and the headers build against it."""
    imports = sysroots.SMOKE.splitlines()[1].removeprefix("import ").split(", ")
    distribution = {"xdist": "pytest-xdist", "pytest_timeout": "pytest-timeout"}
    for module in imports:
        assert f"python3-{distribution.get(module, module)}" in targets.SYSROOT_PACKAGES
    assert {"python3", "python3-dev"} <= set(targets.SYSROOT_PACKAGES)


def test_cache_root_env(monkeypatch, tmp_path):
    monkeypatch.setenv("FIBER_CACHE", str(tmp_path / "c"))
    assert paths.cache_root() == tmp_path / "c"
    monkeypatch.delenv("FIBER_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert paths.cache_root() == tmp_path / "xdg" / "fiber-harness"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert paths.cache_root() == Path.home().resolve() / ".cache" / "fiber-harness"


def test_sysroot_dir_is_keyed(tmp_path):
    d = sysroots.sysroot_dir(ARM64, tmp_path)
    assert d.parent == tmp_path / "sysroots"
    assert d.name == f"arm64-bookworm-{sysroots.cache_key('arm64')}"
    assert sysroots.sysroot_dir(ARM64, tmp_path, ("python3",)) != d


# ---- building, caching, half-built detection -------------------------------------------


class FakeBuilder:
    def __init__(self, fail: bool = False):
        self.calls: list[Path] = []
        self.fail = fail

    def __call__(self, target, dest: Path, log) -> dict:
        self.calls.append(dest)
        (dest / "usr" / "bin").mkdir(parents=True)
        (dest / "usr" / "bin" / "python3").write_text("")
        if self.fail:
            raise sysroots.SysrootError("smoke check failed")
        return {
            "machine": target.machine,
            "python": "3.11.2",
            "ext_suffix": ".cpython-311-aarch64-linux-gnu.so",
        }


def test_build_once_then_cached(tmp_path):
    b = FakeBuilder()
    first = sysroots.ensure(ARM64, cache=tmp_path, builder=b, log=quiet)
    again = sysroots.ensure(ARM64, cache=tmp_path, builder=b, log=quiet)
    assert len(b.calls) == 1
    assert b.calls[0].name.endswith(".partial")  # built aside, renamed when complete
    assert first == again
    assert first.path == sysroots.sysroot_dir(ARM64, tmp_path)
    assert first.python_exe == first.path / "usr" / "bin" / "python3"
    assert first.python_include == first.path / "usr" / "include" / "python3.11"
    assert first.ext_suffix == ".cpython-311-aarch64-linux-gnu.so"
    marker = json.loads((first.path / sysroots.MARKER).read_text())
    assert marker["key"] == sysroots.cache_key("arm64")
    assert marker["packages"] == sorted(targets.SYSROOT_PACKAGES)


def test_half_built_sysroot_is_detected_and_rebuilt(tmp_path):
    path = sysroots.sysroot_dir(ARM64, tmp_path)
    (path / "usr" / "lib").mkdir(parents=True)  # an interrupted extraction: no marker
    (path / "usr" / "lib" / "leftover").write_text("half")
    assert not sysroots.is_complete(path, sysroots.cache_key("arm64"))
    lines: list[str] = []
    b = FakeBuilder()
    sr = sysroots.ensure(ARM64, cache=tmp_path, builder=b, log=lines.append)
    assert len(b.calls) == 1
    assert not (sr.path / "usr" / "lib" / "leftover").exists()
    assert any("incomplete" in ln for ln in lines)
    assert sysroots.is_complete(sr.path, sysroots.cache_key("arm64"))


def test_marker_of_another_package_list_is_not_trusted(tmp_path):
    path = sysroots.sysroot_dir(ARM64, tmp_path)
    path.mkdir(parents=True)
    (path / sysroots.MARKER).write_text(json.dumps({"key": "0" * 12}))
    b = FakeBuilder()
    sysroots.ensure(ARM64, cache=tmp_path, builder=b, log=quiet)
    assert len(b.calls) == 1


def test_failed_build_leaves_nothing_that_looks_complete(tmp_path):
    with pytest.raises(sysroots.SysrootError):
        sysroots.ensure(ARM64, cache=tmp_path, builder=FakeBuilder(fail=True), log=quiet)
    path = sysroots.sysroot_dir(ARM64, tmp_path)
    assert not path.exists()
    # the next run cleans the .partial leftovers and builds again
    sr = sysroots.ensure(ARM64, cache=tmp_path, builder=FakeBuilder(), log=quiet)
    assert sysroots.is_complete(sr.path, sysroots.cache_key("arm64"))


def test_targets_without_sysroot_are_refused(tmp_path):
    with pytest.raises(sysroots.SysrootError):
        sysroots.ensure(targets.get("x86_64-windows"), cache=tmp_path, builder=FakeBuilder())


def test_first_apt_error_names_the_outage():
    out = (
        "I: running apt-get update...\nErr:1 http://m/debian bookworm InRelease\n"
        "E: Failed to fetch http://m/debian/dists/bookworm/InRelease  Could not connect\n"
        "E: Some index files failed to download.\nE: mmdebstrap failed to run\n"
    )
    assert sysroots.first_apt_error(out) == (
        "E: Failed to fetch http://m/debian/dists/bookworm/InRelease  Could not connect"
    )
    assert sysroots.first_apt_error("I: fine\n") == ""


def test_mmdebstrap_command():
    cmd = sysroots.mmdebstrap_command(ARM64, Path("/c/s.partial"), "http://mirror.example/debian")
    assert cmd[:2] == ["mmdebstrap", "--variant=extract"]
    assert "--arch=arm64" in cmd and "--skip=check/qemu" in cmd
    assert f"--include={','.join(targets.SYSROOT_PACKAGES)}" in cmd
    assert cmd[-3:-1] == ["bookworm", "/c/s.partial"]
    assert cmd[-1].startswith("deb ") and cmd[-1].endswith(
        "http://mirror.example/debian bookworm main"
    )


def test_smoke_command_runs_the_sysroot_python_under_qemu(tmp_path):
    cmd = qemu.python_at(ARM64, tmp_path)
    assert cmd[0].endswith("qemu-aarch64")
    assert cmd[1:] == ["-L", str(tmp_path), str(tmp_path / "usr" / "bin" / "python3")]


# ---- the Debian mirror comes from the host's apt sources --------------------------------

DEB822 = """\
Types: deb
# http://snapshot.example/archive/debian/20250520T000000Z
URIs: http://deb.example.org/debian/
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://deb.example.org/debian-security
Suites: bookworm-security
Components: main
"""


def test_mirror_from_deb822_sources():
    assert sysroots.mirrors_in({"debian.sources": DEB822}) == ["http://deb.example.org/debian"]


def test_mirror_from_one_line_sources():
    text = (
        "# comment\ndeb-src http://src.example/debian bookworm main\n"
        "deb [arch=amd64 signed-by=/k.gpg] http://one.example/debian bookworm main contrib\n"
        "deb http://one.example/debian-security bookworm-security main\n"
    )
    assert sysroots.mirrors_in({"sources.list": text}) == ["http://one.example/debian"]


def test_disabled_and_foreign_sources_are_ignored():
    text = (
        "Types: deb\nURIs: http://x.example/debian\nSuites: bookworm\nComponents: main\n"
        "Enabled: no\n"
    )
    other = "deb https://packages.example.com/apt cloud-sdk-bookworm main\n"
    assert sysroots.mirrors_in({"a.sources": text, "b.list": other}) == []


def test_host_mirror_reads_etc_apt_and_honours_the_override(tmp_path, monkeypatch):
    monkeypatch.delenv("FIBER_DEBIAN_MIRROR", raising=False)
    (tmp_path / "sources.list.d").mkdir()
    (tmp_path / "sources.list.d" / "debian.sources").write_text(DEB822)
    (tmp_path / "sources.list.d" / "x.list.disabled").write_text("deb http://no/ bookworm main\n")
    assert sysroots.host_mirror(etc_apt=tmp_path) == "http://deb.example.org/debian"
    monkeypatch.setenv("FIBER_DEBIAN_MIRROR", "http://override.example/debian/")
    assert sysroots.host_mirror(etc_apt=tmp_path) == "http://override.example/debian"


def test_no_mirror_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.delenv("FIBER_DEBIAN_MIRROR", raising=False)
    with pytest.raises(sysroots.SysrootError, match="FIBER_DEBIAN_MIRROR"):
        sysroots.host_mirror(etc_apt=tmp_path)


# ---- the Wine prefix ---------------------------------------------------------------------


def fake_wineboot(calls):
    def create(prefix: Path, log):
        calls.append(prefix)
        prefix.mkdir(parents=True, exist_ok=True)
        (prefix / "system.reg").write_text("WINE REGISTRY")

    return create


def test_wine_prefix_created_once(tmp_path):
    calls: list[Path] = []
    p = wine.ensure_prefix(tmp_path, creator=fake_wineboot(calls), log=quiet)
    assert p == tmp_path / "wine-prefix"
    assert wine.ensure_prefix(tmp_path, creator=fake_wineboot(calls), log=quiet) == p
    assert len(calls) == 1 and wine.is_complete(p)


def test_half_built_wine_prefix_is_recreated(tmp_path):
    prefix = wine.prefix_dir(tmp_path)
    (prefix / "drive_c").mkdir(parents=True)  # wineboot interrupted: no marker
    (prefix / "drive_c" / "leftover").write_text("x")
    calls: list[Path] = []
    lines: list[str] = []
    wine.ensure_prefix(tmp_path, creator=fake_wineboot(calls), log=lines.append)
    assert len(calls) == 1
    assert not (prefix / "drive_c" / "leftover").exists()
    assert any("incomplete" in ln for ln in lines)


def test_wine_environment(tmp_path):
    env = wine.variables(tmp_path)
    assert env["WINEPREFIX"] == str(tmp_path) and env["WINEDEBUG"] == "-all"


def test_absolute_symlinks_in_a_sysroot_are_made_relative_to_it(tmp_path):
    root = tmp_path / "root"
    (root / "lib" / "powerpc64le-linux-gnu").mkdir(parents=True)
    (root / "lib" / "powerpc64le-linux-gnu" / "ld64.so.2").write_text("loader")
    (root / "lib64").mkdir()
    (root / "lib64" / "ld64.so.2").symlink_to("/lib/powerpc64le-linux-gnu/ld64.so.2")
    (root / "usr").mkdir()
    (root / "usr" / "lib").symlink_to("../lib")  # relative: left alone
    assert sysroots.relativize_symlinks(root) == 1
    assert os.readlink(root / "lib64" / "ld64.so.2") == "../lib/powerpc64le-linux-gnu/ld64.so.2"
    assert (root / "lib64" / "ld64.so.2").read_text() == "loader"
    assert os.readlink(root / "usr" / "lib") == "../lib"
