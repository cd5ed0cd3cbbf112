"""Matrix runs are recorded: cold or warm cache at the start, full or partial, wall time, and
one line per run in reports/matrix-history.jsonl; the newest full, passing run of a kind is the
only one quoted as the matrix's time."""

from __future__ import annotations

import json
from pathlib import Path

from ci import build, cache_state, history, matrix, reports, runners, sysroots, targets
from ci.runners import wine

REV = {"commit": "abc1234", "dirty": False}


# ---- cold / warm detection ------------------------------------------------------------------


def fill_sysroot(cache: Path, name: str, key: str | None = None) -> None:
    spec = sysroots.spec_for(targets.get(name))
    path = sysroots.sysroot_dir(spec, cache)
    if path.exists():  # two pairs of one suite share it
        return
    path.mkdir(parents=True)
    pythons = {v: {"python": f"{v}.0", "ext_suffix": ".so", "magic": "0"} for v in spec.versions}
    (path / sysroots.MARKER).write_text(json.dumps({"key": key or spec.key, "pythons": pythons}))


def fill_wine(cache: Path) -> None:
    prefix = wine.prefix_dir(cache)
    prefix.mkdir(parents=True)
    (prefix / "system.reg").write_text("")
    (prefix / wine.MARKER).write_text("complete\n")


def fill_all(cache: Path) -> None:
    for t in targets.TARGETS:
        if t.runner_kind in ("qemu", "loader"):
            fill_sysroot(cache, t.name)
    fill_wine(cache)


def test_new_empty_cache_is_cold(tmp_path):
    state = cache_state.of(targets.TARGETS, tmp_path / "new")
    assert state.kind == cache_state.COLD
    assert state.present == []
    assert "Wine prefix" in state.missing and "sysroot sid arm64" in state.missing
    assert state.missing.count("sysroot sid arm64") == 1  # 3.14 and 3.15 share it
    assert state.cache == str(tmp_path / "new")


def test_everything_there_is_warm(tmp_path):
    fill_all(tmp_path)
    state = cache_state.of(targets.TARGETS, tmp_path)
    assert state.kind == cache_state.WARM and state.missing == []


def test_some_there_is_mixed(tmp_path):
    fill_sysroot(tmp_path, "i686-linux-py3.11")
    state = cache_state.of(targets.TARGETS, tmp_path)
    assert state.kind == cache_state.MIXED
    assert state.present == ["sysroot bookworm i386"]


def test_what_the_run_would_not_reuse_does_not_warm_the_cache(tmp_path):
    """A sysroot under an older key, a half-built one, a prefix without its marker."""
    fill_sysroot(tmp_path, "aarch64-linux-py3.14", key="0123456789ab")
    armhf = sysroots.spec_for(targets.get("armhf-linux-py3.11"))
    sysroots.sysroot_dir(armhf, tmp_path).mkdir(parents=True)
    wine.prefix_dir(tmp_path).mkdir(parents=True)
    assert cache_state.of(targets.TARGETS, tmp_path).kind == cache_state.COLD


def test_only_the_selected_targets_count(tmp_path):
    fill_sysroot(tmp_path, "i686-linux-py3.11")
    assert cache_state.of(targets.select("i686-linux-py3.11"), tmp_path).kind == cache_state.WARM
    native = targets.select("x86_64-linux-py3.11")
    assert cache_state.of(native, tmp_path).kind == cache_state.UNUSED
    assert cache_state.of(targets.select("x86_64-linux"), tmp_path).kind == cache_state.COLD


def test_cache_folder_comes_from_fiber_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("FIBER_CACHE", str(tmp_path))
    fill_wine(tmp_path)
    state = cache_state.of(targets.select("x86_64-windows"))
    assert (state.kind, state.cache) == (cache_state.WARM, str(tmp_path))


# ---- full or partial ------------------------------------------------------------------------


def test_full_means_every_target_and_the_whole_suite():
    assert history.partial_reason(list(targets.NAMES), targets.NAMES, ()) == ""
    one = history.partial_reason(["armhf-linux-py3.11"], targets.NAMES, ())
    assert one.startswith(f"1 of {len(targets.NAMES)} targets (not run: x86_64-linux-py3.11,")
    assert one.endswith(f"and {len(targets.NAMES) - 13} more)")
    k = history.partial_reason(list(targets.NAMES), targets.NAMES, ("-k", "registers"))
    assert "pytest arguments '-k registers'" in k


