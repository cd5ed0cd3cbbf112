"""fiber.aio: run() and await_() -- synchronous code calling async code on a fiber.

Each test runs its own event loop with asyncio.run (no pytest plugin). The two load tests
run their full counts (1,000 echo clients, 10,000 concurrent runs) on every target, emulated
and 32-bit ones included: those are where address space and speed run short.
"""

from __future__ import annotations

import asyncio
import contextvars
import gc
import inspect
import sys
import traceback
import types
import warnings

import pytest

import fiber
import fiber.aio as aio

ECHO_CLIENTS = 1000
CONCURRENT_RUNS = 10_000

var = contextvars.ContextVar("var", default="unset")


async def value_of(x):
    return x


async def later(x, delay=0.001):
    await asyncio.sleep(delay)
    return x


@types.coroutine
def bare_yield(what):
    """Yield `what` to whoever drives the coroutine; return what it sends back."""
    return (yield what)


def run_sync(fn, *args, **kwargs):
    return asyncio.run(aio.run(fn, *args, **kwargs))


# ------------------------------------------------------------------------------------------
# Values, results and the basic protocol
# ------------------------------------------------------------------------------------------


def test_run_returns_fn_result_and_forwards_arguments():
    def fn(a, b, *, c, context, stack_size):  # names Fiber() itself takes go to fn too
        return (a, b, c, context, stack_size)

    assert run_sync(fn, 1, 2, c=3, context="ctx", stack_size=4) == (1, 2, 3, "ctx", 4)


def test_await_returns_results_of_finished_and_pending_awaitables():
    async def main():
        loop = asyncio.get_running_loop()
        done_future = loop.create_future()
        done_future.set_result("done-future")
        pending_future = loop.create_future()
        loop.call_later(0.01, pending_future.set_result, "pending-future")

        def fn():
            return [
                aio.await_(value_of(1)),
                aio.await_(later(2)),
                aio.await_(done_future),
                aio.await_(pending_future),
                aio.await_(asyncio.ensure_future(later(5))),
                aio.await_(bare_yield(None)),  # a bare yield: one loop iteration
            ]

        return await aio.run(fn)

    assert asyncio.run(main()) == [1, 2, "done-future", "pending-future", 5, None]


def test_finished_coroutine_costs_no_switch():
    def fn():
        aio.await_(value_of(1))
        return aio.await_(value_of(2))

    class CountingLoop(asyncio.SelectorEventLoop):
        steps = 0

        def _run_once(self):
            CountingLoop.steps += 1
            super()._run_once()

    async def plain():
        await value_of(1)
        return await value_of(2)

    def loop_steps(coro):
        CountingLoop.steps = 0
        loop = CountingLoop()
        try:
            assert loop.run_until_complete(coro) == 2
        finally:
            loop.close()
        return CountingLoop.steps

    # Neither await_ nor run() yielded to the loop: as many loop steps as plain awaits take.
    assert loop_steps(aio.run(fn)) == loop_steps(plain())


def test_values_sent_by_the_task_pass_through_to_the_awaitable():
    def fn():
        return aio.await_(bare_yield("to-task")) + aio.await_(bare_yield("again"))

    coro = aio.run(fn)
    assert coro.send(None) == "to-task"
    assert coro.send(40) == "again"
    with pytest.raises(StopIteration) as stop:
        coro.send(2)
    assert stop.value.value == 42


def test_await_rejects_non_awaitables():
    def fn():
        aio.await_(42)

    with pytest.raises(TypeError, match="needs an awaitable"):
        run_sync(fn)


def test_await_takes_its_awaitable_by_position_or_by_keyword():
    def fn():
        return aio.await_(value_of(1)), aio.await_(awaitable=later(2))

    assert run_sync(fn) == (1, 2)
    assert str(inspect.signature(aio.await_)) == "(awaitable)"
    with pytest.raises(TypeError, match="exactly one argument"):
        aio.await_()
    with pytest.raises(TypeError, match="unexpected keyword argument 'coro'"):
        aio.await_(coro=None)


