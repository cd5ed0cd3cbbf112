"""Interpreter state per fiber: exceptions being handled, recursion, contextvars, tracing,
threads, callbacks from C, and suspension inside generators, with, finally and class bodies."""

from __future__ import annotations

import contextvars
import ctypes
import ctypes.util
import sys
import threading

import pytest

import fiber
from fiber import Fiber, FiberError

# --- exception being handled ------------------------------------------------------------


def test_exc_info_inside_except_survives_a_suspend():
    def fn():
        try:
            raise KeyError("mine")
        except KeyError:
            fiber.suspend()
            return repr(sys.exc_info()[1])

    f = Fiber(fn)
    f.resume()
    assert sys.exc_info() == (None, None, None)  # not leaked into the resumer
    try:
        raise IndexError("resumer's")
    except IndexError:
        result = f.resume()
        assert isinstance(sys.exc_info()[1], IndexError)  # not clobbered by the fiber
    assert result == "KeyError('mine')"


def test_bare_raise_after_suspend_reraises_the_fibers_exception():
    def fn():
        try:
            raise ValueError("original")
        except ValueError:
            fiber.suspend()
            raise

    f = Fiber(fn)
    f.resume()
    with pytest.raises(ValueError, match="original"):
        f.resume()


# --- recursion ----------------------------------------------------------------------------


def unbounded(n=0):
    return unbounded(n + 1)


class RecursesThroughC:
    def __init__(self, n):
        RecursesThroughC(n + 1)


def key_recursion(x):
    return sorted([1, 2], key=key_recursion)


@pytest.mark.parametrize("fn", [unbounded, lambda: RecursesThroughC(0), lambda: key_recursion(0)])
@pytest.mark.parametrize("stack_size", [None, 64 * 1024, 16 * 1024])
def test_unbounded_recursion_raises_recursion_error_and_fiber_stays_usable(fn, stack_size):
    def run():
        try:
            fn()
        except RecursionError:
            return "RecursionError"
        return "returned?"

    assert Fiber(run, stack_size=stack_size).resume() == "RecursionError"
    # the interpreter and fibers still work
    f = Fiber(lambda: fiber.suspend("again") + 1, stack_size=stack_size)
    assert f.resume() == "again" and f.resume(1) == 2


def test_default_stack_allows_the_full_default_recursion_limit():
    def depth(n=0):
        try:
            return depth(n + 1)
        except RecursionError:
            return n

    reached = Fiber(depth).resume()
    assert reached >= sys.getrecursionlimit() - 50


def test_recursion_depth_is_per_fiber():
    def deep_then_suspend(n):
        if n:
            return deep_then_suspend(n - 1)
        fiber.suspend()

    f = Fiber(deep_then_suspend, 400)
    f.resume()  # 400 frames held on the fiber do not count against the resumer
    g = Fiber(deep_then_suspend, 400)
    g.resume()
    f.close()
    g.close()


# --- contextvars --------------------------------------------------------------------------

var = contextvars.ContextVar("var", default="unset")


def test_fiber_runs_in_a_copy_of_the_creation_context():
    var.set("at creation")
    f = Fiber(lambda: (var.get(), var.set("inside"), fiber.suspend(var.get()), var.get()))
    var.set("changed after creation")
    assert f.resume() == "inside"
    assert var.get() == "changed after creation"  # the fiber's set does not leak out
    result = f.resume()
    assert result[0] == "at creation" and result[3] == "inside"


def test_fiber_runs_in_a_given_context():
    ctx = contextvars.copy_context()
    ctx.run(var.set, "in ctx")
    f = Fiber(lambda: (var.get(), var.set("set by fiber")), context=ctx)
    assert f.resume()[0] == "in ctx"
    assert ctx[var] == "set by fiber"


def test_each_fiber_has_its_own_context_across_switches():
    def fn(name):
        var.set(name)
        fiber.suspend()
        return var.get()

    a, b = Fiber(fn, "a"), Fiber(fn, "b")
    a.resume()
    b.resume()
    assert (a.resume(), b.resume()) == ("a", "b")


def test_entering_a_context_already_entered_is_an_error_from_resume():
    ctx = contextvars.copy_context()
    f = Fiber(fiber.suspend, context=ctx)
    f.resume()
    g = Fiber(lambda: None, context=ctx)
    with pytest.raises(RuntimeError, match="context"):
        g.resume()
    f.close()


# --- tracing and profiling ------------------------------------------------------------------


def traced_body():
    x = 1
    fiber.suspend()
    return x + 1


