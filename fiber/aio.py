"""fiber.aio: call async code from synchronous code, on a fiber, inside an asyncio program.

::

    def fetch_greeting(host, port):                 # plain synchronous code
        reader, writer = fiber.aio.await_(asyncio.open_connection(host, port))
        writer.write(b"hello\\n")
        return fiber.aio.await_(reader.readline())

    async def main():
        return await fiber.aio.run(fetch_greeting, "127.0.0.1", 8888)

:func:`run` runs synchronous code on a new fiber; anywhere below it, :func:`await_` waits
for an awaitable by starting it on the fiber and, when it has to wait, suspending the fiber
while the driver in the calling task carries it on, so the event loop goes on.
:func:`run_fuelled` adds fuel (one unit per line of Python) so that CPU-bound code yields to
the loop; :func:`can_await` and :func:`run_and_report` are for libraries that bridge a
synchronous API to an async driver. docs/asyncio.md has the whole
story: how the driver works, cancellation, contextvars, fuel, trio.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from types import CoroutineType, GeneratorType
from typing import Any, Generic, NamedTuple, NoReturn, TypeVar

import fiber

# Without the native extension this raises fiber's ImportError, which says how to build it.
fiber.Fiber  # noqa: B018
from fiber import _glue  # noqa: E402
from fiber._glue import (  # noqa: E402
    RESUMER_CONTEXT,
    FiberError,
    FiberExit,
    _BridgeFiber,
    _drive,
    await_,
    current,
    suspend,
)

__all__ = [
    "Fuel",
    "OutOfFuel",
    "RunReport",
    "await_",
    "can_await",
    "run",
    "run_and_report",
    "run_fuelled",
    "stack_size",
]

T = TypeVar("T")

_CO_ITERABLE_COROUTINE = 0x100
_THIS_FILE = (lambda: None).__code__.co_filename  # the bridge's frames burn no fuel


class OutOfFuel(Exception):
    """Raised inside a fuelled fiber when the tank given by its last refuel is empty.

    It is raised at the line of Python that found the tank empty and propagates like any
    exception: out of ``fn`` and out of ``await run_fuelled(...)`` unless ``fn`` catches it.
    """


class _Request:
    """The private marker a bridge fiber suspends with when it asks its driver to yield."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "<fiber.aio request>"


_REQ = _Request()


# await_, the bridge fiber type (_BridgeFiber) and the driver (_drive) are in C, in
# fiber/glue/bridge.c: together they are the cost of every wait (docs/asyncio.md, "How it
# works"). A _BridgeFiber is a fiber started by run(): await_ may suspend it. Its fields:
# ``_yielded``, what the awaitable yielded (the driver passes it on to the task); ``_it``, the
# awaitable's iterator that await_ offers the driver to carry on (None once taken, or when
# there is no offer); ``_tank``, the fuel state or None; ``_awaited``, True from the first
# await_ on it (run_and_report says so); ``_await_depth``, the await_ calls running on it now
# (can_await says False inside them). The rare paths of await_ stay here: the misuse error,
# awaitables other than coroutines (_await_iter), and an awaitable that goes on on the fiber
# (_drive_here): a fuelled fiber's, or one whose task answered a value (trio).


# ------------------------------------------------------------------------------------------
# await_'s rare paths: run on the bridge fiber
# ------------------------------------------------------------------------------------------


def _drive_here(f: _BridgeFiber, it: Any, value: Any, exc: BaseException | None) -> Any:
    """await_ with `it` kept on the fiber: send the task's answer `value` into `it` (or throw
    `exc`, what the task threw), suspend with what it yields, and again until it finishes.
    Called by await_ (C) for a fuelled fiber from the start, and after a suspension whose offer
    the driver did not take (the task answered a value, or threw)."""
    tank = f._tank
    while True:
        try:
            if exc is None:
                yielded = it.send(value)
            elif isinstance(exc, FiberExit):
                # The fiber is being closed (its run coroutine was closed, or it was
                # collected): close the awaitable as `await` would, then let fn's finally
                # blocks run.
                close = getattr(it, "close", None)
                if close is not None:
                    close()
                raise exc
            else:
                yielded = it.throw(exc)  # CancelledError...: handed on, as `await` does
        except StopIteration as stop:
            return stop.value
        f._yielded = yielded
        exc = None
        try:
            value = suspend(_REQ) if tank is None else tank.suspend()
        except BaseException as thrown:
            exc = thrown


