/*
 * The Python glue: runs Python callables on fibers of the C core.
 *
 * Interpreter state per fiber
 * ---------------------------
 * Every fiber of a thread runs Python on the thread's one PyThreadState. What CPython keeps
 * per stack of frames (the frame chain and its data stack, the exception being handled, the
 * recursion depth, the current contextvars Context) is saved and loaded at each switch by
 * compat.h's fiber_compat_save / fiber_compat_load, with the GIL held throughout, so no other
 * thread can observe the half-way point. Everything else stays the thread's, which is what
 * CPython and C extensions expect: the thread state's identity (the PyGILState binding, its
 * unique id, lookups by thread id), sys.settrace/sys.setprofile, the async-generator hooks
 * and threading.local all behave on a fiber as on the thread's own stack.
 *
 * A switch into a fiber:       resumer                         fiber
 *   Fiber.resume(v)            transfer = v
 *                              save resumer, load fiber state
 *                              fiber_resume() ------------->   (returns from fiber_suspend)
 *                                                              result = transfer
 *   fiber.suspend(w)                                           transfer = w
 *                                                              save fiber, load resumer state
 *                              (returns from fiber_resume) <-- fiber_suspend()
 *                              result = transfer
 *
 * Threads: every thread runs its own fibers. A fiber belongs to the thread that created it;
 * resuming it from another thread raises FiberError (its C frames may hold that thread's
 * locks or thread-local caches, so moving it is not safe in general). Threads are told apart
 * by a token of the glue's own, never reused, because thread idents are reused.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>

#include "glue.h"

static const char *const state_names[] = {"new", "running", "suspended", "done"};

/* Module-wide state. The glue supports the main interpreter only; its objects are created
   once. */
PyTypeObject *Fiber_Type;
PyObject *FiberError;
PyObject *FiberExit;
static PyObject *RESUMER_CONTEXT; /* sentinel: run in the resumer's Context, no copy */
/* Fiber()'s own keyword names, interned once: looking them up by C string made and hashed a
   new str per call (most of what a keyword argument cost, fiber.aio.run's every fiber). */
static PyObject *KW_STACK_SIZE, *KW_CONTEXT;

/* Per OS thread: the fiber running now (glue.h), and the thread's token (16 bytes of glibc's
   static TLS surplus for both). */
GLUE_TLS FiberObject *fiber_glue_running;
static GLUE_TLS uint64_t this_thread_token;
static uint64_t thread_tokens_issued; /* protected by the GIL */

static uint64_t thread_token(void)
{
    if (this_thread_token == 0)
        this_thread_token = ++thread_tokens_issued;
    return this_thread_token;
}

/* ---------------------------------------------------------------------------------------
 * Started fibers (protected by the GIL). At exit (atexit runs while the interpreter is still
 * whole) the glue closes the main thread's suspended fibers so their finally blocks run.
 * ------------------------------------------------------------------------------------- */

static FiberObject *live_fibers;
static int finalizing; /* the exit-time close has run */

/* Suspended fibers that could not be closed when they became unreachable: kept alive for the
   rest of the process, with everything their frames use, because a frame borrows some of
   its references (its globals, builtins) and the collector would otherwise free them under
   a fiber that can still be found (gc.get_objects()) and resumed. */
static PyObject *kept_fibers;

static void live_add(FiberObject *self)
{
    self->live_prev = NULL;
    self->live_next = live_fibers;
    if (live_fibers)
        live_fibers->live_prev = self;
    live_fibers = self;
}

static void live_remove(FiberObject *self)
{
    if (self->live_prev)
        self->live_prev->live_next = self->live_next;
    else if (live_fibers == self)
        live_fibers = self->live_next;
    if (self->live_next)
        self->live_next->live_prev = self->live_prev;
    self->live_prev = self->live_next = NULL;
}

/* C stack a level of Python recursion may take, at worst, on this fiber's ABI: measured with
   recursion through C (sorted(key=...) calling itself takes about 3 KiB a level on x86_64).
   A fiber's recursion limit is at most its stack size divided by this. */
#define STACK_BYTES_PER_RECURSION_LEVEL (sizeof(void *) >= 8 ? 4096 : 3072)

/* ---------------------------------------------------------------------------------------
 * Switching
 * ------------------------------------------------------------------------------------- */

/* The recursion cap of the stack a fiber returns to: its parent's, or none (the thread's). */
static int resumer_max_depth(FiberObject *self)
{
    return self->parent ? self->parent->max_depth : INT_MAX;
}