def test_settrace_sees_lines_run_on_fibers():
    lines = []

    def tracer(frame, event, arg):
        if frame.f_code is traced_body.__code__:
            lines.append((event, frame.f_lineno - traced_body.__code__.co_firstlineno))
        return tracer

    f = Fiber(traced_body)
    sys.settrace(tracer)
    try:
        f.resume()
        f.resume()
    finally:
        sys.settrace(None)
    assert ("line", 1) in lines and ("line", 3) in lines
    assert ("call", 0) in lines and ("return", 3) in lines


def test_settrace_inside_a_fiber_is_per_thread_and_follows_switches():
    events = []

    def tracer(frame, event, arg):
        events.append(event)
        return tracer

    def fn():
        sys.settrace(tracer)
        fiber.suspend()
        sys.settrace(None)

    f = Fiber(fn)
    f.resume()
    assert sys.gettrace() is tracer  # tracing is the thread's, set from the fiber
    f.resume()
    assert sys.gettrace() is None


def test_setprofile_sees_calls_on_fibers():
    calls = []

    def profiler(frame, event, arg):
        if event == "call":
            calls.append(frame.f_code.co_name)

    f = Fiber(traced_body)
    sys.setprofile(profiler)
    try:
        f.resume()
        f.resume()
    finally:
        sys.setprofile(None)
    assert "traced_body" in calls


def test_coverage_measures_code_on_fibers(tmp_path):
    coverage = pytest.importorskip("coverage", reason="coverage is not installed")
    module = tmp_path / "covered_mod.py"
    module.write_text(
        "import fiber\ndef body():\n    a = 1\n    fiber.suspend(a)\n    b = 2\n    return b\n"
    )
    sys.path.insert(0, str(tmp_path))
    try:
        cov = coverage.Coverage(data_file=None, include=[str(module)])
        cov.start()
        import covered_mod

        f = Fiber(covered_mod.body)
        f.resume()
        f.resume()
        cov.stop()
        _, statements, _, missing, _ = cov.analysis2(str(module))
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("covered_mod", None)
    assert missing == [] and 5 in statements


# --- threads ----------------------------------------------------------------------------------


def test_every_thread_runs_its_own_fibers_concurrently():
    results = {}
    barrier = threading.Barrier(4)

    def worker(name):
        def count():
            for i in range(100):
                fiber.suspend(i)
            return "done"

        fibers = [Fiber(count) for _ in range(10)]
        barrier.wait()
        total = 0
        for _ in range(101):
            for f in fibers:
                value = f.resume()
                if value != "done":
                    total += value
        results[name] = (total, all(f.done for f in fibers), fiber.current())

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == {n: (10 * sum(range(100)), True, None) for n in range(4)}


def test_resuming_from_another_thread_is_a_fiber_error():
    f = Fiber(fiber.suspend)
    f.resume()
    errors = []

    def other():
        for action in (f.resume, f.close, lambda: f.throw(KeyError)):
            try:
                action()
            except FiberError as exc:
                errors.append(str(exc))

    t = threading.Thread(target=other)
    t.start()
    t.join()
    assert len(errors) == 3 and all("belongs to thread" in e for e in errors)
    f.close()  # the owner can still finish it
    assert f.done


def test_threading_local_is_shared_by_the_fibers_of_a_thread():
    local = threading.local()
    local.value = "thread's"
    f = Fiber(lambda: (getattr(local, "value", None), setattr(local, "value", "fiber's")))
    assert f.resume()[0] == "thread's"
    assert local.value == "fiber's"


# --- FP control state (rounding mode) ---------------------------------------------------

# fesetround's FE_UPWARD: x86 (x87 CW / MXCSR bits) and Arm (FPCR / FPSCR bits) differ. The
# one this CPU accepts and that really rounds upward is found at run time.
FE_UPWARD_CANDIDATES = (0x800, 0x400000)


def _third() -> float:
    one, three = 1.0, float(len("abc"))  # no constant folding: divided at run time
    return one / three


@pytest.fixture
def rounding():
    """(fesetround, fegetround, FE_UPWARD) from the C library; the mode is restored after."""
    try:
        libm = ctypes.CDLL(ctypes.util.find_library("m") or None)
        fesetround, fegetround = libm.fesetround, libm.fegetround
    except (OSError, AttributeError) as exc:
        pytest.skip(f"no fesetround/fegetround reachable through ctypes: {exc}")
    original, nearest = fegetround(), _third()
    upward = None
    for mode in FE_UPWARD_CANDIDATES:
        if fesetround(mode) == 0 and _third() > nearest:
            upward = mode
        fesetround(original)
        if upward is not None:
            break
    if upward is None:
        pytest.skip("none of the known FE_UPWARD values rounds upward on this CPU")
    yield fesetround, fegetround, upward
    fesetround(original)


