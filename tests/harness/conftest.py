"""The harness's own tests (ci/): run natively, by `nox -s harness`.

Every test here is marked ``harness`` and ``native_only`` (tests/conftest.py skips those on
emulated and Windows targets: they drive the host's Python, compilers and files). Target runs
of the matrix leave this folder out altogether (ci/runners/__init__.py).
"""

from __future__ import annotations

from pathlib import Path

import pytest

HERE = Path(__file__).parent


@pytest.hookimpl(tryfirst=True)  # before tests/conftest.py's hook reads the markers
def pytest_collection_modifyitems(config, items):
    for item in items:
        if HERE in Path(item.fspath).parents:
            item.add_marker(pytest.mark.harness)
            item.add_marker(pytest.mark.native_only)
