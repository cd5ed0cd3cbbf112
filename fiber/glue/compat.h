/*
 * The interpreter-version-specific part of the Python glue, behind a small interface.
 *
 * Everything the glue needs to know about CPython's thread-state internals goes through
 * these functions, implemented in compat.c for the versions the suite has passed on. A new
 * Python version means reading compat.c, not the whole glue.
 */
#ifndef FIBER_GLUE_COMPAT_H
#define FIBER_GLUE_COMPAT_H

#include <Python.h>

/* Make `to` trace and profile like `from` (sys.settrace / sys.setprofile are per thread;
   a fiber is part of its thread, so the settings follow every switch). Cheap when equal. */
int fiber_compat_sync_tracing(PyThreadState *from, PyThreadState *to);

/* Prepare a fresh (or recycled) thread state for a fiber that runs on the current OS thread,
   sharing the thread's per-thread dict (so threading.local is per thread, not per fiber). */
void fiber_compat_adopt_tstate(PyThreadState *ts, PyThreadState *resumer);

/* Non-zero when `ts` holds no Python frames (safe to clear and recycle). */
int fiber_compat_tstate_is_idle(PyThreadState *ts);

/* Make `ts` run in the Context object `resumer` is running in now (no copy), unless code on
   the fiber has entered a Context of its own (Context.run) since the last call: `*shared`
   (an owned reference) remembers which Context the last call put there. */
void fiber_compat_share_context(PyThreadState *ts, PyThreadState *resumer, PyObject **shared);

/* Visit the references held by the Python frames of a suspended fiber's thread state, so
   the cyclic GC can find cycles that pass through them. `stack_end` is the end of the
   vectorcall arguments suspend() received (NULL if unknown): when it lies in the innermost
   frame's value stack, that frame's stack is visited up to it. */
int fiber_compat_traverse_frames(PyThreadState *ts, PyObject *const *stack_end, visitproc visit,
                                 void *arg);

/* Cap the recursion depth of a fresh fiber thread state at `max_depth` (when lower than the
   interpreter's limit), so that a small stack raises RecursionError before it overflows. */
void fiber_compat_limit_recursion(PyThreadState *ts, int max_depth);

/* Bytes of the fiber's user area (fiber_create_ex) the glue wants for Python frames. */
size_t fiber_compat_frame_area_size(void);

/* Let `ts` keep its first Python frames in `area` (fiber_compat_frame_area_size() bytes next
   to the fiber's stack top), so a shallow suspended fiber costs one page for C and Python
   frames together. Frames that do not fit go to the interpreter's own chunks as usual. */
void fiber_compat_attach_frame_area(PyThreadState *ts, void *area);

/* Undo attach before `ts` is recycled or deleted (the interpreter would free the area as one
   of its own chunks). Frames still in the area, if any, are abandoned. */
void fiber_compat_detach_frame_area(PyThreadState *ts, void *area);

/* Turn off PyGILState_Check()'s thread-state comparison for the process: it compares the
   current thread state with the one bound to the OS thread, which a fiber's never is, so the
   debug allocator hooks (python -X dev, PYTHONMALLOC=debug) would abort on a fiber's first
   allocation. CPython does the same when a second interpreter is created. */
void fiber_compat_allow_unbound_tstates(void);

#endif /* FIBER_GLUE_COMPAT_H */