def test_custom_awaitable_with_dunder_await():
    class Later:
        def __await__(self):
            yield from asyncio.sleep(0).__await__()
            return "custom"

    assert run_sync(lambda: aio.await_(Later())) == "custom"


class TwoBareYields:
    """An __await__ iterator written by hand: yields None twice (run the loop once, twice),
    then finishes with "done"."""

    def __init__(self):
        self.steps = 0

    def __next__(self):
        self.steps += 1
        if self.steps < 3:
            return None
        raise StopIteration("done")


class WithIter(TwoBareYields):
    def __iter__(self):
        return self


class WithSendNoIter(TwoBareYields):
    def send(self, value):
        assert value is None
        return self.__next__()


@pytest.mark.parametrize("iterator", [TwoBareYields, WithIter, WithSendNoIter])
def test_hand_written_await_iterators_that_block(iterator):
    # Whatever shape __await__'s iterator has (only __next__, no send, send but no __iter__),
    # await_ drives it as `await` does, also once the driver carries it on.
    class Awaitable:
        def __await__(self):
            return iterator()

    async def plain():
        return await Awaitable()

    def fn():
        return [aio.await_(Awaitable()) for _ in range(3)]

    assert asyncio.run(plain()) == "done"
    assert run_sync(fn) == ["done"] * 3


# ------------------------------------------------------------------------------------------
# Load: real network I/O and many concurrent fibers
# ------------------------------------------------------------------------------------------


def echo_client(port, ident):
    """Synchronous code whose only I/O is asyncio streams through await_."""
    reader, writer = aio.await_(asyncio.open_connection("127.0.0.1", port))
    try:
        payload = b"".join(b"%d:%d;" % (ident, i) for i in range(50))
        received = bytearray()
        for start in range(0, len(payload), 97):  # several writes and reads per client
            chunk = payload[start : start + 97]
            writer.write(chunk)
            aio.await_(writer.drain())
            received += aio.await_(reader.readexactly(len(chunk)))
        writer.write_eof()
        rest = aio.await_(reader.read())  # the server closes after echoing everything
        return payload, bytes(received) + rest
    finally:
        writer.close()
        aio.await_(writer.wait_closed())


def test_echo_clients_through_await():
    async def handle(reader, writer):
        while data := await reader.read(4096):
            writer.write(data)
            await writer.drain()
        writer.close()
        await writer.wait_closed()

    async def main():
        server = await asyncio.start_server(handle, "127.0.0.1", 0, backlog=ECHO_CLIENTS + 16)
        port = server.sockets[0].getsockname()[1]
        async with server:
            return await asyncio.gather(
                *(aio.run(echo_client, port, i) for i in range(ECHO_CLIENTS))
            )

    # 1,000 concurrent calls at the default stack (4 MiB on 32-bit systems) would need 4 GiB of
    # address space: a 32-bit process uses a small stack, as the README says
    previous = aio.stack_size()
    if sys.maxsize < 2**32:
        aio.stack_size(256 * 1024)
    try:
        results = asyncio.run(main())
    finally:
        aio.stack_size(previous or 0)
    assert len(results) == ECHO_CLIENTS
    for i, (sent, echoed) in enumerate(results):
        assert echoed == sent, f"client {i} lost or garbled bytes"
    assert len({sent for sent, _ in results}) == ECHO_CLIENTS


def test_many_concurrent_runs_awaiting_real_io():
    started = 0
    peak = 0

    def fn(i):
        nonlocal started, peak
        started += 1
        peak = max(peak, started)
        aio.await_(asyncio.sleep(0.01))  # a timer: every fiber is suspended at once
        r = aio.await_(later(i, 0.001))
        started -= 1
        return r

    async def main():
        return await asyncio.gather(*(aio.run(fn, i) for i in range(CONCURRENT_RUNS)))

    # 10,000 default stacks do not fit a 32-bit address space: use the documented knob.
    previous = aio.stack_size()
    aio.stack_size(128 * 1024)
    try:
        assert asyncio.run(main()) == list(range(CONCURRENT_RUNS))
    finally:
        aio.stack_size(previous or 0)
    assert peak == CONCURRENT_RUNS  # all of them were alive and suspended together


