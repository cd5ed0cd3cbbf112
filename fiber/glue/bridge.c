/*
 * fiber.aio's hot path: await_, the bridge fiber type and the driver, in C.
 *
 * What it does (docs/asyncio.md, "How it works", has the whole story)
 * --------------------------------------------------------------------
 * fiber.aio.run starts a bridge fiber (_BridgeFiber) and, once that fiber first waits, awaits
 * a driver (_drive) in the calling task. On the fiber, await_(awaitable) sends None into the
 * awaitable's iterator, as `await` does. If that finishes, its value is the result: no switch.
 * If it yields, await_ stores what it yielded (_yielded), offers the iterator to the driver
 * (_it) and suspends the fiber with the request marker. The driver passes _yielded up to the
 * task. When the task answers None (asyncio always does) the driver takes the offer and
 * carries the iterator on itself, as `yield from` would: from its second step on, the
 * awaitable runs in the task with no switch per step. When it finishes the driver resumes the
 * fiber with its value, or throws its exception in at await_. Any other answer (trio's) goes
 * back into the fiber, where await_ hands the iterator to Python (_drive_here) to go on there.
 *
 *   fiber                          driver (task)                  task
 *   await_: it.send(None) yields
 *   suspend(request) ----------->  yield _yielded -------------->  (runs the loop)
 *                                  take _it; it.send(v) <--------  send(None)
 *                                  ...                             (each further step)
 *   await_ returns value <-------  resume(value) when `it` ends
 *
 * Why in C
 * --------
 * The same logic in Python (an await_ function and a generator for the driver, fiber/aio.py
 * before this file) cost 2,780 instructions per await_(asyncio.sleep(0)) more than a plain
 * `await asyncio.sleep(0)` on CPython 3.11 (callgrind): about 2,000 of them bytecode of the
 * bridge, 600 the two fiber switches. In C the difference is 600 on 3.11 (the switches about
 * 400, this file about 170) and 900 to 960 on 3.13-3.15 (2,700 to 3,030 before; the table is
 * in docs/asyncio.md), so what a wait adds stays small when the host is slow too. The rare
 * paths stay in Python (fiber/aio.py): fuelled fibers, a task that answers with values, the
 * misuse error and awaitables other than coroutines (_await_iter). aio.py hands them over
 * once, with _bridge_setup, and stays the module's public face.
 *
 * can_await() asks _await_depth: how many await_ calls are running on the fiber now. Their
 * awaitables' code, on the fiber or (for the rest of it) in the task, is async code.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>

#include "glue.h"

typedef struct {
    FiberObject fiber;
    PyObject *yielded; /* _yielded: what the awaitable yielded, for the driver to pass on */
    PyObject *offer;   /* _it: the awaitable's iterator offered to the driver; NULL: none */
    PyObject *tank;    /* _tank: the fuel state (fiber/aio.py's _Tank) or NULL/None */
    int await_depth;   /* _await_depth: await_ calls running on this fiber */
    char awaited;      /* _awaited: await_ was called on this fiber */
} BridgeFiberObject;

static PyTypeObject *BridgeFiber_Type;
static PyTypeObject *Driver_Type;

/* From fiber/aio.py, by _bridge_setup (NULL until then). */
static PyObject *request;       /* the marker a bridge fiber suspends with to ask for a yield */
static PyObject *py_misuse;     /* _misuse(awaitable, fiber): raises FiberError */
static PyObject *py_await_iter; /* _await_iter(awaitable): the iterator `await` would drive */
static PyObject *py_drive_here; /* _drive_here(f, it, value, exc): go on with `it` on the fiber */

static PyObject *str_close, *str_throw, *str_awaitable;

static int not_set_up(void)
{
    PyErr_SetString(FiberError, "fiber.aio's native half is not set up: import fiber.aio");
    return -1;
}

/* ---------------------------------------------------------------------------------------
 * await_: runs on the bridge fiber
 * ------------------------------------------------------------------------------------- */

