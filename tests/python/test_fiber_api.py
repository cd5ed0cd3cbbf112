"""The Python Fiber API: values both ways, states, exceptions, throw, close, nesting, misuse."""

from __future__ import annotations

import sys
import traceback

import pytest

import fiber
from fiber import Fiber, FiberError, FiberExit


def echo_twice(first):
    second = fiber.suspend(("got", first))
    third = fiber.suspend(("got", second))
    return ("end", third)


def test_suspend_and_resume_values_both_ways():
    f = Fiber(echo_twice, "a")
    assert f.resume() == ("got", "a")
    assert f.resume("b") == ("got", "b")
    assert f.resume("c") == ("end", "c")
    assert f.done


def test_args_and_kwargs_go_to_fn_but_stack_size_and_context_do_not():
    seen = {}

    def fn(*args, **kwargs):
        seen.update(args=args, kwargs=kwargs)

    Fiber(fn, 1, 2, stack_size=65536, key="v").resume()
    assert seen == {"args": (1, 2), "kwargs": {"key": "v"}}


def test_entry_does_not_run_before_first_resume():
    ran = []
    f = Fiber(ran.append, 1)
    assert ran == [] and f.state == "new" and not f.done
    f.resume()
    assert ran == [1]


def test_states_through_a_life():
    states = []

    def fn():
        states.append(fiber.current().state)
        fiber.suspend()

    f = Fiber(fn)
    states.append(f.state)
    f.resume()
    states.append(f.state)
    f.resume()
    states.append(f.state)
    assert states == ["new", "running", "suspended", "done"]


def test_suspend_from_any_depth():
    def deep(n):
        if n == 0:
            return fiber.suspend("bottom")
        return deep(n - 1) + 1

    f = Fiber(deep, 200)
    assert f.resume() == "bottom"
    assert f.resume(0) == 200


def test_current_is_none_on_thread_stack_and_the_fiber_inside():
    assert fiber.current() is None
    f = Fiber(lambda: fiber.current())
    assert f.resume() is f
    assert fiber.current() is None


def test_exception_escaping_fn_propagates_with_fiber_frames_and_finishes_it():
    def inner():
        raise ValueError("boom")

    def outer():
        fiber.suspend()
        inner()

    f = Fiber(outer)
    f.resume()
    with pytest.raises(ValueError, match="boom") as info:
        f.resume()
    names = [frame.name for frame in traceback.extract_tb(info.value.__traceback__)]
    assert names[-2:] == ["outer", "inner"]
    assert f.done and f.state == "done"


def test_first_resume_with_a_value_is_a_type_error_like_generator_send():
    f = Fiber(lambda: None)
    with pytest.raises(TypeError, match="non-None"):
        f.resume(1)
    assert f.state == "new"
    f.resume()
    assert f.done


def test_throw_raises_at_the_suspension_point():
    def fn():
        try:
            fiber.suspend("waiting")
        except KeyError as exc:
            return ("caught", exc.args)

    f = Fiber(fn)
    f.resume()
    assert f.throw(KeyError("k")) == ("caught", ("k",))


def test_throw_accepts_an_exception_class():
    f = Fiber(fiber.suspend)
    f.resume()
    with pytest.raises(OSError):
        f.throw(OSError)
    assert f.done


def test_throw_into_a_new_fiber_raises_without_running_it():
    ran = []
    f = Fiber(ran.append, 1)
    with pytest.raises(KeyError):
        f.throw(KeyError("x"))
    assert ran == [] and f.done


@pytest.mark.parametrize("bad", [1, "text", None, object()])
def test_throw_with_a_non_exception_is_a_type_error(bad):
    f = Fiber(fiber.suspend)
    f.resume()
    with pytest.raises(TypeError, match="exception"):
        f.throw(bad)
    assert f.state == "suspended"
    f.close()


def test_close_runs_finally_blocks_and_context_managers():
    log = []

    class Manager:
        def __enter__(self):
            return self

        def __exit__(self, *exc):
            log.append(("exit", exc[0]))

    def fn():
        with Manager():
            try:
                fiber.suspend()
            finally:
                log.append("finally")

    f = Fiber(fn)
    f.resume()
    f.close()
    assert log == ["finally", ("exit", FiberExit)]
    assert f.done


def test_close_of_new_fiber_finishes_it_without_running():
    ran = []
    f = Fiber(ran.append, 1)
    f.close()
    assert f.done and ran == []


def test_close_of_done_fiber_does_nothing():
    f = Fiber(lambda: 1)
    f.resume()
    f.close()
    f.close()
    assert f.done


def test_close_of_fiber_that_suspends_again_is_a_fiber_error():
    def stubborn():
        while True:
            try:
                fiber.suspend()
            except FiberExit:
                pass

    f = Fiber(stubborn)
    f.resume()
    with pytest.raises(FiberError, match="FiberExit"):
        f.close()
    assert f.state == "suspended"
    with pytest.raises(KeyError):
        f.throw(KeyError)
    assert f.done


