/*
 * CPython 3.13 implementation of compat.h (included by compat.c for 3.13 builds only).
 *
 * Py_BUILD_CORE is defined here, and only here, to read the interpreter frame layout of
 * pycore_frame.h and the collector's state. Keep every other file of the glue on the public
 * (and the documented "cpython/") API.
 *
 * What changed from 3.11 (compat_311.c), and so what a switch carries here:
 * - No _PyCFrame: the thread state points at the innermost interpreter frame directly
 *   (current_frame), and tracing is no longer a per-C-frame flag: sys.settrace/setprofile
 *   work through the interpreter-wide instrumentation (sys.monitoring's legacy tools), which
 *   looks at the thread's trace and profile functions when an event fires. Nothing to
 *   refresh on load.
 * - Two recursion counters: py_recursion_remaining counts Python frames (they live in the
 *   data stack, not on the C stack) against sys.getrecursionlimit(); c_recursion_remaining
 *   counts C recursion (each eval-loop entry, each Py_EnterRecursiveCall) against the
 *   compile-time Py_C_RECURSION_LIMIT, sized for a thread's 8 MiB stack. A fiber's native
 *   stack may be much smaller, so its C counter is capped from its stack size (max_depth);
 *   its Python counter is the interpreter's.
 * - The trash can (deallocations deferred when the C stack is deep) keys on
 *   c_recursion_remaining, carried per stack above; its list of deferred objects
 *   (delete_later) holds objects that are already dead and may be destroyed on any stack,
 *   so it stays the thread's: a fiber that defers deallocations near its cap and then
 *   finishes leaves them to the next stack with room, instead of taking them with it. A
 *   fiber whose cap is below the trash can's headroom (50 units: stacks under about 100 KiB)
 *   defers every container it frees that way (their __del__ and weakref callbacks run at the
 *   thread's next deallocation with room).
 * - what_event (the sys.monitoring event being delivered) goes with tracing: both describe
 *   a callback running on this stack, which may have suspended.
 * - Not carried, and what that means: the instrumentation of code objects. CPython keeps each
 *   code object's sys.monitoring/settrace instrumentation up to date with the interpreter's
 *   event sets by re-instrumenting, when the sets change, the code of every frame on every
 *   thread's frame chain, and other code when a frame of it starts (RESUME). Frames of a
 *   suspended stack are on no chain, and resume in the middle of their code: if the event
 *   sets changed while they were suspended, they run with their code's old instrumentation
 *   until they return or the function is called again (events missed, or delivered to a
 *   tool that has since turned them off and left its callback registered; sys.settrace's
 *   callbacks check the thread's trace function, so a removed tracer is not called). Debug
 *   builds of CPython assert on it (get_tools_for_instruction: debug_check_sanity). The
 *   function that would bring a code object up to date, _Py_Instrument, is not exported;
 *   greenlet has the same gap (python-greenlet/greenlet#368). The fuel meter (fiber.aio) sets
 *   its tracer on the fiber's own stack after each switch, which re-instruments that stack's
 *   frames; its tests pass.
 */
#define Py_BUILD_CORE 1
#include "compat.h"

#include <stdint.h>

#include "internal/pycore_frame.h"
#include "internal/pycore_interp.h"
#include "internal/pycore_pystate.h"

/* What 3.13 keeps per stack of frames. The thread's own fields (id, dict, trace and profile
   functions, async-generator hooks, gilstate counter, async_exc, the asyncio running loop,
   delete_later) are never touched. */
typedef struct {
    struct _PyInterpreterFrame *current_frame; /* innermost frame: the frame chain */
    _PyErr_StackItem *exc_info;  /* exceptions being handled (sys.exc_info()) */
    PyObject *context;           /* the contextvars Context (owned) */
    _PyStackChunk *datastack_chunk;
    PyObject **datastack_top;
    PyObject **datastack_limit;
    int py_depth;                /* Python frames in use on this stack */
    int c_depth;                 /* C recursion units in use on this stack */
    int recursion_headroom;
    int tracing;                 /* inside a trace/profile/monitoring callback (may suspend) */
    int what_event;              /* the monitoring event that callback is for */
    _PyErr_StackItem root_exc;   /* a fiber's: "no exception being handled" */
} pystate313;

_Static_assert(sizeof(pystate313) <= sizeof(fiber_pystate), "FIBER_PYSTATE_WORDS too small");

static inline pystate313 *state_of(fiber_pystate *st) { return (pystate313 *)st; }

#include "compat_common.h"

/* C recursion units per level of the glue's max_depth (one level per 4 KiB of stack on
   64-bit, 3 KiB on 32-bit). 3.13 sizes Py_C_RECURSION_LIMIT (10,000 units on Linux) for an
   8 MiB stack, about 840 bytes a unit, but a unit can take more: recursion through
   sorted(key=...) overran a 16 KiB fiber's stack at 3 units a level (1.3 KiB a unit) and
   every fiber's at 4. At 2 units a level, every kind of recursion the stress probe tries
   (through __init__, key functions, __getattr__, operators, repr, yield from, map, exec,
   json, pickle, deepcopy, comparisons) raised RecursionError on fibers of 16 KiB to 8 MiB.
   A default fiber (8 MiB less 128 KiB) so allows 4,032 units (a thread 10,000); Python frames, which do not
   use the C stack, are not capped. */
#define C_UNITS_PER_LEVEL 2