static PyObject *drive_here(BridgeFiberObject *f, PyObject *it, PyObject *value, PyObject *exc)
{
    PyObject *args[] = {(PyObject *)f, it, value, exc};
    return PyObject_Vectorcall(py_drive_here, args, 4, NULL);
}

/* await_ on the bridge fiber `f`. */
static PyObject *await_on(BridgeFiberObject *f, PyObject *awaitable, PyObject *const *args_end)
{
    PyObject *it, *result;
    if (PyCoro_CheckExact(awaitable))
        it = Py_NewRef(awaitable);
    else if (!(it = PyObject_CallOneArg(py_await_iter, awaitable)))
        return NULL;
    if (f->tank && f->tank != Py_None) {
        /* Fuelled: the awaitable stays on the fiber, where its code burns the fiber's fuel. */
        result = drive_here(f, it, Py_None, Py_None);
        Py_DECREF(it);
        return result;
    }
    if (PyIter_Send(it, Py_None, &result) != PYGEN_NEXT) {
        Py_DECREF(it);
        return result; /* finished without blocking (no switch), or NULL: it raised */
    }
    /* Blocking. The fiber, not this C frame, holds `it` while suspended (as the offer, or the
       driver once it takes it), so the collector sees it. */
    Py_XSETREF(f->yielded, result);
    Py_XSETREF(f->offer, it);
    PyObject *value = fiber_glue_suspend(&f->fiber, request, args_end);
    it = f->offer;
    if (!it)
        return value; /* the driver carried `it` to its end: its value, or its exception */
    /* The offer was not taken (the task answered a value: trio), or suspending failed, or
       something was thrown in (the task's cancellation, FiberExit): `it` goes on here. */
    f->offer = NULL;
    if (value) {
        result = drive_here(f, it, value, Py_None);
        Py_DECREF(value);
    } else {
        PyObject *exc = fiber_compat_fetch_exception();
        result = drive_here(f, it, Py_None, exc);
        Py_DECREF(exc);
    }
    Py_DECREF(it);
    return result;
}

PyDoc_STRVAR(await_doc,
"await_(awaitable)\n--\n\n"
"Wait for `awaitable` from synchronous code running under :func:`run`, at any depth.\n\n"
"Returns the awaitable's result or raises its exception. While it is pending the fiber is\n"
"suspended and the event loop goes on with other tasks; an awaitable that completes at once\n"
"costs no switch. Called anywhere else (no ``fiber.aio.run`` below on this stack, or on a\n"
"plain ``fiber.Fiber`` resumed by such code), it raises ``fiber.FiberError`` and closes the\n"
"coroutine, so there is no \"never awaited\" warning.");

static PyObject *bridge_await(PyObject *Py_UNUSED(self), PyObject *const *args, Py_ssize_t nargs,
                              PyObject *kwnames)
{
    Py_ssize_t nkw = kwnames ? PyTuple_GET_SIZE(kwnames) : 0;
    if (nargs + nkw != 1) {
        PyErr_Format(PyExc_TypeError,
                     "await_() takes exactly one argument, the awaitable (%zd given)", nargs + nkw);
        return NULL;
    }
    if (nkw && PyUnicode_Compare(PyTuple_GET_ITEM(kwnames, 0), str_awaitable) != 0) {
        PyErr_Format(PyExc_TypeError, "await_() got an unexpected keyword argument %R",
                     PyTuple_GET_ITEM(kwnames, 0));
        return NULL;
    }
    PyObject *awaitable = args[0];
    if (!py_misuse && not_set_up() < 0)
        return NULL;
    FiberObject *running = fiber_glue_running;
    if (!running || Py_TYPE(running) != BridgeFiber_Type) {
        PyObject *misuse_args[] = {awaitable, running ? (PyObject *)running : Py_None};
        return PyObject_Vectorcall(py_misuse, misuse_args, 2, NULL);
    }
    BridgeFiberObject *f = (BridgeFiberObject *)running;
    f->awaited = 1;
    f->await_depth++;
    PyObject *result = await_on(f, awaitable, args + nargs + nkw);
    f->await_depth--;
    return result;
}

