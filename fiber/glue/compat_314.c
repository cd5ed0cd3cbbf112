/*
 * CPython 3.14 and 3.15 implementation of compat.h (included by compat.c for those builds).
 * The two differ in a few fields, marked PY315 below; one file keeps what they share (the
 * stack bounds, the tagged frame references, the traversal) in one place.
 *
 * Py_BUILD_CORE is defined here, and only here, to read the interpreter frame layout
 * (pycore_interpframe.h), the thread state's stack bounds (pycore_tstate.h) and the
 * collector's state. Keep every other file of the glue on the public (and the documented
 * "cpython/") API.
 *
 * What changed from 3.13 (compat_313.c), and so what a switch carries here:
 * - C recursion is no longer counted: CPython compares the machine stack pointer with bounds
 *   kept in the thread state (_PyThreadStateImpl: c_stack_top, c_stack_soft_limit,
 *   c_stack_hard_limit; PyUnstable_ThreadState_SetStackProtection sets them). Each stack
 *   carries its own: a fiber gets bounds from its own stack at init, a resumer keeps the
 *   ones it had. So RecursionError comes from the real stack, and the glue's max_depth
 *   (a count-based cap) is ignored. The bounds also decide when deallocations are deferred
 *   (the trash can: _Py_Dealloc defers when the stack is within two margins of its soft
 *   limit), so carrying them keeps that right too.
 * - Python recursion: py_recursion_remaining against the interpreter's limit, as in 3.13.
 * - Frame references are tagged _PyStackRefs (a set low bit: a borrowed or immortal
 *   reference, which owns no count), and every frame spills its stack pointer before a call
 *   that can escape (stackpointer), so a suspended fiber's frames are traversed exactly,
 *   value stacks included.
 * - current_executor (the tier-2/JIT executor running on this stack, if the JIT is on).
 * - 3.15: the frame chain of every stack ends at the thread state's base_frame (a sentinel
 *   that profilers check to know a sample is complete), so a fiber's first frame links to
 *   it too; jit_exit (the JIT's side-exit in flight) goes with current_executor.
 * - As in 3.13, delete_later (objects whose deallocation was deferred: already dead, they
 *   may be destroyed on any stack) stays the thread's.
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

#include "internal/pycore_interp.h"
#include "internal/pycore_interpframe.h"
#include "internal/pycore_pystate.h"
#include "internal/pycore_stackref.h"
#include "internal/pycore_tstate.h"

#if !_Py_STACK_GROWS_DOWN
#error "fiber: compat_314.c assumes a stack that grows down"
#endif

#define PY315 (PY_VERSION_HEX >= 0x030F0000)

/* What 3.14/3.15 keep per stack of frames. The thread's own fields (id, dict, trace and
   profile functions, async-generator hooks, gilstate counter, async_exc, the asyncio running
   loop and task, delete_later, the stack bounds the thread was started with) are never
   touched. */
typedef struct {
    struct _PyInterpreterFrame *current_frame; /* innermost frame: the frame chain */
    _PyErr_StackItem *exc_info;  /* exceptions being handled (sys.exc_info()) */
    PyObject *context;           /* the contextvars Context (owned) */
    _PyStackChunk *datastack_chunk;
    PyObject **datastack_top;
    PyObject **datastack_limit;
    PyObject *current_executor;  /* owned while saved (see save) */
#if PY315
    struct _PyExitData *jit_exit;
    /* A fiber's: the base frame its chain ends at (its thread's), where traversal stops
       without reading it: once the thread is gone, so is its base frame, and a fiber kept
       suspended (by a dead thread, or a thread that did not survive a fork) is still
       traversed. */
    struct _PyInterpreterFrame *base_frame;
#endif
    uintptr_t c_stack_top;       /* the stack's C bounds (see stack_bounds) */
    uintptr_t c_stack_soft_limit;
    uintptr_t c_stack_hard_limit;
    int py_depth;                /* Python frames in use on this stack */
    int recursion_headroom;
    int tracing;                 /* inside a trace/profile/monitoring callback (may suspend) */
    int what_event;              /* the monitoring event that callback is for */
    _PyErr_StackItem root_exc;   /* a fiber's: "no exception being handled" */
} pystate314;

