"""pytest plugin (``-p ci.hangwatch``): a backstop for tests that hang in native code.

pytest-timeout's signal method turns a hang in Python code into a clean test failure, but its
SIGALRM handler only runs when the interpreter gets control back, and a fiber bug can hang in C
with the GIL released. So each test also arms ``faulthandler.dump_traceback_later`` (a C-level
watchdog thread) at ``--hang-backstop`` seconds: on expiry it writes the stacks of every thread
into ``$FIBER_HANG_DIR/<worker>.txt`` after the test's id, and ends the worker. pytest-xdist then
reports the test as failed (its worker crashed) and the run goes on with a new worker; the
harness reads the file and names the hung test and its target in the summary. A target run in
one pytest process (no xdist: ci/runners/__init__.py) ends there without its report, and
ci/matrix.py runs it again with each test in an xdist worker.
"""

from __future__ import annotations

import faulthandler
import os
from pathlib import Path

import pytest

HEADER = "fiber-harness hang watch: "


def pytest_addoption(parser):
    parser.addoption(
        "--hang-backstop",
        type=float,
        default=0.0,
        help="end the worker (with all stacks dumped) when a test runs this long",
    )


class _Watch:
    def __init__(self, seconds: float, directory: Path):
        self.seconds = seconds
        directory.mkdir(parents=True, exist_ok=True)
        worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
        self.file = open(directory / f"{worker}-{os.getpid()}.txt", "w")

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_protocol(self, item, nextitem):
        self.file.seek(0)
        self.file.truncate()
        self.file.write(f"{HEADER}{item.nodeid}\n")
        self.file.flush()
        faulthandler.dump_traceback_later(self.seconds, exit=True, file=self.file)
        try:
            yield
        finally:
            faulthandler.cancel_dump_traceback_later()


def pytest_configure(config):
    seconds = config.getoption("hang_backstop")
    directory = os.environ.get("FIBER_HANG_DIR")
    if seconds and directory:
        config.pluginmanager.register(_Watch(seconds, Path(directory)), "fiber-hang-watch")


def hung_tests(directory: Path) -> dict[str, str]:
    """{test id: the dumped stacks} for every test the watch caught hanging in `directory`."""
    found: dict[str, str] = {}
    if not directory.is_dir():
        return found
    for f in sorted(directory.glob("*.txt")):
        text = f.read_text(errors="replace")
        first, _, rest = text.partition("\n")
        if first.startswith(HEADER) and "Timeout (" in rest:
            found[first[len(HEADER) :]] = rest
    return found