/* ---------------------------------------------------------------------------------------
 * The driver: the awaitable the run coroutine awaits in the task
 * ------------------------------------------------------------------------------------- */

/* Where the driver stands between two calls from the task. */
enum driver_state {
    /* Made by _drive: `pending` holds what the fiber's first resume gave. */
    DRIVER_NEW,
    /* Yielded the fiber's _yielded; the task's answer comes next. */
    DRIVER_AT_REQUEST,
    /* Carries the iterator it took from the fiber's offer (`it`). */
    DRIVER_CARRYING,
    /* Returned or raised: the fiber is done, or the driver was closed. */
    DRIVER_DONE,
};

typedef struct {
    PyObject_HEAD
    BridgeFiberObject *fiber; /* NULL once done */
    PyObject *pending;
    PyObject *it;
    enum driver_state state;
    int running; /* in a send, throw or close: a re-entrant call is refused */
} DriverObject;

static void driver_finish(DriverObject *d)
{
    d->state = DRIVER_DONE;
    Py_CLEAR(d->pending);
    Py_CLEAR(d->it);
    Py_CLEAR(d->fiber);
}

/* Raise `exc` (stolen) out of the driver after finishing it: the DECREFs of finishing run
   code, which must not find an exception set. */
static PySendResult driver_fail(DriverObject *d, PyObject *exc)
{
    driver_finish(d);
    fiber_compat_restore_exception(exc);
    return PYGEN_ERROR;
}

static PyObject *stray_suspend_error(PyObject *r)
{
    PyObject *msg = PyUnicode_FromFormat(
        "fiber.suspend(%R) called on a fiber started by fiber.aio.run(): its resumer is the "
        "event loop's task, which only understands fiber.aio.await_(); to suspend to your own "
        "code, run that code in a nested fiber.Fiber",
        r);
    if (!msg)
        return NULL;
    PyObject *exc = PyObject_CallOneArg(FiberError, msg);
    Py_DECREF(msg);
    return exc;
}

/* Act on what a switch into the fiber gave back: `r` (stolen), what it suspended with or
   returned, or NULL with the exception fn raised. */
static PySendResult after_switch(DriverObject *d, PyObject *r, PyObject **out)
{
    for (;;) {
        if (!r)
            return driver_fail(d, fiber_compat_fetch_exception());
        BridgeFiberObject *f = d->fiber;
        if (r == request) {
            Py_DECREF(r);
            d->state = DRIVER_AT_REQUEST;
            *out = f->yielded ? f->yielded : Py_NewRef(Py_None);
            f->yielded = NULL;
            return PYGEN_NEXT;
        }
        if (f->fiber.state == FIBER_DONE) {
            driver_finish(d);
            *out = r;
            return PYGEN_RETURN;
        }
        /* A plain fiber.suspend(r) on the bridge fiber: the task could not act on it. */
        PyObject *exc = stray_suspend_error(r);
        Py_DECREF(r);
        if (!exc)
            return driver_fail(d, fiber_compat_fetch_exception());
        r = fiber_glue_throw(&f->fiber, exc);
    }
}

/* The carried iterator ended, with `value` (stolen) or, for NULL, with the exception set now:
   the fiber's await_ returns the one or raises the other. No driver frame is in that
   exception's traceback, as none runs: it shows fn and the awaitable. */
static PySendResult carried_done(DriverObject *d, PyObject *value, PyObject **out)
{
    PyObject *exc = value ? NULL : fiber_compat_fetch_exception();
    Py_CLEAR(d->it);
    FiberObject *f = &d->fiber->fiber;
    PyObject *r;
    if (value) {
        r = fiber_glue_resume(f, value);
        Py_DECREF(value);
    } else {
        r = fiber_glue_throw(f, exc);
    }
    return after_switch(d, r, out);
}

