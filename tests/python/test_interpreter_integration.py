"""What real programs do to an interpreter that runs fibers, and what they must see.

Each fiber of a thread runs Python on the thread's own PyThreadState (the glue saves and loads
only the per-stack part at each switch), so code that keys anything on the thread state (the
PyGILState binding, its unique id, lookups by thread id, the async-generator hooks, the
collector's state) behaves on a fiber as it does on the thread's own stack. These tests pin
that, and what shutdown, the collector, recursion limits and subinterpreters do.

Cases that could crash or hang the interpreter run in a forked child or a fresh interpreter,
so a regression fails one test instead of the run.
"""

from __future__ import annotations

import asyncio
import ctypes
import faulthandler
import gc
import os
import signal
import sys
import tempfile
import textwrap
import threading
import time

import pytest
from fresh_interpreter import RUNNER, run_python

import fiber
import fiber.aio
from fiber import Fiber, FiberError

needs_fork = pytest.mark.skipif(not hasattr(os, "fork"), reason="no os.fork")


def in_forked_child(body, timeout: int = 120) -> str:
    """Run body() in a forked child (no threads may be started there: QEMU user mode cannot
    start threads in a fork of a multi-threaded guest). Returns "ok", the child's error, or
    how it died."""
    r, w = os.pipe()
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        message = b"ok"
        try:
            signal.alarm(timeout)  # a deadlock ends the child with SIGALRM
            body()
        except BaseException as exc:  # noqa: BLE001 - reported to the parent
            message = f"{type(exc).__name__}: {exc}".encode()
        finally:
            os.write(w, message)
            os._exit(0)
    os.close(w)
    with os.fdopen(r, "rb") as pipe:
        message = pipe.read().decode(errors="replace")
    _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status):
        return f"child killed by {signal.Signals(os.WTERMSIG(status)).name}"
    return message


class Unraisable:
    """Collects what sys.unraisablehook receives (finalisers' errors) while active."""

    def __enter__(self):
        self.seen: list[str] = []
        self.old = sys.unraisablehook
        sys.unraisablehook = lambda u: self.seen.append(f"{u.exc_type.__name__}: {u.exc_value}")
        return self

    def __exit__(self, *exc):
        sys.unraisablehook = self.old


# --- shutdown ------------------------------------------------------------------------------

STUBBORN = """
def stubborn():
    # refuses to be closed: catches FiberExit and suspends again
    while True:
        try:
            fiber.suspend("waiting")
        except fiber.FiberExit:
            pass
"""


def test_an_atexit_handler_running_after_fibers_exit_hook_can_use_what_it_left():
    # atexit runs last-registered first: a handler registered before `import fiber` (logging
    # and multiprocessing register such) runs after fiber's own exit-time close.
    r = run_python(
        textwrap.dedent("""
        import atexit

        def late():
            print("late:", f.state, flush=True)
            print("resumed:", f.resume("again"), flush=True)
            try:
                f.close()
            except fiber.FiberError:
                print("close refused", flush=True)
            g = fiber.Fiber(lambda: fiber.suspend("new") + "!")
            print("new fiber:", g.resume(), g.resume("works"), flush=True)

        atexit.register(late)
        import fiber
        """)
        + STUBBORN
        + textwrap.dedent("""
        f = fiber.Fiber(stubborn)
        f.resume()
        """)
    )
    assert r.returncode == 0, r.stderr
    assert "late: suspended" in r.stdout
    assert "resumed: waiting" in r.stdout
    assert "close refused" in r.stdout
    assert "new fiber: new works!" in r.stdout
    assert "caught FiberExit and suspended again" in r.stderr  # fiber's exit hook said so
    assert "Fatal" not in r.stderr and "Segmentation" not in r.stderr


def test_daemon_threads_resuming_and_running_fibers_at_exit_do_not_crash():
    r = run_python(
        """
        import threading, time
        import fiber

        def counter():
            n = 0
            while True:
                n = fiber.suspend(n) + 1

        def churn():
            fs = [fiber.Fiber(counter) for _ in range(4)]
            for f in fs:
                f.resume()
            while True:
                for f in fs:
                    f.resume(1)
                g = fiber.Fiber(counter)
                g.resume()
                del g  # dropped while suspended: its finaliser closes it

        def sleeper():
            fiber.Fiber(time.sleep, 60).resume()  # running on a fiber, blocked, at exit

        def spin():
            while True:
                time.sleep(0.0005)

        def spinner():
            # takes the GIL back a thousand times a second: once the interpreter finalises,
            # its next attempt ends the thread (pthread_exit) while it is on the fiber
            fiber.Fiber(spin).resume()

        started = []
        for target in (churn, churn, sleeper, spinner):
            t = threading.Thread(target=target, daemon=True)
            t.start()
            started.append(t)
        time.sleep(0.5)
        mine = fiber.Fiber(counter)
        mine.resume()
        print("exiting with", sum(t.is_alive() for t in started), "daemon threads", flush=True)
        """
    )
    assert r.returncode == 0, r.stderr
    assert "exiting with 4 daemon threads" in r.stdout


