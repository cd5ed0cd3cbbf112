"""fiber.aio fuel: CPU-bound synchronous code on a fuelled fiber yields to the event loop.

One unit of fuel is one line of Python executed on the fiber. Timing is never asserted: the
tests count loop iterations (a ticker task) and lines.
"""

from __future__ import annotations

import asyncio
import sys

import pytest

import fiber
import fiber.aio as aio


def crunch(n):
    total = 0
    for i in range(n):  # two line events per iteration: the `for` and the body
        total += i
    return total


class Ticker:
    """A task that counts the loop iterations it gets."""

    def __init__(self):
        self.ticks = 0
        self.traced = []  # sys.gettrace() as the ticker saw it, whenever it was not None
        self._stop = False

    async def run(self):
        while not self._stop:
            self.ticks += 1
            if sys.gettrace() is not None:
                self.traced.append(sys.gettrace())
            await asyncio.sleep(0)

    async def __aenter__(self):
        self.task = asyncio.create_task(self.run())
        await asyncio.sleep(0)  # let it start
        self.ticks = 0
        return self

    async def __aexit__(self, *exc):
        self._stop = True
        await self.task


def test_ticker_keeps_ticking_while_a_fuelled_fiber_crunches():
    async def main():
        async with Ticker() as ticker:
            result = await aio.run_fuelled(aio.Fuel(1000), crunch, 50_000)
            fuelled_ticks = ticker.ticks
            ticker.ticks = 0
            await aio.run(crunch, 50_000)  # the same code, unfuelled: the loop is starved
            unfuelled_ticks = ticker.ticks
        return result, fuelled_ticks, unfuelled_ticks, ticker.traced

    result, fuelled_ticks, unfuelled_ticks, traced = asyncio.run(main())
    assert result == sum(range(50_000))
    # about 100,000 lines / 1,000 per tank: one loop iteration per tank
    assert 90 <= fuelled_ticks <= 110
    assert unfuelled_ticks == 0
    assert traced == []  # the fuel tracer never leaked to the loop's stack


def test_out_of_fuel_is_raised_inside_the_fiber_after_the_last_refuel():
    seen = []

    def fn():
        try:
            crunch(10**9)  # far more than the fuel allows
        except aio.OutOfFuel as exc:
            seen.append(exc)
            raise
        finally:
            seen.append(fiber.current())

    async def main():
        async with Ticker() as ticker:
            with pytest.raises(aio.OutOfFuel, match="last tank"):
                await aio.run_fuelled(aio.Fuel(500, refuels=3), fn)
            return ticker.ticks

    ticks = asyncio.run(main())
    assert isinstance(seen[0], aio.OutOfFuel)
    assert isinstance(seen[1], fiber.Fiber)  # raised on the fiber, in fn's frames
    assert ticks == 3  # one yield to the loop per refuel, then the exception


def test_zero_refuels_fails_on_the_first_empty_tank():
    lines_run = 0

    def fn():
        nonlocal lines_run
        while True:
            lines_run += 1

    async def main():
        with pytest.raises(aio.OutOfFuel):
            await aio.run_fuelled(aio.Fuel(100, refuels=0), fn)

    asyncio.run(main())
    assert 40 <= lines_run <= 100


def test_fuel_is_counted_per_fiber():
    # Two fuelled fibers interleave through the loop; each gets its own tanks.
    async def main():
        async with Ticker():
            a = aio.run_fuelled(aio.Fuel(1000, refuels=60), crunch, 25_000)
            b = aio.run_fuelled(aio.Fuel(1000, refuels=60), crunch, 25_000)
            # 50,000 lines each: 50 tanks each, within 61 -- but not within 61 if shared
            return await asyncio.gather(a, b)

    assert asyncio.run(main()) == [sum(range(25_000))] * 2


def test_unfuelled_code_is_not_traced_while_fuelled_fibers_run():
    observed = []

    def unfuelled():
        for _ in range(50):
            observed.append(sys.gettrace())
            aio.await_(asyncio.sleep(0))

    async def main():
        async with Ticker() as ticker:
            await asyncio.gather(
                aio.run_fuelled(aio.Fuel(200), crunch, 20_000),
                aio.run(unfuelled),
            )
            observed.append(sys.gettrace())
        return ticker.traced

    assert asyncio.run(main()) == []
    assert observed == [None] * 51