/* Leave the running fiber `self` for its resumer: save its Python state, load the resumer's.
   The resumer's stack becomes the parent's again, whose load token is refreshed. */
static void swap_out(FiberObject *self, PyThreadState *ts)
{
    fiber_compat_save(ts, &self->pystate, self->load_token);
    int token = fiber_compat_load(ts, &self->resumer_pystate, resumer_max_depth(self));
    if (self->parent)
        self->parent->load_token = token;
}

static void fiber_finish(FiberObject *self)
{
    /* Drop what only a running fiber needs. Its Python state is discarded by the resumer. */
    self->state = FIBER_DONE;
    Py_CLEAR(self->fn);
    Py_CLEAR(self->args);
    Py_CLEAR(self->kwargs);
}

/* Runs on the fiber's own stack, with the fiber's Python state loaded. */
static void *fiber_entry(void *arg, void *first)
{
    FiberObject *self = arg;
    PyObject *result = NULL;
    int entered = 0;
    /* The first resume's value (always None: fiber_glue_resume refuses any other); fn takes
       its arguments from args. Dropped here, or the result below would overwrite it. */
    Py_CLEAR(self->transfer);
    if (self->context) {
        entered = PyContext_Enter(self->context) == 0;
        if (!entered)
            goto out;
    }
    result = PyObject_Call(self->fn, self->args, self->kwargs ? self->kwargs : NULL);
    if (entered && PyContext_Exit(self->context) < 0)
        Py_CLEAR(result);
out:
    if (!result)
        self->exc = fiber_compat_fetch_exception();
    fiber_finish(self);
    self->transfer = result;
    swap_out(self, PyThreadState_Get());
    return NULL;
}

/* Switch into `self` (new or suspended) with `value` (stolen) or an exception to raise at
   its suspension point (`exc`, stolen). Returns what the fiber suspended with or returned,
   or NULL with the fiber's exception set. */
static PyObject *switch_into(FiberObject *self, PyObject *value, PyObject *exc)
{
    PyThreadState *ts = PyThreadState_Get();
    if (self->state == FIBER_NEW) {
        void *low, *high;
        fiber_stack_bounds(self->cf, &low, &high);
        fiber_compat_pystate_init(ts, &self->pystate, fiber_user_area(self->cf), low, high);
        size_t levels = (size_t)((char *)high - (char *)low) / STACK_BYTES_PER_RECURSION_LEVEL;
        self->max_depth = levels > INT_MAX ? INT_MAX : (int)levels;
        live_add(self);
    }
    if (!self->context)
        fiber_compat_share_context(ts, &self->pystate, &self->shared_context);
    self->transfer = value;
    self->throw_exc = exc;
    self->parent = fiber_glue_running;
    fiber_glue_running = self;
    self->state = FIBER_RUNNING;
    self->resumed_in_gc = fiber_compat_gc_collecting();

    /* Keep the fiber alive across the switch even if the only reference is dropped by code
       running on it. */
    Py_INCREF(self);
    fiber_compat_save(ts, &self->resumer_pystate, self->parent ? self->parent->load_token : 0);
    self->load_token = fiber_compat_load(ts, &self->pystate, self->max_depth);
    fiber_resume(self->cf, NULL, NULL);
    /* The fiber has loaded our Python state back before switching. */
    fiber_glue_running = self->parent;
    self->parent = NULL;

    PyObject *result = self->transfer;
    self->transfer = NULL;
    if (self->state == FIBER_DONE) {
        live_remove(self);
        fiber_compat_pystate_discard(&self->pystate, fiber_user_area(self->cf));
        Py_CLEAR(self->shared_context);
        if (!result)
            fiber_compat_restore_exception(self->exc); /* steals it */
        self->exc = NULL;
    }
    Py_DECREF(self);
    return result;
}

static int check_owner(FiberObject *self)
{
    if (self->owner != thread_token()) {
        PyErr_Format(FiberError,
                     "this fiber belongs to thread %lu%s; resume, throw into or close it from "
                     "that thread",
                     self->owner_ident,
                     self->owner_ident == PyThread_get_thread_ident()
                         ? " (an earlier thread with this ident, now gone)"
                         : "");
        return -1;
    }
    return 0;
}

