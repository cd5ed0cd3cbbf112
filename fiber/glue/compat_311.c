/*
 * CPython 3.11 implementation of compat.h (included by compat.c for 3.11 builds only).
 *
 * Py_BUILD_CORE is defined here, and only here, to read the interpreter frame layout of
 * pycore_frame.h and the collector's state. Keep every other file of the glue on the public
 * (and the documented "cpython/") API.
 */
#define Py_BUILD_CORE 1
#include "compat.h"

#include <stdint.h>

#include "internal/pycore_frame.h"
#include "internal/pycore_interp.h"
#include "internal/pycore_pystate.h"

/* What 3.11 keeps per stack of frames. The thread's own fields (id, dict, trace and profile
   functions, async-generator hooks, gilstate counter, async_exc) are never touched. */
typedef struct {
    _PyCFrame *cframe;           /* innermost C frame of the eval loop: the frame chain */
    _PyErr_StackItem *exc_info;  /* exceptions being handled (sys.exc_info()) */
    PyObject *context;           /* the contextvars Context (owned) */
    _PyStackChunk *datastack_chunk;
    PyObject **datastack_top;
    PyObject **datastack_limit;
    PyObject *trash_delete_later;
    int depth;                   /* recursion levels in use on this stack */
    int recursion_headroom;
    int trash_delete_nesting;
    int tracing;                 /* inside a trace/profile function (it may have suspended) */
    _PyCFrame root_cframe;       /* a fiber's: the base of its frame chain */
    _PyErr_StackItem root_exc;   /* a fiber's: "no exception being handled" */
} pystate311;

_Static_assert(sizeof(pystate311) <= sizeof(fiber_pystate), "FIBER_PYSTATE_WORDS too small");

static inline pystate311 *state_of(fiber_pystate *st) { return (pystate311 *)st; }

#define FRAME_AREA_BYTES (sizeof(void *) >= 8 ? 3072 : 2048)
/* Slack so the chunk never starts on a page boundary (see fiber_compat_pystate_init). */
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

/* The interpreter's data stack is a list of chunks (newest first, linked through
   `previous`). The first chunk of a stack is its root: the interpreter never pops it (its
   first slot is skipped so no frame starts there). A fiber's root chunk is its frame area. */
void fiber_compat_pystate_init(PyThreadState *ts, fiber_pystate *st, void *frame_area,
                               void *stack_low, void *stack_high)
{
    /* 3.11 counts recursion instead of measuring the stack: the bounds are the glue's
       max_depth, given to load. */
    memset(st, 0, sizeof *st);
    pystate311 *s = state_of(st);
    _PyStackChunk *chunk = frame_area_chunk(frame_area);
    chunk->previous = NULL;
    chunk->size = FRAME_AREA_BYTES;
    chunk->top = 0;
    s->datastack_chunk = chunk;
    s->datastack_top = &chunk->data[1];
    s->datastack_limit = (PyObject **)((char *)chunk + chunk->size);
    s->cframe = &s->root_cframe; /* current_frame NULL: the fiber's first frame has no parent */
    s->exc_info = &s->root_exc;
}

void fiber_compat_save(PyThreadState *ts, fiber_pystate *st, int load_token)
{
    pystate311 *s = state_of(st);
    s->cframe = ts->cframe;
    s->exc_info = ts->exc_info;
    s->context = ts->context; /* moved: load() overwrites ts->context */
    s->datastack_chunk = ts->datastack_chunk;
    s->datastack_top = ts->datastack_top;
    s->datastack_limit = ts->datastack_limit;
    s->trash_delete_later = ts->trash_delete_later;
    s->trash_delete_nesting = ts->trash_delete_nesting;
    s->tracing = ts->tracing;
    s->recursion_headroom = ts->recursion_headroom;
    s->depth = ts->recursion_limit - ts->recursion_remaining - load_token;
}

