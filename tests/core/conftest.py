"""The native core's tests: the C conformance program, the assembly's unwind info, the Mach-O
objects. No Python is in what they test; they build it from the checkout (asm/, fiber/core/,
fiber/_build.py, ci/), so against an installed fiber (tests/sources.py) every module of this
folder is reported skipped with NO_SOURCES as the reason, without being imported: each imports
ci or fiber._build, which an installed copy does not have.

Which of them run on which target is said by their markers (tests/conftest.py):
test_c_conformance.py is ``target_program``, test_unwind_info.py and test_macho_asm.py are
``native_only``; all three are the once-per-ABI work of a matrix run.
"""

from __future__ import annotations

import pytest
from sources import IS_CHECKOUT, NO_SOURCES

if not IS_CHECKOUT:

    @pytest.hookimpl(tryfirst=True)
    def pytest_make_collect_report(collector):
        """A module of this folder: one skip at the module's own path, nothing imported. (Each
        at its own path: pytest-xdist reports identical collection skips only once.)"""
        if isinstance(collector, pytest.Module):
            where = (str(collector.path), 1, f"Skipped: {NO_SOURCES}")
            return pytest.CollectReport(collector.nodeid, "skipped", where, [])
        return None