# --- the collector ---------------------------------------------------------------------------


def test_an_unclosable_fiber_in_a_garbage_cycle_keeps_what_its_frames_use():
    # A frame borrows its globals: if the collector cleared the rest of the cycle, resuming
    # the fiber (it can still be found, through gc.get_objects()) would use freed memory.
    ns: dict = {"fiber": fiber, "give_up": False}
    code = """
    token = "".join(["alive"] * 3)

    def stubborn():
        while not give_up:
            try:
                fiber.suspend(token)
            except fiber.FiberExit:
                pass
        return "gave up"
    """
    exec(compile(textwrap.dedent(code), "<stubborn>", "exec"), ns)

    class Stubborn(Fiber):  # (a subclass, to carry a marker attribute)
        pass

    f = Stubborn(ns["stubborn"])
    ns["cycle"] = f  # globals -> fiber -> its frames -> function -> globals
    assert f.resume() == "alivealivealive"
    marker = f.marker = object()  # to find it again (the collector clears weak references)
    del f, ns, code
    with Unraisable() as unraisable:
        gc.collect()
    found = [
        o for o in gc.get_objects() if isinstance(o, Fiber) and getattr(o, "marker", 0) is marker
    ]
    assert found, "the unclosable fiber was freed by the collector"
    f = found[0]
    assert any("suspended again" in u for u in unraisable.seen), unraisable.seen
    assert f.state == "suspended"
    for _ in range(3):
        gc.collect()
        assert f.resume() == "alivealivealive"  # its globals are whole
    # let it finish, so the test process does not keep a suspended fiber
    for namespace in [o for o in gc.get_objects() if isinstance(o, dict) and "give_up" in o]:
        namespace["give_up"] = True
    assert f.resume() == "gave up"


def test_suspending_inside_a_garbage_collection_is_refused_and_collection_goes_on():
    errors: list[str] = []

    class SuspendsInDel:
        def __del__(self):
            try:
                fiber.suspend("from __del__")
            except FiberError as exc:
                errors.append(str(exc))

    def fn():
        a = SuspendsInDel()
        a.cycle = a
        del a
        gc.collect()  # runs __del__ on this fiber, inside the collection
        return "done"

    was_enabled = gc.isenabled()
    gc.disable()
    try:
        assert Fiber(fn).resume() == "done"
    finally:
        if was_enabled:
            gc.enable()
    assert errors and "inside a garbage collection" in errors[0]
    # the collector was not left busy: the next collections find new garbage
    for _ in range(2):
        x: list = []
        x.append(x)
        del x
        assert gc.collect() > 0


def test_a_fiber_resumed_by_a_finaliser_may_suspend_back_to_it():
    # Suspending returns to the finaliser, which is inside the collection: allowed.
    seen = []
    g = Fiber(lambda: [fiber.suspend("first"), fiber.suspend("second")])
    g.resume()

    class ResumesInDel:
        def __del__(self):
            seen.append(g.resume())

    a = ResumesInDel()
    a.cycle = a
    del a
    gc.collect()
    assert seen == ["second"]
    g.close()


# --- thread state identity -------------------------------------------------------------------


def test_event_loops_on_several_threads_each_see_their_own_loop_from_fibers():
    errors: list[str] = []

    def thread_main():
        async def main():
            loop = asyncio.get_running_loop()
            for _ in range(30):
                if await fiber.aio.run(asyncio.get_running_loop) is not loop:
                    errors.append("fiber.aio.run saw another loop")
                if Fiber(asyncio.get_running_loop).resume() is not loop:
                    errors.append("a plain fiber saw another loop")
                await asyncio.sleep(0)

        asyncio.run(main())

    threads = [threading.Thread(target=thread_main) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def gilstate_round_trip() -> bool:
    api = ctypes.pythonapi
    api.PyGILState_Ensure.restype = ctypes.c_int
    api.PyGILState_Release.argtypes = [ctypes.c_int]
    state = api.PyGILState_Ensure()  # with the GIL held, as defensive C extensions do
    ok = api.PyGILState_Check() == 1
    api.PyGILState_Release(state)
    return ok


@needs_fork
def test_pygilstate_ensure_with_the_gil_held_on_a_fiber_works():
    def body():
        assert Fiber(gilstate_round_trip).resume() is True
        nested = Fiber(lambda: Fiber(gilstate_round_trip).resume())
        assert nested.resume() is True

    assert in_forked_child(body, timeout=60) == "ok"


@needs_fork
def test_a_c_function_holding_the_gil_calling_a_ctypes_callback_on_a_fiber_works():
    # PyDLL keeps the GIL across the call; the CFUNCTYPE callback then calls
    # PyGILState_Ensure with the GIL held (pybind11's gil_scoped_acquire, Cython's `with gil`).
    comparator = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p)

    def sort_on_fiber():
        values = (ctypes.c_int * 5)(4, 2, 3, 0, 1)

        def compare(a, b):
            x = ctypes.cast(a, ctypes.POINTER(ctypes.c_int))[0]
            y = ctypes.cast(b, ctypes.POINTER(ctypes.c_int))[0]
            return fiber.suspend((x, y))  # and suspend from inside it

        ctypes.PyDLL(None).qsort(values, 5, ctypes.sizeof(ctypes.c_int), comparator(compare))
        return list(values)

    def body():
        f = Fiber(sort_on_fiber)
        request = f.resume()
        while not f.done:
            request = f.resume(request[0] - request[1])
        assert request == [0, 1, 2, 3, 4], request

    assert in_forked_child(body, timeout=60) == "ok"