/* A fiber's stack starts empty, with its frame area as the root of its data stack. */
void fiber_compat_pystate_init(PyThreadState *ts, fiber_pystate *st, void *frame_area,
                               void *stack_low, void *stack_high)
{
    /* 3.13 counts C recursion instead of measuring the stack: the bounds are the glue's
       max_depth, given to load. */
    memset(st, 0, sizeof *st);
    pystate313 *s = state_of(st);
    frame_area_as_root(frame_area, &s->datastack_chunk, &s->datastack_top, &s->datastack_limit);
    s->current_frame = NULL; /* the fiber's first frame has no parent */
    s->exc_info = &s->root_exc;
    s->what_event = -1; /* as a new thread state has it */
}

void fiber_compat_save(PyThreadState *ts, fiber_pystate *st, int load_token)
{
    pystate313 *s = state_of(st);
    s->current_frame = ts->current_frame;
    s->exc_info = ts->exc_info;
    s->context = ts->context; /* moved: load() overwrites ts->context */
    s->datastack_chunk = ts->datastack_chunk;
    s->datastack_top = ts->datastack_top;
    s->datastack_limit = ts->datastack_limit;
    s->tracing = ts->tracing;
    s->what_event = ts->what_event;
    s->recursion_headroom = ts->recursion_headroom;
    s->py_depth = ts->py_recursion_limit - ts->py_recursion_remaining;
    s->c_depth = Py_C_RECURSION_LIMIT - load_token - ts->c_recursion_remaining;
}

int fiber_compat_load(PyThreadState *ts, fiber_pystate *st, int max_depth)
{
    pystate313 *s = state_of(st);
    /* Python frames: the interpreter's limit now (sys.setrecursionlimit() updates every
       thread state's py_recursion_limit, and the depths saved here follow it). A depth over
       a lowered limit makes the next call raise RecursionError, as on a thread. */
    ts->py_recursion_remaining = ts->py_recursion_limit - s->py_depth;
    /* C recursion: the counter starts at Py_C_RECURSION_LIMIT on a thread; a lower cap for
       this stack is a head start in depth (returned as the token save() is given). */
    int cap = Py_C_RECURSION_LIMIT;
    if (max_depth < Py_C_RECURSION_LIMIT / C_UNITS_PER_LEVEL)
        cap = max_depth * C_UNITS_PER_LEVEL;
    ts->c_recursion_remaining = cap - s->c_depth;
    ts->recursion_headroom = s->recursion_headroom;

    if (ts->context != s->context) {
        ts->context = s->context;
        ts->context_ver++; /* ContextVar.get() caches by (thread state id, context_ver) */
    }
    ts->current_frame = s->current_frame;
    ts->exc_info = s->exc_info;
    ts->datastack_chunk = s->datastack_chunk;
    ts->datastack_top = s->datastack_top;
    ts->datastack_limit = s->datastack_limit;
    ts->tracing = s->tracing;
    ts->what_event = s->what_event;
    return Py_C_RECURSION_LIMIT - cap;
}

void fiber_compat_share_context(PyThreadState *ts, fiber_pystate *st, PyObject **shared)
{
    share_context_slot(ts->context, &state_of(st)->context, shared);
}

void fiber_compat_pystate_discard(fiber_pystate *st, void *frame_area)
{
    pystate313 *s = state_of(st);
    free_data_stack(&s->datastack_chunk, &s->datastack_top, &s->datastack_limit, frame_area);
    s->current_frame = NULL;
    s->exc_info = &s->root_exc;
    Py_CLEAR(s->context);
}

int fiber_compat_traverse(fiber_pystate *st, PyObject *const *stack_end, visitproc visit, void *arg)
{
    /* Only the frames the stack owns: a generator's frame belongs to the generator (which
       traverses it), a finished frame to its frame object, an eval-loop entry frame to the C
       stack (it holds nothing). The fast locals always; the value stack only where its
       extent is known for certain: in 3.13 a frame blocked in a call has no up-to-date
       stack top, so the innermost frame's stack is visited up to the arguments of suspend()
       when they lie in it, and other frames' stacks not at all. Leaving references out only
       makes the GC more conservative, never wrong. */
    pystate313 *s = state_of(st);
    Py_VISIT(s->context);
    int innermost = 1;
    for (_PyInterpreterFrame *frame = s->current_frame; frame; frame = frame->previous) {
        if (frame->owner != FRAME_OWNED_BY_THREAD || !PyCode_Check(frame->f_executable)) {
            innermost = 0;
            continue;
        }
        PyCodeObject *code = (PyCodeObject *)frame->f_executable;
        Py_VISIT(frame->frame_obj);
        Py_VISIT(frame->f_locals);
        Py_VISIT(frame->f_funcobj);
        Py_VISIT(frame->f_executable);
        PyObject **base = frame->localsplus + code->co_nlocalsplus;
        PyObject **end = base;
        if (innermost && stack_end && (PyObject **)stack_end >= base &&
            (PyObject **)stack_end <= base + code->co_stacksize)
            end = (PyObject **)stack_end;
        for (PyObject **p = frame->localsplus; p < end; p++)
            Py_VISIT(*p);
        innermost = 0;
    }
    return 0;
}

/* The interpreter's own _PyInterpreterState_GET() reads a thread-local the interpreter does
   not export: go through the public accessor. */
int fiber_compat_gc_collecting(void) { return PyInterpreterState_Get()->gc.collecting; }

PyObject *fiber_compat_fetch_exception(void) { return PyErr_GetRaisedException(); }

void fiber_compat_restore_exception(PyObject *exc) { PyErr_SetRaisedException(exc); }

int fiber_compat_long_sign(PyObject *v) { return _PyLong_Sign(v); }
