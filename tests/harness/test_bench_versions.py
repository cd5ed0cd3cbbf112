"""The per-version Python rows of the bench (ci/bench/versions.py, pyrows.py), the scaling
rows and the cachegrind table's pure logic. Nothing here times anything or runs valgrind: the
figures below are fixed numbers, the interpreters fakes."""

from __future__ import annotations

import types
from pathlib import Path

import pytest

from ci import targets
from ci.bench import cachegrind, pyrows, report, versions
from ci.bench.results import Goal, Row
from ci.bench.scaling import DEPTHS, LIVE, SMALL_STACK_LIVE
from ci.tools import SetupError

# --- which interpreters, and how each is made ready -----------------------------------------


def test_the_versions_are_the_host_abis_pairs_oldest_first():
    host = targets.host_target()
    assert host is not None  # the harness's tests run on x86_64 Linux
    chosen = versions.bench_targets()
    assert [t.version for t in chosen] == list(targets.VERSIONS)
    assert {t.abi.name for t in chosen} == {host.abi.name}
    assert chosen[0].runner_kind == "native"  # the host's own Python comes first
    assert all(t.runner_kind == "loader" for t in chosen[1:])


def test_pip_installs_every_peer_for_the_target_version_without_dependencies(tmp_path):
    cmd = versions.pip_command("3.15", tmp_path / "peers", machine="x86_64")
    assert cmd[1:4] == ["-m", "pip", "install"]
    assert "--no-deps" in cmd and "--only-binary=:all:" in cmd
    assert cmd[cmd.index("--python-version") + 1] == "3.15"
    assert cmd[cmd.index("--abi") + 1] == "cp315"
    assert cmd[cmd.index("--target") + 1] == str(tmp_path / "peers")
    platforms = [cmd[i + 1] for i, a in enumerate(cmd) if a == "--platform"]
    assert "manylinux_2_28_x86_64" in platforms
    assert all(p.endswith("_x86_64") for p in platforms)
    assert cmd[-len(versions.PEERS) :] == list(versions.PEERS)
    for needed in ("greenlet", "greenback", "sqlalchemy", "sniffio", "outcome", "attrs"):
        assert needed in versions.PEERS


def test_peers_folders_are_per_version_and_change_with_the_list(tmp_path, monkeypatch):
    a = versions.peers_dir("3.14", "x86_64", tmp_path)
    b = versions.peers_dir("3.15", "x86_64", tmp_path)
    assert a.parent == tmp_path / "bench-peers" and a != b
    assert a.name.startswith("cp314-x86_64-")
    monkeypatch.setattr(versions, "PEERS", (*versions.PEERS, "another"))
    assert versions.peers_dir("3.14", "x86_64", tmp_path) != a


def test_an_installed_peers_folder_is_reused_without_pip(tmp_path, monkeypatch):
    dest = versions.peers_dir("3.14", cache=tmp_path)
    dest.mkdir(parents=True)
    (dest / versions.MARKER).write_text("{}")
    monkeypatch.setattr(versions.subprocess, "run", lambda *a, **k: pytest.fail("pip ran"))
    assert versions.ensure_peers("3.14", log=lambda s: None, cache=tmp_path) == dest


def test_a_failed_pip_leaves_no_folder_that_looks_installed(tmp_path, monkeypatch):
    def pip(*args, **kwargs):
        return types.SimpleNamespace(returncode=1, stderr="ERROR: No matching distribution\n")

    monkeypatch.setattr(versions.subprocess, "run", pip)
    with pytest.raises(RuntimeError, match="No matching distribution"):
        versions.ensure_peers("3.15", log=lambda s: None, cache=tmp_path)
    assert not versions.peers_dir("3.15", cache=tmp_path).exists()


def test_interpreter_environment_removes_the_hosts_variables_and_sets_its_own():
    interp = versions.Interpreter(
        "3.14", ("python3.14",), {"PYTHONPATH": "/repo:/peers"}, ("PYTHONHOME", "PYTHONPATH")
    )
    env = interp.environ({"PYTHONHOME": "/h", "PYTHONPATH": "/host", "KEEP": "1"})
    assert env == {"PYTHONPATH": "/repo:/peers", "KEEP": "1"}
    assert interp.ready


def test_a_version_whose_sysroot_cannot_be_made_is_not_measured_with_the_reason(monkeypatch):
    from ci import runners

    def prepare(target, log):
        raise SetupError("the Debian mirror is unreachable\nmore detail")

    fake = types.SimpleNamespace(prepare=prepare, cache_entry=lambda t: "sysroot sid amd64")
    monkeypatch.setattr(runners, "kind", lambda target: fake)
    interp = versions.prepare(targets.get("x86_64-linux-py3.15"), log=lambda s: None)
    assert not interp.ready
    assert interp.version == "3.15"
    assert interp.reason == "SetupError: the Debian mirror is unreachable"
    assert "sysroot sid amd64" in interp.where