def test_an_async_exception_for_a_thread_reaches_the_fiber_running_on_it():
    class Stop(Exception):
        pass

    ready = threading.Event()
    result: list[str] = []

    def worker():
        parked = [Fiber(lambda: fiber.suspend("parked")) for _ in range(3)]
        for p in parked:
            p.resume()

        def spin():
            ready.set()
            deadline = time.monotonic() + 120
            try:
                while time.monotonic() < deadline:
                    time.sleep(0.001)
            except Stop:
                return "stopped on the fiber"
            return "never stopped"

        result.append(Fiber(spin).resume())
        for p in parked:
            p.close()

    t = threading.Thread(target=worker)
    t.start()
    ready.wait()
    set_async_exc = ctypes.pythonapi.PyThreadState_SetAsyncExc
    assert set_async_exc(ctypes.c_ulong(t.ident), ctypes.py_object(Stop)) == 1
    t.join()
    assert result == ["stopped on the fiber"]


def test_current_frames_and_faulthandler_show_the_code_running_on_the_fiber():
    parked = Fiber(lambda: fiber.suspend("parked"))
    parked.resume()
    me = threading.get_ident()

    def running_on_the_fiber():
        frame = sys._current_frames()[me]
        with tempfile.TemporaryFile("w+") as out:
            faulthandler.dump_traceback(out, all_threads=True)
            out.seek(0)
            dump = out.read()
        return frame.f_code.co_name, dump

    name, dump = Fiber(running_on_the_fiber).resume()
    parked.close()
    assert name == "running_on_the_fiber"
    # one entry for this thread, showing the running fiber, and nothing of the parked one
    assert dump.count(f"{me:#018x}") + dump.count(f"{me:#010x}") == 1, dump
    assert "running_on_the_fiber" in dump
    assert "<lambda>" not in dump


def test_a_new_thread_with_a_dead_threads_ident_cannot_resume_its_fibers():
    left: list = []

    def owner():
        f = Fiber(lambda: fiber.suspend("mine") + "!")
        f.resume()
        left.append((threading.get_ident(), f))

    t = threading.Thread(target=owner)
    t.start()
    t.join()
    dead_ident, orphan = left[0]
    outcome: list = []

    def intruder():
        try:
            orphan.resume("x")
            outcome.append((threading.get_ident(), "resumed"))
        except FiberError as exc:
            outcome.append((threading.get_ident(), str(exc)))

    # glibc reuses a finished thread's descriptor (and so its ident) for the next thread
    for _ in range(50):
        t = threading.Thread(target=intruder)
        t.start()
        t.join()
        if outcome[-1][0] == dead_ident:
            break
    reused = outcome[-1][0] == dead_ident
    last_message = outcome[-1][1]
    # Dropped here, on another thread, it cannot be closed: it is kept, and that is said.
    with Unraisable() as unraisable:
        left.clear()
        orphan = None  # (intruder sees it through its cell)
        gc.collect()
    assert any("became unreachable on another thread" in u for u in unraisable.seen)
    assert all("belongs to thread" in what for _, what in outcome), outcome
    if not reused:
        pytest.skip("no new thread got the dead thread's ident on this platform")
    assert "now gone" in last_message


# --- recursion limits ------------------------------------------------------------------------


def recurse_through_c(depth: list[int], n: int = 0):
    """Recursion through C (sorted calling a key function): it uses the native stack."""
    depth[0] = max(depth[0], n)
    return sorted([n], key=lambda x: recurse_through_c(depth, x + 1))


def deepest_recursion(depth: list[int]) -> int:
    fiber.suspend("ready")
    try:
        recurse_through_c(depth)
    except RecursionError:
        return depth[0]
    return -1