static int check_resumable(FiberObject *self, const char *what)
{
    if (!self->cf) {
        PyErr_SetString(FiberError, "the Fiber was not initialised: call Fiber(fn, ...)");
        return -1;
    }
    if (check_owner(self) < 0)
        return -1;
    if (self->state == FIBER_DONE) {
        PyErr_Format(FiberError, "cannot %s a finished fiber", what);
        return -1;
    }
    if (self->state == FIBER_RUNNING) {
        PyErr_Format(FiberError,
                     "cannot %s a running fiber (it is the current fiber, or it is resuming "
                     "the current one)",
                     what);
        return -1;
    }
    return 0;
}

/* ---------------------------------------------------------------------------------------
 * Fiber methods
 * ------------------------------------------------------------------------------------- */

PyDoc_STRVAR(resume_doc,
"resume(value=None, /)\n--\n\n"
"Switch into the fiber. The first call starts fn(*args, **kwargs) and must pass None; later\n"
"calls make the pending fiber.suspend() return `value`. Returns the value passed to the\n"
"fiber's next suspend(), or fn's return value once it finishes. An exception escaping fn\n"
"propagates from here, and the fiber is then done.");

static PyObject *Fiber_resume(FiberObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs > 1) {
        PyErr_Format(PyExc_TypeError, "resume() takes at most 1 argument (%zd given)", nargs);
        return NULL;
    }
    return fiber_glue_resume(self, nargs ? args[0] : Py_None);
}

PyObject *fiber_glue_resume(FiberObject *self, PyObject *value)
{
    if (check_resumable(self, "resume") < 0)
        return NULL;
    if (self->state == FIBER_NEW && value != Py_None) {
        PyErr_SetString(PyExc_TypeError,
                        "can't send a non-None value to a fiber that has not started: "
                        "start it with resume() or resume(None)");
        return NULL;
    }
    return switch_into(self, Py_NewRef(value), NULL);
}

/* An exception instance from throw()'s argument (an instance or a class), or NULL. */
PyObject *fiber_glue_make_exception(PyObject *exc)
{
    if (PyExceptionInstance_Check(exc))
        return Py_NewRef(exc);
    if (PyExceptionClass_Check(exc))
        return PyObject_CallNoArgs(exc);
    PyErr_Format(PyExc_TypeError,
                 "throw() expects an exception instance or class (a BaseException), not %.200s",
                 Py_TYPE(exc)->tp_name);
    return NULL;
}

static void raise_exception(PyObject *exc) { PyErr_SetObject((PyObject *)Py_TYPE(exc), exc); }

static void release_unstarted(FiberObject *self) { fiber_finish(self); }

PyDoc_STRVAR(throw_doc,
"throw(exc, /)\n--\n\n"
"Raise `exc` (an exception instance or class) inside the fiber at its suspension point and\n"
"continue it; returns like resume(). Thrown into a fiber that has not started, the exception\n"
"is raised here and the fiber is done without running, as with a generator.");

static PyObject *Fiber_throw(FiberObject *self, PyObject *exc_arg)
{
    PyObject *exc = fiber_glue_make_exception(exc_arg);
    if (!exc)
        return NULL;
    return fiber_glue_throw(self, exc);
}

PyObject *fiber_glue_throw(FiberObject *self, PyObject *exc)
{
    if (check_resumable(self, "throw into") < 0) {
        Py_DECREF(exc);
        return NULL;
    }
    if (self->state == FIBER_NEW) {
        release_unstarted(self);
        raise_exception(exc);
        Py_DECREF(exc);
        return NULL;
    }
    return switch_into(self, NULL, exc);
}

static PyObject *close_suspended(FiberObject *self)
{
    PyObject *exc = PyObject_CallNoArgs(FiberExit);
    if (!exc)
        return NULL;
    PyObject *result = switch_into(self, NULL, exc);
    if (result) {
        if (self->state != FIBER_DONE) {
            Py_DECREF(result);
            PyErr_SetString(FiberError,
                            "the fiber caught FiberExit and suspended again; a fiber being "
                            "closed must finish (let FiberExit propagate, or return)");
            return NULL;
        }
        Py_DECREF(result);
        Py_RETURN_NONE;
    }
    if (PyErr_ExceptionMatches(FiberExit)) {
        PyErr_Clear();
        Py_RETURN_NONE;
    }
    return NULL;
}

PyDoc_STRVAR(close_doc,
"close()\n--\n\n"
"Finish the fiber. A suspended fiber gets FiberExit raised at its suspension point, so its\n"
"finally blocks and context managers run; if it catches it and suspends again, FiberError is\n"
"raised. A fiber that has not started becomes done without running; closing a done fiber\n"
"does nothing.");

