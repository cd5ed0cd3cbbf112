"""Randomised schedules: a hypothesis state machine drives many fibers at once.

Every fiber runs `worker`, a small interpreter of the values it is resumed with, and every
step of the machine - create, start, resume with a value, nest, finish, raise, throw (caught
or not, or a non-exception), close, drop-and-collect, misuse - is mirrored in a model: the
expected return value or exception of the step, each fiber's state and counter, and the log
of `finally` blocks that have run. After every step all live fibers are checked against the
model.

Runs on every Linux target: fewer examples under emulation (FIBER_TARGET set and not
x86_64-linux), the same code.
"""

from __future__ import annotations

import gc
import os

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

import fiber
from fiber import Fiber, FiberError

TARGET = os.environ.get("FIBER_TARGET", "")
EMULATED = bool(TARGET) and TARGET != "x86_64-linux"


class Boom(Exception):
    """Raised by a worker told to "raise"; carries (fid, count)."""


class Caught(Exception):
    """Thrown into a worker, which catches it and suspends ("caught", fid, n)."""


class Uncaught(Exception):
    """Thrown into a worker, which lets it escape: the fiber finishes with it."""


def worker(fid: int, log: list, cycle_holder: list | None):
    """Suspend ("started", fid); then, per resume value:
    int n       -> suspend ("echo", fid, count, n)
    ("nest", k) -> run an inner fiber that suspends 0..k-1, suspend ("nested", fid, count, sum)
    "finish"    -> return ("result", fid, count)
    "raise"     -> raise Boom(fid, count)
    Caught(n) thrown in -> suspend ("caught", fid, n); Uncaught escapes.
    The finally block appends ("finally", fid) to `log`. `cycle_holder`, when given, holds
    this fiber itself (a reference cycle through the fiber's own frame)."""
    count = 0
    out = ("started", fid)
    try:
        while True:
            try:
                value = fiber.suspend(out)
            except Caught as exc:
                out = ("caught", fid, exc.args[0])
                continue
            count += 1
            if value == "finish":
                return ("result", fid, count)
            if value == "raise":
                raise Boom(fid, count)
            if isinstance(value, tuple) and value[0] == "nest":
                inner = Fiber(lambda k: [fiber.suspend(i) for i in range(k)] and None, value[1])
                got = []
                step = inner.resume()
                while not inner.done:
                    got.append(step)
                    step = inner.resume()
                assert got == list(range(value[1]))
                out = ("nested", fid, count, sum(got))
            else:
                out = ("echo", fid, count, value)
    finally:
        log.append(("finally", fid))


class Model:
    """What the machine expects of one fiber."""

    def __init__(self, fid: int, f: Fiber):
        self.fid, self.fiber = fid, f
        self.state = "new"
        self.count = 0
        self.started = False


