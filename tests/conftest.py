"""Shared test configuration: which target this run is for, and how to run its binaries.

The harness (ci/) runs this one suite on every target. It describes the target to the tests
through environment variables; a plain ``pytest`` on a developer machine sets none of them and
tests the host natively.

- FIBER_TARGET: the ABI's name from ci/targets.py, what the tests run on (unset: the host,
  natively); FIBER_PAIR: the target's, the ABI x CPython pair (aarch64-linux-py3.14).
- FIBER_RUNNER: a command prefix that runs one of the target's programs from here, shell-split
  (``qemu-aarch64 -L /cache/sysroot-arm64``, ``wine64``; empty: run directly).
- FIBER_CONFORMANCE_EXE: the C conformance program, prebuilt for the target by the harness
  (unset: the tests build it for the host).
- FIBER_PER_ABI_IN: set when another target of the same ABI does the ABI's once-per-ABI work in
  this run (its name): the tests that do not depend on the Python version, those marked
  ``target_program`` (the C conformance program) or ``native_only`` (the host's own tools),
  are then deselected here.

The folders (tests/README.md): tests/core/ tests the native core and its assembly without
Python (the C conformance program, the unwind info, the Mach-O objects), tests/python/ the
Python package and the asyncio bridge; every target runs both. tests/harness/ tests the harness
itself, natively. What all three share is here: the target's description above, and the skips
and deselections the markers ask for (pyproject.toml):

- ``target_program``: runs the target's own programs, so it applies on the Windows target
  too, where every other test skips ("no Windows Python under Wine");
- ``native_only``: drives the host's own tools: skipped on any other target, here;
- both: the once-per-ABI work, deselected where FIBER_PER_ABI_IN names another target;
- ``harness``: everything under tests/harness/ (its conftest.py marks it).

The same suite also runs against an installed fiber, from a copy of tests/ without the
sources beside it (``nox -s wheels``): tests/sources.py says which case this is, and the
tests that build from the sources skip there with its reason (tests/core/conftest.py skips that
whole folder).
"""

from __future__ import annotations

import gc
import os
import shlex

import pytest
from sources import IS_CHECKOUT, NO_SOURCES

TARGET = os.environ.get("FIBER_TARGET", "")
PER_ABI_IN = os.environ.get("FIBER_PER_ABI_IN", "")
PER_ABI_MARKERS = ("target_program", "native_only")
RUNNER = tuple(shlex.split(os.environ.get("FIBER_RUNNER", "")))
IS_WINDOWS_TARGET = TARGET.endswith("-windows")

# On the Windows target the harness runs pytest with the host's Python (there is no Windows
# Python under Wine); only the tests that drive the target's own programs apply there.
NO_WINDOWS_PYTHON = "no Windows Python under Wine"


def pytest_collection_modifyitems(config, items):
    if IS_CHECKOUT:
        # Imported here, not at the top: ci.targets imports fiber._build, so the fiber package,
        # whose import installs the core's SIGSEGV handler. A conftest loads before pytest
        # enables faulthandler; the handler must come after it
        # (tests/python/test_reliability_overflow.py).
        from ci.targets import runs_natively

        native = runs_natively(TARGET)
        not_native = pytest.mark.skip(
            reason=f"drives the host's own tools: runs on the native target only (this run is "
            f"for {TARGET})"
        )
    else:
        # An installed fiber without its sources (tests/sources.py): the host's tools have
        # nothing to build from.
        native, not_native = False, pytest.mark.skip(reason=NO_SOURCES)
    no_python = pytest.mark.skip(reason=NO_WINDOWS_PYTHON)
    if PER_ABI_IN:
        elsewhere = [i for i in items if any(m in i.keywords for m in PER_ABI_MARKERS)]
        if elsewhere:
            config.hook.pytest_deselected(items=elsewhere)
            items[:] = [i for i in items if i not in elsewhere]
    for item in items:
        if not native and "native_only" in item.keywords:
            item.add_marker(not_native)
        elif IS_WINDOWS_TARGET and "target_program" not in item.keywords:
            item.add_marker(no_python)


def pytest_collection_finish(session):
    """Freeze the heap as collection left it (pytest, hypothesis, every test module): the
    suite's many gc.collect() calls then scan only what the tests made since. It changes no
    outcome (no test makes its garbage before this point) and takes a full collection's time
    off each call, most of all under QEMU."""
    gc.collect()
    gc.freeze()
