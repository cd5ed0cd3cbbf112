"""Sysroots and the Wine prefix: cache keys and places, half-built detection, the mirror."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from ci import paths, sysroots, targets
from ci.runners import qemu, wine

ARM64 = targets.get("aarch64-linux-py3.14")
SPEC = sysroots.spec_for(ARM64)


def quiet(_line):
    pass


# ---- what goes into a sysroot, cache keys and places ------------------------------------


def test_one_sysroot_per_suite_and_architecture_serves_the_suites_versions():
    assert (SPEC.suite, SPEC.debian_arch, SPEC.versions) == ("sid", "arm64", ("3.14", "3.15"))
    assert sysroots.spec_for(targets.get("aarch64-linux-py3.15")) == SPEC
    old = sysroots.spec_for(targets.get("aarch64-linux-py3.11"))
    assert (old.suite, old.versions) == ("bookworm", ("3.11",))
    assert old.dirname != SPEC.dirname
    for v in SPEC.versions:
        assert {f"python{v}", f"python{v}-dev"} <= set(SPEC.packages)
    assert set(targets.MODULE_PACKAGES) <= set(SPEC.packages)


def test_a_version_from_pypi_joins_the_suites_sysroot_of_that_abi():
    spec = sysroots.spec_for(targets.get("s390x-linux-py3.13"))
    assert spec == sysroots.spec_for(targets.get("s390x-linux-py3.15"))
    assert spec.versions == ("3.13", "3.14", "3.15")
    assert spec.requirements("3.13") == ("cffi",) and spec.requirements("3.14") == ()
    assert {"python3.13", "python3.13-dev"} <= set(spec.packages)
    # its bytecode comes from an amd64 sid sysroot of 3.13, which needs cffi from PyPI too
    native = sysroots.native_spec("sid", "3.13")
    assert (native.debian_arch, native.versions) == ("amd64", ("3.13",))
    assert native.requirements("3.13") == ("cffi",)


def test_every_target_with_a_sysroot_has_its_version_in_it():
    for t in targets.TARGETS:
        if t.runner_kind in ("qemu", "loader"):
            spec = sysroots.spec_for(t)
            assert t.version in spec.versions and spec.suite == t.suite, t.name
            assert spec.machine == t.machine and spec.debian_arch == t.debian_arch


def test_cache_key_is_stable_and_changes_with_every_input():
    base = sysroots.Spec("sid", "arm64", "aarch64", ("3.14",))
    assert base.key == sysroots.Spec("sid", "arm64", "aarch64", ("3.14",)).key
    assert len(base.key) == 12 and int(base.key, 16) >= 0
    others = [
        sysroots.Spec("sid", "arm64", "aarch64", ("3.14", "3.15")),
        sysroots.Spec("sid", "armhf", "armv7l", ("3.14",)),
        sysroots.Spec("trixie", "arm64", "aarch64", ("3.14",)),
        sysroots.Spec("sid", "arm64", "aarch64", ("3.14",), (("3.14", ("cffi",)),)),
    ]
    assert len({base.key, *(o.key for o in others)}) == 5


def test_default_package_list_has_what_the_smoke_check_imports():
    """The smoke check imports what the suite needs; each of those comes from a package in
    the list (Debian names them python3-<distribution>), and the headers build against it."""
    imports = sysroots.SMOKE.splitlines()[1].removeprefix("import ").split(", ")
    distribution = {"xdist": "pytest-xdist", "pytest_timeout": "pytest-timeout"}
    for module in imports:
        assert f"python3-{distribution.get(module, module)}" in targets.MODULE_PACKAGES


def test_cache_root_env(monkeypatch, tmp_path):
    monkeypatch.setenv("FIBER_CACHE", str(tmp_path / "c"))
    assert paths.cache_root() == tmp_path / "c"
    monkeypatch.delenv("FIBER_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert paths.cache_root() == tmp_path / "xdg" / "fiber-harness"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert paths.cache_root() == Path.home().resolve() / ".cache" / "fiber-harness"


def test_sysroot_dir_is_keyed(tmp_path):
    d = sysroots.sysroot_dir(SPEC, tmp_path)
    assert d.parent == tmp_path / "sysroots"
    assert d.name == f"arm64-sid-{SPEC.key}"


# ---- building, caching, half-built detection -------------------------------------------


class FakeBuilder:
    def __init__(self, fail: bool = False):
        self.calls: list[Path] = []
        self.fail = fail

    def __call__(self, spec, dest: Path, log) -> dict:
        self.calls.append(dest)
        (dest / "usr" / "bin").mkdir(parents=True)
        if self.fail:
            raise sysroots.SysrootError("smoke check failed")
        return {
            v: {
                "machine": spec.machine,
                "python": f"{v}.1",
                "ext_suffix": f".cpython-{v.replace('.', '')}-aarch64-linux-gnu.so",
                "magic": "00",
            }
            for v in spec.versions
        }


def test_build_once_then_cached(tmp_path):
    b = FakeBuilder()
    first = sysroots.ensure(SPEC, cache=tmp_path, builder=b, log=quiet)
    again = sysroots.ensure(SPEC, cache=tmp_path, builder=b, log=quiet)
    assert len(b.calls) == 1
    assert b.calls[0].name.endswith(".partial")  # built aside, renamed when complete
    assert first == again == sysroots.find(SPEC, tmp_path)
    assert first.path == sysroots.sysroot_dir(SPEC, tmp_path)
    assert first.python_exe("3.15") == first.path / "usr" / "bin" / "python3.15"
    assert first.python_include("3.14") == first.path / "usr" / "include" / "python3.14"
    assert first.interpreter("3.15").ext_suffix == ".cpython-315-aarch64-linux-gnu.so"
    assert first.interpreter("3.14").version == "3.14.1"
    with pytest.raises(sysroots.SysrootError, match="no Python 3.11"):
        first.interpreter("3.11")
    marker = json.loads((first.path / sysroots.MARKER).read_text())
    assert marker["key"] == SPEC.key and marker["suite"] == "sid"
    assert marker["packages"] == list(SPEC.packages)
    assert set(marker["pythons"]) == {"3.14", "3.15"}


def test_half_built_sysroot_is_detected_and_rebuilt(tmp_path):
    path = sysroots.sysroot_dir(SPEC, tmp_path)
    (path / "usr" / "lib").mkdir(parents=True)  # an interrupted extraction: no marker
    (path / "usr" / "lib" / "leftover").write_text("half")
    assert not sysroots.is_complete(path, SPEC.key)
    lines: list[str] = []
    b = FakeBuilder()
    sr = sysroots.ensure(SPEC, cache=tmp_path, builder=b, log=lines.append)
    assert len(b.calls) == 1
    assert not (sr.path / "usr" / "lib" / "leftover").exists()
    assert any("incomplete" in ln for ln in lines)
    assert sysroots.is_complete(sr.path, SPEC.key)


def test_marker_of_another_package_list_is_not_trusted(tmp_path):
    path = sysroots.sysroot_dir(SPEC, tmp_path)
    path.mkdir(parents=True)
    (path / sysroots.MARKER).write_text(json.dumps({"key": "0" * 12}))
    b = FakeBuilder()
    sysroots.ensure(SPEC, cache=tmp_path, builder=b, log=quiet)
    assert len(b.calls) == 1


def test_failed_build_leaves_nothing_that_looks_complete(tmp_path):
    with pytest.raises(sysroots.SysrootError):
        sysroots.ensure(SPEC, cache=tmp_path, builder=FakeBuilder(fail=True), log=quiet)
    path = sysroots.sysroot_dir(SPEC, tmp_path)
    assert not path.exists()
    # the next run cleans the .partial leftovers and builds again
    sr = sysroots.ensure(SPEC, cache=tmp_path, builder=FakeBuilder(), log=quiet)
    assert sysroots.is_complete(sr.path, SPEC.key)


def test_targets_without_sysroot_are_refused():
    for name in ("x86_64-windows",):
        with pytest.raises(sysroots.SysrootError, match="without a sysroot"):
            sysroots.spec_for(targets.get(name))


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


def test_mmdebstrap_command_of_bookworm():
    spec = sysroots.spec_for(targets.get("aarch64-linux-py3.11"))
    cmd = sysroots.mmdebstrap_command(spec, Path("/c/s.partial"), "http://mirror.example/debian")
    assert cmd[:2] == ["mmdebstrap", "--variant=extract"]
    assert "--arch=arm64" in cmd and "--skip=check/qemu" in cmd
    assert f"--include={','.join(spec.packages)}" in cmd
    assert not any("Valid-Until" in a or "merged-usr" in a for a in cmd)
    assert cmd[-3:-1] == ["bookworm", "/c/s.partial"]
    assert cmd[-1].startswith("deb ") and cmd[-1].endswith(
        "http://mirror.example/debian bookworm main"
    )


def test_mmdebstrap_command_of_sid_has_its_settings():
    cmd = sysroots.mmdebstrap_command(SPEC, Path("/c/s.partial"), "http://m.example/debian")
    assert '--aptopt=Acquire::Check-Valid-Until "false"' in cmd
    assert "--setup-hook=/usr/share/mmdebstrap/hooks/merged-usr/setup00.sh" in cmd
    assert cmd[-1].endswith("http://m.example/debian sid main")
    trixie = sysroots.spec_for(targets.get("aarch64-linux-py3.13"))
    tcmd = sysroots.mmdebstrap_command(trixie, Path("/c/t"), "http://m.example/debian")
    assert any("merged-usr" in a for a in tcmd) and not any("Valid-Until" in a for a in tcmd)


def test_finish_layout_links_a_lone_usr_lib64(tmp_path):
    (tmp_path / "usr" / "lib64").mkdir(parents=True)
    (tmp_path / "usr" / "lib").mkdir()
    (tmp_path / "lib").symlink_to("usr/lib")
    sysroots.finish_layout(tmp_path)
    assert os.readlink(tmp_path / "lib64") == "usr/lib64"
    assert os.readlink(tmp_path / "lib") == "usr/lib"
    sysroots.finish_layout(tmp_path)  # idempotent


def test_finish_layout_makes_absolute_links_relative(tmp_path):
    """QEMU's -L finds /lib64/ld64.so.2 in the sysroot, but the kernel follows an absolute
    link from the host's root."""
    (tmp_path / "lib" / "powerpc64le-linux-gnu").mkdir(parents=True)
    (tmp_path / "lib" / "powerpc64le-linux-gnu" / "ld64.so.2").write_text("loader")
    (tmp_path / "lib64").mkdir()
    (tmp_path / "lib64" / "ld64.so.2").symlink_to("/lib/powerpc64le-linux-gnu/ld64.so.2")
    (tmp_path / "lib64" / "kept").symlink_to("../lib")
    sysroots.finish_layout(tmp_path)
    assert os.readlink(tmp_path / "lib64" / "ld64.so.2") == "../lib/powerpc64le-linux-gnu/ld64.so.2"
    assert (tmp_path / "lib64" / "ld64.so.2").read_text() == "loader"
    assert os.readlink(tmp_path / "lib64" / "kept") == "../lib"


