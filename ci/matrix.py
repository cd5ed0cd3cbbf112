"""The matrix: provision, build and run the suite for each target; report; exit status.

``python -m ci matrix [--targets a,b] [--pythons 3.14,3.15] [--jobs N] [-- PYTEST ARGS]`` (the
nox sessions call this; FIBER_TARGETS and FIBER_PYTHONS are the defaults of the two selections).
A target is an ABI x CPython pair (ci/targets.py). Host tools are checked first (installed as
root, otherwise the run stops with the apt-get command). Then, per target: its sysroot or Wine
prefix, its build, its pytest run. The work that does not depend on the Python version (the C
conformance program's build and run, and the tests that drive the host's own tools) is done
once per ABI in a run, by that ABI's first selected target; the ABI's other targets run the
rest of the suite, and each row of the report says where its ABI's share ran. A target that
fails at any step is reported as failed with the reason and the others still run. At the end:
reports/matrix.json, reports/matrix.md, a summary table, the failed tests with their targets,
the run's wall time with the cache state it started from (one more line in
reports/matrix-history.jsonl: ci/history.py), and a closing 'matrix: N passed, N failed,
N skipped' line. Exit status 1 when any target failed or ran no test, 2 when the run could not
start.
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

from ci import (
    build,
    cache_state,
    hangwatch,
    history,
    paths,
    provision,
    reports,
    runners,
    streamed,
    targets,
)
from ci.runners import Prepared
from ci.targets import Target
from ci.tools import SetupError

Log = Callable[[str], None]

# Two targets at a time: a QEMU target's pytest is one emulated process busy at a time, so on
# 2 cores two targets side by side beat one after the other (measured: see the README).
DEFAULT_JOBS = 2


@dataclass
class RunOutcome:
    returncode: int | None  # None when it was stopped by the run timeout
    output_tail: str
    timed_out: bool = False


def prepare(target: Target, log: Log) -> Prepared:
    return runners.kind(target).prepare(target, log)


def do_build(target: Target, prepared: Prepared, per_abi: bool = True) -> build.Built:
    return build.build_target(target, prepared.sysroot, per_abi=per_abi)


def run_process(inv: runners.Invocation, logfile: Path, log: Log) -> RunOutcome:
    """Run the pytest command, streaming its output to `log` and `logfile`; stop it on timeout."""
    env = dict(os.environ)
    for k in inv.unset:
        env.pop(k, None)
    env.update(inv.env)
    out = streamed.run(
        inv.argv, cwd=paths.ROOT, env=env, logfile=logfile, log=log, timeout=inv.timeout
    )
    return RunOutcome(out.returncode, out.tail, timed_out=out.returncode is None)


@dataclass
class Stages:
    """The steps of one target; tests swap in fakes."""

    prepare: Callable[[Target, Log], Prepared] = prepare
    build: Callable[[Target, Prepared, bool], build.Built] = do_build
    run: Callable[[runners.Invocation, Path, Log], RunOutcome] = run_process
    invocation: Callable[..., runners.Invocation] = runners.pytest_invocation


PYTEST_EXIT = {2: "interrupted", 3: "internal error", 4: "usage error", 5: "no tests collected"}


def run_target(
    target: Target,
    *,
    pytest_args: tuple[str, ...] = (),
    reports_dir: Path,
    per_abi_in: str = "",
    stages: Stages | None = None,
    log: Log = print,
) -> reports.TargetResult:
    """Prepare, build and test one target; every failure ends up in its result and its XML.

    `per_abi_in`: the target of the same ABI that does the ABI's once-per-ABI work in this run
    ("": this one does it).
    """
    stages = stages or Stages()
    started = time.monotonic()
    result = reports.TargetResult(
        target.name, target.runner, abi=target.abi.name, per_abi=per_abi_in or reports.HERE
    )
    junit = reports_dir / f"{target.name}.xml"
    logfile = reports_dir / f"{target.name}.log"
    for stale in (junit, logfile):
        stale.unlink(missing_ok=True)
    shutil.rmtree(reports_dir / ".hang" / target.name, ignore_errors=True)

    def fail(step: str, message: str) -> None:
        result.error = result.error or f"{step}: {message}"
        reports.add_harness_failure(junit, target.name, step, message)

    try:
        try:
            prepared = stages.prepare(target, log)
        except (SetupError, OSError) as e:
            fail("provision", str(e))
            return result
        result.python = prepared.python
        try:
            built = stages.build(target, prepared, not per_abi_in)
        except build.BuildError as e:
            log(f"{target.name}: {e}")
            fail("build", str(e))
            return result
        result.notes += built.notes
        for note in built.notes:
            log(f"{target.name}: note: {note}")

        def invocation(**isolate: bool) -> runners.Invocation:
            return stages.invocation(
                target,
                prepared,
                junit=junit,
                conformance=built.conformance,
                per_abi_in=per_abi_in,
                pytest_args=tuple(pytest_args),
                **isolate,
            )

        def run(inv: runners.Invocation) -> RunOutcome:
            log(
                f"{target.name}: $ "
                f"{' '.join(f'{k}={shlex.quote(v)}' for k, v in inv.env.items())} "
                f"{shlex.join(inv.argv)}"
            )
            return stages.run(inv, logfile, log)

        inv = invocation()
        result.python = inv.python
        outcome = run(inv)
        if not inv.isolated and not outcome.timed_out and not junit.is_file():
            # One pytest process ran the suite and died (a crash, or the hang watch ended
            # it) before writing its report: run it again with every test in an xdist
            # worker, so that the culprit fails alone and every other test still reports.
            log(
                f"{target.name}: the pytest process exited {outcome.returncode} without its "
                "report; running the suite again with each test in an xdist worker"
            )
            hang_dir = inv.env.get("FIBER_HANG_DIR")
            if hang_dir:
                shutil.rmtree(hang_dir, ignore_errors=True)
            inv = invocation(isolate=True)
            outcome = run(inv)
        if outcome.timed_out:
            fail(
                "timeout",
                f"the pytest run on {target.name} was stopped after "
                f"{inv.timeout:g} s (FIBER_RUN_TIMEOUT); its output ended with:\n"
                f"{outcome.output_tail}",
            )
        elif not junit.is_file():
            fail(
                "pytest",
                f"pytest on {target.name} exited {outcome.returncode} without a "
                f"report; its output ended with:\n{outcome.output_tail}",
            )
        elif outcome.returncode in PYTEST_EXIT:
            fail(
                f"pytest-exit-{outcome.returncode}",
                f"pytest on {target.name} exited {outcome.returncode} "
                f"({PYTEST_EXIT[outcome.returncode]}); output ended with:\n"
                f"{outcome.output_tail}",
            )
        hang_dir = inv.env.get("FIBER_HANG_DIR")
        hung = hangwatch.hung_tests(Path(hang_dir)) if hang_dir else {}
        for test_id in hung:
            log(
                f"{target.name}: {test_id} hung (still running after "
                f"{runners.hang_backstop(inv.test_timeout):g} s); its worker was ended"
            )
        reports.mark_hangs(junit, hung, target.name, runners.hang_backstop(inv.test_timeout))
        counts = reports.parse_junit(junit)
        if not result.error:
            if outcome.returncode != 0 and counts.failed == 0:
                fail(
                    "pytest",
                    f"pytest on {target.name} exited {outcome.returncode} but its "
                    f"report shows no failed test; output ended with:\n"
                    f"{outcome.output_tail}",
                )
            elif counts.passed + counts.failed == 0:
                fail(
                    "ran-no-test",
                    f"{target.name} ran no test: {counts.skipped} skipped, none passed or failed",
                )
    except Exception as e:  # a bug in the harness still shows as this target's failure
        fail("harness", f"{type(e).__name__}: {e}")
    finally:
        if junit.is_file():
            counts = reports.parse_junit(junit)
            result.passed, result.failed, result.skipped = (
                counts.passed,
                counts.failed,
                counts.skipped,
            )
            result.failures = counts.failures
        result.seconds = time.monotonic() - started
    return result


def run_matrix(
    selected: list[Target],
    *,
    pytest_args: tuple[str, ...] = (),
    reports_dir: Path = paths.REPORTS,
    jobs: int = DEFAULT_JOBS,
    stages: Stages | None = None,
    log: Log = print,
    ensure_tools: Callable[[list[Target]], object] = provision.ensure_tools,
    look_at_cache: Callable[[list[Target]], cache_state.CacheState] = cache_state.of,
    revision: dict | None = None,
) -> tuple[int, list[reports.TargetResult]]:
    """Run the targets (sequentially, or `jobs` at a time); write reports; return exit status.

    `revision` (the commit, for the record) is looked up with git when not given.
    """
    started, started_at = time.monotonic(), history.now()
    # Looked at before anything can fill it: the state the run started from is what its wall
    # time depends on.
    cache = look_at_cache(selected)
    log(
        f"matrix: cache {cache.cache}: {cache.kind} at start"
        + (f" (missing: {', '.join(cache.missing)})" if cache.kind == cache_state.MIXED else "")
    )
    reports_dir.mkdir(parents=True, exist_ok=True)

    def finish(status: int, results: list[reports.TargetResult]) -> dict:
        record = history.make_record(
            ran=[t.name for t in selected],
            all_targets=targets.NAMES,
            core=targets.core_names(),
            pytest_args=pytest_args,
            cache=asdict(cache),
            wall_seconds=time.monotonic() - started,
            status=status,
            jobs=jobs,
            rows=[r.row() for r in results],
            date=started_at,
            revision=revision,
        )
        reports.write_matrix(results, reports_dir, record)
        history.append(record, reports_dir)
        return record

    try:
        ensure_tools(selected)
    except provision.ProvisionError as e:
        log(f"matrix: error: {e}")
        results = [
            reports.TargetResult(t.name, t.runner, error=f"provision: {e}") for t in selected
        ]
        finish(2, results)
        return 2, results

    carriers = targets.per_abi_carriers(selected)

    def one(t: Target) -> reports.TargetResult:
        tlog = log if jobs <= 1 else (lambda line, _n=t.name: log(f"[{_n}] {line}"))
        carrier = carriers[t.abi.name]
        per_abi_in = "" if carrier == t else carrier.name
        tlog(
            f"=== {t.name} ({t.runner}"
            + (f"; the {t.abi.name} C conformance runs in {per_abi_in}" if per_abi_in else "")
            + ") ==="
        )
        r = run_target(
            t,
            pytest_args=pytest_args,
            reports_dir=reports_dir,
            per_abi_in=per_abi_in,
            stages=stages,
            log=tlog,
        )
        tlog(
            f"=== {t.name}: {r.status}: {r.passed} passed, {r.failed} failed, "
            f"{r.skipped} skipped in {r.seconds:.1f} s ==="
        )
        return r

    if jobs <= 1:
        results = [one(t) for t in selected]
    else:
        order = schedule(selected, history.read(reports_dir))
        with ThreadPoolExecutor(max_workers=jobs) as pool:
            futures = {t.name: pool.submit(one, t) for t in order}
            results = [futures[t.name].result() for t in selected]  # reported in table order
    status = 0 if all(r.ok for r in results) else 1
    record = finish(status, results)
    log("")
    log(reports.format_text(results))
    problems = reports.details(results)
    if problems:
        log("")
        log("failures:")
        log(problems)
    log("")
    rel = (
        reports_dir.relative_to(paths.ROOT)
        if reports_dir.is_relative_to(paths.ROOT)
        else reports_dir
    )
    log(
        f"reports: {rel}/matrix.json, {rel}/matrix.md, {rel}/<target>.xml, {rel}/<target>.log, "
        f"{rel}/{history.FILE}"
    )
    for line in wall_time_lines(record, results):
        log(line)
    log(reports.closing_line(reports.totals(results)))
    return status, results


def schedule(selected: list[Target], records: list[dict]) -> list[Target]:
    """The order in which to start the targets when several run at once: longest first (by
    each target's seconds in the newest run that has it; a target never timed counts as
    longest), so that a long emulated target does not start last and run alone at the end.
    Ties keep the table's order."""
    last: dict[str, float] = {}
    for rec in records:
        for row in rec.get("targets", []):
            if isinstance(row.get("seconds"), (int, float)) and row.get("ok"):
                last[row.get("target", "")] = float(row["seconds"])
    return sorted(selected, key=lambda t: -last.get(t.name, float("inf")))


