/*
 * The parts of compat.h's implementation that read the same on every CPython the glue
 * supports (3.11 to 3.15): a fiber's frame area as the root of its data stack, freeing the
 * interpreter's chunks of an abandoned stack, and sharing the resumer's Context. Included by
 * each compat_3XX.c after the interpreter's internal headers (it needs _PyStackChunk).
 */
#ifndef FIBER_GLUE_COMPAT_COMMON_H
#define FIBER_GLUE_COMPAT_COMMON_H

#include <stdint.h>

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

/* The interpreter's data stack is a list of chunks (newest first, linked through
   `previous`). The first chunk of a stack is its root: the interpreter never pops it (its
   first slot is skipped so no frame starts there). A fiber's root chunk is its frame area:
   this makes it one and sets a stack's three data-stack fields to it. */
static void frame_area_as_root(void *frame_area, _PyStackChunk **chunk, PyObject ***top,
                               PyObject ***limit)
{
    _PyStackChunk *root = frame_area_chunk(frame_area);
    root->previous = NULL;
    root->size = FRAME_AREA_BYTES;
    root->top = 0;
    *chunk = root;
    *top = &root->data[1];
    *limit = (PyObject **)((char *)root + root->size);
}

/* Free the chunks the interpreter allocated above a stack's frame area (frames that can
   never run again: what they refer to is leaked, not freed), as the interpreter frees its
   own, and forget the data stack. */
static void free_data_stack(_PyStackChunk **chunk, PyObject ***top, PyObject ***limit,
                            void *frame_area)
{
    _PyStackChunk *root = frame_area_chunk(frame_area);
    PyObjectArenaAllocator arena;
    PyObject_GetArenaAllocator(&arena);
    for (_PyStackChunk *c = *chunk; c != NULL && c != root;) {
        _PyStackChunk *previous = c->previous;
        arena.free(arena.ctx, c, c->size);
        c = previous;
    }
    *chunk = NULL;
    *top = *limit = NULL;
}

/* fiber_compat_share_context on a saved state's Context slot, `current` being the Context
   the resumer runs in now. */
static void share_context_slot(PyObject *current, PyObject **slot, PyObject **shared)
{
    if (*slot != NULL && *slot != *shared)
        return; /* inside a Context.run() of the fiber's own: leave it */
    if (current != NULL && *slot != current)
        Py_XSETREF(*slot, Py_NewRef(current));
    Py_XSETREF(*shared, Py_XNewRef(*slot));
}

#endif /* FIBER_GLUE_COMPAT_COMMON_H */