/* With StopIteration raised: its value (new reference), the exception cleared. */
static PyObject *take_stop_value(void)
{
    PyObject *stop = fiber_compat_fetch_exception();
    PyObject *value = Py_NewRef(((PyStopIterationObject *)stop)->value);
    Py_DECREF(stop);
    return value;
}

static PySendResult carry(DriverObject *d, PyObject *value, PyObject **out)
{
    PyObject *res;
    PySendResult s = PyIter_Send(d->it, value, &res);
    if (s == PYGEN_NEXT) {
        *out = res;
        return PYGEN_NEXT;
    }
    return carried_done(d, s == PYGEN_RETURN ? res : NULL, out);
}

/* getattr(obj, name, None) as a new reference; NULL with an exception only for errors other
   than AttributeError. */
static PyObject *optional_attr(PyObject *obj, PyObject *name, int *failed)
{
    PyObject *attr = PyObject_GetAttr(obj, name);
    *failed = 0;
    if (!attr) {
        if (PyErr_ExceptionMatches(PyExc_AttributeError))
            PyErr_Clear();
        else
            *failed = 1;
    }
    return attr;
}

/* An exception the task threw while the driver carries an iterator, other than GeneratorExit:
   as `yield from` does, into the iterator's throw() if it has one, else at the fiber's
   await_ as if the iterator had raised it. */
static PySendResult carried_throw(DriverObject *d, PyObject *exc, PyObject **out)
{
    int failed;
    PyObject *throw = optional_attr(d->it, str_throw, &failed);
    if (!throw) {
        if (failed) {
            Py_DECREF(exc);
            return PYGEN_ERROR; /* the lookup's own error, the driver unchanged */
        }
        fiber_compat_restore_exception(exc);
        return carried_done(d, NULL, out);
    }
    PyObject *res = PyObject_CallOneArg(throw, exc);
    Py_DECREF(throw);
    Py_DECREF(exc);
    if (res) {
        *out = res;
        return PYGEN_NEXT;
    }
    if (PyErr_ExceptionMatches(PyExc_StopIteration))
        return carried_done(d, take_stop_value(), out);
    return carried_done(d, NULL, out);
}

/* Close an iterator as `yield from` does when closed: its close(), if it has one. */
static int close_iterator(PyObject *it)
{
    int failed;
    PyObject *close = optional_attr(it, str_close, &failed);
    if (!close)
        return failed ? -1 : 0;
    PyObject *res = PyObject_CallNoArgs(close);
    Py_DECREF(close);
    if (!res)
        return -1;
    Py_DECREF(res);
    return 0;
}

static PySendResult driver_send(DriverObject *d, PyObject *value, PyObject **out)
{
    switch (d->state) {
    case DRIVER_NEW: {
        if (value != Py_None) {
            PyErr_SetString(PyExc_TypeError,
                            "can't send a non-None value to a fiber.aio driver that has not "
                            "started");
            return PYGEN_ERROR;
        }
        PyObject *r = d->pending;
        d->pending = NULL;
        return after_switch(d, r, out);
    }
    case DRIVER_AT_REQUEST: {
        BridgeFiberObject *f = d->fiber;
        if (value == Py_None && f->offer) {
            d->it = f->offer; /* take the offer (see await_on) */
            f->offer = NULL;
            d->state = DRIVER_CARRYING;
            return carry(d, Py_None, out);
        }
        return after_switch(d, fiber_glue_resume(&f->fiber, value), out);
    }
    case DRIVER_CARRYING: return carry(d, value, out);
    case DRIVER_DONE: break;
    }
    PyErr_SetString(PyExc_RuntimeError, "cannot reuse a finished fiber.aio driver");
    return PYGEN_ERROR;
}

