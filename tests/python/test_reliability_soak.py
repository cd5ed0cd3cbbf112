"""Soak, suite-sized: many fiber lives and round trips leave memory where it was.

The workload and its measurement live in ci/reliability/soak.py (loaded by path: the suite
also runs where ``ci`` is not importable); `nox -s soak` runs the full million of each and
writes reports/soak.md. Here the counts are smaller, more so under emulation.
"""

from __future__ import annotations

import importlib.util
import os
import sys

import pytest
from emulation import EMULATED
from sources import IS_CHECKOUT, NO_SOURCES, ROOT

SOAK_PY = ROOT / "ci" / "reliability" / "soak.py"
IS_32BIT = sys.maxsize < 2**32

pytestmark = [
    pytest.mark.skipif(
        not os.path.exists("/proc/self/statm"), reason="RSS is read from /proc/self/statm"
    ),
    pytest.mark.skipif(not IS_CHECKOUT, reason=f"{NO_SOURCES} (the workload is in ci/)"),
]


def load_soak():
    name = "_fiber_reliability_soak"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, SOAK_PY)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


def test_soak_memory_and_objects_return_to_where_they_were():
    soak = load_soak()
    if EMULATED:
        cycles, trips, fibers = 10_000, 10_000, 200
    else:
        cycles, trips, fibers = 100_000, 100_000, 1_000
    if EMULATED:
        # Under QEMU user mode RSS is the emulator's, and QEMU keeps a page descriptor for
        # every guest page it has ever seen mapped (about 48 KiB per 8 MiB stack mapped at a
        # fresh address, never freed): fibers beyond the core's pool of 64 would show as
        # growth that native runs do not have. Small stacks keep that below the noise.
        stack_size = 64 * 1024
    elif IS_32BIT:
        # 1,000 default (4 MiB) stacks do not fit a 32-bit address space alongside the rest.
        stack_size = 256 * 1024
    else:
        stack_size = None
    fig = soak.measure(cycles, trips, fibers, stack_size=stack_size)
    assert fig["round_trips"] >= trips
    assert soak.problems(fig) == [], fig


def test_the_checks_catch_a_leak():
    """problems() is what the soak asserts on: it must flag growth beyond the limits."""
    soak = load_soak()
    base = {
        "cycles": 10,
        "rss_before": 100 << 20,
        "rss_after_cycles": 100 << 20,
        "rss_after": 100 << 20,
        "rss_growth": 0,
        "objects_before": 1000,
        "objects_after_cycles": 1000,
        "objects_after": 1000,
        "objects_growth": 0,
        "stack_pool_before": 64,
        "stack_pool_after": 64,
    }
    assert soak.problems(base) == []
    grown = dict(
        base, rss_after=base["rss_after"] + 2 * soak.RSS_LIMIT, rss_growth=2 * soak.RSS_LIMIT
    )
    assert any("RSS" in p for p in soak.problems(grown))
    leaky = dict(
        base,
        objects_after_cycles=1000 + 10 * soak.OBJECT_SLACK,
        objects_after=1000 + 10 * soak.OBJECT_SLACK,
        objects_growth=10 * soak.OBJECT_SLACK,
    )
    assert len(soak.problems(leaky)) == 2


def test_a_real_leak_is_detected_by_the_object_count():
    """A workload that keeps one object per cycle alive must show as growth."""
    soak = load_soak()
    import gc

    from fiber import Fiber

    kept = []
    gc.collect()
    before = soak.live_objects()
    for i in range(500):
        f = Fiber(lambda i=i: [i])
        kept.append(f.resume())
    gc.collect()
    # Within the slack of 500: objects of earlier tests on this worker (hypothesis's caches)
    # may go in between; the detector's point is growth far above its slack.
    assert soak.live_objects() - before >= 500 - soak.OBJECT_SLACK > soak.OBJECT_SLACK
