/*
 * The interpreter-version-specific part of the Python glue, behind a small interface.
 *
 * One thread state per OS thread
 * ------------------------------
 * Every fiber of a thread runs Python on that thread's own PyThreadState. What CPython keeps
 * per *stack of frames* (the frame chain, the data stack its frames live in, the exception
 * being handled, the recursion depth, the current contextvars Context, the tracing and
 * trash-can nesting, and from 3.14 the C stack bounds CPython checks recursion against) is
 * saved into a `fiber_pystate` when a stack is switched out and loaded back when it is
 * switched in; each compat_3XX.c lists what its version carries, and why. Everything else
 * stays the thread's, as CPython and C extensions expect: the thread state's identity (its
 * id, which asyncio and contextvars key caches on; the PyGILState binding, so
 * PyGILState_Ensure on a fiber finds the current thread state; lookups by thread id such as
 * PyThreadState_SetAsyncExc and sys._current_frames), the trace and profile functions, the
 * async-generator hooks, the per-thread dict (threading.local).
 *
 * A new CPython version is a new compat_3XX.c implementing these functions (or a few #ifs
 * in the nearest one, as 3.15 in compat_314.c), a FIBER_PYSTATE_WORDS big enough for its
 * saved state, and a branch in compat.c; glue.c does not change.
 */
#ifndef FIBER_GLUE_COMPAT_H
#define FIBER_GLUE_COMPAT_H

#include <Python.h>

#if defined(Py_GIL_DISABLED)
/* The glue relies on the GIL. */
#error "fiber supports CPython 3.11, 3.13, 3.14 and 3.15 with the GIL, not a free-threaded build"
#endif

/* The per-stack interpreter state of one side of a switch: a fiber, or whoever resumed it.
   Opaque to the glue; each compat_3XX.c checks that its layout fits. */
#if PY_VERSION_HEX >= 0x030F0000
#define FIBER_PYSTATE_WORDS 18 /* 3.15 adds jit_exit and the thread's base frame */
#else
#define FIBER_PYSTATE_WORDS 16
#endif
typedef struct {
    void *opaque[FIBER_PYSTATE_WORDS];
} fiber_pystate;

/* Make `st` the state of a fiber that has not started, for the thread whose thread state is
   `ts` (the fiber's owner, running now): no frames, no exception being handled, no Context
   (the glue enters one, or shares its resumer's), its first frames in `frame_area`
   (fiber_compat_frame_area_size() bytes next to the fiber's stack top, so a shallow suspended
   fiber costs one page for C and Python frames together). Its native stack is
   [stack_low, stack_high): 3.14+ check the C stack pointer against bounds kept in the thread
   state, and `load` installs these. */
void fiber_compat_pystate_init(PyThreadState *ts, fiber_pystate *st, void *frame_area,
                               void *stack_low, void *stack_high);

/* The switch, in two halves. `save` moves the per-stack state of the code running now out of
   `ts` into `st`; `load` moves `st` into `ts`. The pair is what a switch costs in Python
   state, so both are cheap and allocation-free.

   Recursion: a stack may have a lower recursion limit than the interpreter's (`max_depth`,
   levels of STACK_BYTES_PER_RECURSION_LEVEL from its native stack size; INT_MAX for the
   thread's own stack) where the interpreter counts C recursion instead of measuring it: 3.11
   (one counter for Python and C), 3.13 (a C counter beside the Python one). `load` applies
   min(max_depth, the interpreter's limit now), so a sys.setrecursionlimit() made while a
   fiber was suspended applies to it when it is resumed. `load` returns a token the glue
   passes to the `save` of the same stack (it is how the cap is expressed in the counters;
   0 for a stack with no cap). 3.14+ ignore max_depth and return 0: there C recursion is
   checked against the running stack's real bounds (the fiber's own, from init), and Python
   frames do not use the C stack. */
void fiber_compat_save(PyThreadState *ts, fiber_pystate *st, int load_token);
int fiber_compat_load(PyThreadState *ts, fiber_pystate *st, int max_depth);

/* Make a suspended or new fiber's saved state `st` run in the Context object the code on `ts`
   is running in now (no copy), unless code on the fiber has entered a Context of its own
   (Context.run) since the last call: `*shared` (an owned reference) remembers which Context
   the last call put there. */
void fiber_compat_share_context(PyThreadState *ts, fiber_pystate *st, PyObject **shared);

/* Let go of what a saved state owns after its stack is gone for good: a finished fiber (no
   frames left) or an abandoned one (frames that can never run again: what they refer to is
   leaked, never freed under them). Data-stack chunks the interpreter allocated are freed;
   `frame_area` (given to init) is not. */
void fiber_compat_pystate_discard(fiber_pystate *st, void *frame_area);

/* Visit the references held by the Python frames of a suspended fiber, so the cyclic GC can
   find cycles that pass through them. `stack_end` is the end of the vectorcall arguments
   suspend() received (NULL if unknown): when it lies in the innermost frame's value stack,
   that frame's stack is visited up to it. */
int fiber_compat_traverse(fiber_pystate *st, PyObject *const *stack_end, visitproc visit,
                          void *arg);

/* The exception raised now, taken out of the thread state (a new reference: normalised, its
   traceback attached), or NULL when none is raised. 3.12+ keep only this one object;
   3.11's (type, value, traceback) triple is normalised into it. */
PyObject *fiber_compat_fetch_exception(void);

/* Raise `exc` (an exception instance, or NULL for none; the reference is stolen) as it was
   fetched: the inverse of fiber_compat_fetch_exception(). */
void fiber_compat_restore_exception(PyObject *exc);

/* The sign of an int object (-1, 0 or 1); `v` must be an int. */
int fiber_compat_long_sign(PyObject *v);

/* Bytes of the fiber's user area (fiber_create_ex) the glue wants for Python frames. */
size_t fiber_compat_frame_area_size(void);

/* Non-zero while the cyclic garbage collector is collecting (finalizers and weakref callbacks
   it calls run then). A stack that suspends in there would leave the collection unfinished. */
int fiber_compat_gc_collecting(void);

#endif /* FIBER_GLUE_COMPAT_H */