/* The task threw `exc` (stolen) into the driver. */
static PySendResult driver_throw(DriverObject *d, PyObject *exc, PyObject **out)
{
    int closing = PyErr_GivenExceptionMatches(exc, PyExc_GeneratorExit);
    switch (d->state) {
    case DRIVER_NEW:
    case DRIVER_DONE:
        /* As a generator that has not started, or has finished: it comes straight back. */
        return driver_fail(d, exc);
    case DRIVER_CARRYING:
        if (!closing)
            return carried_throw(d, exc, out);
        /* Being closed: close the carried iterator first, as `yield from` does. */
        {
            PyObject *it = d->it;
            d->it = NULL;
            d->state = DRIVER_AT_REQUEST;
            int err = close_iterator(it);
            PyObject *close_error = err < 0 ? fiber_compat_fetch_exception() : NULL;
            Py_DECREF(it);
            if (close_error) {
                /* Its close() raised: that goes into the fiber as the iterator's exception. */
                Py_DECREF(exc);
                return after_switch(d, fiber_glue_throw(&d->fiber->fiber, close_error), out);
            }
        }
        break;
    case DRIVER_AT_REQUEST: break;
    }
    FiberObject *f = &d->fiber->fiber;
    if (!closing)
        return after_switch(d, fiber_glue_throw(f, exc), out);
    /* The run coroutine is being closed: close the fiber (FiberExit at its await_, so fn's
       finally blocks run), then GeneratorExit goes on, unless closing raised. */
    PyObject *r = fiber_glue_close(f);
    if (!r) {
        Py_DECREF(exc);
        return driver_fail(d, fiber_compat_fetch_exception());
    }
    Py_DECREF(r);
    return driver_fail(d, exc);
}

static int driver_enter(DriverObject *d)
{
    if (d->running) {
        PyErr_SetString(PyExc_ValueError, "fiber.aio driver already executing");
        return -1;
    }
    d->running = 1;
    return 0;
}

/* A send's outcome as a method returns it: the yielded value, or NULL with StopIteration
   carrying the returned value (none for None when `always` is 0: iteration's end). */
static PyObject *as_method_result(PySendResult s, PyObject *r, int always)
{
    if (s == PYGEN_NEXT)
        return r;
    if (s == PYGEN_RETURN) {
        if (r == Py_None) {
            if (always)
                PyErr_SetNone(PyExc_StopIteration);
        } else {
            /* An instance, so that a tuple or exception value is not unpacked or raised. */
            PyObject *stop = PyObject_CallOneArg(PyExc_StopIteration, r);
            if (stop) {
                PyErr_SetObject(PyExc_StopIteration, stop);
                Py_DECREF(stop);
            }
        }
        Py_DECREF(r);
    }
    return NULL;
}

static PySendResult Driver_am_send(DriverObject *d, PyObject *arg, PyObject **result)
{
    *result = NULL;
    if (driver_enter(d) < 0)
        return PYGEN_ERROR;
    PySendResult s = driver_send(d, arg, result);
    d->running = 0;
    return s;
}

static PyObject *Driver_iternext(DriverObject *d)
{
    PyObject *r;
    PySendResult s = Driver_am_send(d, Py_None, &r);
    return as_method_result(s, r, 0);
}

static PyObject *Driver_send(DriverObject *d, PyObject *value)
{
    PyObject *r;
    PySendResult s = Driver_am_send(d, value, &r);
    return as_method_result(s, r, 1);
}

/* throw()'s arguments, (exc) or (type[, value[, traceback]]) as generators take them, as one
   exception instance. */
static PyObject *exception_from(PyObject *type, PyObject *value, PyObject *tb)
{
    PyObject *exc;
    if (value && value != Py_None && PyExceptionClass_Check(type)) {
        /* A class and its value: let the interpreter make the instance, as raise does. */
        PyErr_SetObject(type, value);
        if (!(exc = fiber_compat_fetch_exception()))
            return NULL;
    } else if (value && value != Py_None && PyExceptionInstance_Check(type)) {
        PyErr_SetString(PyExc_TypeError, "instance exception may not have a separate value");
        return NULL;
    } else if (!(exc = fiber_glue_make_exception(type))) {
        return NULL; /* the one-argument forms: as Fiber.throw takes them */
    }
    if (tb && tb != Py_None) {
        if (!PyTraceBack_Check(tb)) {
            Py_DECREF(exc);
            PyErr_SetString(PyExc_TypeError, "throw() third argument must be a traceback object");
            return NULL;
        }
        PyException_SetTraceback(exc, tb);
    }
    return exc;
}