def test_pip_installs_wheels_for_the_sysroots_platform_into_its_version_folder(tmp_path):
    spec = sysroots.Spec("sid", "armhf", "armv7l", ("3.15",), (("3.15", ("cffi", "trio")),))
    cmd = sysroots.pip_command(spec, tmp_path, "3.15")
    target = cmd[cmd.index("--target") + 1]
    assert target == str(tmp_path / "usr/local/lib/python3.15/dist-packages")
    assert "manylinux_2_17_armv7l" in cmd and cmd[cmd.index("--abi") + 1] == "cp315"
    assert cmd[cmd.index("--python-version") + 1] == "3.15"
    assert "--only-binary=:all:" in cmd and cmd[-2:] == ["cffi", "trio"]
    assert sysroots.bytecode_dirs(tmp_path, "3.15") == []  # none of them exists yet


def test_the_loader_command_of_an_amd64_sysroot(tmp_path):
    cmd = sysroots.loader_command(tmp_path, "amd64")
    assert cmd[0] == str(tmp_path / "lib64" / "ld-linux-x86-64.so.2")
    assert cmd[1] == "--library-path"
    assert cmd[2].split(":")[0] == str(tmp_path / "usr" / "lib" / "x86_64-linux-gnu")
    with pytest.raises(sysroots.SysrootError, match="natively"):
        sysroots.loader_command(tmp_path, "arm64")