def test_stack_size_setting_applies_to_new_bridge_fibers():
    def size_of_my_stack():
        return fiber.current().stack_size

    previous = aio.stack_size()
    try:
        assert aio.stack_size(256 * 1024) == 256 * 1024
        assert run_sync(size_of_my_stack) >= 256 * 1024
        assert run_sync(size_of_my_stack) < fiber.Fiber(int).stack_size
        with pytest.raises(ValueError, match="stack_size"):
            aio.stack_size(-1)
    finally:
        aio.stack_size(previous or 0)
    assert aio.stack_size() == previous


# ------------------------------------------------------------------------------------------
# Exceptions both ways
# ------------------------------------------------------------------------------------------


def run_then_cancel(fn):
    """Run aio.run(fn) as a task, cancel it 10 ms in, check that CancelledError comes out of
    it; returns task.cancelled()."""

    async def main():
        task = asyncio.create_task(aio.run(fn))
        await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return task.cancelled()

    return asyncio.run(main())


def frame_names(tb):
    return [frame.name for frame in traceback.extract_tb(tb)]


def test_exception_from_fn_propagates_with_fiber_frames():
    def deep_in_fn():
        aio.await_(later(None))
        raise ValueError("from fn")

    def fn():
        deep_in_fn()

    with pytest.raises(ValueError, match="from fn") as info:
        run_sync(fn)
    names = frame_names(info.value.__traceback__)
    assert "fn" in names and "deep_in_fn" in names
    assert names.index("fn") < names.index("deep_in_fn")


@pytest.mark.parametrize("pending", [False, True], ids=["finished", "pending"])
def test_exception_from_awaitable_is_raised_inside_fn(pending):
    async def failing():
        if pending:
            await asyncio.sleep(0.001)
        raise KeyError("from coroutine")

    def fn():
        try:
            aio.await_(failing())
        except KeyError as exc:
            return "caught", frame_names(exc.__traceback__)
        return "not raised", []

    outcome, names = run_sync(fn)
    assert outcome == "caught"
    assert names[0] == "fn" and "failing" in names


def test_exception_from_a_carried_awaitable_shows_fn_and_the_awaitable_not_the_driver():
    async def failing():
        await asyncio.sleep(0)  # blocks: the driver carries it on from here
        raise KeyError("after blocking")

    def fn():
        try:
            aio.await_(failing())
        except KeyError as exc:
            return frame_names(exc.__traceback__)
        return []

    async def plain():
        try:
            await failing()
        except KeyError as exc:
            return frame_names(exc.__traceback__)
        return []

    # The traceback a plain `await` gives: the caller, then the awaitable (await_ and the
    # driver are C: neither adds a frame).
    assert asyncio.run(plain()) == ["plain", "failing"]
    assert run_sync(fn) == ["fn", "failing"]


def test_awaitable_runs_its_first_step_on_the_fiber_and_the_rest_in_the_task():
    seen = []

    async def where():
        seen.append(fiber.current())
        await asyncio.sleep(0)
        seen.append(fiber.current())
        return "done"

    def fn():
        return aio.await_(where()), fiber.current()

    result, bridge = run_sync(fn)
    assert result == "done"
    assert seen == [bridge, None]


def test_await_nested_in_the_first_step_of_an_awaitable():
    # The inner await_ uses the bridge fiber's offer slot while the outer one is between its
    # first step and its suspension: each must get its own awaitable's result.
    def helper():
        return aio.await_(later("inner"))

    async def outer():
        inner = helper()  # sync code in the awaitable's first step, on the fiber
        await asyncio.sleep(0)
        return inner + "+outer"

    def fn():
        return [aio.await_(outer()) for _ in range(3)]

    assert run_sync(fn) == ["inner+outer"] * 3


