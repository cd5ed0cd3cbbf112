"""The suite on a debug build of CPython (Debian's python3.11-dbg, configured --with-pydebug).

That is the interpreter C-extension authors and CPython's own developers test with: its
assertions check the glue's use of thread states, frames and reference counts on every
switch. The extension is built for it (its own ABI tag, `cpython-311d`) beside the host's, and
the Python part of the suite runs on it natively.

    python -m ci debug [PYTEST ARGS...]

Debian carries no debug build of 3.13 or later in a suite this harness uses for x86_64, so
this is the one debug interpreter (docs/benchmarks-and-reliability.md).
"""

from __future__ import annotations

import shutil
import subprocess
import sys

from ci import paths, provision

INTERPRETER = "python3.11-dbg"
# The interpreter and what the suite imports, from Debian (pure Python, or built for 3.11 and
# loadable by Debian's debug interpreter).
PACKAGES = (
    "python3.11-dbg",
    "python3-cffi",
    "python3-pytest",
    "python3-pytest-xdist",
    "python3-pytest-timeout",
    "python3-hypothesis",
    "python3-trio",
    "python3-coverage",
)
IMPORTS = "cffi, pytest, xdist, pytest_timeout, hypothesis, trio, coverage"


def ensure_interpreter() -> str:
    """The debug interpreter's path, with what the suite imports; installs it as root."""
    exe = shutil.which(INTERPRETER)
    if (
        exe
        and subprocess.run([exe, "-c", f"import {IMPORTS}"], capture_output=True).returncode == 0
    ):
        return exe
    if not provision.is_root():
        raise provision.ProvisionError(
            f"{INTERPRETER} or the suite's modules for it are missing (not root, so the "
            f"harness cannot install them); install them with:\n  sudo apt-get update && "
            f"sudo apt-get install -y {' '.join(PACKAGES)}"
        )
    provision.run_apt(list(PACKAGES))
    exe = shutil.which(INTERPRETER)
    if not exe:
        raise provision.ProvisionError(f"{INTERPRETER} still missing after apt-get install")
    return exe


def main(argv: list[str]) -> int:
    try:
        exe = ensure_interpreter()
    except provision.ProvisionError as exc:
        print(f"debug: error: {exc}", file=sys.stderr)
        return 2
    root = str(paths.ROOT)
    build = subprocess.run([exe, "-m", "fiber._build"], cwd=root, capture_output=True, text=True)
    if build.returncode != 0:
        print(
            f"debug: building the extension for {INTERPRETER} failed:\n{build.stdout}"
            f"{build.stderr}",
            file=sys.stderr,
        )
        return 1
    report = paths.ROOT / "reports" / "debug-python.xml"
    report.parent.mkdir(exist_ok=True)
    cmd = [
        exe,
        "-m",
        "pytest",
        "-p",
        "no:cacheprovider",
        "-n",
        "2",
        "--timeout=600",
        "-rfEs",
        "--ignore=tests/harness",
        f"--junitxml={report}",
        "-o",
        "junit_suite_name=debug-python",
        "tests",
        *argv,
    ]
    print(f"debug: {' '.join(cmd)}", flush=True)
    return subprocess.run(cmd, cwd=root).returncode