def test_bytecode_comes_from_a_native_interpreter_of_the_same_version(tmp_path, monkeypatch):
    """The host's when the versions match; else the suite's amd64 sysroot's, built first."""
    host = f"{sys.version_info[0]}.{sys.version_info[1]}"
    assert sysroots.native_python("bookworm", host, tmp_path, quiet) == [sys.executable]
    built: list[sysroots.Spec] = []

    def ensure(spec, **kw):
        built.append(spec)
        interp = sysroots.Interpreter("3.14.10", ".so", "00")
        return sysroots.Sysroot(tmp_path / "amd64", spec.suite, spec.debian_arch, (interp,))

    monkeypatch.setattr(sysroots, "ensure", ensure)
    cmd = sysroots.native_python("sid", "3.14", tmp_path, quiet)
    assert [(s.suite, s.debian_arch) for s in built] == [("sid", "amd64")]
    assert cmd[0].endswith("ld-linux-x86-64.so.2") and cmd[-1].endswith("/usr/bin/python3.14")


def test_smoke_command_runs_the_sysroot_python_under_qemu(tmp_path):
    cmd = qemu.python_at(ARM64, tmp_path)
    assert cmd[0].endswith("qemu-aarch64")
    assert cmd[1:] == [
        "-cpu",
        "max,pauth-impdef=on",
        "-L",
        str(tmp_path),
        str(tmp_path / "usr" / "bin" / "python3.14"),
    ]


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
    trixie = DEB822.replace("bookworm bookworm-updates", "trixie")
    assert sysroots.mirrors_in({"t.sources": trixie}) == ["http://deb.example.org/debian"]


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
