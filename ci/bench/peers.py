"""What the benchmarks need from Debian: the C peer, Boost.Context (libboost-context-dev, with
g++), valgrind for the instruction counts, and the cross toolchains whose objdump counts each
ABI's switch (the harness's own host tools, ci/provision.py).

``python -m ci bench-peers`` installs what is missing with apt-get when we are root (after
waiting for any other apt-get to finish), and otherwise prints the command to run; the rows
that need a missing tool then say so. The Python peers (greenlet, greenback, SQLAlchemy) are
installed by the nox session with pip.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

HEADER = Path("/usr/include/boost/context/detail/fcontext.hpp")
PACKAGES = ("libboost-context-dev", "g++", "valgrind")
COMMAND = ["apt-get", "install", "-y", "--no-install-recommends", *PACKAGES]


def missing() -> bool:
    return not HEADER.exists() or not shutil.which("g++") or not shutil.which("valgrind")


def _apt_busy() -> bool:
    return subprocess.run(["pgrep", "-x", "apt-get"], stdout=subprocess.DEVNULL).returncode == 0


def ensure() -> int:
    if not missing():
        return 0
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        print(
            "fiber bench: Boost.Context or valgrind is missing; install them with:\n  sudo "
            + " ".join(COMMAND),
            file=sys.stderr,
        )
        return 0  # the fcontext rows then say "missing"
    for _ in range(120):
        if not _apt_busy():
            break
        time.sleep(2)
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    if subprocess.run(COMMAND, env=env).returncode != 0:
        subprocess.run(["apt-get", "update"], env=env)
        subprocess.run(COMMAND, env=env)
    return 0


def ensure_cross_tools() -> int:
    """The cross compilers and binutils of every target (the instruction counts use them)."""
    from ci import provision, targets

    try:
        provision.ensure_tools(targets.TARGETS)
    except provision.ProvisionError as exc:
        print(
            f"fiber bench: {exc} (the instruction counts of those ABIs will say missing)",
            file=sys.stderr,
        )
    return 0


def main(argv: list[str]) -> int:
    """`python -m ci bench-peers`: Debian's Boost.Context, valgrind and the cross toolchains,
    installed when missing (as root); the rows that need a missing one say so."""
    return ensure() or ensure_cross_tools()