def record(**kw) -> dict:
    defaults = dict(
        ran=list(targets.NAMES),
        all_targets=targets.NAMES,
        pytest_args=(),
        cache={"kind": "cold", "cache": "/c", "missing": []},
        wall_seconds=148.71,
        status=0,
        jobs=2,
        rows=[{"target": "x86_64-linux", "ok": True}],
        date="2026-11-24T10:00:00Z",
        revision=REV,
        env={},
    )
    defaults.update(kw)
    return history.make_record(**defaults)


def test_record_fields():
    rec = record(env={"FIBER_WORKERS": "1", "HOME": "/root"})
    assert rec["date"] == "2026-11-24T10:00:00Z" and rec["commit"] == "abc1234"
    assert rec["targets_run"] == list(targets.NAMES) and rec["full"] is True
    assert rec["partial"] == "" and rec["cache"] == "cold" and rec["cache_dir"] == "/c"
    assert rec["wall_seconds"] == 148.7 and rec["ok"] is True and rec["jobs"] == 2
    assert rec["settings"] == {"FIBER_WORKERS": "1"}
    assert rec["targets"] == [{"target": "x86_64-linux", "ok": True}]
    assert rec["scope"] == "full"
    partial = record(ran=["i686-linux-py3.11"])
    assert partial["full"] is False and "not run" in partial["partial"]
    assert partial["scope"] == "partial"


def test_a_run_of_the_core_targets_is_scoped_core():
    core = targets.core_names()
    rec = record(ran=core, core=core)
    assert rec["full"] is False and rec["scope"] == "core"
    assert record(ran=core, core=core, pytest_args=("-k", "x"))["scope"] == "partial"
    assert history.newest([rec], "cold", "core") == rec
    assert history.newest([rec], "cold") is None


# ---- the history file -----------------------------------------------------------------------


def test_history_appends_one_line_per_run_and_reads_them_back(tmp_path):
    history.append(record(wall_seconds=1), tmp_path)
    history.append(record(wall_seconds=2), tmp_path)
    lines = (tmp_path / history.FILE).read_text().splitlines()
    assert len(lines) == 2 and all(json.loads(x)["commit"] == "abc1234" for x in lines)
    assert [r["wall_seconds"] for r in history.read(tmp_path)] == [1, 2]


def test_broken_and_missing_history(tmp_path):
    assert history.read(tmp_path) == []
    history.append(record(wall_seconds=3), tmp_path)
    with open(tmp_path / history.FILE, "a") as fh:
        fh.write('{"date": "2026-11-24T1')  # a run killed while writing
    history.append(record(wall_seconds=4), tmp_path)
    assert [r["wall_seconds"] for r in history.read(tmp_path)] == [3, 4]


def test_newest_picks_full_passing_runs_of_the_kind_only():
    recs = [
        record(wall_seconds=150, cache={"kind": "cold", "cache": "/a"}),
        record(wall_seconds=80, cache={"kind": "warm", "cache": "/a"}),
        record(wall_seconds=149, cache={"kind": "cold", "cache": "/b"}),
        record(wall_seconds=20, ran=["x86_64-linux-py3.11"], cache={"kind": "warm", "cache": "/b"}),
        record(wall_seconds=30, pytest_args=("-k", "x"), cache={"kind": "warm", "cache": "/b"}),
        record(wall_seconds=40, status=1, cache={"kind": "warm", "cache": "/b"}),
        record(wall_seconds=10, status=1, cache={"kind": "cold", "cache": "/b"}),
        record(wall_seconds=90, cache={"kind": "mixed", "cache": "/b"}),
    ]
    assert history.newest(recs, "cold")["wall_seconds"] == 149
    assert history.newest(recs, "warm")["wall_seconds"] == 80
    assert history.newest(recs[3:], "warm") is None


# ---- the matrix run writes it ---------------------------------------------------------------


def passing_run(inv, logfile, log):
    junit = Path(next(a for a in inv.argv if a.startswith("--junitxml=")).split("=", 1)[1])
    junit.write_text('<testsuite><testcase classname="t" name="a"/></testsuite>')
    return matrix.RunOutcome(0, "")


