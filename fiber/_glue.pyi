"""The types of fiber._glue, the CPython half of the native extension (fiber/glue/glue.c)."""

from collections.abc import Awaitable, Callable
from contextvars import Context
from typing import Any, Final, Literal, NoReturn, TypeVar, final

_T = TypeVar("_T")

class FiberError(RuntimeError): ...
class FiberExit(BaseException): ...

@final
class _ResumerContext:
    """The type of RESUMER_CONTEXT (at run time a plain object(); named here for the checker)."""

# As Fiber's `context`: run in the resumer's own Context, no copy (what fiber.aio.run does).
RESUMER_CONTEXT: Final[_ResumerContext]

class Fiber:
    def __init__(
        self,
        fn: Callable[..., Any],
        /,
        *args: Any,
        stack_size: int | None = None,
        context: Context | _ResumerContext | None = None,
        **kwargs: Any,
    ) -> None: ...
    def resume(self, value: Any = None, /) -> Any: ...
    def throw(self, exc: BaseException | type[BaseException], /) -> Any: ...
    def close(self) -> None: ...
    @property
    def done(self) -> bool: ...
    @property
    def state(self) -> Literal["new", "running", "suspended", "done"]: ...
    @property
    def stack_size(self) -> int: ...

def suspend(value: Any = None, /) -> Any: ...
def current() -> Fiber | None: ...

# fiber.aio's C half (fiber/glue/bridge.c); fiber.aio is their public face.

@final
class _BridgeFiber(Fiber):
    """A fiber started by fiber.aio.run(): await_ may suspend it."""

    _yielded: Any
    _tank: Any
    @property
    def _it(self) -> Any: ...
    @property
    def _awaited(self) -> bool: ...
    @property
    def _await_depth(self) -> int: ...

def await_(awaitable: Awaitable[_T]) -> _T:
    """Wait for `awaitable` from synchronous code running under :func:`run`, at any depth.

    Returns the awaitable's result or raises its exception. While it is pending the fiber is
    suspended and the event loop goes on with other tasks; an awaitable that completes at once
    costs no switch. Called anywhere else (no ``fiber.aio.run`` below on this stack, or on a
    plain ``fiber.Fiber`` resumed by such code), it raises ``fiber.FiberError`` and closes the
    coroutine, so there is no "never awaited" warning.
    """

def _drive(f: _BridgeFiber, r: Any, /) -> Any: ...
def _bridge_setup(
    request: object,
    misuse: Callable[[Any, Any], NoReturn],
    await_iter: Callable[[Any], Any],
    drive_here: Callable[[_BridgeFiber, Any, Any, BaseException | None], Any],
    /,
) -> None: ...
