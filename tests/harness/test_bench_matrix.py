"""The bench's harness rows: the full matrix's cold and warm wall times, measured in a new
temporary cache or quoted from the history, and "not measured" (with why) rather than a figure
from a partial, failed or wrongly-cached run."""

from __future__ import annotations

import subprocess

from ci import history, targets
from ci.bench import matrix_wall, report


def rec(
    cache="cold",
    wall=150.0,
    ok=True,
    ran=None,
    date="2026-11-24T10:00:00Z",
    cache_dir="/c",
    errors=None,
    pytest_args=(),
    core=(),
):
    rows = [
        {
            "target": n,
            "runner": "r",
            "seconds": 10.0,
            "passed": 5,
            "failed": 0,
            "skipped": 1,
            "ok": ok,
            "error": (errors or {}).get(n, ""),
        }
        for n in (ran or targets.NAMES)
    ]
    return history.make_record(
        ran=list(ran or targets.NAMES),
        all_targets=targets.NAMES,
        core=core,
        pytest_args=pytest_args,
        cache={"kind": cache, "cache": cache_dir},
        wall_seconds=wall,
        status=0 if ok else 1,
        jobs=2,
        rows=rows,
        date=date,
        revision={"commit": "abc1234", "dirty": False},
        env={},
    )


def test_judge():
    assert matrix_wall.judge("cold", rec()) == ""
    assert matrix_wall.judge("warm", rec()) == "the cache was cold at the start, not warm"
    one = rec(ran=["i686-linux-py3.11"])
    assert matrix_wall.judge("cold", one).startswith("a partial run: 1 of")
    assert matrix_wall.judge("cold", rec(pytest_args=("-k", "x"))).startswith("a partial run")
    assert matrix_wall.judge("cold", rec(ok=False)).startswith(
        "the run failed (x86_64-linux-py3.11,"
    )
    assert matrix_wall.judge("cold", None) == "the matrix run wrote no record"


def test_judge_the_core_scope():
    core = targets.core_names()
    assert len(core) == 17
    run = rec(ran=core, core=core)
    assert matrix_wall.judge("cold", run, matrix_wall.CORE) == ""
    assert matrix_wall.judge("cold", run).startswith("a partial run: 17 of")
    assert matrix_wall.judge("cold", rec(), matrix_wall.CORE).startswith("a partial run")


def test_judge_names_a_mirror_outage():
    bad = rec(
        ok=False,
        errors={
            "i686-linux-py3.11": "provision: mmdebstrap failed for the bookworm i386 sysroot "
            "(exit 1):\nE: Failed to fetch"
        },
    )
    reason = matrix_wall.judge("cold", bad)
    assert reason.startswith("provisioning failed (i686-linux-py3.11: mmdebstrap failed")
    assert "network or the mirror down" in reason


def test_measure_runs_cold_then_warm_in_one_new_cache_and_deletes_it(tmp_path):
    seen = []

    def run(root, cache, logfile, scope):
        assert root == tmp_path and logfile.parent == tmp_path / "reports"
        assert scope == matrix_wall.FULL
        kind = "warm" if seen else "cold"
        if kind == "cold":
            assert list(cache.iterdir()) == []  # new and empty
        (cache / "sysroots").mkdir(exist_ok=True)  # the run fills it
        seen.append(cache)
        return 0, rec(kind, wall=150.0 if kind == "cold" else 80.0, cache_dir=str(cache))

    walls = matrix_wall.measure(tmp_path, log=lambda s: None, run=run)
    assert len(seen) == 2 and seen[0] == seen[1] and not seen[0].exists()
    assert [(w.kind, w.seconds, w.reason) for w in walls] == [
        ("cold", 150.0, ""),
        ("warm", 80.0, ""),
    ]
    rows = matrix_wall.rows(walls)
    assert [r.benchmark for r in rows] == [matrix_wall.title("cold"), matrix_wall.title("warm")]
    assert [r.ours for r in rows] == [150.0, 80.0] and all(r.status == "recorded" for r in rows)
    assert rows[0].note.startswith("cold full matrix: measured in this bench run (2026-11-24")


