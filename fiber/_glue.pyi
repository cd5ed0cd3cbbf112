"""The types of fiber._glue, the CPython half of the native extension (fiber/glue/glue.c)."""

from collections.abc import Callable
from contextvars import Context
from typing import Any, Final, Literal, final

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
