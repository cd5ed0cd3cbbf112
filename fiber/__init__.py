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

Importing the package loads the native extension. A checkout whose extension is not built
yet still imports (so that ``python -m fiber._build`` can build it): the API names then
raise an ImportError that says how to build it. docs/python.md has the details.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NoReturn

__all__ = ["Fiber", "FiberError", "FiberExit", "current", "suspend"]
__version__ = "0.1.0"

if TYPE_CHECKING:
    from fiber._glue import Fiber, FiberError, FiberExit, current, suspend


def _in_subinterpreter() -> bool:
    """True when this is not the main interpreter (the glue keeps one set of globals)."""
    import importlib

    for name in ("_interpreters", "_xxsubinterpreters"):
        try:
            interpreters = importlib.import_module(name)
        except ImportError:
            continue
        current, main = interpreters.get_current(), interpreters.get_main()
        # 3.13+ return (id, whence) pairs; 3.11 returns ids
        current, main = (x[0] if isinstance(x, tuple) else x for x in (current, main))
        return bool(current != main)
    return False


def _install_glue() -> None:
    import atexit
    import importlib
    import sys

    _native = importlib.import_module("fiber._native")

    if _native.lib.fiber_glue_install() != 0:  # pragma: no cover - interpreter failure
        raise ImportError("fiber: the native glue could not be initialised (see the error above)")
    # fiber_glue_install() registered the CPython-API half of the extension as fiber._glue.
    glue = sys.modules["fiber._glue"]
    globals().update({name: getattr(glue, name) for name in __all__}, _glue=glue)
    # Suspended fibers are closed at exit (their finally blocks run) while the interpreter
    # is still whole.
    atexit.register(glue._shutdown)


if _in_subinterpreter():
    raise ImportError(
        "fiber does not support subinterpreters: import it in the main interpreter only "
        "(its native glue keeps one set of per-process state)"
    )

try:
    _install_glue()
except ImportError as _not_built:
    # A checkout whose extension is not built yet: `fiber._build` (which builds it) must stay
    # importable, so the API names fail only when used. No module __getattr__ otherwise: it
    # would slow every `fiber.suspend` lookup (CPython cannot specialise attribute loads on
    # modules that have one).
    _why = _not_built

    def __getattr__(name: str) -> NoReturn:
        if name in __all__:
            raise ImportError(
                f"fiber's native extension is not available ({_why}): build it with "
                "`python -m fiber._build` in a checkout, or install with `pip install .`"
            ) from _why
        raise AttributeError(f"module 'fiber' has no attribute {name!r}")