_Static_assert(sizeof(pystate314) <= sizeof(fiber_pystate), "FIBER_PYSTATE_WORDS too small");

static inline pystate314 *state_of(fiber_pystate *st) { return (pystate314 *)st; }
static inline _PyThreadStateImpl *impl_of(PyThreadState *ts) { return (_PyThreadStateImpl *)ts; }

#define FRAME_AREA_BYTES (sizeof(void *) >= 8 ? 3072 : 2048)
/* Slack so the chunk never starts on a page boundary (see frame_area_chunk). */
#define FRAME_AREA_SLACK 16

size_t fiber_compat_frame_area_size(void) { return FRAME_AREA_BYTES + FRAME_AREA_SLACK; }

static _PyStackChunk *frame_area_chunk(void *frame_area)
{
    /* The interpreter frees a thread state's data-stack chunks with munmap when it deletes
       the thread state. If that ever happens while a fiber runs on it (the interpreter
       finalising under a daemon thread), the fiber's own chunk must not take part of the
       fiber's stack mapping with it: munmap refuses an address that is not page-aligned. */
    char *p = frame_area;
    if (((uintptr_t)p & 4095) == 0)
        p += FRAME_AREA_SLACK;
    return (_PyStackChunk *)p;
}

/* The bounds CPython keeps for a stack [low, high): RecursionError once the stack pointer
   is below the soft limit, a fatal error below the hard limit (overflowing while handling
   an overflow). CPython puts them one and two margins (_PyOS_STACK_MARGIN_BYTES: 16 KiB on
   64-bit, 8 KiB on 32-bit) above the bottom, and PyUnstable_ThreadState_SetStackProtection
   refuses a stack smaller than three margins. A fiber's may be as small as 16 KiB: there the
   margins shrink to STACK_SMALL_MARGIN_PARTS-ths of the stack, so a fiber has room for its
   first frames and for raising and handling the RecursionError (a C extension overrunning
   that still hits the guard page below the stack, which the core reports). CPython measures
   other reserves in whole margins above the soft limit too: below 64 KiB (32 KiB on 32-bit)
   a fiber defers the deallocation of the containers it frees to the thread's next one with
   room (the trash can), and compiling source (compile, eval and exec of strings) raises
   MemoryError ("Parser stack overflowed"), as on a thread with so small a stack. */
#define STACK_SMALL_MARGIN_PARTS 4

static void stack_bounds(pystate314 *s, void *stack_low, void *stack_high)
{
    uintptr_t low = (uintptr_t)stack_low, high = (uintptr_t)stack_high;
    uintptr_t margin = _PyOS_STACK_MARGIN_BYTES;
    if (high - low < _PyOS_MIN_STACK_SIZE)
        margin = (high - low) / STACK_SMALL_MARGIN_PARTS;
    s->c_stack_top = high;
    s->c_stack_hard_limit = low + margin;
    s->c_stack_soft_limit = low + 2 * margin;
}

/* The interpreter's data stack is a list of chunks (newest first, linked through
   `previous`). The first chunk of a stack is its root: the interpreter never pops it (its
   first slot is skipped so no frame starts there). A fiber's root chunk is its frame area. */
