"""Build the C conformance program with a tool's flags and run its cases one by one.

Shared by the sanitize and valgrind sessions. Each case runs as its own process
(``conformance CASE_NAME`` runs that case in-process), so a tool's report belongs to exactly
one case and a case's leak check covers only what that case did.

A case is clean when: the process exits 0, its one result line says PASS (or SKIP, reported
as such), and the tool's checker finds nothing in its stderr. Cases that cannot run under a
tool are excluded by name, with the reason printed; an exclusion naming a case the program
does not have is itself a failure, so exclusions cannot go stale silently.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from fiber import _build

LINE_RE = re.compile(r"^CASE (\S+) (PASS|FAIL|SKIP)(?: (.*))?$")
CASE_TIMEOUT = 900  # seconds; valgrind makes the 1,000-fiber cases slow, never this slow


def build(cc: str, cflags: tuple[str, ...], output: Path) -> Path:
    """The conformance program for the host CPU, compiled by `cc` with `cflags` added.

    Raises SystemExit with the compiler's output when the build fails.
    """
    tc = _build.Toolchain(cc=tuple(shlex.split(cc)), arch=_build.host_arch(), cflags=tuple(cflags))
    try:
        return _build.build_conformance(tc, output)
    except subprocess.CalledProcessError as exc:
        cmd = exc.cmd if isinstance(exc.cmd, str) else shlex.join(map(str, exc.cmd))
        raise SystemExit(f"building the conformance program failed:\n{cmd}\n{exc.stdout}") from None


def list_cases(exe: Path) -> list[str]:
    proc = subprocess.run([str(exe), "--list"], stdout=subprocess.PIPE, text=True, check=True)
    return [line.strip() for line in proc.stdout.splitlines() if line.strip()]


@dataclass
class CaseRun:
    name: str
    command: list[str]
    returncode: int
    stdout: str
    stderr: str
    seconds: float
    status: str = ""  # PASS, FAIL, SKIP, or "" when no result line
    reason: str = ""
    problems: list[str] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not self.problems

    def transcript(self, limit: int = 8000) -> str:
        text = (
            f"    command: {shlex.join(self.command)}\n    exit status: {self.returncode}\n"
            f"    --- stdout ---\n{self.stdout}    --- stderr ---\n{self.stderr}"
        )
        return text if len(text) <= limit else text[:limit] + "\n    [... truncated]"


def run_case(
    prefix: list[str],
    exe: Path,
    case: str,
    env: dict[str, str],
    stderr_problems: Callable[[str], list[str]],
) -> CaseRun:
    command = [*prefix, str(exe), case]
    start = time.monotonic()
    try:
        proc = subprocess.run(
            command,
            capture_output=True,
            text=True,
            errors="replace",
            env=env,
            timeout=CASE_TIMEOUT,
        )
        rc, out, err = proc.returncode, proc.stdout, proc.stderr
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout.decode(errors="replace") if isinstance(exc.stdout, bytes) else ""
        err = exc.stderr.decode(errors="replace") if isinstance(exc.stderr, bytes) else ""
        rc = -1
        err += f"\n[timed out after {CASE_TIMEOUT} s]"
    run = CaseRun(case, command, rc, out, err, time.monotonic() - start)
    lines = [m for m in map(LINE_RE.match, out.splitlines()) if m]
    if len(lines) == 1 and lines[0].group(1) == case:
        run.status, run.reason = lines[0].group(2), lines[0].group(3) or ""
    else:
        run.problems.append(f"expected one result line for {case}, got {len(lines)}")
    if run.status == "FAIL":
        run.problems.append(f"the case failed: {run.reason}")
    if rc != 0:
        run.problems.append(f"exit status {rc}")
    run.problems += stderr_problems(err)
    return run


def run_suite(
    label: str,
    exe: Path,
    prefix: list[str],
    env: dict[str, str],
    excluded: dict[str, str],
    stderr_problems: Callable[[str], list[str]],
    only: list[str] | None = None,
) -> int:
    """Run every case (or `only`) except `excluded`; print one line per case. Returns the
    number of problems (cases not clean, stale exclusions, unknown names)."""
    cases = list_cases(exe)
    failures = 0
    for name in sorted(set(excluded) - set(cases)):
        print(f"[{label}] STALE EXCLUSION {name}: the program has no such case")
        failures += 1
    for name in sorted(set(only or ()) - set(cases)):
        print(f"[{label}] UNKNOWN CASE {name} (see {exe} --list)")
        failures += 1
    ran = skipped = not_clean = 0
    for case in cases:
        if only and case not in only:
            continue
        if case in excluded:
            print(f"[{label}] EXCLUDED {case}: {excluded[case]}")
            continue
        run = run_case(prefix, exe, case, env, stderr_problems)
        ran += 1
        if run.clean:
            word = "SKIP" if run.status == "SKIP" else "CLEAN"
            skipped += run.status == "SKIP"
            extra = f" ({run.reason})" if run.status == "SKIP" else ""
            print(f"[{label}] {word} {case} ({run.seconds:.1f} s){extra}")
        else:
            not_clean += 1
            print(f"[{label}] NOT CLEAN {case}: {'; '.join(run.problems)}\n{run.transcript()}")
        sys.stdout.flush()
    n_excluded = len([c for c in cases if c in excluded])
    print(
        f"[{label}] {ran} cases run: {ran - not_clean - skipped} clean, {skipped} skipped, "
        f"{not_clean} not clean; {n_excluded} excluded"
    )
    return failures + not_clean
