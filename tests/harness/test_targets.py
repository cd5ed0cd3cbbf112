"""The target table: two small tables (ABIs, CPython versions) and the pairs derived from
them, consistent and complete. These tests check properties every row must have; they do not
restate the rows (ci/targets.py is the one place that lists them)."""

from __future__ import annotations

import pytest

from ci import provision, runners, suite_tools, sysroots, targets
from ci.targets import runs_natively
from fiber import _build


def test_names_are_unique_and_shaped_abi_python():
    assert len(set(targets.NAMES)) == len(targets.NAMES)
    for t in targets.TARGETS:
        assert t.abi.name == f"{t.arch}-{t.os}"
        assert t.os in ("linux", "windows")
        if t.python is None:
            assert t.name == t.abi.name
        else:
            assert t.name == f"{t.abi.name}-py{t.python.version}"


def test_the_pairs_are_every_abi_of_every_version_row():
    expected = {(a, p.version) for p in targets.PYTHONS for a in p.abis}
    assert {(t.abi.name, t.version) for t in targets.TARGETS if t.python} == expected
    # An ABI without any Python is still a target (its programs run), named after the ABI.
    for a in targets.ABIS:
        assert targets.pairs_of(a.name), a.name
    # ABI by ABI in table order, each from the oldest Python to the newest.
    order = [t.abi.name for t in targets.TARGETS]
    assert list(dict.fromkeys(order)) == list(targets.ABI_NAMES)
    for a in targets.ABI_NAMES:
        versions = [t.version for t in targets.pairs_of(a)]
        assert versions == [v for v in targets.VERSIONS if v in versions] or versions == [""]


def test_a_version_may_come_from_two_suites_but_one_per_abi():
    for v in targets.VERSIONS:
        abis = targets.abis_on(v)
        assert len(abis) == len(set(abis)), v
    s390x = targets.get("s390x-linux-py3.13")
    assert (s390x.suite, s390x.python.pypi) == ("sid", ("cffi",))
    assert targets.get("aarch64-linux-py3.13").suite == "trixie"


def test_every_python_row_names_a_known_suite_and_abis():
    for p in targets.PYTHONS:
        assert p.suite in targets.SUITES
        assert set(p.abis) <= set(targets.ABI_NAMES)
        assert p.packages == (f"python{p.version}", f"python{p.version}-dev")


def test_runner_kinds_follow_from_the_abi_and_the_python():
    for t in targets.TARGETS:
        if t.abi.runner == "native":
            assert t.runner_kind == ("native" if t.python.host_native else "loader")
        else:
            assert t.runner_kind == t.abi.runner
    assert {t.runner_kind for t in targets.TARGETS} == {"native", "loader", "qemu", "wine"}


def test_one_native_python_pair_per_native_abi():
    for a in targets.ABIS:
        if a.runner == "native":
            natives = [t for t in targets.pairs_of(a.name) if t.runner_kind == "native"]
            assert len(natives) == 1, a.name


def test_toolchains_come_from_the_table():
    for t in targets.TARGETS:
        tc = t.toolchain()
        assert isinstance(tc, _build.Toolchain)
        if t.cc:
            assert (tc.cc, tc.arch, tc.os) == ((t.cc,), t.arch, t.os)
            assert t.toolchain(cc="/x/cc").cc == ("/x/cc",)
        else:  # the host's compiler: the native ABI of this machine's CPU
            assert t.abi.runner == "native"
        assert tc.exe_suffix == (".exe" if t.os == "windows" else "")


def test_every_tool_has_a_debian_package():
    for t in targets.TARGETS:
        assert provision.packages(t), t.name
        assert t.cc in ("", *(cmd for cmd, _ in t.tools)), f"{t.name}: its compiler's package"
        for what, pkg in provision.needs(t):
            assert what and pkg and " " not in pkg
            other = suite_tools.split(pkg)
            if other:  # PACKAGE/SUITE: from another suite, into the cache
                assert other[0] and other[1], pkg


def test_the_runner_kind_adds_its_own_host_needs():
    for t in targets.TARGETS:
        extra = runners.kind(t).host_needs(t)
        assert set(extra) <= set(provision.needs(t))
        if t.runner_kind in ("qemu", "loader"):
            assert extra == sysroots.HOST_NEEDS and t.debian_arch, t.name
        if t.runner_kind == "qemu":
            assert t.abi.emulator in (cmd for cmd, _ in t.tools)
        if t.runner_kind in ("native", "wine"):
            assert "mmdebstrap" not in provision.packages(t), t.name


def test_unknown_target_lists_the_known_ones():
    with pytest.raises(targets.UnknownTarget) as err:
        targets.get("sparc-linux")
    msg = str(err.value)
    assert "sparc-linux" in msg
    for name in (*targets.NAMES, *targets.ABI_NAMES):
        assert name in msg


def test_select():
    first, last = targets.NAMES[0], targets.NAMES[-1]
    assert targets.select(None) == list(targets.TARGETS)
    assert targets.select("") == list(targets.TARGETS)
    assert [t.name for t in targets.select(f"{last}, {first}")] == [last, first]
    assert [t.name for t in targets.select([first, first])] == [first]
    with pytest.raises(targets.UnknownTarget, match=f"known targets: {first}"):
        targets.select(f"{first},mips-linux")


def test_an_abi_name_selects_its_pairs_and_pythons_filter():
    pairs = targets.select("aarch64-linux")
    assert [t.name for t in pairs] == [f"aarch64-linux-py{v}" for v in targets.VERSIONS]
    assert [t.name for t in targets.select("aarch64-linux", "3.14")] == ["aarch64-linux-py3.14"]
    on_314 = targets.select(None, "3.14")
    assert on_314 and all(t.version == "3.14" for t in on_314)
    assert len(on_314) == len(targets.abis_on("3.14"))  # the Windows target drops out
    assert len(targets.select(None, "3.13")) == len(targets.abis_on("3.13"))
    assert targets.select("x86_64-windows", "3.14") == []
    with pytest.raises(targets.UnknownTarget, match="known versions: 3.11"):
        targets.select(None, "3.12")


def test_core_is_the_four_original_abis_on_every_version_and_windows():
    core = targets.select(targets.CORE)
    assert {t.abi.name for t in core} == set(targets.CORE_ABIS)
    assert len([t for t in core if t.python]) == 4 * len(targets.VERSIONS)
    assert targets.core_names() == [t.name for t in core]


def test_per_abi_work_goes_to_the_first_selected_target_of_each_abi():
    sel = targets.select("aarch64-linux-py3.14,x86_64-linux,aarch64-linux-py3.11")
    carriers = targets.per_abi_carriers(sel)
    assert carriers["aarch64-linux"].name == "aarch64-linux-py3.14"
    assert carriers["x86_64-linux"].name == "x86_64-linux-py3.11"
    assert set(carriers) == {"aarch64-linux", "x86_64-linux"}


def test_runs_natively():
    assert runs_natively("")
    assert runs_natively("no-such-target") is False
    for t in targets.TARGETS:
        assert runs_natively(t.name) == (t.abi.runner == "native")
        assert runs_natively(t.abi.name) == (t.abi.runner == "native")


def test_host_target_is_the_native_pair_of_this_cpu():
    host = targets.host_target()
    rows = [
        t for t in targets.TARGETS if t.runner_kind == "native" and t.arch == _build.host_arch()
    ]
    assert host == (rows[0] if rows else None)


def test_objdump_follows_the_compiler():
    assert targets.abi("aarch64-linux").objdump == "aarch64-linux-gnu-objdump"
    assert targets.abi("x86_64-linux").objdump == "objdump"