void fiber_compat_pystate_init(PyThreadState *ts, fiber_pystate *st, void *frame_area,
                               void *stack_low, void *stack_high)
{
    memset(st, 0, sizeof *st);
    pystate314 *s = state_of(st);
    _PyStackChunk *chunk = frame_area_chunk(frame_area);
    chunk->previous = NULL;
    chunk->size = FRAME_AREA_BYTES;
    chunk->top = 0;
    s->datastack_chunk = chunk;
    s->datastack_top = &chunk->data[1];
    s->datastack_limit = (PyObject **)((char *)chunk + chunk->size);
#if PY315
    s->current_frame = s->base_frame = ts->base_frame; /* the thread's, as on its own stack */
#else
    s->current_frame = NULL; /* the fiber's first frame has no parent */
#endif
    s->exc_info = &s->root_exc;
    s->what_event = -1; /* as a new thread state has it */
    stack_bounds(s, stack_low, stack_high);
}

void fiber_compat_save(PyThreadState *ts, fiber_pystate *st, int load_token)
{
    pystate314 *s = state_of(st);
    _PyThreadStateImpl *impl = impl_of(ts);
    s->current_frame = ts->current_frame;
    s->exc_info = ts->exc_info;
    s->context = ts->context; /* moved: load() overwrites ts->context */
    s->datastack_chunk = ts->datastack_chunk;
    s->datastack_top = ts->datastack_top;
    s->datastack_limit = ts->datastack_limit;
    /* The JIT executor this stack is running in (it called into C, which switched): its
       machine code is on this stack. The interpreter frees invalidated executors once no
       thread state names one as current and no reference is left, so a saved one is held
       here, as an eval-loop entry frame holds its caller's. */
    s->current_executor = Py_XNewRef(ts->current_executor);
#if PY315
    s->jit_exit = ts->jit_exit;
#endif
    s->c_stack_top = impl->c_stack_top;
    s->c_stack_soft_limit = impl->c_stack_soft_limit;
    s->c_stack_hard_limit = impl->c_stack_hard_limit;
    s->tracing = ts->tracing;
    s->what_event = ts->what_event;
    s->recursion_headroom = ts->recursion_headroom;
    s->py_depth = ts->py_recursion_limit - ts->py_recursion_remaining;
}

int fiber_compat_load(PyThreadState *ts, fiber_pystate *st, int max_depth)
{
    pystate314 *s = state_of(st);
    _PyThreadStateImpl *impl = impl_of(ts);
    /* Python frames: the interpreter's limit now (sys.setrecursionlimit() updates every
       thread state's py_recursion_limit, and the depths saved here follow it). A depth over
       a lowered limit makes the next call raise RecursionError, as on a thread. C recursion:
       this stack's own bounds (max_depth is not needed). */
    ts->py_recursion_remaining = ts->py_recursion_limit - s->py_depth;
    ts->recursion_headroom = s->recursion_headroom;
    impl->c_stack_top = s->c_stack_top;
    impl->c_stack_soft_limit = s->c_stack_soft_limit;
    impl->c_stack_hard_limit = s->c_stack_hard_limit;

    if (ts->context != s->context) {
        ts->context = s->context;
        ts->context_ver++; /* ContextVar.get() caches by (thread state id, context_ver) */
    }
    ts->current_frame = s->current_frame;
    ts->exc_info = s->exc_info;
    ts->datastack_chunk = s->datastack_chunk;
    ts->datastack_top = s->datastack_top;
    ts->datastack_limit = s->datastack_limit;
    PyObject *executor = s->current_executor; /* the thread state names it again */
    s->current_executor = NULL;
    ts->current_executor = executor;
    Py_XDECREF(executor);
#if PY315
    ts->jit_exit = s->jit_exit;
#endif
    ts->tracing = s->tracing;
    ts->what_event = s->what_event;
    return 0;
}

void fiber_compat_share_context(PyThreadState *ts, fiber_pystate *st, PyObject **shared)
{
    pystate314 *s = state_of(st);
    if (s->context != NULL && s->context != *shared)
        return; /* inside a Context.run() of the fiber's own: leave it */
    if (ts->context != NULL && s->context != ts->context)
        Py_XSETREF(s->context, Py_NewRef(ts->context));
    Py_XSETREF(*shared, Py_XNewRef(s->context));
}

