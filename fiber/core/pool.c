/* The reuse pool and status strings, shared by fiber_posix.c and fiber_windows.c. */
#include "fiber.h"
#include "pool.h"

#ifdef _WIN32
#include <windows.h>
static SRWLOCK lock = SRWLOCK_INIT;
#define LOCK() AcquireSRWLockExclusive(&lock)
#define UNLOCK() ReleaseSRWLockExclusive(&lock)
#else
#include <pthread.h>
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
#define LOCK() pthread_mutex_lock(&lock)
#define UNLOCK() pthread_mutex_unlock(&lock)
#endif

#define POOL_MAX_COUNT 64
/* Address space, not memory: a pooled stack keeps only the pages it had touched (Wine and
   Windows commit more eagerly, so the bound there is tighter). */
#ifdef _WIN32
#define POOL_MAX_BYTES ((size_t)64 << 20)
#else
#define POOL_MAX_BYTES ((size_t)(sizeof(void *) >= 8 ? 1024 : 256) << 20)
#endif

static struct fiber_pool_node *head;
static size_t count;
static size_t bytes;

static int has_room_locked(size_t size)
{
    return count < POOL_MAX_COUNT && bytes + size <= POOL_MAX_BYTES;
}

struct fiber_pool_node *fiber_pool_take(size_t size, size_t variant, size_t guard)
{
    struct fiber_pool_node *found = NULL;
    LOCK();
    for (struct fiber_pool_node **link = &head; *link; link = &(*link)->next) {
        if ((*link)->size == size && (*link)->variant == variant && (*link)->guard == guard) {
            found = *link;
            *link = found->next;
            count--;
            bytes -= size;
            break;
        }
    }
    UNLOCK();
    return found;
}

int fiber_pool_has_room(size_t size)
{
    LOCK();
    int room = has_room_locked(size);
    UNLOCK();
    return room;
}

int fiber_pool_keep(struct fiber_pool_node *node)
{
    int kept = 0;
    LOCK();
    if (has_room_locked(node->size)) {
        node->next = head;
        head = node;
        count++;
        bytes += node->size;
        kept = 1;
    }
    UNLOCK();
    return kept;
}

struct fiber_pool_node *fiber_pool_drain(void)
{
    LOCK();
    struct fiber_pool_node *list = head;
    head = NULL;
    count = 0;
    bytes = 0;
    UNLOCK();
    return list;
}

size_t fiber_pool_shared_size(void)
{
    LOCK();
    size_t n = count;
    UNLOCK();
    return n;
}

const char *fiber_strerror(int status)
{
    switch (status) {
    case FIBER_OK: return "success";
    case FIBER_ENOMEM:
        return "the fiber stack could not be mapped (out of memory, address space or "
               "mappings: vm.max_map_count)";
    case FIBER_EDONE: return "the fiber has already finished";
    case FIBER_ENOTFIBER: return "not running on a fiber";
    case FIBER_EBUSY:
        return "the fiber is running (it is the current fiber or one of its resumers)";
    case FIBER_EINVAL:
        return "invalid argument (a NULL pointer, an unknown flag, or a size that overflows)";
    default: return "unknown fiber status";
    }
}