def fake_stages() -> matrix.Stages:
    return matrix.Stages(
        prepare=lambda t, log: runners.Prepared("3.11"),
        build=lambda t, p, per_abi: build.Built(),
        run=passing_run,
        invocation=lambda t, prepared, *, junit, **kw: runners.Invocation(
            ["true", f"--junitxml={junit}"], {}, (), 10, 1, "3.11"
        ),
    )


def run(tmp_path, selected, state="warm", pytest_args=(), lines=None):
    return matrix.run_matrix(
        selected,
        reports_dir=tmp_path,
        stages=fake_stages(),
        pytest_args=pytest_args,
        log=(lines.append if lines is not None else lambda s: None),
        ensure_tools=lambda sel: None,
        revision=REV,
        look_at_cache=lambda sel: cache_state.CacheState(state, "/cache"),
    )


def test_matrix_run_records_wall_time_cache_and_scope(tmp_path):
    lines: list[str] = []
    status, _ = run(tmp_path, list(targets.TARGETS), state="cold", lines=lines)
    assert status == 0
    data = json.loads((tmp_path / "matrix.json").read_text())
    assert data["full"] is True and data["cache"] == "cold" and data["ok"] is True
    assert isinstance(data["wall_seconds"], float) and data["commit"] == "abc1234"
    assert [r["target"] for r in data["targets"]] == list(targets.NAMES)
    assert history.read(tmp_path) == [data]
    assert lines[0] == "matrix: cache /cache: cold at start"
    assert "cache cold at start, full matrix" in lines[-2]
    assert lines[-1].startswith("matrix: ")  # the closing line stays last


def test_single_target_run_is_partial_and_never_quoted(tmp_path):
    run(tmp_path, list(targets.TARGETS), state="warm")
    full = json.loads((tmp_path / "matrix.json").read_text())
    lines: list[str] = []
    run(tmp_path, targets.select("x86_64-linux-py3.11"), state="unused", lines=lines)
    run(tmp_path, list(targets.TARGETS), state="warm", pytest_args=("-k", "registers"))
    recs = history.read(tmp_path)
    assert [r["full"] for r in recs] == [True, False, False]
    assert "partial run: 1 of" in "\n".join(lines)
    # matrix.json is the last (partial) run, but the quoted warm run is still the full one.
    assert json.loads((tmp_path / "matrix.json").read_text())["full"] is False
    assert history.newest(recs, "warm") == full


def test_tools_missing_is_recorded_as_a_failed_run(tmp_path):
    from ci import provision

    def ensure(sel):
        raise provision.ProvisionError("missing host tools")

    status, _ = matrix.run_matrix(
        list(targets.TARGETS),
        reports_dir=tmp_path,
        log=lambda s: None,
        ensure_tools=ensure,
        revision=REV,
        look_at_cache=lambda sel: cache_state.CacheState("cold", "/cache"),
    )
    assert status == 2
    (rec,) = history.read(tmp_path)
    assert rec["ok"] is False and rec["status"] == 2 and history.newest([rec], "cold") is None


def test_provisioning_failure_says_why_the_time_is_no_matrix_time(tmp_path):
    def prepare(t, log):
        if t.runner_kind == "qemu":
            raise sysroots.SysrootError(
                f"mmdebstrap failed for {t.name} (exit 1):\n"
                "E: Failed to fetch http://deb.debian.org/..."
            )
        return runners.Prepared("3.11")

    stages = fake_stages()
    stages.prepare = prepare
    lines: list[str] = []
    status, _ = matrix.run_matrix(
        list(targets.TARGETS),
        reports_dir=tmp_path,
        stages=stages,
        log=lines.append,
        ensure_tools=lambda sel: None,
        revision=REV,
        look_at_cache=lambda sel: cache_state.CacheState("cold", "/cache"),
    )
    assert status == 1
    out = "\n".join(lines)
    assert "matrix: provisioning failed for i686-linux-py3.11, i686-linux-py3.13" in out
    assert "Debian mirror" in out and "not a matrix time" in out
    rows = {r["target"]: r for r in reports.read_matrix(tmp_path)}
    assert rows["i686-linux-py3.11"]["error"].startswith("provision: mmdebstrap failed")
