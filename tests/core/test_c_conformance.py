"""The C conformance suite of the fiber core, as pytest items.

``tests/core/c/conformance.c`` is one C program that exercises the public C API (fiber.h) case by
case and prints one line per case: ``CASE <name> PASS``, ``CASE <name> FAIL <reason>`` or
``CASE <name> SKIP <reason>``. Here it runs once per session and every case becomes a pytest
item, so each target reports its C results next to its Python ones.

Which program runs:

- ``FIBER_CONFORMANCE_EXE`` set (the harness, on any target): that prebuilt program, through
  the ``FIBER_RUNNER`` prefix (``qemu-aarch64 -L SYSROOT``, ``wine``, ...). The harness should
  build it with :func:`fiber._build.build_conformance`, which knows the flags the program needs.
- unset (a plain ``pytest``): the program is built here for the host.

``test_cross_target_case``: on a host run (``FIBER_TARGET`` unset) the program is also built
for every other ABI of ci/targets.py with that ABI's compiler and run the way its runner kind
runs it (``qemu-ARCH -L SYSROOT``, Wine), with a sysroot or the Wine prefix the harness cached
for one of the ABI's targets (the program does not depend on the Python version); skipped,
with the reason and the command that provides it, where a compiler, an emulator or that cache
entry is missing.

To run the program by hand: ``conformance --list``, ``conformance`` (every case, each in a
forked child on POSIX), ``conformance CASE_NAME`` (one case, in-process, for a debugger).
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from ci import provision, runners
from ci.targets import ABIS, Abi, Target, pairs_of
from ci.tools import find_tool
from fiber import _build

pytestmark = pytest.mark.target_program


# Every case of conformance.c, in the program's order. A test below checks this list against
# the program's --list, so a case can neither vanish silently nor go unreported.
CASES = [
    "entry_not_run_before_first_resume",
    "suspend_resume_values_both_ways",
    "thousand_fibers_interleaved",
    "nested_fibers",
    "callee_saved_registers",
    "fp_control_travels_with_fiber",
    "fp_control_is_the_threads_by_default",
    "stack_aligned_per_abi",
    "stack_sizes",
    "unmappable_stack_size_is_an_error",
    "deep_recursion_within_stack",
    "guard_page_write_kills_with_sigsegv",
    "pool_reuses_stacks",
    "backtrace_crosses_into_resumer",
    "resume_from_another_thread",
    "resume_finished_fiber_is_an_error",
    "suspend_outside_fiber_is_an_error",
    "resume_running_fiber_is_an_error",
    "destroy_suspended_fiber",
    "null_arguments_are_einval",
    "strerror_describes_every_status",
    "size_overflow_is_einval",
    "owning_fiber_keeps_mxcsr",
    "thread_local_state_after_migration_through_out_of_line_reads",
    "null_fiber_queries_give_null",
    "guard_size_setting_applies_to_new_fibers",
    "frame_larger_than_a_page_is_a_reported_overflow",
    "mapping_limit_is_enomem_and_leaks_nothing",
]

TARGET = os.environ.get("FIBER_TARGET", "")
RUNNER = tuple(shlex.split(os.environ.get("FIBER_RUNNER", "")))
PREBUILT = os.environ.get("FIBER_CONFORMANCE_EXE", "")

# Generous: the whole program takes well under a second natively, some seconds under QEMU,
# and Wine's first start creates its prefix.
RUN_TIMEOUT = 900

LINE_RE = re.compile(r"^CASE (\S+) (PASS|FAIL|SKIP)(?: (.*))?$")


@dataclass
class Run:
    """One run of the program: its output, parsed."""

    command: list[str]
    returncode: int
    stdout: str
    stderr: str
    results: dict[str, tuple[str, str]]  # name -> (PASS|FAIL|SKIP, reason)
    stray: list[str]  # stdout lines that are not result lines

    def transcript(self, limit: int = 6000) -> str:
        text = (
            f"command: {shlex.join(self.command)}\nexit status: {self.returncode}\n"
            f"--- stdout ---\n{self.stdout}--- stderr ---\n{self.stderr}"
        )
        return text if len(text) <= limit else text[:limit] + "\n[... truncated]"


def run_program(command: list[str], *args: str, env: dict[str, str] | None = None) -> Run:
    try:
        proc = subprocess.run(
            [*command, *args],
            capture_output=True,
            text=True,
            errors="replace",
            timeout=RUN_TIMEOUT,
            env=env,
        )
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout.decode(errors="replace") if isinstance(exc.stdout, bytes) else ""
        return Run([*command, *args], -1, out, f"timed out after {RUN_TIMEOUT} s", {}, [])
    results: dict[str, tuple[str, str]] = {}
    stray = []
    for line in proc.stdout.splitlines():
        line = line.rstrip("\r")  # Windows programs under Wine write CRLF
        m = LINE_RE.match(line)
        if m:
            results[m.group(1)] = (m.group(2), m.group(3) or "")
        elif line.strip():
            stray.append(line)
    return Run([*command, *args], proc.returncode, proc.stdout, proc.stderr, results, stray)


def listed_cases(command: list[str], env: dict[str, str] | None = None) -> list[str]:
    run = run_program(command, "--list", env=env)
    assert run.returncode == 0, f"--list failed\n{run.transcript()}"
    return [line.strip() for line in run.stdout.splitlines() if line.strip()]


def check_case(run: Run, case: str) -> None:
    """Turn the program's line for `case` into this item's outcome."""
    if case not in run.results:
        pytest.fail(
            f"the program printed no result line for {case} (did it crash?)\n{run.transcript()}",
            pytrace=False,
        )
    status, reason = run.results[case]
    if status == "SKIP":
        pytest.skip(reason or "skipped by the program")
    if status == "FAIL":
        pytest.fail(f"{case}: {reason}\n\n{run.transcript()}", pytrace=False)


# ---------------------------------------------------------------------------------------
# The target's program (the host's, on a plain pytest run)
# ---------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def conformance_command(tmp_path_factory) -> list[str]:
    """The command that runs the conformance program of this run's target."""
    if PREBUILT:
        return [*RUNNER, PREBUILT]
    tc = _build.host_toolchain()
    out = tmp_path_factory.mktemp("conformance") / f"conformance{tc.exe_suffix}"
    try:
        _build.build_conformance(tc, out)
    except subprocess.CalledProcessError as exc:
        pytest.fail(f"building the conformance program failed:\n{exc.stdout}", pytrace=False)
    return [*RUNNER, str(out)]


