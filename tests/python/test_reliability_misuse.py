"""Misuse, signals and fork: every misuse of the API raises the documented error,
leaves the interpreter working and does not leak the fiber; signals arriving while a fiber
runs are handled on it; os.fork() with suspended fibers leaves both processes working.
"""

from __future__ import annotations

import gc
import os
import signal
import sys
import threading
import time
import weakref

import pytest

import fiber
from fiber import Fiber, FiberError, FiberExit


def interpreter_works() -> None:
    """After a misuse: plain Python, the GC, and a fresh fiber's round trips all work."""
    assert sum(x * x for x in range(10)) == 285
    gc.collect()
    f = Fiber(lambda a: fiber.suspend(a + 1) * 2, 1)
    assert f.resume() == 2 and f.resume(21) == 42 and f.done
    assert fiber.current() is None


def assert_freed(ref: weakref.ref, what: str) -> None:
    gc.collect()
    assert ref() is None, f"{what}: the fiber was leaked (still referenced after gc)"


# --- misuse --------------------------------------------------------------------------------


def test_resume_throw_of_a_done_fiber_are_fiber_errors_close_does_nothing():
    f = Fiber(lambda: "result")
    assert f.resume() == "result"
    for action in (f.resume, lambda: f.resume(1), lambda: f.throw(ValueError("x"))):
        with pytest.raises(FiberError, match="finished"):
            action()
        assert f.done and f.state == "done"
    f.close()
    ref = weakref.ref(f)
    f = action = None  # the lambdas see f through its cell
    assert_freed(ref, "done fiber after misuse")
    interpreter_works()


