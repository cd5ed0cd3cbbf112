"""Load fiber/_build.py (the project's one build function) without importing the package.

``import fiber._build`` would first run fiber/__init__.py, which imports the native extension
that the harness is about to build. So the harness loads the build module by its path, under
its real name, once; a later ``import fiber._build`` gets the same module object.
"""

from __future__ import annotations

import importlib.util
import sys
import threading
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parent.parent
BUILD_PY = ROOT / "fiber" / "_build.py"
NAME = "fiber._build"


_lock = threading.Lock()  # targets may build in parallel threads


def module() -> ModuleType:
    with _lock:
        return _load()


def _load() -> ModuleType:
    mod = sys.modules.get(NAME)
    if mod is not None:
        return mod
    spec = importlib.util.spec_from_file_location(NAME, BUILD_PY)
    assert spec is not None and spec.loader is not None, BUILD_PY
    mod = importlib.util.module_from_spec(spec)
    sys.modules[NAME] = mod
    try:
        spec.loader.exec_module(mod)
    except BaseException:
        del sys.modules[NAME]
        raise
    return mod
