"""Stack overflow on a fiber: C overruns hit the guard page and abort with a message
naming the fiber's stack; Python recursion raises RecursionError and everything stays usable.

The crashing cases run in a forked child (never by re-executing sys.executable, which fails
under QEMU user mode with "Exec format error"); the child's fd 2 is a pipe the parent reads,
and the parent checks the child's wait status.
"""

from __future__ import annotations

import ctypes
import os
import re
import signal
import sys

import pytest
from fresh_interpreter import RUNNER, importable_env

import fiber
from fiber import Fiber
from fiber._native import ffi, lib

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="guard-page SIGSEGV is Linux's")

CHILD_TIMEOUT = 300  # seconds of SIGALRM backstop in a child (QEMU is slow; never reached)
PAGE = os.sysconf("SC_PAGE_SIZE")
MESSAGE_RE = re.compile(
    r"fiber: stack overflow: a fiber overran its stack \[(0x[0-9a-f]+), (0x[0-9a-f]+)\) into the "
    r"guard page \(fault at (0x[0-9a-f]+)\); aborting"
)


def stack_bounds(f=None) -> tuple[int, int]:
    """[low, high) of the running fiber's stack (or of the core fiber behind `f`)."""
    low, high = ffi.new("void **"), ffi.new("void **")
    lib.fiber_stack_bounds(lib.fiber_current() if f is None else f, low, high)
    return int(ffi.cast("uintptr_t", low[0])), int(ffi.cast("uintptr_t", high[0]))


def say(line: str) -> None:
    """In a child: one line to fd 2 (the pipe), unbuffered."""
    os.write(2, (line + "\n").encode())


def _redirect_stderr(w: int) -> None:
    """fd 2 onto the pipe `w`; faulthandler (pytest enables it, writing to a copy of the
    original stderr) is pointed at fd 2 too. Re-enabling only changes its file: the
    handlers, and so their order relative to the core's, stay as they are."""
    import faulthandler

    os.dup2(w, 2)
    if faulthandler.is_enabled():
        faulthandler.enable(file=2)


def run_in_child(body) -> tuple[int, str]:
    """Run body() in a forked child with fd 2 on a pipe. Returns (wait status, stderr)."""
    r, w = os.pipe()
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:  # child: never returns into pytest
        try:
            os.close(r)
            _redirect_stderr(w)
            signal.alarm(CHILD_TIMEOUT)
            body()
            say("CHILD RETURNED")
            os._exit(0)
        except BaseException as exc:  # noqa: BLE001 - report anything, then leave
            try:
                say(f"CHILD RAISED {type(exc).__name__}: {exc}")
            finally:
                os._exit(3)
    os.close(w)
    chunks = []
    while True:
        chunk = os.read(r, 65536)
        if not chunk:
            break
        chunks.append(chunk)
    os.close(r)
    _, status = os.waitpid(pid, 0)
    return status, b"".join(chunks).decode(errors="replace")


def run_in_fresh_interpreter(code: str) -> tuple[int, str]:
    """Run `code` in a new interpreter of this target (through FIBER_RUNNER under emulation),
    with this directory and the checkout importable (fresh_interpreter.py). Returns (a wait
    status, stderr).

    For children that start threads: QEMU user mode (7.2) asserts in its plugin hooks when a
    forked child of a multi-threaded guest (a pytest-xdist worker has an I/O thread) starts
    a thread, so those children cannot be forks there."""
    import subprocess

    proc = subprocess.run(
        [*RUNNER, sys.executable, "-c", code],
        env=importable_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        timeout=CHILD_TIMEOUT,
    )
    rc = proc.returncode
    status = (-rc) & 0x7F if rc < 0 else (rc & 0xFF) << 8
    return status, proc.stderr.decode(errors="replace")


def describe(status: int) -> str:
    if os.WIFSIGNALED(status):
        return f"killed by {signal.Signals(os.WTERMSIG(status)).name}"
    return f"exit status {os.WEXITSTATUS(status)}"


def parse_overflow(status: int, err: str) -> tuple[int, int, int]:
    """Assert the child aborted with the overflow message; return (low, high, fault)."""
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGABRT, (
        f"the child was {describe(status)}, expected SIGABRT; its stderr:\n{err}"
    )
    m = MESSAGE_RE.search(err)
    assert m, f"no stack-overflow message on the child's stderr:\n{err}"
    return tuple(int(g, 16) for g in m.groups())  # type: ignore[return-value]


def fault_matches(reported: int, written: int) -> bool:
    """The faulting address the kernel reported is the one written to, or (s390x reports only
    the page of a fault) the start of its page."""
    page = os.sysconf("SC_PAGE_SIZE")
    return reported == written or reported == written - written % page


def reported_bounds(err: str, tag: str) -> tuple[int, int]:
    m = re.search(rf"^{tag} (\d+) (\d+)$", err, re.M)
    assert m, f"the child did not report {tag}:\n{err}"
    return int(m.group(1)), int(m.group(2))


# --- C code overrunning a fiber's stack ----------------------------------------------------


def write_below_low_bound():
    low, high = stack_bounds()
    say(f"VICTIM {low} {high}")
    ctypes.memset(low - 16, 0x5A, 1)  # 16 bytes into the guard page below the stack


def test_c_write_into_guard_page_aborts_naming_the_fibers_stack():
    def body():
        Fiber(write_below_low_bound).resume()

    status, err = run_in_child(body)
    low, high, fault = parse_overflow(status, err)
    assert (low, high) == reported_bounds(err, "VICTIM")
    assert fault_matches(fault, low - 16)
    assert "CHILD RETURNED" not in err and "CHILD RAISED" not in err