static PyObject *Fiber_close(FiberObject *self, PyObject *Py_UNUSED(ignored))
{
    return fiber_glue_close(self);
}

PyObject *fiber_glue_close(FiberObject *self)
{
    if (!self->cf || self->state == FIBER_DONE)
        Py_RETURN_NONE;
    if (check_owner(self) < 0)
        return NULL;
    if (self->state == FIBER_RUNNING) {
        PyErr_SetString(FiberError,
                        "cannot close a running fiber (it is the current fiber, or it is "
                        "resuming the current one)");
        return NULL;
    }
    if (self->state == FIBER_NEW) {
        release_unstarted(self);
        Py_RETURN_NONE;
    }
    return close_suspended(self);
}

static PyObject *Fiber_get_done(FiberObject *self, void *closure)
{
    return PyBool_FromLong(self->state == FIBER_DONE);
}

static PyObject *Fiber_get_state(FiberObject *self, void *closure)
{
    return PyUnicode_FromString(state_names[self->state]);
}

static PyObject *Fiber_get_stack_size(FiberObject *self, void *closure)
{
    if (!self->cf)
        Py_RETURN_NONE;
    void *low, *high;
    fiber_stack_bounds(self->cf, &low, &high);
    return PyLong_FromSize_t((size_t)((char *)high - (char *)low));
}

static PyObject *Fiber_repr(FiberObject *self)
{
    if (self->fn)
        return PyUnicode_FromFormat("<%s %R %s at %p>", Py_TYPE(self)->tp_name, self->fn,
                                    state_names[self->state], self);
    return PyUnicode_FromFormat("<%s %s at %p>", Py_TYPE(self)->tp_name, state_names[self->state],
                                self);
}

/* ---------------------------------------------------------------------------------------
 * Construction and destruction
 * ------------------------------------------------------------------------------------- */

/* Why mapping a stack failed, when the reason is the process's count of memory mappings
   (Linux's vm.max_map_count, 65530 by default): each fiber takes two (its stack and its
   guard region), so about 32,700 fibers can live at once. "" otherwise. */
static const char *map_limit_hint(int err)
{
#ifdef __linux__
    if (err != ENOMEM)
        return "";
    long limit = 0, maps = 0;
    FILE *f = fopen("/proc/sys/vm/max_map_count", "r");
    if (!f)
        return "";
    /* Digits by hand: with glibc 2.38's headers fscanf and strtol become C23 symbols
       (__isoc23_*), which alone would raise the wheels' manylinux tag to glibc 2.38. */
    int digits = 0;
    for (int c; (c = getc(f)) >= '0' && c <= '9'; digits++)
        limit = limit * 10 + (c - '0');
    fclose(f);
    if (!digits || !(f = fopen("/proc/self/maps", "r")))
        return "";
    for (int c; (c = getc(f)) != EOF;)
        maps += c == '\n';
    fclose(f);
    if (maps + 16 < limit)
        return "";
    static char hint[200];
    snprintf(hint, sizeof hint,
             " (the process has %ld memory mappings, the limit vm.max_map_count is %ld, and "
             "each fiber takes two: free fibers, or raise it with sysctl vm.max_map_count=N)",
             maps, limit);
    return hint;
#else
    (void)err;
    return "";
#endif
}

/* stack_size argument -> bytes (0: default). -1 with an exception on bad input. */
static int parse_stack_size(PyObject *obj, size_t *out)
{
    *out = 0;
    if (obj == NULL || obj == Py_None)
        return 0;
    if (!PyLong_Check(obj)) {
        PyErr_Format(PyExc_TypeError, "stack_size must be an int (bytes) or None, not %.200s",
                     Py_TYPE(obj)->tp_name);
        return -1;
    }
    int sign = fiber_compat_long_sign(obj);
    if (sign < 0) {
        PyErr_Format(PyExc_ValueError, "stack_size must be >= 0, not %R", obj);
        return -1;
    }
    size_t size = PyLong_AsSize_t(obj);
    if (size == (size_t)-1 && PyErr_Occurred()) {
        PyErr_Clear();
        PyErr_Format(PyExc_MemoryError, "stack_size %R is too large to map", obj);
        return -1;
    }
    *out = size;
    return 0;
}