static PyObject *Driver_throw(DriverObject *d, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs < 1 || nargs > 3) {
        PyErr_Format(PyExc_TypeError, "throw() takes 1 to 3 arguments (%zd given)", nargs);
        return NULL;
    }
    PyObject *exc = exception_from(args[0], nargs > 1 ? args[1] : NULL, nargs > 2 ? args[2] : NULL);
    if (!exc)
        return NULL;
    if (driver_enter(d) < 0) {
        Py_DECREF(exc);
        return NULL;
    }
    PyObject *r = NULL;
    PySendResult s = driver_throw(d, exc, &r);
    d->running = 0;
    return as_method_result(s, r, 1);
}

static PyObject *Driver_close(DriverObject *d, PyObject *Py_UNUSED(ignored))
{
    if (driver_enter(d) < 0)
        return NULL;
    if (d->state == DRIVER_NEW || d->state == DRIVER_DONE) {
        driver_finish(d); /* as a generator closed before it started: nothing runs */
        d->running = 0;
        Py_RETURN_NONE;
    }
    PyObject *exit = PyObject_CallNoArgs(PyExc_GeneratorExit);
    PyObject *r = NULL;
    PySendResult s = exit ? driver_throw(d, exit, &r) : PYGEN_ERROR;
    d->running = 0;
    if (s == PYGEN_NEXT) {
        Py_DECREF(r);
        PyErr_SetString(PyExc_RuntimeError,
                        "fiber.aio driver ignored GeneratorExit: the fiber waited again after "
                        "its awaitable's close() raised into it");
        return NULL;
    }
    if (s == PYGEN_RETURN) {
        Py_DECREF(r);
        Py_RETURN_NONE;
    }
    if (PyErr_ExceptionMatches(PyExc_GeneratorExit) ||
        PyErr_ExceptionMatches(PyExc_StopIteration)) {
        PyErr_Clear();
        Py_RETURN_NONE;
    }
    return NULL;
}

/* An unfinished driver that becomes unreachable is closed, as a generator would be: the
   carried iterator first, then the fiber, so that finally blocks run. */
static void Driver_finalize(DriverObject *d)
{
    if (d->state != DRIVER_AT_REQUEST && d->state != DRIVER_CARRYING)
        return;
    PyObject *saved = fiber_compat_fetch_exception();
    PyObject *r = Driver_close(d, NULL);
    if (r)
        Py_DECREF(r);
    else
        PyErr_WriteUnraisable((PyObject *)d);
    fiber_compat_restore_exception(saved);
}

static int Driver_traverse(DriverObject *d, visitproc visit, void *arg)
{
    Py_VISIT(Py_TYPE(d));
    Py_VISIT(d->fiber);
    Py_VISIT(d->pending);
    Py_VISIT(d->it);
    return 0;
}

static int Driver_clear(DriverObject *d)
{
    driver_finish(d);
    return 0;
}

static void Driver_dealloc(DriverObject *d)
{
    if (PyObject_CallFinalizerFromDealloc((PyObject *)d) < 0)
        return; /* resurrected */
    PyObject_GC_UnTrack(d);
    Driver_clear(d);
    PyTypeObject *type = Py_TYPE(d);
    type->tp_free((PyObject *)d);
    Py_DECREF(type);
}

static PyObject *Driver_await(PyObject *d) { return Py_NewRef(d); }

static PyObject *Driver_repr(DriverObject *d)
{
    return PyUnicode_FromFormat("<fiber.aio driver of %R at %p>",
                                d->fiber ? (PyObject *)d->fiber : Py_None, d);
}

static PyMethodDef Driver_methods[] = {
    {"send", (PyCFunction)Driver_send, METH_O, "Send a value in: as a coroutine's send()."},
    {"throw", (PyCFunction)(void (*)(void))Driver_throw, METH_FASTCALL,
     "Raise an exception in: as a coroutine's throw()."},
    {"close", (PyCFunction)Driver_close, METH_NOARGS,
     "Close the carried awaitable, then the fiber: as a coroutine's close()."},
    {NULL},
};