@pytest.fixture(scope="session")
def conformance_run(conformance_command) -> Run:
    return run_program(conformance_command)


def test_case_list_matches_program(conformance_command):
    """The Python list of cases is exactly the program's: no case vanishes silently."""
    assert listed_cases(conformance_command) == CASES


def test_program_output_is_only_result_lines(conformance_run):
    """Every stdout line parses, every case reported once, and the exit status agrees."""
    assert not conformance_run.stray, conformance_run.transcript()
    assert sorted(conformance_run.results) == sorted(CASES), conformance_run.transcript()
    any_fail = any(s == "FAIL" for s, _ in conformance_run.results.values())
    assert (conformance_run.returncode != 0) == any_fail, conformance_run.transcript()


# Cases that cannot run under an emulator, and why.
NOT_UNDER_QEMU = {
    "mapping_limit_is_enomem_and_leaks_nothing": "under QEMU user mode the emulator shares the "
    "process's mapping limit with the guest: its own allocations fail at the limit and it dies "
    "(seen after the case's checks had all passed)",
}


def under_qemu(runner: tuple[str, ...]) -> bool:
    return bool(runner) and Path(runner[0]).name.startswith("qemu-")


@pytest.mark.parametrize("case", CASES)
def test_conformance(case, conformance_run):
    if case in NOT_UNDER_QEMU and under_qemu(RUNNER):
        pytest.skip(NOT_UNDER_QEMU[case])
    check_case(conformance_run, case)