static int Fiber_init(FiberObject *self, PyObject *args, PyObject *kwargs)
{
    if (self->cf) {
        PyErr_SetString(FiberError, "Fiber.__init__() may be called only once");
        return -1;
    }
    Py_ssize_t nargs = PyTuple_GET_SIZE(args);
    if (nargs < 1) {
        PyErr_SetString(PyExc_TypeError, "Fiber() needs the function to run: Fiber(fn, *args, "
                                         "stack_size=None, context=None, **kwargs)");
        return -1;
    }
    PyObject *fn = PyTuple_GET_ITEM(args, 0);
    if (!PyCallable_Check(fn)) {
        PyErr_Format(PyExc_TypeError, "Fiber() needs a callable, not %.200s", Py_TYPE(fn)->tp_name);
        return -1;
    }
    PyObject *stack_size_obj = NULL, *context = NULL, *fn_kwargs = NULL;
    if (kwargs && PyDict_GET_SIZE(kwargs)) {
        stack_size_obj = Py_XNewRef(PyDict_GetItemWithError(kwargs, KW_STACK_SIZE));
        if (!stack_size_obj && PyErr_Occurred())
            goto fail;
        context = Py_XNewRef(PyDict_GetItemWithError(kwargs, KW_CONTEXT));
        if (!context && PyErr_Occurred())
            goto fail;
        /* The rest (if any) goes to fn: copied, as a call's **kwargs are. */
        if (PyDict_GET_SIZE(kwargs) > (stack_size_obj != NULL) + (context != NULL)) {
            fn_kwargs = PyDict_Copy(kwargs);
            if (!fn_kwargs || (stack_size_obj && PyDict_DelItem(fn_kwargs, KW_STACK_SIZE) < 0) ||
                (context && PyDict_DelItem(fn_kwargs, KW_CONTEXT) < 0))
                goto fail;
        }
    }
    size_t stack_size;
    if (parse_stack_size(stack_size_obj, &stack_size) < 0)
        goto fail;
    PyObject *ctx;
    if (context == NULL || context == Py_None) {
        ctx = PyContext_CopyCurrent();
        if (!ctx)
            goto fail;
    } else if (context == RESUMER_CONTEXT) {
        ctx = NULL;
    } else if (PyContext_CheckExact(context)) {
        ctx = Py_NewRef(context);
    } else {
        PyErr_Format(PyExc_TypeError, "context must be a contextvars.Context or None, not %.200s",
                     Py_TYPE(context)->tp_name);
        goto fail;
    }
    /* FIBER_OWN_FP_CONTROL: Python fibers keep the FP modes they set, as greenlets do; it
       costs a few ns of a Python switch's ~70 (README, "FP control state"). */
    int rc = fiber_create_ex(&self->cf, stack_size, fiber_compat_frame_area_size(),
                             FIBER_OWN_FP_CONTROL, fiber_entry, self);
    if (rc != FIBER_OK) {
        int err = errno;
        Py_XDECREF(ctx);
        if (rc == FIBER_EINVAL)
            PyErr_Format(PyExc_ValueError, "cannot create a fiber with stack_size=%zu: %s",
                         stack_size, fiber_strerror(rc));
        else
            PyErr_Format(PyExc_MemoryError, "cannot create a fiber with stack_size=%zu: %s%s",
                         stack_size, fiber_strerror(rc), map_limit_hint(err));
        goto fail;
    }
    self->fn = Py_NewRef(fn);
    self->args = PyTuple_GetSlice(args, 1, nargs);
    self->kwargs = fn_kwargs;
    self->context = ctx;
    self->owner = thread_token();
    self->owner_ident = PyThread_get_thread_ident();
    self->state = FIBER_NEW;
    Py_XDECREF(stack_size_obj);
    Py_XDECREF(context);
    return self->args ? 0 : -1;
fail:
    Py_XDECREF(fn_kwargs);
    Py_XDECREF(stack_size_obj);
    Py_XDECREF(context);
    return -1;
}

/* Keep a suspended fiber that could not be closed alive for the rest of the process (see
   kept_fibers). Called from its finaliser: the reference taken here resurrects it, and with
   it everything its frames use, so the collector clears none of it. */
static void keep_forever(FiberObject *self)
{
    if (!kept_fibers && !(kept_fibers = PyList_New(0)))
        return; /* no memory: the fiber is abandoned by dealloc instead (never resumed) */
    if (PyList_Append(kept_fibers, (PyObject *)self) < 0)
        PyErr_Clear();
}