def test_cancel_of_a_carried_awaitable_reaches_it_and_then_fn():
    events = []

    async def slow():
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            events.append("awaitable")
            raise

    def fn():
        try:
            aio.await_(slow())
        except asyncio.CancelledError:
            events.append("fn")
            raise

    run_then_cancel(fn)
    assert events == ["awaitable", "fn"]


@pytest.mark.parametrize("carried", [False, True], ids=["offered", "carried"])
@pytest.mark.parametrize("form", ["instance", "class"])
def test_what_the_task_throws_goes_into_the_awaitable_as_with_await(carried, form):
    # "offered": thrown while the fiber waits in await_ (the driver has not carried the
    # awaitable on yet); "carried": thrown while the driver carries it.
    async def awaitable():
        if carried:
            await bare_yield("first step")  # on the fiber; the driver carries the rest
        try:
            await bare_yield("waiting")
        except ValueError as exc:
            return f"handled {exc!r}"
        return "not thrown"

    async def plain():
        return await awaitable()

    def fn():
        return aio.await_(awaitable())

    outcomes = []
    for coro in (plain(), aio.run(fn)):
        yields = [coro.send(None)] + ([coro.send(None)] if carried else [])
        with pytest.raises(StopIteration) as stop:
            coro.throw(ValueError("boom") if form == "instance" else ValueError)
        outcomes.append((yields, stop.value.value))
    handled = "handled ValueError('boom')" if form == "instance" else "handled ValueError()"
    assert outcomes[0] == (["first step", "waiting"] if carried else ["waiting"], handled)
    assert outcomes[1] == outcomes[0]


class SendNoThrow(WithIter):
    """An __await__ iterator with send and __iter__ but no throw: await uses it as it is."""

    def send(self, value):
        return self.__next__()


def test_what_the_task_throws_into_a_carried_iterator_without_throw_is_raised_at_await_():
    class Awaitable:
        def __await__(self):
            return SendNoThrow()

    async def plain():
        try:
            await Awaitable()
        except KeyError as exc:
            return f"caught {exc!r}"

    def fn():
        try:
            aio.await_(Awaitable())
        except KeyError as exc:
            return f"caught {exc!r}"

    outcomes = []
    for coro in (plain(), aio.run(fn)):
        assert coro.send(None) is None  # first step (on the fiber for run)
        assert coro.send(None) is None  # second (the driver carries it)
        with pytest.raises(StopIteration) as stop:
            coro.throw(KeyError("thrown"))
        outcomes.append(stop.value.value)
    assert outcomes == ["caught KeyError('thrown')"] * 2


def test_closing_the_run_coroutine_while_the_driver_carries_closes_the_awaitable_first():
    events = []

    async def awaitable():
        await bare_yield("first step")
        try:
            await bare_yield("carried")
        finally:
            events.append("awaitable finally")

    def fn():
        try:
            aio.await_(awaitable())
        except BaseException as exc:
            events.append(type(exc).__name__)
            raise

    coro = aio.run(fn)
    assert coro.send(None) == "first step"
    assert coro.send(None) == "carried"
    coro.close()
    assert events == ["awaitable finally", "FiberExit"]
    assert coro.cr_frame is None


def test_an_error_closing_the_carried_awaitable_is_raised_at_await_():
    # As `yield from` does: what the awaitable's close raises goes on in the delegating code
    # (here fn at await_), which may handle it and return.
    async def awaitable():
        await bare_yield("first step")
        try:
            await bare_yield("carried")
        finally:
            raise KeyError("from the awaitable's finally")

    def fn():
        try:
            aio.await_(awaitable())
        except KeyError as exc:
            return f"fn caught {exc!r}"

    coro = aio.run(fn)
    coro.send(None)
    coro.send(None)
    coro.close()  # fn returned: the close succeeds
    assert coro.cr_frame is None