int fiber_compat_load(PyThreadState *ts, fiber_pystate *st, int max_depth)
{
    pystate311 *s = state_of(st);
    /* 3.11 has one recursion counter, and on reaching its end compares the depth with the
       interpreter's limit (raising the thread's limit back to it if lower). So a lower cap
       for this stack is a head start in depth: the counters say `head_start + depth` while
       `depth` are in use, and run out when depth reaches the cap. */
    int limit = ts->interp->ceval.recursion_limit;
    int cap = max_depth < limit ? max_depth : limit;
    int head_start = limit - cap;
    ts->recursion_limit = limit;
    ts->recursion_remaining = cap - s->depth;
    ts->recursion_headroom = s->recursion_headroom;

    if (ts->context != s->context) {
        ts->context = s->context;
        ts->context_ver++; /* ContextVar.get() caches by (thread state id, context_ver) */
    }
    ts->cframe = s->cframe;
    ts->exc_info = s->exc_info;
    ts->datastack_chunk = s->datastack_chunk;
    ts->datastack_top = s->datastack_top;
    ts->datastack_limit = s->datastack_limit;
    ts->trash_delete_later = s->trash_delete_later;
    ts->trash_delete_nesting = s->trash_delete_nesting;
    ts->tracing = s->tracing;
    /* sys.settrace/setprofile may have changed while this stack was away: the eval loop reads
       whether to trace from the innermost C frame (and hands it outwards as frames return).
       Inside a trace function (tracing > 0) it stays off, as the eval loop left it. */
    int trace = s->tracing == 0 && (ts->c_tracefunc != NULL || ts->c_profilefunc != NULL);
    ts->cframe->use_tracing = trace ? 255 : 0;
    return head_start;
}

void fiber_compat_share_context(PyThreadState *ts, fiber_pystate *st, PyObject **shared)
{
    pystate311 *s = state_of(st);
    if (s->context != NULL && s->context != *shared)
        return; /* inside a Context.run() of the fiber's own: leave it */
    if (ts->context != NULL && s->context != ts->context)
        Py_XSETREF(s->context, Py_NewRef(ts->context));
    Py_XSETREF(*shared, Py_XNewRef(s->context));
}

void fiber_compat_pystate_discard(fiber_pystate *st, void *frame_area)
{
    pystate311 *s = state_of(st);
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
    s->cframe = &s->root_cframe;
    s->root_cframe.current_frame = NULL;
    s->exc_info = &s->root_exc;
    Py_CLEAR(s->context);
}

int fiber_compat_traverse(fiber_pystate *st, PyObject *const *stack_end, visitproc visit,
                          void *arg)
{
    /* Only the frames the stack owns: a generator's frame belongs to the generator (which
       traverses it), a finished frame to its frame object. The fast locals always; the value
       stack only where its extent is known for certain: in 3.11 a frame blocked in a call
       into C has no up-to-date stack-top, so the innermost frame's stack is visited up to the
       arguments of suspend() when they lie in it, and other frames' stacks not at all.
       Leaving references out only makes the GC more conservative, never wrong. */
    pystate311 *s = state_of(st);
    Py_VISIT(s->context);
    int innermost = 1;
    for (_PyInterpreterFrame *frame = s->cframe->current_frame; frame; frame = frame->previous) {
        if (frame->owner != FRAME_OWNED_BY_THREAD) {
            innermost = 0;
            continue;
        }
        Py_VISIT(frame->frame_obj);
        Py_VISIT(frame->f_locals);
        Py_VISIT(frame->f_func);
        Py_VISIT(frame->f_code);
        PyObject **base = _PyFrame_Stackbase(frame);
        PyObject **end = base;
        if (innermost && stack_end && (PyObject **)stack_end >= base &&
            (PyObject **)stack_end <= base + frame->f_code->co_stacksize)
            end = (PyObject **)stack_end;
        for (PyObject **p = frame->localsplus; p < end; p++)
            Py_VISIT(*p);
        innermost = 0;
    }
    return 0;
}

int fiber_compat_gc_collecting(void) { return _PyInterpreterState_GET()->gc.collecting; }

/* 3.11 keeps the raised exception as a (type, value, traceback) triple, possibly not
   normalised: one normalised object with its traceback attached is what 3.12+ keep. */
PyObject *fiber_compat_fetch_exception(void)
{
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    if (!type)
        return NULL;
    PyErr_NormalizeException(&type, &value, &tb);
    if (tb) {
        PyException_SetTraceback(value, tb);
        Py_DECREF(tb);
    }
    Py_DECREF(type);
    return value;
}

void fiber_compat_restore_exception(PyObject *exc)
{
    if (!exc) {
        PyErr_Restore(NULL, NULL, NULL);
        return;
    }
    PyErr_Restore(Py_NewRef((PyObject *)Py_TYPE(exc)), exc, PyException_GetTraceback(exc));
}

int fiber_compat_long_sign(PyObject *v) { return _PyLong_Sign(v); }