def test_resume_of_a_fiber_that_raised_is_a_fiber_error():
    f = Fiber(lambda: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        f.resume()
    with pytest.raises(FiberError, match="finished"):
        f.resume()
    interpreter_works()


def test_resume_throw_close_of_the_running_fiber_itself():
    def fn():
        me = fiber.current()
        for action in (me.resume, lambda: me.throw(KeyError), me.close):
            with pytest.raises(FiberError, match="running"):
                action()
        assert me.state == "running"
        return fiber.suspend("still running") + "!"

    f = Fiber(fn)
    assert f.resume() == "still running"
    assert f.resume("fine") == "fine!"
    interpreter_works()


def test_resume_throw_close_of_every_ancestor_are_fiber_errors():
    def level(depth, ancestors):
        me = fiber.current()
        if depth == 0:
            for a in ancestors:
                for action in (a.resume, lambda a=a: a.throw(ValueError), a.close):
                    with pytest.raises(FiberError, match="running"):
                        action()
                assert a.state == "running"
            return "finished"
        return (depth, Fiber(level, depth - 1, ancestors + [me]).resume())

    f = Fiber(level, 3, [])
    assert f.resume() == (3, (2, (1, "finished")))
    interpreter_works()


def test_suspend_outside_any_fiber_everywhere_is_a_fiber_error():
    for _ in range(3):
        with pytest.raises(FiberError, match="outside any fiber"):
            fiber.suspend("x")
    errors = []

    def on_thread():
        try:
            fiber.suspend()
        except FiberError as exc:
            errors.append(exc)

    t = threading.Thread(target=on_thread)
    t.start()
    t.join()
    assert len(errors) == 1
    # after fibers ran and finished on this thread too
    Fiber(lambda: None).resume()
    with pytest.raises(FiberError):
        fiber.suspend()
    interpreter_works()


class NotAnException:
    pass


@pytest.mark.parametrize(
    "bad", [42, "boom", None, NotAnException, NotAnException(), int, object(), [ValueError]]
)
def test_throw_with_a_non_exception_is_a_type_error_and_the_fiber_survives(bad):
    def fn():
        return fiber.suspend("waiting") + 1

    f = Fiber(fn)
    assert f.resume() == "waiting"
    with pytest.raises(TypeError):
        f.throw(bad)
    assert f.state == "suspended"
    assert f.resume(1) == 2  # the bad throw reached nothing
    interpreter_works()


@pytest.mark.parametrize(
    "size, error",
    [
        ("64K", TypeError),
        (4096.0, TypeError),
        (b"\x00", TypeError),
        ([1], TypeError),
        (-1, ValueError),
        (-(2**70), ValueError),
        (2**62, MemoryError),
        (2**200, MemoryError),
    ],
)
def test_bad_stack_sizes_raise_with_a_message_and_leak_nothing(size, error):
    before = len(gc.get_objects())
    for _ in range(20):
        with pytest.raises(error, match="stack_size"):
            Fiber(lambda: None, stack_size=size)
    gc.collect()
    assert len(gc.get_objects()) - before < 20  # not one object per failed create
    interpreter_works()


def test_tiny_stack_sizes_are_rounded_up_and_run():
    for size in (0, 1, 100, 4095, 4097):
        f = Fiber(lambda: fiber.suspend("on a small stack") and "done", stack_size=size)
        assert f.stack_size >= 16 * 1024
        assert f.resume() == "on a small stack" and f.resume(True) == "done"
    interpreter_works()


def test_close_of_a_stubborn_fiber_is_a_fiber_error_and_the_fiber_stays_usable():
    cleanup = []

    def stubborn():
        while True:
            try:
                fiber.suspend("alive")
            except FiberExit:
                cleanup.append("caught FiberExit")
                if len(cleanup) >= 2:
                    raise  # gives in the second time

    f = Fiber(stubborn)
    assert f.resume() == "alive"
    with pytest.raises(FiberError):
        f.close()
    assert f.state == "suspended" and cleanup == ["caught FiberExit"]
    assert f.resume() == "alive"  # it still works
    f.close()
    assert f.done and cleanup == ["caught FiberExit"] * 2
    interpreter_works()


def test_dropping_a_stubborn_fiber_does_not_crash():
    def stubborn():
        while True:
            try:
                fiber.suspend()
            except FiberExit:
                pass

    reported = []
    old_hook = sys.unraisablehook
    sys.unraisablehook = lambda u: reported.append(u.exc_type)
    try:
        f = Fiber(stubborn)
        f.resume()
        del f
        gc.collect()
    finally:
        sys.unraisablehook = old_hook
    assert FiberError in reported  # reported, not crashed and not silently lost
    interpreter_works()


def test_first_resume_with_a_value_is_a_type_error_and_the_fiber_can_start_later():
    f = Fiber(lambda: "started")
    with pytest.raises(TypeError):
        f.resume("too early")
    assert f.state == "new"
    assert f.resume() == "started"
    interpreter_works()


def test_resume_throw_close_from_another_thread_are_fiber_errors():
    f = Fiber(lambda: fiber.suspend("first") + "/owner")
    assert f.resume() == "first"
    results = []

    def other():
        for action in (lambda: f.resume("x"), lambda: f.throw(ValueError("x")), f.close):
            try:
                action()
                results.append("no error")
            except FiberError as exc:
                results.append(type(exc).__name__)
            except BaseException as exc:  # noqa: BLE001
                results.append(repr(exc))
        interpreter_works()  # the other thread's own fibers are fine
        results.append("other thread ok")

    t = threading.Thread(target=other)
    t.start()
    t.join()
    assert results == ["FiberError"] * 3 + ["other thread ok"]
    assert f.state == "suspended"
    assert f.resume("back") == "back/owner"
    interpreter_works()


def test_many_misuses_in_a_row_leave_no_garbage():
    gc.collect()
    before = len(gc.get_objects())
    for _ in range(200):
        done = Fiber(int)
        done.resume()
        for action in (
            done.resume,
            fiber.suspend,
            lambda: Fiber(1),
            lambda: Fiber(int, stack_size=-3),
            lambda done=done: done.throw(5),
        ):
            try:
                action()
            except (FiberError, TypeError, ValueError):
                pass
    done = action = None
    gc.collect()
    assert len(gc.get_objects()) - before < 50
    interpreter_works()


# --- signals while a fiber runs --------------------------------------------------------------

# qemu-i386 7.2 user mode, returning from a signal handler in a process with more than one
# thread, reloads %gs from the guest's descriptor table, which holds the TLS base of the
# thread created last: the interrupted thread goes on with another thread's TLS (pthread_self
# changes, Python stops treating it as the main thread). Reproduced without any fiber: a
# plain `signal.raise_signal(SIGINT)` under pytest-xdist (whose worker has an I/O thread).
QEMU_I386_SIGNALS = os.environ.get(
    "FIBER_TARGET"
) == "i686-linux" and "qemu-i386" in os.environ.get("FIBER_RUNNER", "")

needs_main_thread = pytest.mark.skipif(
    threading.current_thread() is not threading.main_thread() or QEMU_I386_SIGNALS,
    reason="Python runs signal handlers on the main thread only"
    if not QEMU_I386_SIGNALS
    else "qemu-i386 user mode gives a thread another thread's TLS after a signal handler "
    "returns in a multi-threaded process (a QEMU bug, seen without fibers)",
)


@pytest.fixture
def default_sigint():
    old = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, old)