def test_measure_the_core_scope_selects_the_core_targets(tmp_path, monkeypatch):
    seen = []

    def fake_subprocess_run(cmd, cwd, env, **kw):
        seen.append(env)
        return subprocess.CompletedProcess(cmd, 0)

    monkeypatch.setattr(subprocess, "run", fake_subprocess_run)
    monkeypatch.setenv("FIBER_PYTHONS", "3.14")
    matrix_wall.run_matrix(tmp_path, tmp_path / "c", tmp_path / "r" / "log", matrix_wall.CORE)
    assert seen[0]["FIBER_TARGETS"] == "core" and "FIBER_PYTHONS" not in seen[0]
    matrix_wall.run_matrix(tmp_path, tmp_path / "c", tmp_path / "r" / "log")
    assert "FIBER_TARGETS" not in seen[1]


def test_unreachable_mirror_is_not_measured_and_the_warm_run_is_skipped(tmp_path):
    calls = []

    def run(root, cache, logfile, scope):
        calls.append(cache)
        return 1, rec(
            "cold",
            wall=12.0,
            ok=False,
            cache_dir=str(cache),
            errors={
                n: "provision: mmdebstrap failed (exit 1): E: Failed to fetch"
                for n in ("i686-linux-py3.11", "aarch64-linux-py3.11", "armhf-linux-py3.11")
            },
        )

    walls = matrix_wall.measure(tmp_path, log=lambda s: None, run=run)
    assert len(calls) == 1 and not calls[0].exists()
    assert [w.seconds for w in walls] == [None, None]
    assert walls[0].reason.startswith("provisioning failed")
    assert walls[1].reason.startswith("not run: the cold run could not fill the cache")
    rows = matrix_wall.rows(walls)
    assert all(r.ours is None and r.status == "not measured" for r in rows)
    assert "network or the mirror down" in rows[0].note
    objs = [o for r in rows for o in r.json_objects()]
    assert all(o["ours"] is None and "not measured" in o["note"] for o in objs)


def test_a_run_that_wrote_no_record_is_not_measured(tmp_path):
    walls = matrix_wall.measure(
        tmp_path, log=lambda s: None, run=lambda root, cache, logfile, scope: (2, None)
    )
    assert walls[0].seconds is None and "wrote no record (exit 2" in walls[0].reason


def test_from_history_quotes_the_newest_full_runs_with_date_and_commit(tmp_path):
    for r in (
        rec("cold", 150.0, date="2026-11-20T00:00:00Z"),
        rec("warm", 80.0, date="2026-11-21T00:00:00Z"),
        rec("warm", 9.0, ran=["x86_64-linux-py3.11"], date="2026-11-22T00:00:00Z"),
        rec("cold", 20.0, ok=False, date="2026-11-23T00:00:00Z"),
        rec("warm", 60.0, ran=targets.core_names(), core=targets.core_names()),
    ):
        history.append(r, tmp_path)
    core_cold, core_warm, cold, warm = matrix_wall.from_history(tmp_path)
    assert (cold.seconds, warm.seconds) == (150.0, 80.0)
    assert (core_cold.seconds, core_warm.seconds) == (None, 60.0)
    assert "no passing core run with a cold cache" in core_cold.reason
    rows = matrix_wall.rows([cold, warm])
    assert rows[0].note == (
        f"cold full matrix: from reports/{history.FILE} (2026-11-20T00:00:00Z, commit abc1234)"
    )
    md = matrix_wall.markdown([cold, warm])
    assert "| full | cold | 150.0 s (2 min 30 s) | 2026-11-20T00:00:00Z, commit abc1234 |" in md
    assert "| target | runner | full cold: seconds | full warm: seconds | tests (last run) |" in md
    assert "| x86_64-linux-py3.11 | r | 10.0 | 10.0 | 5 passed, 0 failed, 1 skipped |" in md


def test_from_an_empty_history_nothing_is_invented(tmp_path):
    walls = matrix_wall.from_history(tmp_path)
    assert [w.seconds for w in walls] == [None, None, None, None]
    assert "no passing core run with a cold cache" in walls[0].reason
    text = report.format_text(matrix_wall.rows(walls))
    assert "not measured" in text and "missing" in text