def _await_iter(awaitable: Any) -> Any:
    """The iterator `await awaitable` would drive (what GET_AWAITABLE does)."""
    if isinstance(awaitable, GeneratorType) and (
        awaitable.gi_code.co_flags & _CO_ITERABLE_COROUTINE
    ):
        return awaitable  # a @types.coroutine generator
    method = getattr(type(awaitable), "__await__", None)
    if method is None:
        raise TypeError(
            f"fiber.aio.await_() needs an awaitable (a coroutine, a future, or an object with "
            f"__await__), not {type(awaitable).__name__}"
        )
    it = method(awaitable)
    if not hasattr(it, "send") and not hasattr(it, "__next__"):
        raise TypeError(f"__await__() returned a non-iterator of type {type(it).__name__}")
    if not (hasattr(it, "send") and hasattr(type(it), "__iter__")):
        it = _AwaitIterator(it)
    return it


class _AwaitIterator:
    """An __await__ iterator made whole: send and throw (await takes an iterator that has
    only __next__: it can yield, not take), close, and iteration, so that the driver can
    ``yield from`` it as it does a coroutine."""

    __slots__ = ("_it",)

    def __init__(self, it: Any) -> None:
        self._it = it

    def __iter__(self) -> _AwaitIterator:
        return self

    def __next__(self) -> Any:
        return self.send(None)

    def send(self, value: Any) -> Any:
        send = getattr(self._it, "send", None)
        return next(self._it) if send is None else send(value)

    def throw(self, exc: BaseException) -> Any:
        throw = getattr(self._it, "throw", None)
        if throw is None:
            raise exc
        return throw(exc)

    def close(self) -> None:
        close = getattr(self._it, "close", None)
        if close is not None:
            close()


def _misuse(awaitable: Any, f: Any) -> NoReturn:
    if awaitable.__class__ is CoroutineType or (
        isinstance(awaitable, GeneratorType) and awaitable.gi_code.co_flags & _CO_ITERABLE_COROUTINE
    ):
        awaitable.close()  # no "coroutine ... was never awaited" warning
    if f is None:
        raise FiberError(
            "fiber.aio.await_() called outside fiber.aio.run(): only synchronous code started "
            "with `await fiber.aio.run(fn, ...)` can wait for awaitables this way (in async "
            "code, use `await`)"
        )
    raise FiberError(
        f"fiber.aio.await_() called on {f!r}, which was not started by fiber.aio.run(): "
        "await_ can only suspend a fiber started with `await fiber.aio.run(fn, ...)`; a plain "
        "fiber.Fiber resumed by such code must return or suspend to it first"
    )


_glue._bridge_setup(_REQ, _misuse, _await_iter, _drive_here)


# ------------------------------------------------------------------------------------------
# run: the driver, in the calling task
# ------------------------------------------------------------------------------------------


_stack_size: int | None = None


def stack_size(size: int | None = None, /) -> int | None:
    """The native stack size of the fibers :func:`run` starts from now on; with an argument,
    set it first (as :func:`threading.stack_size` does for threads).

    ``None`` (the initial setting) means :class:`fiber.Fiber`'s default: 8 MiB less 128 KiB
    on 64-bit systems, 4 MiB on 32-bit ones, of which only the touched pages cost memory. Tens of
    thousands of concurrent bridge fibers on a 32-bit system need a smaller size, say 64 KiB,
    to fit its address space. A bad size raises when the next fiber is created, like Fiber().
    """
    global _stack_size
    if size is not None:
        if not isinstance(size, int) or size < 0:
            raise ValueError(f"stack_size must be a non-negative int (bytes), not {size!r}")
        _stack_size = size or None
    return _stack_size