def test_a_rounding_mode_set_on_a_fiber_stays_with_it(rounding):
    # Python fibers own their FP control state (FIBER_OWN_FP_CONTROL, README), as greenlets do.
    fesetround, fegetround, upward = rounding
    original, nearest = fegetround(), _third()

    def fn():
        fesetround(upward)
        fiber.suspend(_third())
        return _third(), fegetround()

    f = Fiber(fn)
    inside = f.resume()
    assert inside > nearest
    assert (fegetround(), _third()) == (original, nearest)  # not leaked to the resumer
    later, mode = f.resume()
    assert (later, mode) == (inside, upward)  # kept across the suspend
    assert fegetround() == original


def test_blocking_call_releasing_the_gil_inside_a_fiber():
    import time

    def fn():
        time.sleep(0.01)  # releases and re-takes the GIL with the fiber's state
        return fiber.suspend("slept")

    f = Fiber(fn)
    assert f.resume() == "slept"
    assert f.resume(1) == 1


# --- callbacks from C -----------------------------------------------------------------------

CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p)


def qsort_with(callback):
    values = (ctypes.c_int * 4)(3, 1, 2, 0)
    libc = ctypes.CDLL(None)
    libc.qsort(values, 4, ctypes.sizeof(ctypes.c_int), CALLBACK(callback))
    return list(values)


def test_ctypes_callback_entered_from_c_on_a_fiber_works():
    def compare(a, b):
        x = ctypes.cast(a, ctypes.POINTER(ctypes.c_int))[0]
        y = ctypes.cast(b, ctypes.POINTER(ctypes.c_int))[0]
        return x - y

    def fn():
        result = qsort_with(compare)
        return fiber.suspend(result)

    f = Fiber(fn)
    assert f.resume() == [0, 1, 2, 3]
    assert f.resume("after") == "after"


def test_suspend_inside_a_ctypes_callback_suspends_the_c_caller_too():
    # ctypes releases the GIL around the C call and its callback takes it back with
    # PyGILState_Ensure: on a fiber that finds the thread's own thread state (the fiber runs
    # on it), so the callback may suspend; qsort's C frames wait on the fiber's stack.
    def compare(a, b):
        x = ctypes.cast(a, ctypes.POINTER(ctypes.c_int))[0]
        y = ctypes.cast(b, ctypes.POINTER(ctypes.c_int))[0]
        return fiber.suspend((x, y))

    def fn():
        return qsort_with(compare)

    f = Fiber(fn)
    request = f.resume()
    comparisons = 0
    while not f.done:
        comparisons += 1
        x, y = request
        request = f.resume(x - y)
    assert request == [0, 1, 2, 3]
    assert comparisons >= 3


def test_python_callback_from_c_holding_the_gil_can_suspend():
    # sorted() calls its key function from C without releasing the GIL: the C frames of
    # sorted() live on the fiber's stack, so suspending inside the key function is fine.
    def key(x):
        return fiber.suspend(("key", x))

    f = Fiber(lambda: sorted([3, 1, 2], key=key))
    requests = [f.resume()]
    while not f.done:
        request = f.resume(-requests[-1][1])
        requests.append(request)
    assert requests[-1] == [3, 2, 1]


# --- suspension inside language constructs ---------------------------------------------------


def test_suspend_inside_a_generator():
    def gen():
        yield fiber.suspend("in generator") + 1
        yield 10

    def fn():
        g = gen()
        return [next(g), next(g)]

    f = Fiber(fn)
    assert f.resume() == "in generator"
    assert f.resume(1) == [2, 10]


def test_suspend_inside_with_and_finally_and_class_body():
    log = []

    class Manager:
        def __enter__(self):
            log.append("enter")
            fiber.suspend("in __enter__")
            return self

        def __exit__(self, *exc):
            log.append(fiber.suspend("in __exit__"))

    def fn():
        with Manager():
            log.append(fiber.suspend("in with"))
        try:
            pass
        finally:
            log.append(fiber.suspend("in finally"))

        class Body:
            attribute = fiber.suspend("in class body")

        return Body.attribute

    f = Fiber(fn)
    assert f.resume() == "in __enter__"
    assert f.resume() == "in with"
    assert f.resume("with") == "in __exit__"
    assert f.resume("exit") == "in finally"
    assert f.resume("finally") == "in class body"
    assert f.resume("class") == "class"
    assert log == ["enter", "with", "exit", "finally"]


def test_suspend_inside_a_comprehension_and_lambda():
    f = Fiber(lambda: [fiber.suspend(i) for i in range(3)])
    assert [f.resume(), f.resume("a"), f.resume("b")] == [0, 1, 2]
    assert f.resume("c") == ["a", "b", "c"]
