"""The harness's builds go through ccache (ci/compiler_cache.py), keyed so that a fresh clone
reuses what another checkout compiled."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ci import compiler_cache, paths
from fiber import _build


def test_launcher_keeps_the_cache_in_the_harness_cache_and_paths_relative(tmp_path):
    if shutil.which("ccache") is None:
        assert compiler_cache.launcher(tmp_path) == ()
        pytest.skip("ccache is not installed (Debian: ccache): builds run the compiler directly")
    env, *settings, ccache = compiler_cache.launcher(tmp_path)
    assert env == "env" and Path(ccache).name == "ccache"
    assert f"CCACHE_DIR={tmp_path / 'ccache'}" in settings
    assert f"CCACHE_BASEDIR={paths.ROOT}" in settings
    assert "CCACHE_NOHASHDIR=1" in settings


def test_the_cffi_source_keeps_its_path_and_age_while_unchanged():
    first = _build.module_source()
    stamp = first.stat().st_mtime_ns
    second = _build.module_source()
    assert second == first == paths.ROOT / "build" / "cffi" / "_native.c"
    assert second.stat().st_mtime_ns == stamp  # not rewritten: a compiler cache still hits


def _build_module_of(root: Path):
    """fiber/_build.py as a checkout at `root` has it (its ROOT is that checkout)."""
    (root / "fiber").mkdir(parents=True)
    shutil.copy(Path(_build.__file__), root / "fiber" / "_build.py")
    spec = importlib.util.spec_from_file_location(f"_build_{root.name}", root / "fiber/_build.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses looks the module up while making Toolchain
    spec.loader.exec_module(module)
    return module


def test_a_second_checkout_gets_the_first_ones_objects(tmp_path):
    """The same source compiled in two checkouts, each from its own root as the harness
    does: the second compile is a cache hit."""
    if shutil.which("ccache") is None:
        pytest.skip("ccache is not installed (Debian: ccache)")
    hits = []
    for checkout in ("one", "two"):
        root = tmp_path / checkout
        build = _build_module_of(root)
        (root / "src").mkdir()
        (root / "src" / "a.c").write_text("int answer(void) { return 42; }\n")
        os.utime(root / "src" / "a.c", (1, 1))  # an old file, as a clone's unchanged sources
        launcher = (
            "env",
            f"CCACHE_DIR={tmp_path / 'cache'}",
            f"CCACHE_BASEDIR={root}",
            "CCACHE_NOHASHDIR=1",
            "ccache",
        )
        tc = build.Toolchain(cc=("gcc",), launcher=launcher)
        build.compile_object(tc, root / "src" / "a.c", root / "a.o")
        stats = subprocess.run(
            ["ccache", "--print-stats"],
            env={**os.environ, "CCACHE_DIR": str(tmp_path / "cache")},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        hits.append(dict(line.split("\t") for line in stats.splitlines())["direct_cache_hit"])
    assert hits == ["0", "1"]
