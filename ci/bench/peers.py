"""The C peer of the benchmarks: Debian's Boost.Context (libboost-context-dev).

``python -m ci.bench.peers`` installs it with apt-get when it is missing and we are root (after
waiting for any other apt-get to finish), and otherwise prints the command to run. The Python
peers (greenlet, greenback, SQLAlchemy) are installed by the nox session with pip.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

HEADER = Path("/usr/include/boost/context/detail/fcontext.hpp")
PACKAGES = ("libboost-context-dev", "g++")
COMMAND = ["apt-get", "install", "-y", "--no-install-recommends", *PACKAGES]


def missing() -> bool:
    return not HEADER.exists() or shutil.which("g++") is None


def _apt_busy() -> bool:
    return subprocess.run(["pgrep", "-x", "apt-get"], stdout=subprocess.DEVNULL).returncode == 0


def ensure() -> int:
    if not missing():
        return 0
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        print("fiber bench: Boost.Context is missing; install it with:\n  sudo "
              + " ".join(COMMAND), file=sys.stderr)
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


if __name__ == "__main__":
    sys.exit(ensure())