PyDoc_STRVAR(Driver_doc,
"The awaitable fiber.aio.run awaits once its fiber waits: it passes what the fiber's\n"
"awaitables yield up to the task and the task's answers back (fiber/glue/bridge.c).");

static PyType_Slot Driver_slots[] = {
    {Py_tp_doc, (void *)Driver_doc},   {Py_tp_dealloc, Driver_dealloc},
    {Py_tp_finalize, Driver_finalize}, {Py_tp_traverse, Driver_traverse},
    {Py_tp_clear, Driver_clear},       {Py_tp_repr, Driver_repr},
    {Py_tp_iter, PyObject_SelfIter},   {Py_tp_iternext, Driver_iternext},
    {Py_tp_methods, Driver_methods},   {Py_am_await, Driver_await},
    {Py_am_send, Driver_am_send},      {0, NULL},
};

PyDoc_STRVAR(drive_doc,
"_drive(f, r, /)\n--\n\n"
"The driver of bridge fiber `f`, whose first resume() returned `r`: await it.");

static PyObject *bridge_drive(PyObject *Py_UNUSED(module), PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2 || Py_TYPE(args[0]) != BridgeFiber_Type) {
        PyErr_SetString(PyExc_TypeError, "_drive() takes a bridge fiber and its first answer");
        return NULL;
    }
    if (!request && not_set_up() < 0)
        return NULL;
    DriverObject *d = (DriverObject *)Driver_Type->tp_alloc(Driver_Type, 0);
    if (!d)
        return NULL;
    d->fiber = (BridgeFiberObject *)Py_NewRef(args[0]);
    d->pending = Py_NewRef(args[1]);
    d->state = DRIVER_NEW;
    return (PyObject *)d;
}

PyDoc_STRVAR(setup_doc,
"_bridge_setup(request, misuse, await_iter, drive_here, /)\n--\n\n"
"Called once by fiber.aio: the request marker and the Python halves of await_'s rare paths.");

static PyObject *bridge_setup(PyObject *Py_UNUSED(module), PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 4) {
        PyErr_SetString(PyExc_TypeError, "_bridge_setup() takes 4 arguments");
        return NULL;
    }
    Py_XSETREF(request, Py_NewRef(args[0]));
    Py_XSETREF(py_misuse, Py_NewRef(args[1]));
    Py_XSETREF(py_await_iter, Py_NewRef(args[2]));
    Py_XSETREF(py_drive_here, Py_NewRef(args[3]));
    Py_RETURN_NONE;
}

/* ---------------------------------------------------------------------------------------
 * The bridge fiber type
 * ------------------------------------------------------------------------------------- */

static int Bridge_traverse(BridgeFiberObject *f, visitproc visit, void *arg)
{
    Py_VISIT(f->yielded);
    Py_VISIT(f->offer);
    Py_VISIT(f->tank);
    return fiber_glue_traverse(&f->fiber, visit, arg);
}

/* The fields the bridge fiber adds to Fiber's. */
static void bridge_clear_own(BridgeFiberObject *f)
{
    Py_CLEAR(f->yielded);
    Py_CLEAR(f->offer);
    Py_CLEAR(f->tank);
}

static int Bridge_clear(BridgeFiberObject *f)
{
    bridge_clear_own(f);
    return fiber_glue_clear(&f->fiber);
}

static void Bridge_dealloc(BridgeFiberObject *f)
{
    /* Fiber's finaliser first (it closes a suspended fiber, which runs await_ to its end and
       may need these fields); Fiber's dealloc then finds it finalised already. The fields are
       cleared untracked (their DECREFs may run code, and the collector must never meet an
       object nothing refers to), then the object is tracked again for Fiber's dealloc, which
       expects what a dealloc is given (CPython's debug builds check it), as CPython's own
       dealloc of a subclass does. */
    if (PyObject_CallFinalizerFromDealloc((PyObject *)f) < 0)
        return; /* resurrected */
    PyObject_GC_UnTrack(f);
    bridge_clear_own(f);
    PyObject_GC_Track(f);
    fiber_glue_dealloc(&f->fiber);
}

