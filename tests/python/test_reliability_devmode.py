"""Fibers under Python's development mode (`python -X dev`, which installs the debug memory
allocator hooks, as PYTHONMALLOC=debug does).

Those hooks check PyGILState_Check() on every allocation; on 3.11 that compares the current
thread state with the one bound to the OS thread's gilstate TSS slot. Fibers run on their
thread's own thread state, so the check holds on a fiber as on the thread's stack (an earlier
design gave each fiber a thread state of its own, and the first allocation on a fiber aborted
with "Fatal Python error: _PyMem_DebugMalloc: Python memory allocator called without holding
the GIL").

Runs the child through FIBER_RUNNER (under QEMU user mode sys.executable cannot be exec'd
directly).
"""

from __future__ import annotations

from fresh_interpreter import run_python

CODE = """
import fiber
f = fiber.Fiber(lambda: [fiber.suspend(i) for i in range(3)] and 'done')
got = [f.resume() for _ in range(4)]
assert got == [0, 1, 2, 'done'], got
blocks = [list(range(10)) for _ in range(1000)]
print('dev mode ok')
"""


def test_fibers_work_under_python_dev_mode():
    proc = run_python(CODE, "-X", "dev", timeout=600)
    assert proc.returncode == 0 and "dev mode ok" in proc.stdout, proc.stderr[-3000:]