async def run(fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
    """Run ``fn(*args, **kwargs)`` on a new fiber and return its result (an ``async`` call).

    Inside ``fn``, :func:`await_` waits for awaitables without blocking the event loop. An
    exception from ``fn`` propagates from here with ``fn``'s frames in its traceback. ``fn``
    runs in the calling task's ``contextvars.Context`` (no copy). All keyword arguments go to
    ``fn``. Cancelling the task raises ``CancelledError`` inside ``fn`` at its ``await_``.
    """
    f = _new_bridge_fiber(fn, args, kwargs)
    r = f.resume()
    if r is not _REQ and f.done:
        return r  # finished without waiting for anything: no driver needed
    return await _drive(f, r)


def _new_bridge_fiber(
    fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> _BridgeFiber:
    """The fiber of a run: fn(*args, **kwargs) in the resumer's Context, on a stack of
    stack_size(). The plain call (no arguments, default stack) is spelled out: building and
    unpacking *args and **kwargs cost a trivial run a tenth of its time."""
    if not args and not kwargs:
        if _stack_size is None:
            return _BridgeFiber(fn, context=RESUMER_CONTEXT)
        return _BridgeFiber(fn, context=RESUMER_CONTEXT, stack_size=_stack_size)
    if kwargs and ("context" in kwargs or "stack_size" in kwargs):
        # Names Fiber() itself takes: pass them through to fn, not to Fiber.
        fn = functools.partial(fn, *args, **kwargs)
        args = ()
        kwargs = {}
    return _BridgeFiber(fn, *args, context=RESUMER_CONTEXT, stack_size=_stack_size, **kwargs)


# ------------------------------------------------------------------------------------------
# For library integrators: where await_ works, and whether a run used it
# ------------------------------------------------------------------------------------------


def can_await() -> bool:
    """Whether :func:`await_` can wait from the code running now.

    True in synchronous code running under :func:`run` or :func:`run_fuelled`, at any call
    depth. False everywhere else: outside any bridge fiber, on a plain ``fiber.Fiber``
    resumed by such code, and inside an awaitable that ``await_`` is driving (its first
    step runs on the bridge fiber, the rest in the task, but either way that is async code:
    it should ``await``). A library that offers both a synchronous and an async path (an ORM over an
    async driver, a plugin host) calls this to pick one, as SQLAlchemy's
    ``in_greenlet()`` does for its greenlet bridge. Never raises; costs two attribute reads.
    """
    f = current()
    # Inside an awaitable: while await_ runs on the fiber (its first step, or all of it on a
    # fuelled fiber); in the task (the rest of it) current() is None.
    return f.__class__ is _BridgeFiber and not f._await_depth


class RunReport(NamedTuple, Generic[T]):
    """What :func:`run_and_report` gives back: ``fn``'s result and whether ``fn`` awaited."""

    value: T
    """What ``fn`` returned."""
    awaited: bool
    """True when ``fn`` (or code below it on the bridge fiber) called :func:`await_` at least
    once, whether or not the awaitable had to wait; False when it never did."""


async def run_and_report(fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> RunReport[T]:
    """:func:`run`, and also say whether ``fn`` awaited anything.

    ``report = await run_and_report(fn, *args, **kwargs)``: ``report.value`` is what
    ``await run(fn, *args, **kwargs)`` would return (an exception from ``fn`` propagates the
    same way) and ``report.awaited`` whether ``fn`` called :func:`await_`. A library that
    expects its synchronous code to reach an async driver can fail loudly when it did not,
    as SQLAlchemy's ``greenlet_spawn(..., _require_await=True)`` does.
    """
    awaited = False

    def body() -> T:
        nonlocal awaited
        value = fn(*args, **kwargs)
        f = current()  # the bridge fiber run() started for body
        awaited = f.__class__ is _BridgeFiber and f._awaited
        return value

    return RunReport(await run(body), awaited)


# ------------------------------------------------------------------------------------------
# Fuel
# ------------------------------------------------------------------------------------------


class Fuel:
    """How much a fuelled fiber may run: `per_tank` lines of Python per tank, `refuels` refills.

    ``Fuel(10_000)`` yields to the event loop every 10,000 lines, forever. ``Fuel(10_000,
    refuels=3)`` does so three times, then raises :class:`OutOfFuel` when the fourth tank is
    empty (40,000 lines in all). A Fuel object is only a setting: every run gets full tanks.
    """

    __slots__ = ("per_tank", "refuels")

    def __init__(self, per_tank: int, refuels: int | None = None) -> None:
        if not isinstance(per_tank, int) or isinstance(per_tank, bool) or per_tank < 1:
            raise ValueError(f"Fuel: per_tank must be a positive int (lines), not {per_tank!r}")
        if refuels is not None and (
            not isinstance(refuels, int) or isinstance(refuels, bool) or refuels < 0
        ):
            raise ValueError(
                f"Fuel: refuels must be an int >= 0, or None to refuel forever, not {refuels!r}"
            )
        self.per_tank = per_tank
        self.refuels = refuels

    def __repr__(self) -> str:
        return f"Fuel({self.per_tank}, refuels={self.refuels})"


async def run_fuelled(fuel: Fuel, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
    """Like :func:`run`, on a fiber that yields to the event loop each time a tank of `fuel`
    is used up, and raises :class:`OutOfFuel` inside ``fn`` after the last refuel.

    One unit of fuel is one line of Python executed on the fiber. `fuel` and `fn` are
    positional, so every keyword argument goes to ``fn``.
    """
    if not isinstance(fuel, Fuel):
        raise TypeError(f"run_fuelled() needs a fiber.aio.Fuel as its first argument, not {fuel!r}")
    tank = _Tank(fuel)
    f = _BridgeFiber(tank.entry, fn, args, kwargs, context=RESUMER_CONTEXT, stack_size=_stack_size)
    f._tank = tank
    tank.fiber = f
    r = f.resume()
    if r is not _REQ and f.done:
        return r
    return await _drive(f, r)


class _Tank:
    """The fuel state of one fuelled fiber, and the tracer that burns it.

    sys.settrace is per thread, and a fiber runs on its thread's thread state, so the tracer is
    installed only while the fiber runs: set at start and after each suspension, and replaced
    by the resumer's own (`outer`) before each suspension and at the end.
    """

    __slots__ = ("fiber", "outer", "call", "line", "refill", "broken", "refuels")

    def __init__(self, fuel: Fuel) -> None:
        self.fiber: _BridgeFiber | None = None
        self.outer: Any = None
        self.broken = False  # CPython removed the tracer after it raised
        self.refuels = fuel.refuels
        per_tank = fuel.per_tank
        left = per_tank
        empty = self._empty

        def line(frame: Any, event: str, arg: Any) -> None:
            nonlocal left
            if event == "line":
                left -= 1
                if left <= 0 and empty():
                    left = per_tank
                    self._yield_to_loop()

        def call(frame: Any, event: str, arg: Any) -> Any:
            if frame.f_code.co_filename == _THIS_FILE:
                return None  # the bridge's own frames (await_, ...) burn no fuel
            return line

        def refill() -> None:
            nonlocal left
            left = per_tank

        self.line = line
        self.call = call
        self.refill = refill

    def entry(self, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """The fiber's function: fn(*args, **kwargs) with the tracer on."""
        self.outer = sys.gettrace()
        sys.settrace(self.call)
        try:
            return fn(*args, **kwargs)
        finally:
            sys.settrace(self.outer)

    def suspend(self) -> Any:
        """suspend(_REQ) with the resumer's tracer put back for the time away."""
        sys.settrace(self.outer)
        try:
            return suspend(_REQ)
        finally:
            self.outer = sys.gettrace()  # the glue copied the resumer's in
            sys.settrace(self.call)
            if self.broken:
                self._rearm(sys._getframe(1))

    def _rearm(self, frame: Any) -> None:
        """Trace again after CPython removed the tracer (it raised): every frame of the fiber
        gets its line tracer back, and a fresh tank (refuels are not given back)."""
        self.broken = False
        self.refill()
        line = self.line
        while frame is not None:
            if frame.f_trace is None and frame.f_code.co_filename != _THIS_FILE:
                frame.f_trace = line
            frame = frame.f_back

    def _empty(self) -> bool:
        """The tank is empty: True to refuel now, False to wait (not on our fiber just now:
        a nested fiber runs); raises OutOfFuel after the last refuel."""
        if current() is not self.fiber:
            return False
        refuels = self.refuels
        if refuels is None:
            return True
        if refuels > 0:
            self.refuels = refuels - 1
            return True
        self.broken = True  # CPython drops the tracer when it raises
        raise OutOfFuel(
            "the fiber used up its last tank of fuel (run_fuelled: one unit per line of Python)"
        )

    def _yield_to_loop(self) -> None:
        """From inside the tracer: let the event loop run once, like asyncio.sleep(0)."""
        f = self.fiber
        assert f is not None  # run_fuelled sets it before the fiber starts
        if "trio" in sys.modules and _in_trio():
            import trio

            try:
                await_(trio.lowlevel.checkpoint())
            except BaseException:
                self.broken = True
                raise
            return
        f._yielded = None  # a bare yield: asyncio's "run the loop once"
        try:
            self.suspend()
        except BaseException:
            self.broken = True
            raise


def _in_trio() -> bool:
    import trio

    try:
        trio.lowlevel.current_task()
    except RuntimeError:
        return False
    return True