static PyMemberDef Bridge_members[] = {
    {"_yielded", T_OBJECT, offsetof(BridgeFiberObject, yielded), 0,
     "What the awaitable yielded, for the driver to pass on to the task."},
    {"_it", T_OBJECT, offsetof(BridgeFiberObject, offer), READONLY,
     "The awaitable's iterator await_ offers the driver to carry on (None: no offer)."},
    {"_tank", T_OBJECT, offsetof(BridgeFiberObject, tank), 0,
     "The fuel state (run_fuelled), or None."},
    {"_awaited", T_BOOL, offsetof(BridgeFiberObject, awaited), READONLY,
     "True once await_ was called on this fiber (run_and_report says so)."},
    {"_await_depth", T_INT, offsetof(BridgeFiberObject, await_depth), READONLY,
     "await_ calls running on this fiber now (can_await is False inside them)."},
    {NULL},
};

PyDoc_STRVAR(Bridge_doc, "A fiber started by fiber.aio.run(): await_ may suspend it.");

static PyType_Slot Bridge_slots[] = {
    {Py_tp_doc, (void *)Bridge_doc},   {Py_tp_dealloc, Bridge_dealloc},
    {Py_tp_traverse, Bridge_traverse}, {Py_tp_clear, Bridge_clear},
    {Py_tp_members, Bridge_members},   {0, NULL},
};

/* ---------------------------------------------------------------------------------------
 * Registration
 * ------------------------------------------------------------------------------------- */

static PyMethodDef await_def = {"await_", (PyCFunction)(void (*)(void))bridge_await,
                                METH_FASTCALL | METH_KEYWORDS, await_doc};

static PyMethodDef bridge_functions[] = {
    {"_drive", (PyCFunction)(void (*)(void))bridge_drive, METH_FASTCALL, drive_doc},
    {"_bridge_setup", (PyCFunction)(void (*)(void))bridge_setup, METH_FASTCALL, setup_doc},
    {NULL},
};

int fiber_bridge_add(PyObject *module)
{
    str_close = PyUnicode_InternFromString("close");
    str_throw = PyUnicode_InternFromString("throw");
    str_awaitable = PyUnicode_InternFromString("awaitable");
    if (!str_close || !str_throw || !str_awaitable)
        return -1;
    /* Named as fiber.aio's, which is where they are used and documented. */
    PyType_Spec bridge_spec = {
        .name = "fiber.aio._BridgeFiber",
        .basicsize = sizeof(BridgeFiberObject),
        .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
        .slots = Bridge_slots,
    };
    PyType_Spec driver_spec = {
        .name = "fiber.aio._Driver",
        .basicsize = sizeof(DriverObject),
        .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_DISALLOW_INSTANTIATION,
        .slots = Driver_slots,
    };
    BridgeFiber_Type =
        (PyTypeObject *)PyType_FromSpecWithBases(&bridge_spec, (PyObject *)Fiber_Type);
    Driver_Type = (PyTypeObject *)PyType_FromSpec(&driver_spec);
    PyObject *aio_name = PyUnicode_FromString("fiber.aio");
    PyObject *await_fn = aio_name ? PyCFunction_NewEx(&await_def, NULL, aio_name) : NULL;
    Py_XDECREF(aio_name);
    int rc = -1;
    if (BridgeFiber_Type && Driver_Type && await_fn &&
        PyModule_AddObjectRef(module, "_BridgeFiber", (PyObject *)BridgeFiber_Type) == 0 &&
        PyModule_AddObjectRef(module, "await_", await_fn) == 0 &&
        PyModule_AddFunctions(module, bridge_functions) == 0)
        rc = 0;
    Py_XDECREF(await_fn);
    return rc;
}