/* PEP 442 finaliser: an unreachable suspended fiber is closed so its finally blocks run. */
static void Fiber_finalize(FiberObject *self)
{
    if (!self->cf || self->state != FIBER_SUSPENDED)
        return;
    PyObject *saved = fiber_compat_fetch_exception();
    if (finalizing) {
        /* After the exit-time close: the interpreter is being torn down, so no more fiber
           code runs. */
        keep_forever(self);
    } else if (self->owner != thread_token()) {
        PyErr_Format(FiberError,
                     "a suspended fiber of thread %lu became unreachable on another thread and "
                     "could not be closed; its finally blocks did not run, and it is kept "
                     "alive (with what its frames use) for the rest of the process",
                     self->owner_ident);
        PyErr_WriteUnraisable((PyObject *)self);
        keep_forever(self);
    } else {
        PyObject *r = close_suspended(self);
        if (r)
            Py_DECREF(r);
        else
            PyErr_WriteUnraisable((PyObject *)self);
        if (self->state == FIBER_SUSPENDED)
            keep_forever(self); /* it caught FiberExit and suspended again */
    }
    fiber_compat_restore_exception(saved);
}

int fiber_glue_traverse(FiberObject *self, visitproc visit, void *arg)
{
    Py_VISIT(Py_TYPE(self));
    Py_VISIT(self->fn);
    Py_VISIT(self->args);
    Py_VISIT(self->kwargs);
    Py_VISIT(self->context);
    Py_VISIT(self->shared_context);
    Py_VISIT(self->transfer);
    Py_VISIT(self->throw_exc);
    Py_VISIT(self->exc);
    if (self->state == FIBER_SUSPENDED)
        return fiber_compat_traverse(&self->pystate, self->suspend_args_end, visit, arg);
    return 0;
}

int fiber_glue_clear(FiberObject *self)
{
    /* The frames of a suspended fiber are not cleared here: its finaliser has closed it, or
       kept it alive for good, or dealloc abandons them rather than run code on them. */
    Py_CLEAR(self->fn);
    Py_CLEAR(self->args);
    Py_CLEAR(self->kwargs);
    Py_CLEAR(self->shared_context);
    Py_CLEAR(self->transfer);
    Py_CLEAR(self->throw_exc);
    Py_CLEAR(self->exc);
    return 0;
}

void fiber_glue_dealloc(FiberObject *self)
{
    /* Finalise while still tracked: closing runs arbitrary Python code. */
    if (PyObject_CallFinalizerFromDealloc((PyObject *)self) < 0)
        return; /* resurrected */
    PyObject_GC_UnTrack(self);
    if (self->weakreflist)
        PyObject_ClearWeakRefs((PyObject *)self);
    if (self->state == FIBER_SUSPENDED) {
        /* Not closed and not kept (its finaliser had already run in an earlier life): its
           frames can never run again. They are abandoned with the native stack they live on
           (frame objects elsewhere may still point into it), and what they refer to is
           leaked rather than freed under them. */
        live_remove(self);
        self->cf = NULL;
    }
    if (self->cf) {
        fiber_destroy(self->cf);
        self->cf = NULL;
    }
    fiber_glue_clear(self);
    Py_CLEAR(self->context);
    PyTypeObject *type = Py_TYPE(self);
    type->tp_free((PyObject *)self);
    Py_DECREF(type); /* instances of heap types own a reference to their type */
}

static PyMethodDef Fiber_methods[] = {
    {"resume", (PyCFunction)(void (*)(void))Fiber_resume, METH_FASTCALL, resume_doc},
    {"throw", (PyCFunction)Fiber_throw, METH_O, throw_doc},
    {"close", (PyCFunction)Fiber_close, METH_NOARGS, close_doc},
    {NULL},
};

static PyGetSetDef Fiber_getset[] = {
    {"done", (getter)Fiber_get_done, NULL, "True once fn has returned or raised.", NULL},
    {"state", (getter)Fiber_get_state, NULL, "\"new\", \"running\", \"suspended\" or \"done\".",
     NULL},
    {"stack_size", (getter)Fiber_get_stack_size, NULL,
     "Usable bytes of the fiber's stack (the request rounded up to pages and to the minimum).",
     NULL},
    {NULL},
};