@pytest.mark.parametrize("carried", [False, True], ids=["offered", "carried"])
@pytest.mark.parametrize("how", ["dropped", "in a cycle"])
def test_an_abandoned_run_closes_its_awaitable_and_fiber_when_collected(carried, how):
    events = []

    async def awaitable():
        if carried:
            await bare_yield("first step")
        try:
            await bare_yield("waiting")
        finally:
            events.append("awaitable finally")

    def fn(holder):
        holder.append(fiber.current())  # holder is reachable from fn's frame
        try:
            aio.await_(awaitable())
        except BaseException as exc:
            events.append(type(exc).__name__)
            raise

    holder = []
    coro = aio.run(fn, holder)
    coro.send(None)
    if carried:
        coro.send(None)
    if how == "in a cycle":
        holder.append(coro)
    else:
        holder.clear()
    del coro, holder
    gc.collect()
    if how == "dropped":
        assert events == ["awaitable finally", "FiberExit"]  # closed as close() does
    else:
        assert sorted(events) == ["FiberExit", "awaitable finally"]  # finalisers in any order


def test_the_driver_refuses_a_send_while_it_runs():
    # Code on the fiber runs inside the driver's send: sending into the driver from there
    # fails, as with a generator that is executing.
    def fn(box):
        aio.await_(bare_yield("waiting"))
        with pytest.raises(ValueError, match="already executing"):
            box[0].send(None)
        return "ok"

    box = []
    coro = aio.run(fn, box)
    assert coro.send(None) == "waiting"
    box.append(coro.cr_await)  # the driver, between two steps
    with pytest.raises(StopIteration) as stop:
        coro.send(None)
    assert stop.value.value == "ok"


def test_uncaught_exception_from_awaitable_leaves_run():
    def fn():
        aio.await_(later(None))
        aio.await_(asyncio.wait_for(asyncio.sleep(1), 0.001))

    with pytest.raises(TimeoutError) as info:
        run_sync(fn)
    assert "fn" in frame_names(info.value.__traceback__)


# ------------------------------------------------------------------------------------------
# Cancellation and timeouts
# ------------------------------------------------------------------------------------------


def test_cancel_raises_inside_fn_and_runs_finally():
    events = []

    def fn():
        try:
            aio.await_(asyncio.sleep(10))
        except asyncio.CancelledError:
            events.append("cancelled inside fn")
            raise
        finally:
            events.append("finally")

    assert run_then_cancel(fn) is True
    assert events == ["cancelled inside fn", "finally"]


def test_swallowed_cancel_ends_run_like_a_plain_coroutine():
    async def plain():
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            return "swallowed"

    def on_fiber():
        try:
            aio.await_(asyncio.sleep(10))
        except asyncio.CancelledError:
            return "swallowed"

    async def outcome(coro):
        task = asyncio.create_task(coro)
        await asyncio.sleep(0.01)
        task.cancel()
        try:
            result = await task
        except asyncio.CancelledError:
            return "cancelled", task.cancelled()
        return result, task.cancelled()

    async def main():
        return await outcome(plain()), await outcome(aio.run(on_fiber))

    expected, got = asyncio.run(main())
    assert expected == ("swallowed", False)
    assert got == expected


def test_cancel_while_fn_is_blocked_in_a_task_it_awaits():
    # await_ of a Task: cancelling the outer task cancels the inner one too, as `await` does.
    events = []

    async def inner():
        try:
            await asyncio.sleep(10)
        finally:
            events.append("inner finally")

    def fn():
        try:
            aio.await_(asyncio.ensure_future(inner()))
        finally:
            events.append("fn finally")

    run_then_cancel(fn)
    assert events == ["inner finally", "fn finally"]


