/*
 * What both backends share: the bounded pool of freed fibers, and the status strings.
 *
 * A backend embeds a `struct fiber_pool_node` in its fiber record. A freed fiber keeps its
 * stack and waits in the pool for a create that wants the same stack (same `size`, `variant`
 * and `guard`: two stacks of one mapping size can still split it differently). The pool is
 * bounded in count and in bytes of address space, so that a burst of fibers does not pin
 * memory, and it is shared by all threads (one lock).
 */
#ifndef FIBER_CORE_POOL_H
#define FIBER_CORE_POOL_H

#include <stddef.h>

struct fiber_pool_node {
    struct fiber_pool_node *next;
    size_t size;      /* bytes of address space the pooled stack holds (the match key) */
    size_t variant;   /* the rest of the match key: the POSIX user-area size, */
    size_t guard;     /* and the POSIX guard size (0 on Windows) */
};

/* Take a pooled node of exactly this size, variant and guard, or NULL. */
struct fiber_pool_node *fiber_pool_take(size_t size, size_t variant, size_t guard);

/* Whether a node of `size` bytes would be kept now (a hint: the pool may fill meanwhile). */
int fiber_pool_has_room(size_t size);

/* Keep `node` if the pool has room: returns 1 if kept, 0 if the caller must free it. */
int fiber_pool_keep(struct fiber_pool_node *node);

/* How many nodes the shared pool holds. */
size_t fiber_pool_shared_size(void);

/* Empty the pool; the caller frees the returned list (linked through `next`). */
struct fiber_pool_node *fiber_pool_drain(void);

/* The record that embeds a node: FIBER_POOL_RECORD(node, fiber_t, pool_node). */
#define FIBER_POOL_RECORD(node, type, member) \
    ((type *)(void *)((char *)(node) - offsetof(type, member)))

#endif /* FIBER_CORE_POOL_H */