@needs_fork
@pytest.mark.parametrize("new_limit", [100_000, 200])
def test_a_recursion_limit_changed_while_a_small_fiber_is_suspended_still_protects_it(
    new_limit,
):
    def body():
        depth = [0]
        f = Fiber(deepest_recursion, depth, stack_size=256 * 1024)
        assert f.resume() == "ready"
        Fiber(sys.setrecursionlimit, new_limit).resume()  # from a shallow stack
        reached = f.resume()
        assert reached > 5, reached
        if sys.version_info < (3, 14):
            # 256 KiB allow 64 levels of counted calls; each level here counts two or three
            # (3.14+ bound recursion by the fiber's real stack instead)
            assert reached <= 64, reached
        # the fiber's thread is still fine, and deep recursion on it too
        again = [0]
        g = Fiber(deepest_recursion, again)
        g.resume()
        assert g.resume() > 5

    assert in_forked_child(body) == "ok"


@needs_fork
def test_a_limit_lowered_below_a_suspended_fibers_depth_gives_recursion_error():
    def body():
        def dive(n):
            if n == 0:
                fiber.suspend("deep")
                return dive_more(0)
            return dive(n - 1)

        def dive_more(n):
            return dive_more(n + 1)

        f = Fiber(dive, 150)
        assert f.resume() == "deep"
        Fiber(sys.setrecursionlimit, 120).resume()
        try:
            f.resume()
        except RecursionError:
            pass
        else:
            raise AssertionError("no RecursionError")

    assert in_forked_child(body) == "ok"


# --- async generators ------------------------------------------------------------------------


def test_async_generators_iterated_through_await_are_finalised_by_the_loop():
    events: list[str] = []
    kept: list = []

    async def agen(name):
        try:
            yield 1
            yield 2
        finally:
            await asyncio.sleep(0)  # needs the loop: a synchronous close cannot do this
            events.append(f"{name} finally")

    def sync_code():
        dropped = agen("dropped")  # finalised through the loop's finalizer hook
        assert fiber.aio.await_(dropped.__anext__()) == 1
        kept.append(agen("kept"))  # still alive at the end: shutdown_asyncgens closes it
        return fiber.aio.await_(kept[0].__anext__())

    async def main():
        assert await fiber.aio.run(sync_code) == 1
        await asyncio.sleep(0.01)

    with Unraisable() as unraisable:
        asyncio.run(main())
    assert sorted(events) == ["dropped finally", "kept finally"]
    assert unraisable.seen == []


# --- subinterpreters -------------------------------------------------------------------------


def test_importing_fiber_in_a_subinterpreter_is_a_clear_import_error():
    r = run_python(
        """
        try:
            import _interpreters as interpreters
        except ImportError:
            import _xxsubinterpreters as interpreters
        interp = interpreters.create()
        code = (
            "try:\\n"
            "    import fiber\\n"
            "    print('imported', flush=True)\\n"
            "except ImportError as exc:\\n"
            "    print('ImportError:', exc, flush=True)\\n"
        )
        interpreters.run_string(interp, code)
        import fiber
        print("main:", fiber.Fiber(lambda: 7).resume(), flush=True)
        """
    )
    assert r.returncode == 0, r.stderr
    assert "ImportError: fiber does not support subinterpreters" in r.stdout, r.stdout
    assert "main: 7" in r.stdout


# --- limits --------------------------------------------------------------------------------


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="vm.max_map_count is Linux's")
@pytest.mark.skipif(
    bool(RUNNER) and "qemu" in os.path.basename(RUNNER[0]),
    reason="under QEMU user mode the emulator shares the process's mapping limit with the "
    "guest, and aborts when its own allocations fail first",
)
def test_running_out_of_memory_mappings_is_a_memory_error_that_names_the_limit():
    r = run_python(
        """
        import fiber
        fibers = []
        try:
            while True:
                fibers.append(fiber.Fiber(lambda: None, stack_size=16384))
        except MemoryError as exc:
            message = str(exc)
        with open("/proc/self/maps") as f:
            maps = sum(1 for _ in f)
        with open("/proc/sys/vm/max_map_count") as f:
            limit = int(f.read())
        del fibers
        print(maps >= limit - 16, flush=True)  # ran out of mappings, or of address space
        print(message, flush=True)
        print(fiber.Fiber(lambda: "still works").resume(), flush=True)
        """
    )
    assert r.returncode == 0, r.stderr
    hit_map_limit, message, after = r.stdout.splitlines()
    assert message.startswith("cannot create a fiber with stack_size=16384")
    if hit_map_limit == "True":
        assert "vm.max_map_count" in message and "each fiber takes two" in message
    assert after == "still works"