def test_asyncio_timeout_around_run():
    events = []

    def fn():
        try:
            aio.await_(asyncio.sleep(10))
        finally:
            events.append("finally")

    async def main():
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.02):
                await aio.run(fn)
        events.append("after")

    asyncio.run(main())
    assert events == ["finally", "after"]


def test_wait_for_around_run():
    events = []

    def slow():
        try:
            aio.await_(asyncio.sleep(10))
        finally:
            events.append("finally")

    def quick():
        return aio.await_(later("quick"))

    async def main():
        assert await asyncio.wait_for(aio.run(quick), 5) == "quick"
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(aio.run(slow), 0.02)

    asyncio.run(main())
    assert events == ["finally"]


def test_closing_the_run_coroutine_closes_the_fiber():
    events = []

    def fn():
        try:
            aio.await_(bare_yield("waiting"))
        except BaseException as exc:
            events.append(type(exc).__name__)
            raise
        finally:
            events.append("finally")

    coro = aio.run(fn)
    assert coro.send(None) == "waiting"
    coro.close()
    assert events == ["FiberExit", "finally"]


# ------------------------------------------------------------------------------------------
# contextvars
# ------------------------------------------------------------------------------------------


def test_fn_sees_the_task_context_and_its_sets_are_visible_to_awaitables_and_task():
    async def read_var():
        await asyncio.sleep(0)
        return var.get()

    def fn():
        seen = var.get()
        var.set("set by fn")
        return seen, aio.await_(read_var())

    async def main():
        var.set("set by task")
        seen, in_awaitable = await aio.run(fn)
        return seen, in_awaitable, var.get()

    assert asyncio.run(main()) == ("set by task", "set by fn", "set by fn")


def test_sets_in_an_awaited_coroutine_are_visible_to_fn():
    async def setter():
        var.set("set by coroutine")
        await asyncio.sleep(0)

    def fn():
        aio.await_(setter())
        return var.get()

    assert run_sync(fn) == "set by coroutine"


def test_concurrent_runs_keep_their_own_task_contexts():
    def fn(name):
        var.set(name)
        aio.await_(asyncio.sleep(0.005))  # the other tasks run and set theirs meanwhile
        return var.get()

    async def one(name):
        return await aio.run(fn, name)

    async def main():
        names = [f"task-{i}" for i in range(20)]
        return names, await asyncio.gather(*(one(n) for n in names))

    names, results = asyncio.run(main())
    assert results == names


def test_context_run_inside_fn_around_await():
    def inner():
        var.set("inner")
        aio.await_(asyncio.sleep(0.001))
        return var.get()

    def fn():
        return contextvars.copy_context().run(inner), var.get()

    assert run_sync(fn) == ("inner", "unset")


# ------------------------------------------------------------------------------------------
# Nesting
# ------------------------------------------------------------------------------------------


def test_nested_run_through_await():
    def innermost(x):
        return aio.await_(later(x * 10))

    async def middle(x):
        await asyncio.sleep(0)
        return await aio.run(innermost, x) + 1

    def outer(x):
        def helper():
            return aio.await_(middle(x))  # a coroutine that itself awaits run()

        return helper() + aio.await_(aio.run(innermost, x))

    async def main():
        return await asyncio.gather(*(aio.run(outer, i) for i in range(5)))

    assert asyncio.run(main()) == [i * 10 + 1 + i * 10 for i in range(5)]


def test_plain_fibers_inside_a_bridge_fiber_suspend_to_their_own_resumer():
    def generator_like(n):
        for i in range(n):
            got = fiber.suspend(i)  # goes to fn, not to the event loop
            assert got == f"ack{i}"
        return "gen done"

    def fn():
        f = fiber.Fiber(generator_like, 3)
        out = [f.resume()]
        while not f.done:
            aio.await_(asyncio.sleep(0))  # the bridge fiber suspends between resumes
            out.append(f.resume(f"ack{out[-1]}"))
        return out

    assert run_sync(fn) == [0, 1, 2, "gen done"]