# ---------------------------------------------------------------------------------------
# The other targets on a host run: the table's, run the harness's way
# ---------------------------------------------------------------------------------------

# Every ABI of ci/targets.py that does not run natively here. Each is built with its own
# compiler and run through the runner kind (ci/runners/) of one of its targets with what the
# harness cached for it (`python -m ci provision` makes it): the same prefix and environment
# as in a matrix run.
CROSS_ABIS = [a for a in ABIS if a.runner != "native"]


def _prepared_target(abi: Abi):
    """The first target of `abi` whose runner kind finds what it needs in the cache."""
    for target in pairs_of(abi.name):
        prepared = runners.kind(target).find(target)
        if prepared is not None:
            return target, prepared
    return None


class _CrossRuns:
    """Build and run the program once per cross ABI; remember the outcome."""

    def __init__(self, tmp_path_factory):
        self.tmp = tmp_path_factory
        self.cache: dict[str, tuple[str, object]] = {}

    def get(self, abi: Abi):
        if abi.name not in self.cache:
            self.cache[abi.name] = self._make(abi)
        return self.cache[abi.name]

    def _make(self, abi: Abi):
        first: Target = pairs_of(abi.name)[0]
        missing = [
            cmd
            for cmd, _ in provision.needs(first)
            if not cmd.startswith("/") and find_tool(cmd) is None
        ]
        if missing:
            return (
                "skip",
                f"{', '.join(missing)} not installed (python -m ci provision {abi.name})",
            )
        found = _prepared_target(abi)
        if found is None:
            kind = runners.kind(first)
            return (
                "skip",
                f"no {kind.cache_entry(first)} in the harness's cache "
                f"(python -m ci provision {first.name})",
            )
        target, prepared = found
        kind = runners.kind(target)
        tc = target.toolchain(
            prepared.sysroot.path if prepared.sysroot else None, find_tool(target.cc)
        )
        out = self.tmp.mktemp(f"conformance-{abi.name}") / f"conformance{tc.exe_suffix}"
        try:
            _build.build_conformance(tc, out)
        except subprocess.CalledProcessError as exc:
            return ("fail", f"building for {target.name} failed:\n{exc.stdout}")
        env = {**os.environ, **kind.environment(target, prepared).set}
        command = [*kind.prefix(target, prepared), str(out)]
        try:
            listed = listed_cases(command, env=env)
        except AssertionError as exc:
            return ("fail", str(exc))
        return ("ran", (listed, run_program(command, env=env)))


@pytest.fixture(scope="session")
def cross_runs(tmp_path_factory) -> _CrossRuns:
    return _CrossRuns(tmp_path_factory)


def _cross_outcome(cross_runs, abi):
    if TARGET:
        pytest.skip(f"cross ABIs run on a host run only (this run is for {TARGET})")
    kind, value = cross_runs.get(abi)
    if kind == "skip":
        pytest.skip(value)
    if kind == "fail":
        pytest.fail(value, pytrace=False)
    return value


# On a target run (FIBER_TARGET set) the cross items are not generated at all: each function
# then shows up once, skipped for an empty parameter set, rather than as hundreds of skips.
_CROSS = [] if TARGET else CROSS_ABIS


@pytest.mark.parametrize("abi", _CROSS, ids=[a.name for a in _CROSS])
def test_cross_target_lists_every_case(abi, cross_runs):
    listed, run = _cross_outcome(cross_runs, abi)
    assert listed == CASES
    assert not run.stray, run.transcript()


@pytest.mark.parametrize(
    "abi,case",
    [(a, c) for a in _CROSS for c in CASES],
    ids=[f"{a.name}-{c}" for a in _CROSS for c in CASES],
)
def test_cross_target_case(abi, case, cross_runs):
    if case in NOT_UNDER_QEMU and abi.runner == "qemu":
        pytest.skip(NOT_UNDER_QEMU[case])
    _listed, run = _cross_outcome(cross_runs, abi)
    check_case(run, case)