def wall_time_lines(record: dict, results: list[reports.TargetResult]) -> list[str]:
    """What the run's wall time stands for, and plainly when it stands for no matrix time."""
    lines = [
        f"matrix: wall time {record['wall_seconds']:.1f} s, cache {record['cache']} at "
        f"start, " + ("full matrix" if record["full"] else f"partial run: {record['partial']}")
    ]
    unprovisioned = [r.target for r in results if r.error.startswith("provision:")]
    if unprovisioned:
        # Sysroots come from the Debian mirror: a network or mirror outage lands here, and
        # such a run is short, not fast.
        lines.append(
            f"matrix: provisioning failed for {', '.join(unprovisioned)} (the "
            "reason is above; a sysroot is downloaded from the Debian mirror, so a "
            "network or mirror outage shows here: check it, or set "
            "FIBER_DEBIAN_MIRROR); this run's wall time is not a matrix time"
        )
    elif not record["ok"]:
        lines.append(
            "matrix: some targets failed; this run's wall time is not quoted as a matrix time"
        )
    return lines


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m ci matrix", description="Build and test every target (or some)."
    )
    parser.add_argument(
        "--targets",
        default=os.environ.get("FIBER_TARGETS", ""),
        help="comma-separated target names, or ABI names for all their pairs (default: all; "
        "env FIBER_TARGETS)",
    )
    parser.add_argument(
        "--pythons",
        default=os.environ.get("FIBER_PYTHONS", ""),
        help="comma-separated CPython versions: only the pairs on those (env FIBER_PYTHONS)",
    )
    parser.add_argument(
        "--jobs",
        type=int,
        default=int(os.environ.get("FIBER_JOBS") or DEFAULT_JOBS),
        help="targets run at once (env FIBER_JOBS)",
    )
    parser.add_argument("pytest_args", nargs="*", help="after --: passed to pytest")
    args = parser.parse_args(argv)
    try:
        selected = targets.select(args.targets, args.pythons)
    except targets.UnknownTarget as e:
        print(f"matrix: error: {e}", file=sys.stderr)
        return 2
    if not selected:
        print(
            f"matrix: error: no target is on CPython {args.pythons} among {args.targets}",
            file=sys.stderr,
        )
        return 2
    status, _ = run_matrix(
        selected,
        pytest_args=tuple(args.pytest_args),
        jobs=args.jobs,
        log=lambda s: print(s, flush=True),
    )
    return status