def spin_until(flag: list, what: str, limit: float = 120.0) -> None:
    """Run Python bytecode until `flag` is non-empty (a safety limit, not a timing check)."""
    deadline = time.monotonic() + limit
    while not flag:
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} never arrived")


@needs_main_thread
@pytest.mark.parametrize("send", ["raise_signal", "kill"])
def test_sigint_raises_keyboard_interrupt_inside_the_running_fiber(default_sigint, send):
    where = []

    def fn():
        try:
            if send == "raise_signal":
                signal.raise_signal(signal.SIGINT)
            else:
                os.kill(os.getpid(), signal.SIGINT)
            for _ in range(10**8):  # the interrupt arrives at the next bytecode check
                pass
            where.append("not interrupted")
        except KeyboardInterrupt:
            where.append(("KeyboardInterrupt", fiber.current()))
        fiber.suspend("suspended after the interrupt")
        where.append("resumed after close?")

    f = Fiber(fn)
    assert f.resume() == "suspended after the interrupt"
    assert where == [("KeyboardInterrupt", f)]
    f.close()
    assert f.done and where == [("KeyboardInterrupt", f)]
    interpreter_works()


@needs_main_thread
def test_keyboard_interrupt_escaping_a_fiber_propagates_out_of_resume(default_sigint):
    def fn():
        signal.raise_signal(signal.SIGINT)
        for _ in range(10**8):
            pass

    f = Fiber(fn)
    with pytest.raises(KeyboardInterrupt):
        f.resume()
    assert f.done
    interpreter_works()


@needs_main_thread
def test_sigint_arriving_while_fibers_are_suspended_is_raised_on_the_thread(default_sigint):
    fs = [Fiber(lambda i=i: fiber.suspend(i) + i) for i in range(3)]
    assert [f.resume() for f in fs] == [0, 1, 2]
    with pytest.raises(KeyboardInterrupt):
        signal.raise_signal(signal.SIGINT)
        for _ in range(10**8):
            pass
    assert [f.resume(10) for f in fs] == [10, 11, 12]
    interpreter_works()


@needs_main_thread
@pytest.mark.skipif(not hasattr(signal, "setitimer"), reason="no setitimer")
def test_sigalrm_handler_runs_on_the_fiber_and_the_fiber_can_be_closed_afterwards():
    seen = []

    def handler(signum, frame):
        seen.append((signum, fiber.current(), frame.f_code.co_name if frame else None))

    def busy_on_fiber():
        signal.setitimer(signal.ITIMER_REAL, 0.01)
        spin_until(seen, "SIGALRM")
        fiber.suspend("after the alarm")
        raise AssertionError("resumed after close")

    old = signal.signal(signal.SIGALRM, handler)
    try:
        f = Fiber(busy_on_fiber)
        assert f.resume() == "after the alarm"
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
    assert seen and seen[0][0] == signal.SIGALRM
    assert seen[0][1] is f, "the handler did not run on the fiber"
    assert seen[0][2] in ("busy_on_fiber", "spin_until")
    f.close()
    assert f.done
    interpreter_works()


@needs_main_thread
def test_signal_handler_raising_inside_a_nested_fiber_unwinds_that_fiber_only():
    class Alarm(Exception):
        pass

    def handler(signum, frame):
        raise Alarm

    def inner():
        signal.raise_signal(signal.SIGALRM)
        for _ in range(10**8):
            pass

    def outer():
        g = Fiber(inner)
        try:
            g.resume()
        except Alarm:
            return ("inner raised Alarm", g.done, fiber.current() is f)
        return "no alarm"

    old = signal.signal(signal.SIGALRM, handler)
    try:
        f = Fiber(outer)
        assert f.resume() == ("inner raised Alarm", True, True)
    finally:
        signal.signal(signal.SIGALRM, old)
    interpreter_works()


@needs_main_thread
def test_signal_handler_may_suspend_the_fiber_it_interrupted():
    """A Python signal handler is ordinary Python code on the fiber: it may suspend it."""

    def handler(signum, frame):
        fiber.suspend("suspended inside the handler")

    def fn():
        signal.raise_signal(signal.SIGUSR1)
        return "finished"

    old = signal.signal(signal.SIGUSR1, handler)
    try:
        f = Fiber(fn)
        assert f.resume() == "suspended inside the handler"
        assert f.resume() == "finished"
    finally:
        signal.signal(signal.SIGUSR1, old)
    interpreter_works()


# --- fork while fibers are suspended ---------------------------------------------------------

needs_fork = pytest.mark.skipif(not hasattr(os, "fork"), reason="no os.fork")


