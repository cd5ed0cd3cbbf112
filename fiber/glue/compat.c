/*
 * CPython 3.11 implementation of compat.h.
 *
 * Py_BUILD_CORE is defined here, and only here, to read the interpreter frame layout of
 * pycore_frame.h. Keep every other file of the glue on the public (and the documented
 * "cpython/") API.
 */
#define Py_BUILD_CORE 1
#include "compat.h"

#if PY_VERSION_HEX < 0x030B0000 || PY_VERSION_HEX >= 0x030C0000
#error "fiber's glue supports CPython 3.11; see fiber/glue/compat.c to add a version"
#endif

#include "internal/pycore_frame.h"
#include "internal/pycore_runtime.h"

int fiber_compat_sync_tracing(PyThreadState *from, PyThreadState *to)
{
    if (to->c_tracefunc != from->c_tracefunc || to->c_traceobj != from->c_traceobj) {
        if (_PyEval_SetTrace(to, from->c_tracefunc, from->c_traceobj) < 0)
            return -1;
    }
    if (to->c_profilefunc != from->c_profilefunc || to->c_profileobj != from->c_profileobj) {
        if (_PyEval_SetProfile(to, from->c_profilefunc, from->c_profileobj) < 0)
            return -1;
    }
    return 0;
}

void fiber_compat_adopt_tstate(PyThreadState *ts, PyThreadState *resumer)
{
    /* A recycled thread state may have been made on another thread. */
    ts->thread_id = resumer->thread_id;
    ts->native_thread_id = resumer->native_thread_id;
    if (resumer->dict == NULL)
        resumer->dict = PyDict_New(); /* as PyThreadState_GetDict() would; NULL is tolerated */
    Py_XSETREF(ts->dict, Py_XNewRef(resumer->dict));
}

int fiber_compat_tstate_is_idle(PyThreadState *ts)
{
    return ts->cframe == &ts->root_cframe && ts->cframe->current_frame == NULL;
}

void fiber_compat_share_context(PyThreadState *ts, PyThreadState *resumer, PyObject **shared)
{
    if (ts->context != NULL && ts->context != *shared)
        return; /* inside a Context.run() of the fiber's own: leave it */
    if (resumer->context != NULL && ts->context != resumer->context) {
        Py_XSETREF(ts->context, Py_NewRef(resumer->context));
        ts->context_ver++;
    }
    Py_XSETREF(*shared, Py_XNewRef(ts->context));
}

int fiber_compat_traverse_frames(PyThreadState *ts, PyObject *const *stack_end, visitproc visit,
                                 void *arg)
{
    /* Only the frames the thread state owns: a generator's frame belongs to the generator
       (which traverses it), a finished frame to its frame object. The fast locals always;
       the value stack only where its extent is known for certain: in 3.11 a frame blocked in
       a call into C has no up-to-date stack-top, so the innermost frame's stack is visited up
       to the arguments of suspend() when they lie in it, and other frames' stacks not at all.
       Leaving references out only makes the GC more conservative, never wrong. */
    int innermost = 1;
    for (_PyInterpreterFrame *frame = ts->cframe->current_frame; frame; frame = frame->previous) {
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

void fiber_compat_limit_recursion(PyThreadState *ts, int max_depth)
{
    /* 3.11 counts depth as recursion_limit - recursion_remaining and, on reaching the end,
       compares it with the interpreter's limit (raising it back if the thread's is lower). So
       a lower per-fiber limit is expressed as a head start in depth: recursion_remaining
       starts at max_depth. Py_SetRecursionLimit keeps that depth when the limit changes. */
    int limit = Py_GetRecursionLimit();
    ts->recursion_limit = limit;
    ts->recursion_remaining = max_depth < limit ? max_depth : limit;
}

/* The interpreter's data stack is a list of chunks (newest first, linked through
   `previous`). The first chunk a thread state gets is its root: the interpreter never pops
   it (its first slot is skipped so no frame starts there) and frees it only when the thread
   state is deleted. A fiber's root chunk is the frame area of its user area. */
size_t fiber_compat_frame_area_size(void)
{
    return sizeof(void *) >= 8 ? 3072 : 2048;
}

void fiber_compat_attach_frame_area(PyThreadState *ts, void *area)
{
    if (ts->datastack_chunk != NULL)
        return; /* a thread state that already has frames (never for a fresh fiber) */
    _PyStackChunk *chunk = area;
    chunk->previous = NULL;
    chunk->size = fiber_compat_frame_area_size();
    chunk->top = 0;
    ts->datastack_chunk = chunk;
    ts->datastack_top = &chunk->data[1];
    ts->datastack_limit = (PyObject **)((char *)chunk + chunk->size);
}

void fiber_compat_detach_frame_area(PyThreadState *ts, void *area)
{
    /* Normally every frame has returned, and chunks pushed after the root were freed as
       their first frame popped: the root is the only chunk. */
    _PyStackChunk *newer = NULL;
    for (_PyStackChunk *c = ts->datastack_chunk; c; newer = c, c = c->previous) {
        if (c == (_PyStackChunk *)area) {
            if (newer) {
                newer->previous = NULL; /* abandoned frames: keep the heap chunks only */
            } else {
                ts->datastack_chunk = NULL;
                ts->datastack_top = NULL;
                ts->datastack_limit = NULL;
            }
            return;
        }
    }
}

void fiber_compat_allow_unbound_tstates(void)
{
    _PyRuntime.gilstate.check_enabled = 0;
}