def test_await_from_a_nested_plain_fiber_is_a_clear_error():
    def nested():
        coro = value_of(1)
        try:
            aio.await_(coro)
        except fiber.FiberError as exc:
            return str(exc), coro.cr_frame is None
        return "no error", False

    def fn():
        return fiber.Fiber(nested).resume()

    message, closed = run_sync(fn)
    assert "not started by fiber.aio.run" in message
    assert closed


def test_plain_suspend_on_a_bridge_fiber_is_a_clear_error():
    def fn():
        try:
            fiber.suspend("stray")
        except fiber.FiberError as exc:
            return str(exc)
        return "no error"

    message = run_sync(fn)
    assert "fiber.aio.await_" in message and "'stray'" in message


# ------------------------------------------------------------------------------------------
# Misuse
# ------------------------------------------------------------------------------------------


def test_await_outside_run_raises_and_closes_the_coroutine():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        coro = value_of(1)
        with pytest.raises(fiber.FiberError, match=r"fiber\.aio\.run"):
            aio.await_(coro)
        assert coro.cr_frame is None  # closed
        del coro
        gc.collect()
    assert not [w for w in caught if issubclass(w.category, RuntimeWarning)]


def test_the_never_awaited_warning_is_what_the_misuse_test_would_see():
    # The control for the test above: the same capture does see an unclosed coroutine.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        coro = value_of(1)
        del coro
        gc.collect()
    assert [w for w in caught if "never awaited" in str(w.message)]


def test_await_from_async_code_on_the_loop_stack_is_a_clear_error():
    def sync_helper():
        return aio.await_(value_of(1))

    async def main():
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            with pytest.raises(fiber.FiberError, match="outside fiber.aio.run"):
                sync_helper()

    asyncio.run(main())


# ------------------------------------------------------------------------------------------
# Other frameworks
# ------------------------------------------------------------------------------------------


def test_trio_run_and_await():
    trio = pytest.importorskip("trio")
    events = []

    def fn(i):
        aio.await_(trio.sleep(0.001))
        return i * 2

    def blocked():
        try:
            aio.await_(trio.sleep(10))
        finally:
            events.append("finally")

    async def main():
        results = []

        async def one(i):
            results.append(await aio.run(fn, i))

        async with trio.open_nursery() as nursery:
            for i in range(20):
                nursery.start_soon(one, i)
        with trio.move_on_after(0.02) as scope:
            await aio.run(blocked)
        return sorted(results), scope.cancelled_caught

    assert trio.run(main) == ([i * 2 for i in range(20)], True)
    assert events == ["finally"]


# ------------------------------------------------------------------------------------------
# For library integrators: can_await() and run_and_report()
# ------------------------------------------------------------------------------------------


def test_can_await_only_in_synchronous_code_under_run():
    seen = {}

    def deep(n):
        return deep(n - 1) if n else aio.can_await()

    async def coroutine_on_the_fiber():
        seen["inside the awaitable"] = aio.can_await()
        seen["sync code the awaitable calls"] = deep(3)
        await asyncio.sleep(0)
        seen["inside the awaitable, resumed"] = aio.can_await()
        return "done"

    def on_a_plain_fiber():
        seen["plain fiber"] = aio.can_await()

    def fn():
        seen["fn"] = aio.can_await()
        seen["20 calls below fn"] = deep(20)
        assert aio.await_(coroutine_on_the_fiber()) == "done"
        seen["fn after await_"] = aio.can_await()
        fiber.Fiber(on_a_plain_fiber).resume()
        return "ok"

    async def main():
        seen["async code"] = aio.can_await()
        return await aio.run(fn)

    seen["plain stack"] = aio.can_await()
    assert asyncio.run(main()) == "ok"
    assert seen == {
        "plain stack": False,
        "async code": False,
        "fn": True,
        "20 calls below fn": True,
        "inside the awaitable": False,
        "sync code the awaitable calls": False,
        "inside the awaitable, resumed": False,
        "fn after await_": True,
        "plain fiber": False,
    }


