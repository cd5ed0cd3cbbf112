"""Shared test configuration: which target this run is for, and how to run its binaries.

The harness (ci/) runs this one suite on every target. It describes the target to the tests
through environment variables; a plain ``pytest`` on a developer machine sets none of them and
tests the host natively.

- FIBER_TARGET: the target name from ci/targets.py (unset: the host, natively).
- FIBER_RUNNER: a command prefix that runs one of the target's programs from here, shell-split
  (``qemu-aarch64 -L /cache/sysroot-arm64``, ``wine64``; empty: run directly).
- FIBER_CONFORMANCE_EXE: the C conformance program, prebuilt for the target by the harness
  (unset: the tests build it for the host).
"""

from __future__ import annotations

import os
import shlex

import pytest

TARGET = os.environ.get("FIBER_TARGET", "")
RUNNER = tuple(shlex.split(os.environ.get("FIBER_RUNNER", "")))
IS_WINDOWS_TARGET = TARGET.endswith("-windows")

# On the Windows target the harness runs pytest with the host's Python (there is no Windows
# Python under Wine); only the tests that drive the target's own programs apply there.
NO_WINDOWS_PYTHON = "no Windows Python under Wine"


def pytest_collection_modifyitems(config, items):
    if not IS_WINDOWS_TARGET:
        return
    skip = pytest.mark.skip(reason=NO_WINDOWS_PYTHON)
    for item in items:
        if "target_program" not in item.keywords:
            item.add_marker(skip)


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "target_program: the test runs one of the target's own programs (through FIBER_RUNNER),"
        " so it applies to every target, the Windows one included",
    )
    config.addinivalue_line(
        "markers", "harness: a test of the harness itself; runs natively only"
    )