def parser_runaway():
    """A real runaway C recursion: CPython 3.11's parser recurses once per nesting level
    without looking at the stack (its own limit is 6,000 levels), so 3,000 nested unary
    minus signs overrun a minimal 16 KiB fiber stack in C, frame by frame."""
    low, high = stack_bounds()
    say(f"VICTIM {low} {high}")
    compile("-" * 3000 + "1", "<runaway>", "eval")


def test_runaway_c_recursion_hits_the_guard_page_and_spares_the_neighbour():
    def body():
        victim = Fiber(parser_runaway, stack_size=16 * 1024)
        # Created after the victim: the kernel maps it below, usually right under the
        # victim's guard page, so only the guard stands between the overrun and its stack.
        neighbour = Fiber(lambda: fiber.suspend(stack_bounds()) and None, stack_size=16 * 1024)
        nlow, nhigh = neighbour.resume()
        say(f"NEIGHBOUR {nlow} {nhigh}")
        victim.resume()

    status, err = run_in_child(body)
    if os.WIFEXITED(status) and ("RecursionError" in err or "Parser stack overflowed" in err):
        # 3.14+ check the real C stack (the fiber's own bounds): the parser stops itself
        pytest.skip(
            f"Python {sys.version_info[0]}.{sys.version_info[1]}'s parser stops itself before "
            f"the stack runs out:\n{err}"
        )
    low, high, fault = parse_overflow(status, err)
    assert (low, high) == reported_bounds(err, "VICTIM")
    nlow, nhigh = reported_bounds(err, "NEIGHBOUR")
    # The first access outside the victim's stack faulted in its guard page (faults are
    # precise: nothing after it ran), and the neighbour's stack lies wholly outside both.
    assert low - PAGE <= fault < low, (hex(fault), hex(low))
    assert nhigh <= low - PAGE or nlow >= high, (hex(nlow), hex(nhigh), hex(low), hex(high))


def test_overflow_in_a_nested_fiber_names_the_inner_fibers_stack():
    def outer():
        low, high = stack_bounds()
        say(f"OUTER {low} {high}")
        Fiber(write_below_low_bound).resume()

    status, err = run_in_child(lambda: Fiber(outer).resume())
    low, high, _ = parse_overflow(status, err)
    assert (low, high) == reported_bounds(err, "VICTIM")
    assert (low, high) != reported_bounds(err, "OUTER")


def test_overflow_on_a_fiber_of_another_thread_is_reported_too():
    status, err = run_in_fresh_interpreter(
        "import threading, test_reliability_overflow as t\n"
        "th = threading.Thread(target=lambda: t.Fiber(t.write_below_low_bound).resume())\n"
        "th.start()\n"
        "th.join()\n"
    )
    low, high, fault = parse_overflow(status, err)
    assert (low, high) == reported_bounds(err, "VICTIM") and fault_matches(fault, low - 16)


def test_a_fault_that_is_not_a_stack_overflow_is_not_reported_as_one():
    """A wild access elsewhere goes to the previous SIGSEGV handling: no overflow message."""

    def body():
        Fiber(lambda: ctypes.string_at(PAGE // 2, 1)).resume()  # inside page zero

    status, err = run_in_child(body)
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGSEGV, (
        f"the child was {describe(status)}, expected SIGSEGV:\n{err}"
    )
    assert "stack overflow" not in err


# --- Python recursion: RecursionError, and everything usable afterwards --------------------


def recurse(n=0):
    return recurse(n + 1) + 1


def overflow_python():
    try:
        recurse()
    except RecursionError:
        return "RecursionError"
    return "no error?"


def test_repeated_python_overflows_then_normal_use():
    limit = sys.getrecursionlimit()
    for _ in range(5):
        assert Fiber(overflow_python).resume() == "RecursionError"

    # the same fiber overflows again and again between suspends
    def again_and_again():
        for i in range(3):
            assert overflow_python() == "RecursionError"
            fiber.suspend(i)
        return "done"

    f = Fiber(again_and_again)
    assert [f.resume() for _ in range(4)] == [0, 1, 2, "done"]
    assert sys.getrecursionlimit() == limit
    # plain Python, deep recursion on the thread's stack, and fibers all still work
    assert overflow_python() == "RecursionError"
    g = Fiber(lambda x: fiber.suspend(x * 2) + 1, 21)
    assert g.resume() == 42 and g.resume(1) == 2 and g.done


def test_python_overflow_leaves_suspended_neighbours_intact():
    def keeper(tag):
        data = [tag * 1000 + i for i in range(100)]
        deep = nested(50, tag)
        while True:
            fiber.suspend((sum(data), deep))

    def nested(n, tag):
        return tag if n == 0 else nested(n - 1, tag)

    keepers = [Fiber(keeper, t) for t in range(8)]
    want = [k.resume() for k in keepers]
    for i in range(8):
        assert Fiber(overflow_python).resume() == "RecursionError"
        assert [k.resume() for k in keepers] == want, f"after overflow {i}"
    for k in keepers:
        k.close()


def test_python_overflow_inside_a_nested_fiber_then_the_outer_continues():
    def outer():
        r = Fiber(overflow_python).resume()
        fiber.suspend(r)
        return overflow_python()

    f = Fiber(outer)
    assert f.resume() == "RecursionError"
    assert f.resume() == "RecursionError"
    assert f.done