def suspended_fibers():
    """Three suspended fibers, one of them nested inside another."""

    def counter(start):
        n = start
        while True:
            n = fiber.suspend(n) + 1

    def nesting():
        inner = Fiber(counter, 100)
        x = inner.resume()
        while True:
            x = inner.resume(fiber.suspend(x))

    fs = [Fiber(counter, 0), Fiber(counter, 10), Fiber(nesting)]
    assert [f.resume() for f in fs] == [0, 10, 100]
    return fs


def fork_child(body) -> int:
    """Fork; the child runs body() and leaves with os._exit(its return value, or 70 if it
    raised). Returns the child's wait status."""
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        code = 70
        try:
            signal.alarm(300)
            code = body()
        except BaseException:  # noqa: BLE001
            import traceback

            traceback.print_exc()
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    return status


def exit_code(status: int) -> str:
    if os.WIFSIGNALED(status):
        return f"signal {signal.Signals(os.WTERMSIG(status)).name}"
    return f"exit {os.WEXITSTATUS(status)}"


@needs_fork
def test_fork_child_creates_and_runs_new_fibers_and_parent_fibers_still_work():
    fs = suspended_fibers()

    def child():
        total = 0
        for i in range(100):
            g = Fiber(lambda i=i: fiber.suspend(i) * 2)
            total += g.resume() + g.resume(1)
        nested = Fiber(lambda: Fiber(lambda: fiber.suspend("deep")).resume())
        assert nested.resume() == "deep"
        return 42 if total == sum(range(100)) + 200 else 1

    assert exit_code(fork_child(child)) == "exit 42"
    assert [f.resume(5) for f in fs] == [6, 6, 6]
    for f in fs:
        f.close()
    interpreter_works()


@needs_fork
def test_fork_child_can_create_fibers_after_closing_inherited_ones():
    fs = suspended_fibers()
    for f in fs:
        f.close()

    def child():
        g = Fiber(lambda: fiber.suspend(1) * 2)
        ok = g.resume() + g.resume(4) == 9
        return 43 if ok else 1

    assert exit_code(fork_child(child)) == "exit 43"
    interpreter_works()


@needs_fork
def test_fork_child_goes_on_with_the_forking_threads_fibers():
    # A fiber's Python state lives in the fiber, not in a thread state of its own, so the
    # forking thread's suspended fibers are whole in the child: resume, close and the
    # exit-time close all work there, independently of the parent's copies.
    fs = suspended_fibers()
    closed = []

    def with_finally():
        try:
            fiber.suspend("in")
        finally:
            closed.append("finally")

    g = Fiber(with_finally)
    assert g.resume() == "in"

    def child():
        if [f.resume(5) for f in fs] != [6, 6, 6]:
            return 1
        fs[0].close()
        if not fs[0].done:
            return 2
        fiber._glue._shutdown()  # what a normal exit runs (atexit) closes the rest
        if not (g.done and closed == ["finally"] and all(f.done for f in fs)):
            return 3
        interpreter_works()
        return 44

    assert exit_code(fork_child(child)) == "exit 44"
    assert closed == []
    assert [f.resume(7) for f in fs] == [8, 8, 8]
    for f in fs:
        f.close()
    g.close()
    assert closed == ["finally"]


@needs_fork
def test_fork_child_cannot_touch_fibers_of_other_threads():
    # Another thread's fiber stays that thread's: in the child that thread does not exist.
    box = []
    started = threading.Event()
    release = threading.Event()

    def owner():
        f = Fiber(lambda: fiber.suspend("x"))
        f.resume()
        box.append(f)
        started.set()
        release.wait()
        f.close()

    t = threading.Thread(target=owner)
    t.start()
    started.wait()

    def child():
        try:
            box[0].resume()
        except FiberError as exc:
            return 45 if "belongs to thread" in str(exc) else 2
        return 1

    try:
        assert exit_code(fork_child(child)) == "exit 45"
    finally:
        release.set()
        t.join()


@needs_fork
def test_fork_on_a_fiber_the_child_returns_from_the_fiber():
    def body():
        pid = os.fork()
        if pid == 0:
            os._exit(46 if fiber.suspend("child") == "back" else 1)
        return pid

    def child_then_parent():
        f = Fiber(body)
        out = f.resume()
        # In the child: the fiber suspended back to us; resume it so it exits.
        if out == "child":
            f.resume("back")
        return out

    f = Fiber(lambda: None)  # the process has fibers before the fork, too
    f.resume()
    sys.stdout.flush()
    sys.stderr.flush()
    pid = child_then_parent()
    _, status = os.waitpid(pid, 0)
    assert exit_code(status) == "exit 46"
    interpreter_works()