void fiber_compat_pystate_discard(fiber_pystate *st, void *frame_area)
{
    pystate314 *s = state_of(st);
    _PyStackChunk *root = frame_area_chunk(frame_area);
    PyObjectArenaAllocator arena;
    PyObject_GetArenaAllocator(&arena);
    _PyStackChunk *c = s->datastack_chunk;
    while (c != NULL && c != root) {
        _PyStackChunk *previous = c->previous;
        arena.free(arena.ctx, c, c->size); /* as the interpreter frees its chunks */
        c = previous;
    }
    s->datastack_chunk = NULL;
    s->datastack_top = s->datastack_limit = NULL;
    s->current_frame = NULL;
    s->exc_info = &s->root_exc;
    Py_CLEAR(s->context);
    Py_CLEAR(s->current_executor);
}

/* Visit what a frame reference owns. A tagged reference (low bit set: borrowed from a
   reference elsewhere, or to an immortal object) owns no count, so the collector must not
   subtract it from the object's references: leaving it out is what CPython's own
   _PyGC_VisitStackRef does for that pass, and the owner of the count visits the object. */
#define VISIT_STACKREF(ref)                                                          \
    do {                                                                             \
        _PyStackRef r_ = (ref);                                                      \
        if (!PyStackRef_IsNull(r_) && !PyStackRef_IsTaggedInt(r_) &&                 \
            PyStackRef_RefcountOnObject(r_))                                         \
            Py_VISIT(PyStackRef_AsPyObjectBorrow(r_));                               \
    } while (0)

int fiber_compat_traverse(fiber_pystate *st, PyObject *const *stack_end, visitproc visit,
                          void *arg)
{
    /* Only the frames the stack owns: a generator's frame belongs to the generator (which
       traverses it), a finished frame to its frame object, an entry frame or the base frame
       to the interpreter (they hold nothing). Every frame of a suspended stack is blocked in
       a call, before which it spilled its stack pointer: its locals and value stack are
       visited up to there (stack_end is not needed). */
    pystate314 *s = state_of(st);
    Py_VISIT(s->context);
#if PY315
    _PyInterpreterFrame *bottom = s->base_frame;
#else
    _PyInterpreterFrame *bottom = NULL;
#endif
    for (_PyInterpreterFrame *frame = s->current_frame; frame && frame != bottom;
         frame = frame->previous) {
        if (frame->owner != FRAME_OWNED_BY_THREAD)
            continue;
        PyObject *executable = PyStackRef_AsPyObjectBorrow(frame->f_executable);
        if (!PyCode_Check(executable))
            continue;
        PyCodeObject *code = (PyCodeObject *)executable;
        Py_VISIT(frame->frame_obj);
        Py_VISIT(frame->f_locals);
        VISIT_STACKREF(frame->f_funcobj);
        VISIT_STACKREF(frame->f_executable);
        _PyStackRef *end = frame->stackpointer;
        _PyStackRef *locals_end = frame->localsplus + code->co_nlocalsplus;
        if (end == NULL || end < frame->localsplus || end > locals_end + code->co_stacksize)
            end = locals_end; /* not spilled (never seen): the locals only */
        for (_PyStackRef *p = frame->localsplus; p < end; p++)
            VISIT_STACKREF(*p);
    }
    return 0;
}

/* The interpreter's own _PyInterpreterState_GET() reads a thread-local the interpreter does
   not export: go through the public accessor. */
int fiber_compat_gc_collecting(void) { return PyInterpreterState_Get()->gc.collecting; }

PyObject *fiber_compat_fetch_exception(void) { return PyErr_GetRaisedException(); }

void fiber_compat_restore_exception(PyObject *exc) { PyErr_SetRaisedException(exc); }

int fiber_compat_long_sign(PyObject *v)
{
    int sign;
    (void)PyLong_GetSign(v, &sign); /* cannot fail for an int */
    return sign;
}