PyDoc_STRVAR(Fiber_doc,
"Fiber(fn, /, *args, stack_size=None, context=None, **kwargs)\n--\n\n"
"A Python callable that runs on its own native stack.\n\n"
"The first resume() starts fn(*args, **kwargs); fiber.suspend(value) anywhere below fn\n"
"hands `value` back to resume()'s caller, and the next resume(v) continues fn there.\n\n"
"stack_size: bytes of native stack (None: the default, 8 MiB less 128 KiB on 64-bit systems,\n"
"so that the whole mapping stays under 8 MiB, and 4 MiB on 32-bit ones: about what a thread\n"
"gets; only the pages used cost memory); rounded up to whole pages and\n"
"to a 16 KiB minimum. Deep recursion raises RecursionError rather than overflow the stack\n"
"(3.14+: the fiber's real stack bounds; 3.11/3.13: a limit of one level per 4 KiB of stack,\n"
"3 KiB on 32-bit, when lower than the interpreter's); a guard region below the stack catches\n"
"what C code overruns.\n"
"context: the contextvars.Context to run in (None: a copy of the context current when the\n"
"Fiber is created, as asyncio does for tasks).");

static PyMemberDef Fiber_members[] = {
    {"__weaklistoffset__", T_PYSSIZET, offsetof(FiberObject, weakreflist), READONLY},
    {NULL},
};

static PyType_Slot Fiber_slots[] = {
    {Py_tp_doc, (void *)Fiber_doc},   {Py_tp_init, Fiber_init},
    {Py_tp_new, PyType_GenericNew},   {Py_tp_dealloc, fiber_glue_dealloc},
    {Py_tp_finalize, Fiber_finalize}, {Py_tp_traverse, fiber_glue_traverse},
    {Py_tp_clear, fiber_glue_clear},  {Py_tp_repr, Fiber_repr},
    {Py_tp_methods, Fiber_methods},   {Py_tp_getset, Fiber_getset},
    {Py_tp_members, Fiber_members},   {0, NULL},
};

/* ---------------------------------------------------------------------------------------
 * Module functions
 * ------------------------------------------------------------------------------------- */

PyDoc_STRVAR(suspend_doc,
"suspend(value=None, /)\n--\n\n"
"Suspend the running fiber: its resume() (or throw()) returns `value`. Returns the value of\n"
"the next resume(), or raises the exception of the next throw(). Raises FiberError when no\n"
"fiber is running on this thread.");

static PyObject *glue_suspend(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs > 1) {
        PyErr_Format(PyExc_TypeError, "suspend() takes at most 1 argument (%zd given)", nargs);
        return NULL;
    }
    FiberObject *self = fiber_glue_running;
    if (!self) {
        PyErr_SetString(FiberError,
                        "suspend() called outside any fiber: only code running on a Fiber "
                        "(started with Fiber.resume()) can suspend");
        return NULL;
    }
    return fiber_glue_suspend(self, nargs ? args[0] : Py_None, args ? args + nargs : NULL);
}

PyObject *fiber_glue_suspend(FiberObject *self, PyObject *value, PyObject *const *args_end)
{
    if (self->state != FIBER_RUNNING) {
        PyErr_SetString(FiberError, "suspend() called while the fiber is finishing (from a "
                                    "finaliser run as its function's objects were released)");
        return NULL;
    }
    if (!self->resumed_in_gc && fiber_compat_gc_collecting()) {
        /* The collection runs on this fiber's stack: suspending would leave it unfinished
           (and every other collection of the process waiting for it). */
        PyErr_SetString(FiberError,
                        "suspend() called inside a garbage collection (from a __del__ method "
                        "or weakref callback the collector ran on this fiber); suspend after "
                        "the collection, or do not suspend in finalisers");
        return NULL;
    }
    self->transfer = Py_NewRef(value);
    self->suspend_args_end = args_end;
    self->state = FIBER_SUSPENDED;
    swap_out(self, PyThreadState_Get());
    fiber_suspend(NULL, NULL);
    /* Resumed: switch_into() loaded this fiber's Python state again. */
    self->suspend_args_end = NULL;
    if (self->throw_exc) {
        PyObject *exc = self->throw_exc;
        self->throw_exc = NULL;
        raise_exception(exc);
        Py_DECREF(exc);
        return NULL;
    }
    PyObject *value_in = self->transfer;
    self->transfer = NULL;
    return value_in;
}

PyDoc_STRVAR(current_doc,
"current()\n--\n\n"
"The Fiber running now on this thread, or None on the thread's own stack.");

static PyObject *glue_current(PyObject *module, PyObject *Py_UNUSED(ignored))
{
    return Py_NewRef(fiber_glue_running ? (PyObject *)fiber_glue_running : Py_None);
}

