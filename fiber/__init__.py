"""fiber: stackful fibers for Python.

A :class:`Fiber` runs a Python callable on its own native stack. Code anywhere below that
callable, at any call depth, can call :func:`suspend` to hand a value back to whoever called
:meth:`Fiber.resume`; the next ``resume(value)`` continues it exactly where it stopped::

    import fiber

    def walk(tree):
        for node in tree:
            fiber.suspend(node)          # from any depth, no generators needed

    f = fiber.Fiber(walk, [1, 2, 3])
    while (node := f.resume()) is not None:
        print(node)

:mod:`fiber.aio` bridges fibers and asyncio: ``await fiber.aio.run(fn)`` runs synchronous
code on a fiber, and ``fiber.aio.await_(awaitable)`` inside it waits for async work.

The native extension is loaded on first use of the API (PEP 562), so that the build module
``fiber._build`` can be imported from a checkout before the extension exists.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = ["Fiber", "FiberError", "FiberExit", "current", "suspend"]
__version__ = "0.1.0"

if TYPE_CHECKING:
    from fiber._glue import Fiber, FiberError, FiberExit, current, suspend


def _load_native() -> None:
    from fiber import _native

    if _native.lib.fiber_glue_install() != 0:  # pragma: no cover - interpreter failure
        raise ImportError("fiber: the native glue could not be initialised (see the error above)")
    import atexit
    import sys

    # fiber_glue_install() registered the glue module; `from fiber import _glue` would come
    # back through __getattr__ below.
    _glue = sys.modules["fiber._glue"]

    # Suspended fibers are closed at exit (their finally blocks run) while the interpreter
    # is still whole: it deletes the thread states fibers run on soon after atexit.
    atexit.register(_glue._shutdown)
    # A fork() child keeps only the forking thread state: fibers suspended at the fork become
    # unusable there (FiberError), instead of touching freed interpreter state.
    import os

    if hasattr(os, "register_at_fork"):
        os.register_at_fork(after_in_child=_glue._after_fork_child)
    for name in __all__:
        globals()[name] = getattr(_glue, name)
    globals()["_glue"] = _glue


def __getattr__(name: str) -> Any:
    if name in __all__ or name == "_glue":
        _load_native()
        return globals()[name]
    raise AttributeError(f"module 'fiber' has no attribute {name!r}")
