"""Whether this run's target is emulated, for the tests that scale their counts by it.

The harness names the ABI a run is for in FIBER_TARGET (tests/conftest.py); only x86_64-linux
runs natively here (the loader runner's 3.13+ interpreters too). Under QEMU user mode Python
runs several times slower, so the soak, lifecycle and randomised-schedule tests use smaller
counts there: the same code, less of it. The wheel test names the pair
(x86_64-linux-py3.11), hence the prefix.
"""

from __future__ import annotations

import os

TARGET = os.environ.get("FIBER_TARGET", "")
EMULATED = bool(TARGET) and not TARGET.startswith("x86_64-linux")