def test_can_await_in_a_run_nested_in_an_awaitable_and_under_fuel():
    def inner():
        return aio.can_await()

    async def nested():
        return await aio.run(inner)

    def outer():
        return aio.await_(nested()), aio.can_await()

    async def main():
        fuelled = await aio.run_fuelled(aio.Fuel(1000), aio.can_await)
        return await aio.run(outer), fuelled

    assert asyncio.run(main()) == ((True, True), True)


@pytest.mark.parametrize("fuelled", [False, True], ids=["unfuelled", "fuelled"])
def test_can_await_is_false_in_every_step_of_an_awaitable_and_true_after_await_(fuelled):
    seen = []

    async def inner():
        seen.append(("inner", aio.can_await()))
        return 1

    async def failing():
        raise KeyError("failed")

    async def outer():
        aio.await_(inner())  # an await_ nested in this awaitable's first step, on the fiber
        seen.append(("outer after the nested await_", aio.can_await()))
        await asyncio.sleep(0)
        # on the fiber when fuelled (the awaitable stays there), in the task otherwise
        seen.append(("outer, second step", aio.can_await(), fiber.current() is not None))
        return "done"

    def fn():
        assert aio.await_(outer()) == "done"
        seen.append(("fn after await_", aio.can_await()))
        with pytest.raises(KeyError):
            aio.await_(failing())
        seen.append(("fn after a failed await_", aio.can_await()))

    if fuelled:
        asyncio.run(aio.run_fuelled(aio.Fuel(1000), fn))
    else:
        run_sync(fn)
    assert seen == [
        ("inner", False),
        ("outer after the nested await_", False),
        ("outer, second step", False, fuelled),
        ("fn after await_", True),
        ("fn after a failed await_", True),
    ]


def test_can_await_agrees_with_await_():
    """Where can_await() says True, await_ waits; where it says False outside the bridge,
    await_ raises FiberError."""

    def fn():
        assert aio.can_await()
        return aio.await_(later("waited"))

    assert run_sync(fn) == "waited"
    assert not aio.can_await()
    with pytest.raises(fiber.FiberError, match="outside fiber.aio.run"):
        aio.await_(later("never"))


def test_run_and_report_says_whether_fn_awaited():
    def no_io(x):
        return x * 2

    def io_that_finished_at_once(x):
        return aio.await_(value_of(x))

    def io_that_waited(x):
        return aio.await_(later(x))

    def io_deep_inside_an_awaitable(x):
        async def outer():
            return helper(x)

        def helper(y):
            return y  # sync code called by the awaitable: no await_ of its own

        return aio.await_(outer())

    async def main():
        return [
            await aio.run_and_report(no_io, 21),
            await aio.run_and_report(io_that_finished_at_once, "a"),
            await aio.run_and_report(io_that_waited, "b"),
            await aio.run_and_report(io_deep_inside_an_awaitable, "c"),
        ]

    reports = asyncio.run(main())
    assert reports == [(42, False), ("a", True), ("b", True), ("c", True)]
    assert reports[0].value == 42 and reports[0].awaited is False
    assert isinstance(reports[0], aio.RunReport)


def test_run_and_report_passes_arguments_and_exceptions_like_run():
    def fn(a, *, context, stack_size):  # names Fiber() takes go to fn, as with run()
        return (a, context, stack_size)

    def fails():
        aio.await_(later(None))
        raise KeyError("from fn")

    async def main():
        report = await aio.run_and_report(fn, 1, context="c", stack_size=2)
        with pytest.raises(KeyError, match="from fn") as err:
            await aio.run_and_report(fails)
        return report, err

    report, err = asyncio.run(main())
    assert report == ((1, "c", 2), False)
    assert "fails" in [frame.name for frame in traceback.extract_tb(err.value.__traceback__)]