def test_short_reason_is_one_bounded_line():
    text = versions.short_reason(RuntimeError("x" * 1000 + "\nsecond line"), limit=50)
    assert len(text) == 50 and "\n" not in text and text.endswith("...")


# --- rows of a version ----------------------------------------------------------------------

NOT_READY = versions.not_measured("3.15", "SetupError: no sysroot")


def test_every_row_of_a_version_that_is_not_ready_says_not_measured_and_why():
    rows = [
        *pyrows.python_rows(NOT_READY, quick=True),
        *pyrows.scaling_rows(NOT_READY, quick=True),
        *pyrows.aio_rows(NOT_READY, quick=True),
    ]
    assert len(rows) == 3 + len(DEPTHS) + len(LIVE) + len(SMALL_STACK_LIVE) + 4
    for row in rows:
        assert row.python == "3.15"
        assert row.ours is None and all(v is None for v in row.peers.values())
        assert row.status == "not measured"
        assert row.unmeasured == "SetupError: no sysroot"
        assert "Python 3.15: not measured: SetupError: no sysroot" in row.note
        if row.goal.kind != "record":
            assert row.goal_met is False  # a missing figure never counts as met


def _figures(ours: float, greenlet: float, ratio: float) -> dict:
    return {"ours": ours, "greenlet": greenlet, "_ratios": {"greenlet": ratio}}


def test_scaling_rows_have_the_half_greenlet_goal_and_the_small_stack_rows_are_recorded():
    data = {
        "depth": {str(d): _figures(80e-9, 400e-9, 0.2) for d in DEPTHS},
        "live": {str(n): _figures(300e-9, 500e-9, 0.6) for n in LIVE},
        "live_small": {str(n): _figures(200e-9, 500e-9, 0.4) for n in SMALL_STACK_LIVE},
        "_stack_sizes": {
            "live": {"argument": None, "Fiber.stack_size": 8393568},
            "live_small": {"argument": 65536, "Fiber.stack_size": 70496},
        },
        "_notes": {},
    }
    rows = pyrows.scaling_rows_from(data, "", "3.14")
    by_title = {r.benchmark: r for r in rows}
    deep = by_title[pyrows.depth_title(800)]
    assert deep.ours == pytest.approx(80.0) and deep.goal == Goal(
        "ratio", "greenlet switch round trip, as deep", 0.5
    )
    assert deep.status == "met"
    live = by_title[pyrows.live_title(30_000)]
    assert live.goal == Goal("ratio", "greenlet", 0.5)
    assert live.ratio("greenlet") == pytest.approx(0.6) and live.status == "MISSED"
    assert "default stack_size" in live.note and "8,393,568" in live.note
    small = by_title[pyrows.live_title(30_000, 65536)]
    assert small.benchmark.endswith("stack_size=64 KiB")
    assert small.goal.kind == "record" and small.status == "recorded"
    assert small.ratio("greenlet") == pytest.approx(0.4)
    assert all(r.python == "3.14" for r in rows)


def test_a_live_size_that_failed_is_not_measured_alone():
    data = {
        "depth": {str(d): _figures(80e-9, 400e-9, 0.2) for d in DEPTHS},
        "live": {str(n): _figures(100e-9, 500e-9, 0.2) for n in LIVE if n != 30_000},
        "live_small": {},
        "_notes": {"live 30000": "MemoryError: cannot map a stack"},
    }
    rows = {r.benchmark: r for r in pyrows.scaling_rows_from(data, "", "3.13")}
    failed = rows[pyrows.live_title(30_000)]
    assert failed.status == "not measured"
    assert failed.unmeasured == "MemoryError: cannot map a stack"
    assert rows[pyrows.live_title(10_000)].status == "met"
    # A size with neither figures nor a note (scaling.py skipped it) is not measured either.
    assert rows[pyrows.live_title(10_000, 65536)].unmeasured == "no figures"


def test_titles_name_the_depth_and_the_count():
    assert pyrows.depth_title(1) == "Python: round trip, suspended 1 frame deep"
    assert pyrows.depth_title(50) == "Python: round trip, suspended 50 frames deep"
    assert pyrows.live_title(10_000) == "Python: round-robin resume over 10,000 live fibers"


def test_rows_of_several_versions_are_grouped_by_benchmark_in_version_order():
    rows = [
        Row("a", "ns", 1.0, python="3.11"),
        Row("b", "ns", 1.0, python="3.11"),
        Row("a", "ns", 2.0, python="3.14"),
        Row("b", "ns", 2.0, python="3.14"),
    ]
    got = [(r.benchmark, r.python) for r in pyrows.by_benchmark(rows)]
    assert got == [("a", "3.11"), ("a", "3.14"), ("b", "3.11"), ("b", "3.14")]