def test_a_tracer_of_the_loop_thread_is_restored_around_a_fuelled_fiber():
    calls = []

    def user_tracer(frame, event, arg):
        if frame.f_code.co_name == "marker":
            calls.append(event)
        return None

    def marker():
        return 1

    async def main():
        async with Ticker():
            sys.settrace(user_tracer)
            try:
                task = asyncio.ensure_future(aio.run_fuelled(aio.Fuel(300), crunch, 10_000))
                while not task.done():
                    assert sys.gettrace() is user_tracer
                    marker()
                    await asyncio.sleep(0)
                assert sys.gettrace() is user_tracer
            finally:
                sys.settrace(None)
            return await task

    assert asyncio.run(main()) == sum(range(10_000))
    assert calls and set(calls) == {"call"}


def test_await_on_a_fuelled_fiber_and_fuel_of_awaited_code():
    async def coroutine_work():
        await asyncio.sleep(0)
        return crunch(5_000)  # runs on the fiber: it burns the fiber's fuel too

    def fn():
        results = []
        for _ in range(3):
            results.append(aio.await_(coroutine_work()))
            assert sys.gettrace() is not None  # the tracer is back after each switch
        return results

    async def main():
        async with Ticker() as ticker:
            results = await aio.run_fuelled(aio.Fuel(1000), fn)
            return results, ticker.ticks

    results, ticks = asyncio.run(main())
    assert results == [sum(range(5_000))] * 3
    assert ticks >= 25  # ~30,000 lines in coroutine code on the fiber


def test_cancelling_a_fuelled_cpu_loop_at_a_fuel_yield():
    events = []

    def spin():
        try:
            while True:
                pass
        finally:
            events.append("finally")

    async def main():
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.05):
                await aio.run_fuelled(aio.Fuel(1000), spin)

    asyncio.run(main())
    assert events == ["finally"]


def test_fuel_accounting_resumes_after_a_caught_out_of_fuel():
    caught = 0

    def fn():
        nonlocal caught
        for _ in range(3):
            try:
                crunch(10**9)
            except aio.OutOfFuel:
                caught += 1
                aio.await_(asyncio.sleep(0))  # re-arms the accounting
        return caught

    async def main():
        async with Ticker() as ticker:
            return await aio.run_fuelled(aio.Fuel(300, refuels=1), fn), ticker.ticks

    # After the first OutOfFuel, each await_ gives one more tank and no refuel: the ticks
    # are the one refuel plus the three await_(sleep(0)).
    assert asyncio.run(main()) == (3, 1 + 3)


def test_nested_plain_fiber_burns_fuel_and_yields_back_on_the_bridge_fiber():
    def nested():
        for i in range(3):
            crunch(2_000)
            fiber.suspend(i)

    def fn():
        f = fiber.Fiber(nested)
        got = []
        while (v := f.resume()) is not None:
            got.append(v)
        return got

    async def main():
        async with Ticker() as ticker:
            got = await aio.run_fuelled(aio.Fuel(1000), fn)
            return got, ticker.ticks

    got, ticks = asyncio.run(main())
    assert got == [0, 1, 2]
    assert ticks >= 3  # tanks emptied inside the nested fiber were refilled back on fn


def test_fuel_arguments_are_checked_and_keywords_go_to_fn():
    with pytest.raises(ValueError):
        aio.Fuel(0)
    with pytest.raises(ValueError):
        aio.Fuel(10, refuels=-1)

    def fn(*, fuel, refuels):
        return fuel, refuels

    assert asyncio.run(aio.run_fuelled(aio.Fuel(10), fn, fuel=1, refuels=2)) == (1, 2)
    with pytest.raises(TypeError, match="Fuel"):
        asyncio.run(aio.run_fuelled(10, fn))


def test_fuel_under_trio():
    trio = pytest.importorskip("trio")

    async def main():
        ticks = 0
        done = False

        async def ticker():
            nonlocal ticks
            while not done:
                ticks += 1
                await trio.sleep(0)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(ticker)
            await trio.sleep(0)
            start = ticks
            result = await aio.run_fuelled(aio.Fuel(1000), crunch, 20_000)
            during = ticks - start
            done = True
        return result, during

    result, during = trio.run(main)
    assert result == sum(range(20_000))
    assert during >= 20
