/*
 * What the glue's files share: the Fiber object's layout and the few switching operations
 * that code outside glue.c needs.
 *
 * glue.c implements fiber.Fiber, suspend and current; bridge.c builds fiber.aio's hot path
 * (await_, the bridge fiber type and the driver) on top of them, in C so that an await that
 * waits costs no Python code of the bridge (bridge.c's header has the numbers). Internal to
 * the extension: nothing here is an API.
 */
#ifndef FIBER_GLUE_H
#define FIBER_GLUE_H

#include <Python.h>
#include <stdint.h>

#include "compat.h"
#include "fiber.h"

/* Everything declared here is the extension's own: hidden from its dynamic symbol table
   (PE DLLs export nothing unasked). */
#if defined(__GNUC__) && !defined(_WIN32)
#pragma GCC visibility push(hidden)
#endif

enum fiber_py_state { FIBER_NEW, FIBER_RUNNING, FIBER_SUSPENDED, FIBER_DONE };

typedef struct FiberObject {
    PyObject_HEAD
    fiber_t *cf;                  /* the C fiber; NULL once released */
    PyObject *fn, *args, *kwargs; /* what to run; dropped when the fiber finishes */
    PyObject *context;            /* Context to run in; NULL: share the resumer's */
    PyObject *shared_context;     /* with context NULL: the resumer's Context last put in */
    fiber_pystate pystate;        /* the fiber's Python state while it is not running */
    fiber_pystate resumer_pystate; /* its resumer's, while the fiber runs */
    int max_depth;                /* recursion levels its native stack allows */
    int load_token;               /* from the last fiber_compat_load of this fiber's stack */
    struct FiberObject *parent;   /* the running fiber that resumed this one, if any */
    PyObject *transfer;           /* value crossing the current switch (owned) */
    PyObject *throw_exc;          /* exception to raise at the suspension point (owned) */
    PyObject *const *suspend_args_end; /* end of suspend()'s vectorcall args, for the GC */
    PyObject *exc;                /* exception escaping fn (owned) */
    uint64_t owner;               /* the owning thread's token (thread_token()) */
    unsigned long owner_ident;    /* its thread ident, for messages */
    enum fiber_py_state state;
    int resumed_in_gc;            /* resumed by code the garbage collector called */
    PyObject *weakreflist;
    struct FiberObject *live_prev, *live_next; /* in live_fibers while started, not done */
} FiberObject;

/* Per OS thread: the fiber running now (NULL on the thread's own stack). Only touched on its
   own thread. Initial-exec, as the core's own (fiber_posix.c): each access is a
   thread-pointer-relative load instead of a call to __tls_get_addr. A Python fiber never
   changes threads (the owner check), so a thread pointer kept across a switch stays right. */
#if defined(__GNUC__)
#define GLUE_TLS __thread __attribute__((tls_model("initial-exec")))
#else
#define GLUE_TLS _Thread_local
#endif
extern GLUE_TLS FiberObject *fiber_glue_running;

/* The glue's module-wide objects (main interpreter only; created once by glue.c). */
extern PyTypeObject *Fiber_Type;
extern PyObject *FiberError;
extern PyObject *FiberExit;

/* fiber.suspend(value) for the running fiber `self`: switch to its resumer, whose resume()
   returns `value` (borrowed). Returns what the next resume() passes in (new reference), or
   NULL with the exception the next throw() raises, or with FiberError without switching when
   the fiber may not suspend now. `args_end` is where the caller's vectorcall arguments end
   (NULL if unknown): the GC visits the innermost frame's value stack up to there. */
PyObject *fiber_glue_suspend(FiberObject *self, PyObject *value, PyObject *const *args_end);

/* Fiber.resume(value), Fiber.throw(exc) and Fiber.close() without the argument parsing.
   `value` is borrowed; `exc` is an exception instance and is stolen. */
PyObject *fiber_glue_resume(FiberObject *self, PyObject *value);
PyObject *fiber_glue_throw(FiberObject *self, PyObject *exc);
PyObject *fiber_glue_close(FiberObject *self);

/* throw()'s argument as an exception instance (a class is instantiated with no arguments),
   or NULL with TypeError for anything else. */
PyObject *fiber_glue_make_exception(PyObject *exc);

/* Fiber's GC and deallocation slots, for subtypes that add fields of their own. */
int fiber_glue_traverse(FiberObject *self, visitproc visit, void *arg);
int fiber_glue_clear(FiberObject *self);
void fiber_glue_dealloc(FiberObject *self);

/* bridge.c: add fiber.aio's C half (await_, _BridgeFiber, the driver) to the glue module. */
int fiber_bridge_add(PyObject *module);

#if defined(__GNUC__) && !defined(_WIN32)
#pragma GCC visibility pop
#endif

#endif /* FIBER_GLUE_H */