# --- the report: the Python column, goals per version ---------------------------------------


def test_the_table_says_which_python_each_row_ran_on():
    rows = [
        Row("C: round trip", "ns", 9.0, {"p": 10.0}, Goal("ratio", "p", 1.0)),
        Row("Python: x", "ns", 1.0, {"g": 4.0}, Goal("ratio", "g", 0.5), python="3.14"),
    ]
    head, body = report.table(rows)
    assert head[1] == "Python"
    assert [line[1] for line in body] == ["-", "3.14"]
    assert rows[1].json_objects()[0]["python"] == "3.14"
    assert rows[0].json_objects()[0]["python"] is None


def test_goals_are_counted_per_version():
    rows = [
        Row("r", "ns", 1.0, {"g": 4.0}, Goal("ratio", "g", 0.5), python="3.11"),
        Row("s", "ns", 3.0, {"g": 4.0}, Goal("ratio", "g", 0.5), python="3.11"),
        Row("r", "ns", None, {"g": None}, Goal("ratio", "g", 0.5), python="3.15", unmeasured="x"),
        Row("t", "ns", 1.0, {}, Goal("record"), python="3.11"),
    ]
    by = report.goals_by_version(rows)
    assert by["3.11"] == {"met": ["r"], "missed": ["s"], "not measured": []}
    assert by["3.15"] == {"met": [], "missed": [], "not measured": ["r"]}
    lines = report.goals_by_version_lines(rows)
    assert lines[0] == "Python 3.11: 1 met, 1 missed (missed: s)"
    assert lines[1] == "Python 3.15: 1 not measured"
    assert "| 3.15 | 0 | 0 | 1 | - |" in report.goals_markdown(rows)


def test_the_versions_table_names_the_interpreter_and_the_reason():
    text = report.pythons_markdown(
        [
            {"version": "3.11", "where": "host", "reason": "", "python": "3.11.7"},
            {"version": "3.15", "where": "sysroot sid amd64", "reason": "SetupError: no"},
        ]
    )
    assert "| 3.11.7 | host | - | - | - | measured |" in text
    assert "| 3.15 | sysroot sid amd64 | - | - | - | not measured: SetupError: no |" in text


# --- cachegrind's table ----------------------------------------------------------------------


def _cache(root: Path, index: int, level: int, kind: str, size: str, ways: int) -> None:
    d = root / f"index{index}"
    d.mkdir(parents=True)
    for name, value in (
        ("level", level),
        ("type", kind),
        ("size", size),
        ("ways_of_associativity", ways),
        ("coherency_line_size", 64),
    ):
        (d / name).write_text(f"{value}\n")


def test_the_simulated_caches_are_the_ones_sysfs_describes(tmp_path):
    _cache(tmp_path, 0, 1, "Data", "32K", 8)
    _cache(tmp_path, 1, 1, "Instruction", "32K", 8)
    _cache(tmp_path, 2, 2, "Unified", "512K", 8)
    _cache(tmp_path, 3, 3, "Unified", "32768K", 16)
    geometry = cachegrind.cache_geometry(tmp_path)
    assert geometry == {"D1": "32768,8,64", "I1": "32768,8,64", "LL": "33554432,16,64"}
    assert "LL 32,768 KiB 16-way" in cachegrind.describe(geometry)
    assert cachegrind.cache_geometry(tmp_path / "absent") == {}


def test_cachegrind_totals_are_read_from_its_summary_line(tmp_path):
    out = tmp_path / "cg.out"
    out.write_text(
        "desc: I1 cache: 32768 B, 64 B, 8-way associative\n"
        "cmd: python3\nevents: Ir I1mr ILmr Dr D1mr DLmr Dw D1mw DLmw\n"
        "fl=x\nfn=y\n1 2 0 0 0 0 0 0 0 0\nsummary: 100 1 0 40 5 2 20 3 1\n"
    )
    totals = cachegrind.parse(str(out))
    assert totals["Ir"] == 100 and totals["D1mw"] == 3 and totals["DLmr"] == 2


def test_the_miss_table_shows_figures_or_why_not():
    data = {
        "geometry": "I1 ..., D1 ..., LL ...",
        "python": "3.11.7",
        "rows": [
            (10, cachegrind.FIBER, {label: 1.5 for label, _ in cachegrind.COLUMNS}),
            (30_000, cachegrind.FIBER, "not counted: valgrind: FATAL: VG_N_SEGMENTS is too low."),
        ],
    }
    text = cachegrind.markdown(data)
    assert "| 10 | fiber | 2 | 1.5 | 1.5 |" in text
    assert "| 30,000 | fiber | not counted: valgrind: FATAL: VG_N_SEGMENTS" in text
    assert cachegrind.markdown({}) == "(valgrind not available: not counted)"
