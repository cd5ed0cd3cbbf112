"""`nox -s valgrind`: the C conformance suite under valgrind memcheck.

The program and the core are built with -DFIBER_VALGRIND, so every fiber stack is registered
with VALGRIND_STACK_REGISTER (and deregistered when unmapped). Each case runs as its own
process under

    valgrind --error-exitcode=99 --leak-check=full --show-leak-kinds=all
             --errors-for-leak-kinds=definite,indirect,possible --track-origins=yes

Clean means exit status 0, the case's PASS line, "ERROR SUMMARY: 0 errors", and no
"client switching stacks?" warning: memcheck prints that when the stack pointer jumps to a
stack it does not know, so its absence shows the registration is really active (a build
without -DFIBER_VALGRIND prints it on every switch).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil

from ci import paths
from ci.reliability import conformance

VALGRIND_ARGS = (
    "--error-exitcode=99",
    "--leak-check=full",
    "--show-leak-kinds=all",
    "--errors-for-leak-kinds=definite,indirect,possible",
    "--track-origins=yes",
    "--num-callers=30",
)

EXCLUDED = {
    "guard_page_write_kills_with_sigsegv": (
        "crashes a forked child into the guard page on purpose; its signal handler checksums "
        "the neighbour fiber's whole raw stack, uninitialised slots included, which memcheck "
        "rightly reports, and the child dies by SIGSEGV"
    ),
    "fp_control_travels_with_fiber": (
        "sets FE_UPWARD/FE_DOWNWARD and checks arithmetic rounds that way; memcheck's CPU "
        "emulation does only round-to-nearest for ordinary FP arithmetic (valgrind manual, "
        "'Limitations': the rounding mode is observed only for conversions)"
    ),
}

ERROR_SUMMARY = re.compile(r"ERROR SUMMARY: (\d+) errors")


def stderr_problems(stderr: str) -> list[str]:
    found = []
    if "client switching stacks?" in stderr:
        found.append(
            "valgrind saw an unregistered stack switch ('client switching stacks?'): "
            "VALGRIND_STACK_REGISTER is not active"
        )
    summaries = ERROR_SUMMARY.findall(stderr)
    if not summaries:
        found.append("no valgrind ERROR SUMMARY line (did valgrind run?)")
    elif any(int(n) for n in summaries):
        found.append(f"valgrind: {' + '.join(summaries)} errors")
    for marker in ("definitely lost:", "indirectly lost:", "possibly lost:"):
        for line in stderr.splitlines():
            if marker in line and not re.search(marker + r" 0 bytes", line):
                found.append(f"leak: {line.split('==', 2)[-1].strip()}")
    return found


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="python -m ci valgrind")
    ap.add_argument("--cc", default="gcc")
    ap.add_argument("cases", nargs="*", help="run only these cases")
    args = ap.parse_args(argv)
    valgrind = shutil.which("valgrind")
    if not valgrind:
        print("[valgrind] valgrind is not installed (Debian: apt-get install valgrind)")
        return 2
    if not os.path.exists("/usr/include/valgrind/valgrind.h"):
        print(
            "[valgrind] note: /usr/include/valgrind/valgrind.h not found; the build needs "
            "valgrind's headers (Debian package valgrind)"
        )
    exe = conformance.build(
        args.cc, ("-DFIBER_VALGRIND",), paths.BUILD / "valgrind" / "conformance"
    )
    print(f"[valgrind] {valgrind} {' '.join(VALGRIND_ARGS)}")
    problems = conformance.run_suite(
        "valgrind",
        exe,
        [valgrind, *VALGRIND_ARGS],
        dict(os.environ),
        EXCLUDED,
        stderr_problems,
        only=args.cases or None,
    )
    print(f"[valgrind] {'clean' if not problems else f'{problems} problem(s)'}")
    return 1 if problems else 0
