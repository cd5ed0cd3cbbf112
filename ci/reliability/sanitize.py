"""`nox -s sanitize`: the core and the C conformance suite under ASan and UBSan.

For each compiler found (clang, then gcc; ``--cc`` picks), the conformance program and the
core are built with ``-fsanitize=address,undefined -fno-sanitize-recover=all`` and every case
runs as its own process with:

    ASAN_OPTIONS  detect_stack_use_after_return=1 (fake stacks: the fiber switch must hand
                  them over through __sanitizer_start/finish_switch_fiber), detect_leaks=1,
                  check_initialization_order=1, strict_init_order=1, halt_on_error=1
    UBSAN_OPTIONS print_stacktrace=1, halt_on_error=1

Clean means exit status 0, the case's PASS line, and no sanitizer report on stderr.

Before running, the session checks that the switch annotation is really compiled in: the core
built with the same flags must reference __sanitizer_start_switch_fiber and
__sanitizer_finish_switch_fiber (fiber_posix.c enables them when it sees
-fsanitize=address). Without them ASan would report every fiber's frames as a stack
overflow, or - worse - silently check the wrong stack.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from ci import paths
from ci.reliability import conformance
from fiber import _build

SAN_FLAGS = (
    "-O1",
    "-fsanitize=address,undefined",
    "-fno-sanitize-recover=all",
    "-fno-omit-frame-pointer",
)

ASAN_OPTIONS = (
    "detect_stack_use_after_return=1:detect_leaks=1:check_initialization_order=1:"
    "strict_init_order=1:halt_on_error=1:abort_on_error=0"
)
UBSAN_OPTIONS = "print_stacktrace=1:halt_on_error=1"

# Cases that cannot run under ASan, and why. Everything else must be clean.
EXCLUDED = {
    "guard_page_write_kills_with_sigsegv": (
        "crashes a child into the guard page on purpose, and checksums its neighbour "
        "fiber's whole raw stack, which under ASan includes poisoned redzones (and, with "
        "detect_stack_use_after_return, locals live on ASan's fake stack, not the fiber's)"
    ),
    "deep_recursion_within_stack": (
        "measures stack use from the addresses of locals: ASan's redzones make each frame "
        "about twice its plain size (the case's 'more than half the stack' check fails), and "
        "with detect_stack_use_after_return the locals sit on the fake stack, so its "
        "stop-before-the-guard test never fires"
    ),
}

REPORT_PATTERNS = (
    re.compile(r"ERROR: AddressSanitizer"),
    re.compile(r"ERROR: LeakSanitizer"),
    re.compile(r"runtime error:"),  # UBSan
    re.compile(r"WARNING: AddressSanitizer"),
    re.compile(r"==\d+==WARNING: ASan"),
)
SWITCH_HOOKS = ("__sanitizer_start_switch_fiber", "__sanitizer_finish_switch_fiber")


def stderr_problems(stderr: str) -> list[str]:
    found = []
    for line in stderr.splitlines():
        if any(p.search(line) for p in REPORT_PATTERNS):
            found.append(f"sanitizer report: {line.strip()}")
    return found[:5]


def check_switch_annotated(cc: str, workdir: Path) -> list[str]:
    """The core compiled with SAN_FLAGS calls both switch hooks: problems found (or [])."""
    tc = _build.Toolchain(cc=(cc,), arch=_build.host_arch(), cflags=SAN_FLAGS)
    obj = workdir / "fiber_posix.o"
    try:
        _build.compile_object(tc, _build.CORE_DIR / "fiber_posix.c", obj)
    except subprocess.CalledProcessError as exc:
        return [f"compiling fiber_posix.c with {cc} failed:\n{exc.stdout}"]
    nm = shutil.which("nm")
    if not nm:
        return ["nm (binutils) is not installed: cannot check the switch annotation"]
    undefined = subprocess.run(
        [nm, "-u", str(obj)], stdout=subprocess.PIPE, text=True, check=True
    ).stdout.split()
    missing = [h for h in SWITCH_HOOKS if h not in undefined]
    if missing:
        return [
            f"the core built with {' '.join(SAN_FLAGS)} by {cc} does not call "
            f"{', '.join(missing)}: the fiber switch is not annotated for ASan "
            "(fiber_posix.c's FIBER_ASAN detection did not fire)"
        ]
    return []


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="python -m ci sanitize")
    ap.add_argument(
        "--cc",
        default="clang,gcc",
        help="comma-separated compilers to try (default: clang,gcc; missing ones "
        "are skipped, but at least one must exist)",
    )
    ap.add_argument("cases", nargs="*", help="run only these cases")
    args = ap.parse_args(argv)
    compilers = [c for c in args.cc.split(",") if c]
    found = [c for c in compilers if shutil.which(c)]
    for c in compilers:
        if c not in found:
            print(f"[sanitize] {c} not installed: skipped (Debian: apt-get install {c})")
    if not found:
        print("[sanitize] no compiler to build with")
        return 2
    env = dict(os.environ, ASAN_OPTIONS=ASAN_OPTIONS, UBSAN_OPTIONS=UBSAN_OPTIONS)
    print(f"[sanitize] ASAN_OPTIONS={ASAN_OPTIONS}\n[sanitize] UBSAN_OPTIONS={UBSAN_OPTIONS}")
    problems = 0
    out_root = paths.BUILD / "sanitize"
    for cc in found:
        label = f"sanitize/{cc}"
        with tempfile.TemporaryDirectory(prefix="fiber-sanitize-") as tmp:
            issues = check_switch_annotated(cc, Path(tmp))
        for issue in issues:
            print(f"[{label}] {issue}")
        if issues:
            problems += len(issues)
            continue
        print(
            f"[{label}] the fiber switch is annotated: the core calls {' and '.join(SWITCH_HOOKS)}"
        )
        exe = conformance.build(cc, SAN_FLAGS, out_root / cc / "conformance")
        problems += conformance.run_suite(
            label, exe, [], env, EXCLUDED, stderr_problems, only=args.cases or None
        )
    print(
        f"[sanitize] {'clean' if not problems else f'{problems} problem(s)'} ({', '.join(found)})"
    )
    return 1 if problems else 0