class FiberSchedules(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        self.log: list = []
        self.expected_log: list = []
        self.live: dict[int, Model] = {}
        self.next_fid = 0

    # --- helpers ---------------------------------------------------------------------------

    def pick(self, data, *states):
        fids = sorted(fid for fid, m in self.live.items() if m.state in states)
        return self.live[data.draw(st.sampled_from(fids), label="fid")]

    def has(self, *states):
        return any(m.state in states for m in self.live.values())

    def finished(self, m: Model):
        m.state = "done"
        if m.started:
            self.expected_log.append(("finally", m.fid))

    # --- rules -----------------------------------------------------------------------------

    @precondition(lambda self: len(self.live) < 24)
    @rule(stack_size=st.sampled_from([None, 64 * 1024, 256 * 1024]), cyclic=st.booleans())
    def create(self, stack_size, cyclic):
        fid = self.next_fid
        self.next_fid += 1
        holder = [] if cyclic else None
        f = Fiber(worker, fid, self.log, holder, stack_size=stack_size)
        if holder is not None:
            holder.append(f)
        self.live[fid] = Model(fid, f)

    @precondition(lambda self: self.has("new"))
    @rule(data=st.data())
    def start(self, data):
        m = self.pick(data, "new")
        assert m.fiber.resume() == ("started", m.fid)
        m.state, m.started = "suspended", True

    @precondition(lambda self: self.has("new"))
    @rule(data=st.data(), value=st.integers())
    def first_resume_with_a_value_is_a_type_error(self, data, value):
        m = self.pick(data, "new")
        with pytest.raises(TypeError):
            m.fiber.resume(value)

    @precondition(lambda self: self.has("suspended"))
    @rule(data=st.data(), value=st.integers())
    def resume_with_value(self, data, value):
        m = self.pick(data, "suspended")
        m.count += 1
        assert m.fiber.resume(value) == ("echo", m.fid, m.count, value)

    @precondition(lambda self: self.has("suspended"))
    @rule(data=st.data(), k=st.integers(0, 5))
    def nest(self, data, k):
        m = self.pick(data, "suspended")
        m.count += 1
        assert m.fiber.resume(("nest", k)) == ("nested", m.fid, m.count, sum(range(k)))

    @precondition(lambda self: self.has("suspended"))
    @rule(data=st.data())
    def finish(self, data):
        m = self.pick(data, "suspended")
        m.count += 1
        assert m.fiber.resume("finish") == ("result", m.fid, m.count)
        self.finished(m)

    @precondition(lambda self: self.has("suspended"))
    @rule(data=st.data())
    def raise_inside(self, data):
        m = self.pick(data, "suspended")
        m.count += 1
        with pytest.raises(Boom) as info:
            m.fiber.resume("raise")
        assert info.value.args == (m.fid, m.count)
        self.finished(m)

    @precondition(lambda self: self.has("suspended"))
    @rule(data=st.data(), n=st.integers())
    def throw_caught(self, data, n):
        m = self.pick(data, "suspended")
        assert m.fiber.throw(Caught(n)) == ("caught", m.fid, n)

    @precondition(lambda self: self.has("new", "suspended"))
    @rule(data=st.data())
    def throw_uncaught(self, data):
        m = self.pick(data, "new", "suspended")
        with pytest.raises(Uncaught):
            m.fiber.throw(Uncaught())
        self.finished(m)

    @precondition(lambda self: self.has("new", "suspended"))
    @rule(data=st.data(), bad=st.sampled_from([1, "x", None, object, [Caught(1)]]))
    def throw_non_exception(self, data, bad):
        m = self.pick(data, "new", "suspended")
        with pytest.raises(TypeError):
            m.fiber.throw(bad)

    @precondition(lambda self: self.has("new", "suspended"))
    @rule(data=st.data())
    def throw_exception_class(self, data):
        m = self.pick(data, "new", "suspended")
        with pytest.raises(Uncaught):
            m.fiber.throw(Uncaught)  # a class is instantiated, as generator.throw does
        self.finished(m)

    @precondition(lambda self: bool(self.live))
    @rule(data=st.data())
    def close(self, data):
        m = self.pick(data, "new", "suspended", "done")
        was = m.state
        m.fiber.close()
        if was != "done":
            self.finished(m)

    @precondition(lambda self: self.has("done"))
    @rule(data=st.data())
    def misuse_done(self, data):
        m = self.pick(data, "done")
        with pytest.raises(FiberError):
            m.fiber.resume()
        with pytest.raises(FiberError):
            m.fiber.throw(Caught(0))

    @precondition(lambda self: bool(self.live))
    @rule(data=st.data())
    def drop_and_collect(self, data):
        m = self.pick(data, "new", "suspended", "done")
        del self.live[m.fid]
        if m.state == "suspended":
            self.expected_log.append(("finally", m.fid))  # closed when collected
        del m
        gc.collect()

    # --- checked after every step --------------------------------------------------------

    @invariant()
    def every_fiber_matches_the_model(self):
        assert fiber.current() is None
        for m in self.live.values():
            assert m.fiber.state == m.state, (m.fid, m.fiber.state, m.state)
            assert m.fiber.done == (m.state == "done")

    @invariant()
    def finally_blocks_ran_exactly_as_expected(self):
        assert self.log == self.expected_log

    def teardown(self):
        for m in self.live.values():
            m.fiber.close()
        self.live.clear()
        gc.collect()


FiberSchedules.TestCase.settings = settings(
    max_examples=20 if EMULATED else 100,
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
TestFiberSchedules = FiberSchedules.TestCase


@pytest.fixture(autouse=True)
def only_the_machines_objects_are_collected():
    """gc.collect() after each drop scans what the machine made, not the whole heap (pytest,
    hypothesis, every imported module): the heap as it is now is frozen for the test. This
    made the test several times faster (most of its time was full collections, several
    times slower again under QEMU) and changes nothing it checks: the fibers, their frames and
    their cycles are all made after the freeze."""
    gc.collect()
    gc.freeze()
    yield
    gc.unfreeze()
