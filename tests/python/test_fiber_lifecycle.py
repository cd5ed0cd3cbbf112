"""Lifetimes: unreachable fibers are closed, cycles through suspended frames are collected,
many fibers at once, and memory comes back."""

from __future__ import annotations

import gc
import os
import sys
import threading
import weakref

import pytest

import fiber
from fiber import Fiber, FiberError
from fiber._native import lib


def test_unreachable_suspended_fiber_is_closed_and_its_finally_runs():
    log = []

    def fn():
        try:
            fiber.suspend()
        finally:
            log.append("finally")

    f = Fiber(fn)
    f.resume()
    del f
    assert log == ["finally"]


def test_cycle_through_a_suspended_fibers_frames_is_collected():
    log = []

    class Holder:
        pass

    def fn(holder):
        me = fiber.current()
        holder.me = me  # holder -> fiber -> frame -> holder
        try:
            fiber.suspend(me)  # also on the value stack while suspended
        finally:
            log.append("closed")

    holder = Holder()
    f = Fiber(fn, holder)
    f.resume()
    ref = weakref.ref(f)
    del f, holder
    gc.collect()
    assert ref() is None
    assert log == ["closed"]


def test_unreachable_fiber_dropped_on_another_thread_reports_instead_of_crashing():
    f = Fiber(fiber.suspend)
    f.resume()
    box = [f]
    del f
    reports = []
    old_hook = sys.unraisablehook
    sys.unraisablehook = lambda info: reports.append(info)
    try:
        t = threading.Thread(target=box.clear)
        t.start()
        t.join()
    finally:
        sys.unraisablehook = old_hook
    assert reports and isinstance(reports[0].exc_value, FiberError)
    assert "another thread" in str(reports[0].exc_value)
    # and the interpreter still works
    assert Fiber(lambda: 7).resume() == 7


def test_unstarted_and_finished_fibers_are_freed():
    refs = []
    for start in (False, True):
        f = Fiber(lambda: None)
        if start:
            f.resume()
        refs.append(weakref.ref(f))
        del f
    gc.collect()
    assert [r() for r in refs] == [None, None]


def _rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="needs /proc for RSS")
def test_ten_thousand_suspended_fibers_round_robin_and_memory_returns():
    count, depth, rounds = 10_000, 20, 3

    def nest(level, tag):
        if level:
            return nest(level - 1, tag)
        total = 0
        for r in range(rounds):
            total += fiber.suspend((tag, r))
        return total

    lib.fiber_pool_trim()
    gc.collect()
    before = _rss_bytes()
    # An explicit stack size: 10,000 default stacks do not fit a 32-bit address space.
    fibers = [Fiber(nest, depth, i, stack_size=128 * 1024) for i in range(count)]
    for i, f in enumerate(fibers):
        assert f.resume() == (i, 0)
    assert all(f.state == "suspended" for f in fibers)
    peak = _rss_bytes()
    for r in range(1, rounds):
        for i, f in enumerate(fibers):
            assert f.resume(1) == (i, r)
    assert [f.resume(1) for f in fibers] == [rounds] * count
    assert all(f.done for f in fibers)
    del fibers, f
    gc.collect()
    lib.fiber_pool_trim()
    after = _rss_bytes()
    grown = peak - before
    assert grown > 0
    # What the fibers took is given back (allocator slack aside).
    assert after - before < max(grown // 4, 8 << 20), (before, peak, after)
