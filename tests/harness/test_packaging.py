"""The packages' rules (ci/packaging.py, ci/installed.py, ci/libc_sysroots.py, ci/wheels.py):
names, tags, file lists, the wheel writer, the metadata's agreement with the glue. No tool runs
here: `nox -s wheels` builds and tests the real packages."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import tomllib
import zipfile
from pathlib import Path

import pytest
from packaging.specifiers import SpecifierSet

from ci import installed, libc_sysroots, packaging, paths, targets, wheels

PYPROJECT = tomllib.loads((paths.ROOT / "pyproject.toml").read_text())

# ---- names and tags -----------------------------------------------------------------------


def test_distribution_name_is_not_the_import_name_and_normalises_for_file_names():
    assert PYPROJECT["project"]["name"] == packaging.project_name() == "stackful-fiber"
    assert packaging.normalized_dist("stackful-fiber") == "stackful_fiber"
    assert packaging.normalized_dist("Stackful.._Fiber") == "stackful_fiber"


def test_the_version_is_written_once_in_fiber_init():
    assert "version" not in PYPROJECT["project"]
    assert "version" in PYPROJECT["project"]["dynamic"]
    assert PYPROJECT["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "fiber.__version__"}
    assert re.fullmatch(r"\d+\.\d+\.\d+", packaging.version())


def test_version_is_read_without_importing(tmp_path):
    f = tmp_path / "__init__.py"
    f.write_text('"""doc"""\nimport nothing_here\n__version__ = "1.2.3"\n')
    assert packaging.version(f) == "1.2.3"
    f.write_text("x = 1\n")
    with pytest.raises(ValueError, match="__version__"):
        packaging.version(f)


@pytest.mark.parametrize(
    "suffix, abi",
    [
        (".cpython-311-aarch64-linux-gnu.so", "cp311"),
        (".cpython-311-arm-linux-gnueabihf.so", "cp311"),
        (".cpython-313t-x86_64-linux-gnu.so", "cp313t"),
        (".cpython-315-s390x-linux-gnu.so", "cp315"),
        (".cp311-win_amd64.pyd", "cp311"),
    ],
)
def test_abi_tag_from_the_extension_suffix(suffix, abi):
    assert packaging.abi_tag(suffix) == abi


def test_abi_tag_refuses_what_is_not_cpython():
    with pytest.raises(ValueError, match="CPython"):
        packaging.abi_tag(".abi3.so")


def test_python_and_platform_tags():
    assert packaging.python_tag("3.11.2") == "cp311"
    assert packaging.python_tag("3.15.0a1") == "cp315"
    assert packaging.linux_platform_tag("armv7l") == "linux_armv7l"
    assert packaging.linux_platform_tag("x86_64") == "linux_x86_64"
    assert packaging.platform_tag("win-amd64") == "win_amd64"
    assert packaging.platform_tag("linux-x86_64") == "linux_x86_64"


@pytest.mark.parametrize("t", wheels.linux_targets(list(targets.TARGETS)), ids=lambda t: t.name)
def test_every_linux_target_gets_a_wheel_tag_from_its_row(t):
    tag = wheels.target_tag(t, f".cpython-311-{t.arch}-linux-gnu.so")
    assert str(tag) == f"cp311-cp311-linux_{t.machine}"
    assert str(wheels.target_tag(t, ".cpython-313t-x-linux-gnu.so")).startswith("cp313-cp313t-")


def test_the_cpython_of_an_abi():
    assert packaging.python_of_abi("cp311") == "cp311"
    assert packaging.python_of_abi("cp313t") == "cp313"
    with pytest.raises(ValueError):
        packaging.python_of_abi("abi3")


def test_a_target_links_against_the_old_libc_and_is_otherwise_the_same(tmp_path):
    t = next(x for x in targets.TARGETS if x.name.startswith("aarch64-linux"))
    libc = libc_sysroots.LibcSysroot(tmp_path, "arm64", "aarch64-linux-gnu", "2.31")
    proxy = wheels.LinkedAgainst(t, libc)
    assert (proxy.name, proxy.os, proxy.machine) == (t.name, t.os, t.machine)
    plain, linked = t.toolchain(tmp_path), proxy.toolchain(tmp_path)
    assert linked.cc == plain.cc and linked.sysroot == plain.sysroot
    assert linked.cflags == (*plain.cflags, *libc_sysroots.compiler_flags(libc))


def test_an_abi_without_a_python_gets_no_wheel():
    import types

    alone = types.SimpleNamespace(os="linux", python=None)
    pair = types.SimpleNamespace(os="linux", python=object())
    assert wheels.linux_targets([alone, pair]) == [pair]


def test_only_linux_targets_get_manylinux_wheels():
    names = [t.name for t in wheels.linux_targets(list(targets.TARGETS))]
    assert names == [t.name for t in targets.TARGETS if t.os == "linux"]
    assert "x86_64-windows" not in names
    for abi in ("x86_64-linux", "i686-linux", "aarch64-linux", "armhf-linux"):
        assert any(n.startswith(abi) for n in names), abi  # the four, at least


def test_wheel_names_round_trip():
    tag = packaging.Tag("cp311", "cp311", "manylinux_2_17_aarch64.manylinux2014_aarch64")
    name = packaging.wheel_name("stackful-fiber", "0.1.0", tag)
    assert name == (
        "stackful_fiber-0.1.0-cp311-cp311-manylinux_2_17_aarch64.manylinux2014_aarch64.whl"
    )
    assert packaging.parse_wheel_name(name) == ("stackful_fiber", "0.1.0", tag)
    assert tag.platforms == ["manylinux_2_17_aarch64", "manylinux2014_aarch64"]
    assert tag.python_version == "3.11"
    assert packaging.Tag("cp315", "cp315", "x").python_version == "3.15"
    with pytest.raises(ValueError):
        packaging.parse_wheel_name("stackful_fiber-0.1.0.tar.gz")


def test_auditwheel_show_agrees_through_legacy_aliases():
    name = "stackful_fiber-0.1.0-cp311-cp311-manylinux2014_armv7l.manylinux_2_17_armv7l.whl"
    assert packaging.show_agrees(name, "manylinux_2_17_armv7l")
    assert packaging.show_agrees(name, "manylinux2014_armv7l")
    assert not packaging.show_agrees(name, "manylinux_2_34_armv7l")
    assert not packaging.show_agrees(name, "manylinux_2_17_aarch64")
    assert packaging.canonical_platform("manylinux1_i686") == "manylinux_2_5_i686"
    assert packaging.canonical_platform("manylinux2010_x86_64") == "manylinux_2_12_x86_64"
    assert packaging.canonical_platform("linux_s390x") == "linux_s390x"


WHEEL_NAME = "stackful_fiber-0.1.0-cp314-cp314-manylinux2014_aarch64.manylinux_2_17_aarch64.whl"


def a_tested_row(**kw: object) -> wheels.Row:
    base: dict[str, object] = dict(
        package=WHEEL_NAME, tag="cp314-cp314-...", shown="manylinux_2_17_aarch64", passed=170
    )
    return wheels.Row("aarch64-linux-py3.14", **(base | kw))  # type: ignore[arg-type]


def test_a_wheel_auditwheel_agrees_with_and_that_passed_tests_is_ok():
    row = a_tested_row()
    assert (row.audit, row.ok, row.status) == ("agrees", True, "ok")
    assert "agrees" in wheels.table([row]) and "agrees" in wheels.markdown([row])


def test_a_wheel_auditwheel_disagrees_with_fails_in_the_table():
    row = a_tested_row(shown="manylinux_2_34_aarch64")
    assert row.audit == "DISAGREES (manylinux_2_34_aarch64)"
    assert not row.ok and row.status == "FAILED (auditwheel disagrees with the name)"
    assert "DISAGREES (manylinux_2_34_aarch64)" in wheels.table([row])
    assert "DISAGREES" in wheels.markdown([row])


def test_a_wheel_auditwheel_never_saw_fails():
    row = a_tested_row(shown="")
    assert row.audit == "not run" and not row.ok


def test_a_wheel_whose_run_found_no_test_fails():
    for row in (a_tested_row(passed=0), a_tested_row(passed=0, skipped=190)):
        assert not row.ok and row.status == "FAILED (ran no test)"
    assert not a_tested_row(failed=1).ok
    assert not a_tested_row(error="pytest exited 5").ok


def test_the_sdist_and_the_windows_wheel_have_no_auditwheel_verdict():
    sdist = wheels.Row("sdist", package="stackful_fiber-0.1.0.tar.gz", tag="source", passed=190)
    assert sdist.audit == "-" and sdist.ok
    assert not wheels.Row("sdist", package="s.tar.gz", passed=0).ok
    assert wheels.Row("sdist", package="s.tar.gz", tested=False).ok  # members checked only
    windows = a_tested_row(
        package="stackful_fiber-0.1.0-cp314-cp314-win_amd64.whl", shown=wheels.NO_AUDITWHEEL
    )
    assert windows.audit == wheels.NO_AUDITWHEEL and windows.ok


def test_the_tests_of_a_wheel_see_the_abi_and_the_pair_as_the_matrix_shows_them():
    t = targets.get("i686-linux-py3.13")
    env = wheels.test_environment(t, ["qemu-i386", "-L", "/s"], {"X": "1"})
    # tests compare FIBER_TARGET with ABI names (the qemu-i386 signal skips, conftest.py)
    assert env["FIBER_TARGET"] == "i686-linux" and env["FIBER_PAIR"] == "i686-linux-py3.13"
    assert env["FIBER_RUNNER"] == "qemu-i386 -L /s" and env["X"] == "1"
    assert "FIBER_PER_ABI_IN" not in env  # every wheel runs the whole suite


def test_pip_installs_for_the_wheels_own_platform_and_cpython():
    tag = packaging.Tag("cp311", "cp311", "manylinux_2_17_s390x.manylinux2014_s390x")
    args = packaging.pip_target_args(tag)
    assert args[:4] == ["--platform", "manylinux_2_17_s390x", "--platform", "manylinux2014_s390x"]
    for pair in (
        ["--python-version", "3.11"],
        ["--implementation", "cp"],
        ["--abi", "cp311"],
    ):
        i = args.index(pair[0])
        assert args[i : i + 2] == pair
    assert "--only-binary=:all:" in args and "--no-deps" in args


def test_sizes_read_as_people_write_them():
    assert packaging.human_size(512) == "512 B"
    assert packaging.human_size(118_000) == "115 KiB"
    assert packaging.human_size(3 * 1024 * 1024) == "3.0 MiB"


# ---- what the packages hold ---------------------------------------------------------------


def good_sdist() -> list[str]:
    tree = packaging.checkout_tree_files()
    return sorted(
        {
            *packaging.SDIST_FILES,
            *tree,
            "setup.cfg",
            "stackful_fiber.egg-info/PKG-INFO",
            "stackful_fiber.egg-info/SOURCES.txt",
        }
    )


def test_the_checkouts_trees_hold_the_build_sources():
    tree = packaging.checkout_tree_files()
    assert "asm/switch.S" in tree and "asm/macros.h" in tree
    assert "fiber/core/fiber.h" in tree and "fiber/glue/compat.h" in tree
    assert not [f for f in tree if f.endswith((".so", ".o", ".pyc"))]
    for f in packaging.SDIST_FILES:
        if f != "PKG-INFO":  # setuptools writes it into the sdist
            assert (paths.ROOT / f).is_file(), f"{f} is missing from the checkout"


def test_a_complete_sdist_passes():
    assert packaging.check_sdist(good_sdist(), packaging.checkout_tree_files()) == []


@pytest.mark.parametrize(
    "extra, says",
    [
        (
            "tests/python/test_fiber_api.py",
            "not needed by the build: tests/python/test_fiber_api.py",
        ),
        ("ci/targets.py", "not needed by the build: ci/targets.py"),
        ("docs/python.md", "not needed by the build"),
        ("BENCHMARKS.md", "not needed by the build"),
        ("fiber/_native.cpython-311-x86_64-linux-gnu.so", "a built file"),
        ("asm/switch_new_abi.S", "not in the checkout: asm/switch_new_abi.S"),
    ],
)
def test_an_sdist_with_more_than_the_build_needs_fails(extra, says):
    problems = packaging.check_sdist([*good_sdist(), extra], packaging.checkout_tree_files())
    assert len(problems) == 1 and says in problems[0]


@pytest.mark.parametrize("gone", ["asm/switch.S", "fiber/_build.py", "LICENSE", "CHANGELOG.md"])
def test_an_sdist_missing_a_build_source_fails(gone):
    members = [m for m in good_sdist() if m != gone]
    assert packaging.check_sdist(members, packaging.checkout_tree_files()) == [f"missing {gone}"]


def test_sdist_member_names_lose_the_top_folder():
    names = [
        "stackful_fiber-0.1.0/",
        "stackful_fiber-0.1.0/asm/switch.S",
        "stackful_fiber-0.1.0/LICENSE",
    ]
    assert packaging.sdist_members(names) == ["LICENSE", "asm/switch.S"]


def test_a_wheel_installs_the_sdists_package_less_what_builds_it():
    runtime = packaging.runtime_members(good_sdist())
    assert runtime == sorted(packaging.RUNTIME)
    assert "fiber/_build.py" not in runtime
    assert not [m for m in runtime if m.endswith((".c", ".h"))]


DIST_INFO = "stackful_fiber-0.1.0.dist-info"
EXT = "fiber/_native.cpython-311-aarch64-linux-gnu.so"


def good_wheel() -> list[str]:
    meta = ["METADATA", "WHEEL", "RECORD", "top_level.txt", "licenses/LICENSE"]
    return ["fiber/", *packaging.RUNTIME, EXT, *(f"{DIST_INFO}/{m}" for m in meta)]


def test_a_runtime_only_wheel_passes():
    assert packaging.check_wheel(good_wheel(), DIST_INFO) == []


@pytest.mark.parametrize(
    "extra, says",
    [
        ("fiber/_build.py", "a build-only file: fiber/_build.py"),
        ("fiber/core/fiber.h", "a build-only file: fiber/core/fiber.h"),
        ("fiber/glue/glue.c", "a build-only file"),
        ("asm/switch.S", "a build-only file"),
        ("tests/conftest.py", "not part of the runtime"),
        ("fiber/_native.cpython-311-x86_64-linux-gnu.so", "one extension module"),
    ],
)
def test_a_wheel_with_more_than_the_runtime_fails(extra, says):
    problems = packaging.check_wheel([*good_wheel(), extra], DIST_INFO)
    assert len(problems) == 1 and says in problems[0]


def test_a_wheel_missing_its_extension_or_license_fails():
    assert (
        "one extension module"
        in packaging.check_wheel([n for n in good_wheel() if n != EXT], DIST_INFO)[0]
    )
    assert packaging.check_wheel(
        [n for n in good_wheel() if not n.endswith("LICENSE")], DIST_INFO
    ) == [f"no LICENSE in {DIST_INFO}"]


def test_setup_py_leaves_the_build_module_out_of_wheels():
    text = (paths.ROOT / "setup.py").read_text()
    assert 'BUILD_ONLY_MODULES = {"_build"}' in text
    assert {f"fiber/{m}.py" for m in ["_build"]} <= set(packaging.BUILD_ONLY)
    manifest = (paths.ROOT / "MANIFEST.in").read_text()
    assert "include fiber/_build.py" in manifest
    for tree in packaging.SDIST_TREES:
        assert f"graft {tree}" in manifest
    assert PYPROJECT["tool"]["setuptools"]["include-package-data"] is False


# ---- the wheel writer ---------------------------------------------------------------------


def test_write_wheel_packs_files_dist_info_and_a_record_that_verifies(tmp_path):
    tag = packaging.Tag("cp311", "cp311", "linux_aarch64")
    files = {
        "fiber/__init__.py": b"x = 1\n",
        "fiber/_native.cpython-311-aarch64-linux-gnu.so": b"\x7fELF",
    }
    meta = {
        "METADATA": b"Metadata-Version: 2.4\nName: stackful-fiber\n",
        "licenses/LICENSE": b"MIT\n",
    }
    path = packaging.write_wheel(tmp_path, "stackful-fiber", "0.1.0", tag, files, meta)
    assert path.name == "stackful_fiber-0.1.0-cp311-cp311-linux_aarch64.whl"
    with zipfile.ZipFile(path) as zf:
        names = zf.namelist()
        assert names[-1] == f"{DIST_INFO}/RECORD"
        assert zf.read(f"{DIST_INFO}/WHEEL").decode().splitlines() == [
            "Wheel-Version: 1.0",
            f"Generator: {packaging.GENERATOR}",
            "Root-Is-Purelib: false",
            "Tag: cp311-cp311-linux_aarch64",
        ]
        rows = [r.split(",") for r in zf.read(f"{DIST_INFO}/RECORD").decode().splitlines()]
        assert [r[0] for r in rows] == names
        for name, digest, size in rows[:-1]:
            data = zf.read(name)
            want = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
            assert digest == f"sha256={want}" and int(size) == len(data)
        assert rows[-1] == [f"{DIST_INFO}/RECORD", "", ""]
        mode = zf.getinfo("fiber/_native.cpython-311-aarch64-linux-gnu.so").external_attr >> 16
        assert mode & 0o777 == 0o755
        assert zf.getinfo("fiber/__init__.py").date_time == packaging.ZIP_DATE


def test_write_wheel_is_reproducible(tmp_path):
    tag = packaging.Tag("cp311", "cp311", "linux_x86_64")
    args = ("stackful-fiber", "0.1.0", tag, {"fiber/a.py": b"a"}, {"METADATA": b"m"})
    one = packaging.write_wheel(tmp_path / "1", *args).read_bytes()
    two = packaging.write_wheel(tmp_path / "2", *args).read_bytes()
    assert one == two


def test_a_multi_platform_tag_writes_one_tag_line_each():
    text = packaging.wheel_file_text(packaging.Tag("cp311", "cp311", "a_x.b_x"))
    assert text.endswith("Tag: cp311-cp311-a_x\nTag: cp311-cp311-b_x\n")


def test_stale_wheels_of_the_same_cpu_and_python_are_removed(tmp_path):
    for n in (
        "stackful_fiber-0.1.0-cp311-cp311-manylinux_2_34_aarch64.whl",
        "stackful_fiber-0.1.0-cp311-cp311-manylinux_2_17_armv7l.manylinux2014_armv7l.whl",
        "stackful_fiber-0.1.0-cp313-cp313-manylinux_2_17_aarch64.whl",
    ):
        (tmp_path / n).write_bytes(b"")
    wheels.remove_stale(
        tmp_path, "stackful-fiber", packaging.Tag("cp311", "cp311", "linux_aarch64")
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "stackful_fiber-0.1.0-cp311-cp311-manylinux_2_17_armv7l.manylinux2014_armv7l.whl",
        "stackful_fiber-0.1.0-cp313-cp313-manylinux_2_17_aarch64.whl",
    ]


# ---- the suite against an installed copy ---------------------------------------------------


def test_the_copied_suites_pytest_ini_knows_the_markers_and_not_the_checkout():
    text = installed.pytest_ini((paths.ROOT / "pyproject.toml").read_text())
    assert text.startswith("[pytest]\n")
    for marker in PYPROJECT["tool"]["pytest"]["ini_options"]["markers"]:
        assert f"    {marker}\n" in text
    assert "pythonpath" not in text and "testpaths" not in text


def test_prepare_copies_the_suite_without_the_harness(tmp_path):
    installed.prepare(tmp_path)
    assert (tmp_path / "tests" / "conftest.py").is_file()
    assert (tmp_path / "tests" / "sources.py").is_file()
    # the per-folder conftests and helpers come along: the core's skips, the Python tests' child
    # interpreters
    assert (tmp_path / "tests" / "core" / "conftest.py").is_file()
    assert (tmp_path / "tests" / "python" / "fresh_interpreter.py").is_file()
    assert not (tmp_path / "tests" / "harness").exists()
    assert (tmp_path / "pytest.ini").is_file()
    assert not (tmp_path / "fiber").exists() and not (tmp_path / "ci").exists()


def test_the_installed_runs_environment_points_only_at_the_installed_copy(tmp_path):
    base = {"PATH": "/bin", "PYTHONPATH": "/checkout", "FIBER_CONFORMANCE_EXE": "x", "HOME": "/h"}
    env = installed.environment(base, unset=("HOME",), set_={"FIBER_TARGET": "t"}, site=tmp_path)
    assert env == {"PATH": "/bin", "FIBER_TARGET": "t", "PYTHONPATH": str(tmp_path)}
    assert "PYTHONPATH" not in installed.environment(base)
    # a runner kind's own folder (cffi from PyPI, say) stays, after the installed copy
    kind = installed.environment(base, set_={"PYTHONPATH": "/pypi"}, site=tmp_path)
    assert kind["PYTHONPATH"] == f"{tmp_path}:/pypi"


def test_workers_start_with_the_whole_interpreter_command_under_a_prefix(tmp_path):
    native = installed.Run(["/venv/bin/python"], {}, 2, 60, 600)
    assert installed.workers_args(native) == ["-n", "2"]
    emulated = installed.Run(["qemu-arm", "-L", "/s", "/s/usr/bin/python3"], {}, 1, 360, 2400)
    assert installed.workers_args(emulated) == [
        "--dist",
        "load",
        "--tx",
        "1*popen//python=qemu-arm -L /s /s/usr/bin/python3",
    ]
    argv = installed.pytest_argv(emulated, tmp_path / "j.xml", "armhf-linux")
    assert argv[-1] == "tests" and "--timeout=360" in argv and "-c" in argv


def test_tests_know_a_checkout_from_the_file_system():
    import importlib.util

    spec = importlib.util.spec_from_file_location("_sources", paths.TESTS / "sources.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    assert mod.IS_CHECKOUT is True  # this checkout
    assert all((paths.ROOT / m).is_file() for m in mod.MARKERS)


# ---- old-glibc sysroots ---------------------------------------------------------------------


def test_libc_sysroots_cover_the_four_cpus_every_wheel_must_reach_widely():
    for arch in ("amd64", "i386", "arm64", "armhf"):  # x86_64, i686, aarch64, armv7l
        assert libc_sysroots.available(arch), arch
    for arch in ("s390x", "ppc64el", "riscv64", "loong64"):  # no bullseye on the mirror
        assert not libc_sysroots.available(arch), arch


def fake_libc_builder(arch: str, dest: Path, log) -> None:
    triplet = {"arm64": "aarch64-linux-gnu"}.get(arch, f"{arch}-linux-gnu")
    (dest / "usr" / "lib" / triplet).mkdir(parents=True)
    (dest / "lib" / triplet).mkdir(parents=True)
    for f in ("crti.o", "libc.so"):
        (dest / "usr" / "lib" / triplet / f).write_text("")
    (dest / "lib" / triplet / "libc.so.6").write_text("")
    (dest / "lib" / triplet / "libc-2.31.so").write_text("")


def test_a_libc_sysroot_is_built_once_marked_and_found(tmp_path):
    built = []

    def builder(arch, dest, log):
        built.append(arch)
        fake_libc_builder(arch, dest, log)

    one = libc_sysroots.ensure("arm64", cache=tmp_path, builder=builder, log=lambda s: None)
    assert (one.multiarch, one.glibc, one.label) == (
        "aarch64-linux-gnu",
        "2.31",
        "bullseye glibc 2.31",
    )
    marker = json.loads((one.path / libc_sysroots.MARKER).read_text())
    assert marker["key"] == libc_sysroots.cache_key("arm64") and marker["suite"] == "bullseye"
    again = libc_sysroots.ensure("arm64", cache=tmp_path, builder=builder, log=lambda s: None)
    assert again == one and built == ["arm64"]
    assert libc_sysroots.find("arm64", tmp_path) == one
    assert libc_sysroots.find("armhf", tmp_path) is None


def test_an_interrupted_libc_sysroot_is_rebuilt(tmp_path):
    path = libc_sysroots.sysroot_dir("arm64", tmp_path)
    path.mkdir(parents=True)  # no marker: half-built
    (path.with_name(path.name + ".partial")).mkdir()
    got = libc_sysroots.ensure(
        "arm64", cache=tmp_path, builder=fake_libc_builder, log=lambda s: None
    )
    assert got.path == path and (path / libc_sysroots.MARKER).is_file()


def test_a_libc_sysroot_without_the_c_library_is_refused(tmp_path):
    def empty(arch, dest, log):
        dest.mkdir(parents=True, exist_ok=True)

    with pytest.raises(libc_sysroots.LibcSysrootError, match="crti.o"):
        libc_sysroots.ensure("arm64", cache=tmp_path, builder=empty, log=lambda s: None)
    assert libc_sysroots.find("arm64", tmp_path) is None


def test_the_compiler_is_pointed_at_the_old_libc_before_its_own(tmp_path):
    libc = libc_sysroots.LibcSysroot(tmp_path, "armhf", "arm-linux-gnueabihf", "2.31")
    flags = libc_sysroots.compiler_flags(libc)
    assert flags[0] == f"--sysroot={tmp_path}"
    assert f"-L{tmp_path}/usr/lib/arm-linux-gnueabihf" in flags
    assert f"-B{tmp_path}/usr/lib/arm-linux-gnueabihf" in flags
    i = flags.index("-isystem")
    assert flags[i + 1] == f"{tmp_path}/usr/include/arm-linux-gnueabihf"


def test_the_libc_mmdebstrap_command_names_bullseye_and_libc6_dev(tmp_path):
    cmd = libc_sysroots.mmdebstrap_command("i386", tmp_path, "http://mirror.example/debian")
    assert "--arch=i386" in cmd and "--include=libc6-dev" in cmd
    assert cmd[-1].endswith("http://mirror.example/debian bullseye main")


# ---- metadata that agrees with what is tested ---------------------------------------------


def classifier_versions() -> list[str]:
    prefix = "Programming Language :: Python :: 3."
    return sorted(
        c.removeprefix("Programming Language :: Python :: ")
        for c in PYPROJECT["project"]["classifiers"]
        if c.startswith(prefix) and c[len(prefix) :].isdigit()
    )


def glue_versions() -> list[str]:
    """The CPython versions the harness tests (ci/targets.py's table of versions), each of which
    compat.c builds for."""
    compat = (paths.ROOT / "fiber" / "glue" / "compat.c").read_text()
    supported = re.search(r"fiber supports CPython ([0-9., and]+), not this version", compat)
    assert supported, "compat.c's refusal names the supported versions"
    assert re.findall(r"3\.\d+", supported.group(1)) == list(targets.VERSIONS)
    return sorted(targets.VERSIONS)


def test_classifiers_name_exactly_the_cpythons_the_glue_supports():
    """One classifier line per tested CPython version: adding a version to the harness's table
    fails here until its line is added to pyproject.toml (and requires-python widened)."""
    assert classifier_versions() == glue_versions()


def test_requires_python_admits_exactly_the_classifier_versions():
    spec = SpecifierSet(PYPROJECT["project"]["requires-python"])
    listed = classifier_versions()
    for minor in range(6, 30):
        version = f"3.{minor}"
        assert spec.contains(f"{version}.0") == (version in listed), version


def test_license_is_the_mit_file():
    assert PYPROJECT["project"]["license"] == "MIT"
    assert PYPROJECT["project"]["license-files"] == ["LICENSE"]
    text = (paths.ROOT / "LICENSE").read_text()
    assert text.startswith("MIT License") and "Copyright (c) 2026 the fiber developers" in text


def test_project_urls_and_readme_say_both_names():
    assert PYPROJECT["project"]["urls"]
    readme = (paths.ROOT / "README.md").read_text()
    assert "pip install stackful-fiber" in readme and "import fiber" in readme
    assert readme.index("pip install stackful-fiber") < readme.index("## Harness")


# ---- the session, the command, the workflow -------------------------------------------------


def test_nox_has_a_wheels_session_that_runs_the_command_with_its_arguments(monkeypatch):
    import importlib.util
    import sys
    import types

    registered: dict[str, object] = {}
    fake = types.ModuleType("nox")
    fake.options = types.SimpleNamespace()
    fake.Session = object

    def session(func=None, **kw):
        if func is None:
            return lambda f: session(f, **kw)
        registered[kw.get("name") or func.__name__] = func
        return func

    fake.session = session
    monkeypatch.setitem(sys.modules, "nox", fake)
    spec = importlib.util.spec_from_file_location("_noxfile_wheels", paths.ROOT / "noxfile.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)

    runs, installs = [], []
    s = types.SimpleNamespace(
        posargs=["--targets", "armhf-linux"],
        run=lambda *a, **k: runs.append(a),
        install=lambda *a, **k: installs.append(a),
    )
    registered["wheels"](s)
    assert runs == [("python", "-m", "ci", "wheels", "--targets", "armhf-linux")]
    assert set(wheels.TOOLS) | set(targets.PYTHON_DEPS) <= set(installs[0])


def test_the_command_line_knows_wheels():
    from ci import __main__ as cli

    assert cli.COMMANDS["wheels"] == "ci.wheels"
    assert "wheels" in (cli.__doc__ or "")


def test_the_workflow_builds_and_keeps_every_package():
    from ci import workflow

    jobs = workflow.workflow()["jobs"]
    include = jobs["wheels"]["strategy"]["matrix"]["include"]
    assert [row["target"] for row in include] == [
        t.name for t in wheels.linux_targets(list(targets.TARGETS))
    ]
    runs = [s.get("run", "") for s in jobs["wheels"]["steps"]]
    assert any("nox -s wheels -- --targets ${{ matrix.target }}" in r for r in runs)
    assert any("--sdist-only" in s.get("run", "") for s in jobs["sdist"]["steps"])
    windows = " ; ".join(s.get("run", "") for s in jobs["windows-native"]["steps"])
    assert "python -m ci wheels --host" in windows
    for name in ("sdist", "wheels", "windows-native"):
        kept = [
            s
            for s in jobs[name]["steps"]
            if s.get("uses", "").startswith("actions/upload-artifact")
            and s["with"]["path"] == "dist/"
        ]
        assert len(kept) == 1, name