def test_close_lets_other_exceptions_out():
    def fn():
        try:
            fiber.suspend()
        finally:
            raise LookupError("from finally")

    f = Fiber(fn)
    f.resume()
    with pytest.raises(LookupError):
        f.close()
    assert f.done


def test_fiber_exit_is_a_base_exception_and_fiber_error_a_runtime_error():
    assert issubclass(FiberExit, BaseException) and not issubclass(FiberExit, Exception)
    assert issubclass(FiberError, RuntimeError)


def test_nested_fibers_suspend_to_their_own_resumer():
    def inner():
        return fiber.suspend("inner-1") + "!"

    def outer():
        b = Fiber(inner)
        first = b.resume()
        mine = fiber.suspend(("outer saw", first))
        return b.resume(mine)

    a = Fiber(outer)
    assert a.resume() == ("outer saw", "inner-1")
    assert a.resume("go") == "go!"
    assert a.done


# --- misuse -----------------------------------------------------------------------------


def test_resume_of_done_fiber_is_a_fiber_error():
    f = Fiber(lambda: None)
    f.resume()
    with pytest.raises(FiberError, match="finished"):
        f.resume()


def test_resume_of_the_running_fiber_itself_is_a_fiber_error():
    def fn():
        with pytest.raises(FiberError, match="running"):
            fiber.current().resume()
        return "still fine"

    assert Fiber(fn).resume() == "still fine"


def test_resume_of_an_ancestor_is_a_fiber_error():
    def inner(parent):
        with pytest.raises(FiberError, match="running"):
            parent.resume()
        with pytest.raises(FiberError, match="running"):
            parent.close()
        return "ok"

    def outer():
        return Fiber(inner, fiber.current()).resume()

    assert Fiber(outer).resume() == "ok"


def test_suspend_outside_any_fiber_is_a_fiber_error():
    with pytest.raises(FiberError, match="outside any fiber"):
        fiber.suspend()


def test_fn_must_be_callable():
    with pytest.raises(TypeError, match="callable"):
        Fiber(42)
    with pytest.raises(TypeError, match="function to run"):
        Fiber()


def test_uninitialised_fiber_is_a_fiber_error_not_a_crash():
    f = Fiber.__new__(Fiber)
    with pytest.raises(FiberError, match="not initialised"):
        f.resume()
    f.close()  # nothing to do


@pytest.mark.parametrize("size", ["1M", 1.5, b"x"])
def test_stack_size_must_be_an_int(size):
    with pytest.raises(TypeError, match="stack_size"):
        Fiber(lambda: None, stack_size=size)


def test_negative_stack_size_is_a_value_error():
    with pytest.raises(ValueError, match="stack_size"):
        Fiber(lambda: None, stack_size=-1)


@pytest.mark.parametrize("size", [2**62, 2**80])
def test_unmappable_stack_size_is_a_memory_error(size):
    with pytest.raises(MemoryError, match="stack_size"):
        Fiber(lambda: None, stack_size=size)


def test_small_stack_sizes_are_rounded_up_to_the_minimum():
    f = Fiber(lambda: None, stack_size=1)
    assert f.stack_size >= 16 * 1024
    f2 = Fiber(lambda: None, stack_size=0)
    assert f2.stack_size >= f.stack_size
    assert Fiber(lambda: None).stack_size == f2.stack_size


def test_context_must_be_a_context():
    with pytest.raises(TypeError, match="Context"):
        Fiber(lambda: None, context={})


def test_misuse_leaves_the_interpreter_working():
    for action in (
        lambda: fiber.suspend(),
        lambda: Fiber(1),
        lambda: Fiber(lambda: None, stack_size=-5),
    ):
        with pytest.raises((FiberError, TypeError, ValueError)):
            action()
    f = Fiber(echo_twice, "again")
    assert f.resume() == ("got", "again")
    f.close()


def test_repr_names_fn_and_state():
    f = Fiber(echo_twice, 1)
    assert "echo_twice" in repr(f) and "new" in repr(f)


def test_subclassing_works():
    class Named(Fiber):
        pass

    f = Named(lambda: fiber.current())
    assert f.resume() is f


def test_a_fiber_keeps_itself_alive_while_running():
    def fn():
        del holder[:]
        import gc

        gc.collect()
        return fiber.suspend("alive") + 1

    holder = [Fiber(fn)]
    f = holder[0]
    assert f.resume() == "alive"
    assert f.resume(1) == 2


def test_refcounts_do_not_leak_over_many_switches():
    value = object()

    def ping():
        while True:
            fiber.suspend(value)

    f = Fiber(ping)
    f.resume()
    before = sys.getrefcount(value)
    for _ in range(500):
        f.resume(value)
    assert sys.getrefcount(value) == before
    f.close()
