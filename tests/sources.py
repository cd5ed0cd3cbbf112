"""Whether the project's sources sit beside this tests/ folder, and the skip for tests that
need them.

The suite runs in two places:

- in a checkout (the harness's matrix, a developer's ``pytest``): the sources are the parent
  of tests/ (``ci/``, ``asm/``, ``fiber/_build.py``, ``tests/core/c/``), and every test runs;
- against an installed fiber (a wheel or the sdist, by ``nox -s wheels``: tests/ copied to a
  folder of its own, fiber imported from where pip put it). There the tests that build from
  the sources or drive the harness (the C conformance program, the assembly's unwind info and
  Mach-O checks, the soak's workload in ci/) skip with :data:`NO_SOURCES` as the reason:
  tests/core/conftest.py skips each module of that folder unimported, and a test elsewhere
  that needs the sources says so in its own ``skipif`` (tests/python/test_reliability_soak.py).

Both conftest.py files and the tests import it as ``sources`` (pytest puts tests/ on sys.path
for tests/conftest.py), so it stays at the top of tests/.

The answer comes from the file system, never from a failed import, so a checkout whose
``ci`` or ``fiber._build`` fails to import still fails loudly instead of skipping.
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# What a checkout has beside tests/ (and an installed copy never has).
MARKERS = ("ci/__init__.py", "fiber/_build.py", "asm/switch.S")

IS_CHECKOUT = all((ROOT / m).is_file() for m in MARKERS)

NO_SOURCES = (
    "needs the source checkout beside tests/ (ci/, asm/, fiber/_build.py): this run tests an "
    "installed fiber"
)