/* Registered with atexit by fiber/__init__.py: runs while the interpreter is still whole. */
static PyObject *glue_shutdown(PyObject *module, PyObject *Py_UNUSED(ignored))
{
    finalizing = 1;
    uint64_t me = thread_token();
    /* Close this thread's suspended fibers, so their finally blocks run, as they would if
       each had been dropped. Closing may start or drop other fibers: rescan each time.
       Fibers of other threads are left alone: a daemon thread may still be running them. */
    for (int progress = 1; progress;) {
        progress = 0;
        for (FiberObject *f = live_fibers; f; f = f->live_next) {
            if (f->owner == me && f->state == FIBER_SUSPENDED) {
                Py_INCREF(f);
                PyObject *r = close_suspended(f);
                if (r)
                    Py_DECREF(r);
                else
                    PyErr_WriteUnraisable((PyObject *)f);
                if (f->state != FIBER_DONE)
                    live_remove(f); /* it refused to finish: stays suspended, not retried */
                Py_DECREF(f);
                progress = 1;
                break;
            }
        }
    }
    Py_RETURN_NONE;
}

static PyMethodDef glue_functions[] = {
    {"_shutdown", glue_shutdown, METH_NOARGS,
     "Close suspended fibers before the interpreter finalises (registered with atexit)."},
    {"suspend", (PyCFunction)(void (*)(void))glue_suspend, METH_FASTCALL, suspend_doc},
    {"current", glue_current, METH_NOARGS, current_doc},
    {NULL},
};

static struct PyModuleDef glue_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "fiber._glue",
    .m_doc = "The C glue between Python and the fiber core (use the `fiber` package).",
    .m_size = -1,
    .m_methods = glue_functions,
};

static PyObject *make_module(void)
{
    PyObject *m = PyModule_Create(&glue_module);
    if (!m)
        return NULL;
    FiberError = PyErr_NewExceptionWithDoc(
        "fiber.FiberError",
        "A fiber was misused: resumed while running or after finishing, suspended outside a "
        "fiber, used from another thread.",
        PyExc_RuntimeError, NULL);
    FiberExit = PyErr_NewExceptionWithDoc(
        "fiber.FiberExit",
        "Raised inside a suspended fiber by Fiber.close() (and when an unreachable suspended "
        "fiber is collected). Like GeneratorExit, it derives from BaseException.",
        PyExc_BaseException, NULL);
    RESUMER_CONTEXT = PyObject_CallNoArgs((PyObject *)&PyBaseObject_Type);
    KW_STACK_SIZE = PyUnicode_InternFromString("stack_size");
    KW_CONTEXT = PyUnicode_InternFromString("context");
    PyType_Spec spec = {
        .name = "fiber.Fiber",
        .basicsize = sizeof(FiberObject),
        .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC,
        .slots = Fiber_slots,
    };
    Fiber_Type = (PyTypeObject *)PyType_FromSpec(&spec);
    if (!FiberError || !FiberExit || !RESUMER_CONTEXT || !KW_STACK_SIZE || !KW_CONTEXT ||
        !Fiber_Type)
        goto fail;
    if (PyModule_AddObjectRef(m, "FiberError", FiberError) < 0 ||
        PyModule_AddObjectRef(m, "FiberExit", FiberExit) < 0 ||
        PyModule_AddObjectRef(m, "Fiber", (PyObject *)Fiber_Type) < 0 ||
        PyModule_AddObjectRef(m, "RESUMER_CONTEXT", RESUMER_CONTEXT) < 0 || fiber_bridge_add(m) < 0)
        goto fail;
    return m;
fail:
    Py_DECREF(m);
    return NULL;
}

/*
 * Called once by fiber/__init__.py through cffi (which calls C with the GIL released):
 * creates the glue module and registers it as sys.modules["fiber._glue"]. This is how the
 * CPython-API part of the extension reaches Python without a second shared object (a second
 * copy of the core would have its own pools and its own idea of the current fiber).
 */
int fiber_glue_install(void)
{
#ifndef _WIN32
    /* A C extension overrunning a fiber's stack gets a clear message, not a bare segfault. */
    fiber_install_overflow_handler();
#endif
    PyGILState_STATE g = PyGILState_Ensure();
    int rc = -1;
    PyObject *modules = PyImport_GetModuleDict();
    PyObject *existing = PyDict_GetItemString(modules, "fiber._glue");
    if (existing) {
        rc = 0;
    } else {
        PyObject *m = make_module();
        if (m) {
            rc = PyDict_SetItemString(modules, "fiber._glue", m);
            Py_DECREF(m);
        }
    }
    if (rc < 0)
        PyErr_Print();
    PyGILState_Release(g);
    return rc;
}
