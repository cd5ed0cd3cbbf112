/*
 * The C core on Windows: the API of fiber.h on top of the system's own fibers
 * (CreateFiberEx / SwitchToFiber). No assembly: the system saves and restores the registers,
 * the stack bounds in the TEB and the FLS slots; the FP control state is ours (see "FP state").
 *
 * Semantics are those of fiber_posix.c, status codes included; only the mechanics differ.
 *
 * One record per fiber, heap-allocated, owning one Windows fiber for its whole life:
 *
 *   struct fiber --handle--> Windows fiber (its stack reserved by the system, grows on demand)
 *        ^                          |
 *        +------- parameter --------+   fiber_proc(param) runs on it, forever (see below)
 *
 * Thread conversion
 * -----------------
 * Only a fiber can switch to a fiber, so fiber_resume() (and fiber_create(), which switches
 * into a new fiber once, see "Parking") converts the calling thread with
 * ConvertThreadToFiberEx(NULL, 0) (see "FP state") when IsThreadAFiber() says it is not
 * one yet. Callers never see it. A thread that the host converted itself is used as it is:
 * the resumer is always whatever GetCurrentFiber() is at the time of the resume, so code on a
 * host's own fiber may resume our fibers too.
 *
 * We never convert back (ConvertFiberToThread). Reasons:
 *   - Converting costs a heap allocation (the thread's fiber record). Converting on entry to
 *     every outermost resume and back on its return would put an allocation and a free on the
 *     hot path of every round trip, which is what the whole project is trying to keep thin.
 *   - Nothing leaks: when a converted thread exits, the loader's thread shutdown
 *     (LdrShutdownThread) frees the fiber record of the thread, the same block
 *     ConvertFiberToThread would free.
 *   - There is no moment at which converting back would be safe and useful at the same time:
 *     while one of our fibers runs on the thread the conversion is required, and the thread
 *     may resume another fiber at any moment after that.
 * The one visible consequence: after the first resume on a thread, a ConvertThreadToFiber of
 * the host's own on that thread fails with ERROR_ALREADY_FIBER (GetCurrentFiber() then gives
 * the thread's fiber, which is what such a host wanted in the first place).
 *
 * Parking, and the pool
 * ---------------------
 * A Windows fiber runs one fiber procedure from the top, once: there is no way to give an
 * existing fiber a new entry function, and a fiber procedure that returns ends the thread.
 * So every Windows fiber runs fiber_proc(), a loop that never returns:
 *
 *     record the stack bounds (first run only)
 *     for (;;) {
 *         park: switch back to whoever switched in        <- a "parked" fiber waits here
 *         run entry(arg, first) of the current job
 *         store its return value, mark the fiber done
 *     }
 *
 * fiber_create() on a fresh Windows fiber switches into it once: fiber_proc records the
 * stack bounds and parks at once. From then on a parked fiber is ready for a job: the first
 * fiber_resume() of a new fiber switches in, the park returns, and the entry runs with the
 * resume's value as `first`. When the entry returns, fiber_proc marks the fiber done and parks
 * again, which switches back to the resumer for good (the resume receives the entry's return
 * value) and leaves the fiber parked: it is ready for a new job.
 *
 * fiber_destroy() of a new or done fiber therefore puts the whole record, Windows fiber and
 * stack included, into the reuse pool, and fiber_create() takes a parked record of the same
 * stack size from there: a pool hit costs no allocation, no system call and no switch.
 *
 * A suspended fiber is stopped inside its entry (in fiber_suspend), not at the park. To pool
 * it all the same, fiber_destroy() switches into it once more with `abandon` set; its
 * fiber_suspend() sees the flag and jumps straight back to the park with __builtin_longjmp
 * (GCC's lightweight non-local goto: it reloads the stack and frame pointers saved by
 * __builtin_setjmp at the park, runs no unwinder, no handler and none of the code below the
 * suspension point). That discards the frames of the abandoned entry exactly as the POSIX
 * core discards a stack, and leaves the fiber parked for a new job. Nothing of the entry runs
 * again; on 32-bit x86, whose SEH handlers are chained through the TEB, the chain is reset to
 * what it was at the park. If the pool is full, or the destroying thread cannot be converted,
 * the fiber is deleted (DeleteFiber frees its stack) instead.
 *
 * The pool has the same bounds as on POSIX (64 fibers, 64 MiB of reserved stack);
 * fiber_pool_trim() deletes them all.
 *
 * FP state
 * --------
 * As on POSIX, the FP control state (MXCSR and the x87 control word: rounding, exception
 * masks, precision) is the thread's, unless the fiber was created with FIBER_OWN_FP_CONTROL
 * (fiber.h). Such a fiber's entry starts with the FP control state its creator had at
 * fiber_create_ex(), and a change it makes stays with it across switches. Windows could do
 * that itself (FIBER_FLAG_FLOAT_SWITCH), but Wine ignores the flag and a pooled Windows fiber
 * is reused by creates with and without ours, so no Windows fiber is created (and no thread
 * converted) with it; instead resume and suspend of an owning fiber save their side's control
 * state before SwitchToFiber and load it back after, the same behaviour everywhere.
 * Callee-saved XMM registers are the system's job (SwitchToFiber saves the whole
 * non-volatile context).
 *
 * Stacks
 * ------
 * A requested size S (0: the default; below the minimum: the minimum) is rounded up to whole
 * pages; the reservation is S plus STACK_RESERVED_BELOW (room Windows keeps at the bottom of
 * every stack: the never-committed last page, the moving guard page, and the space the
 * stack-overflow exception needs), rounded up to the allocation granularity (64 KiB), because
 * the system reserves in those units anyway. Pages are committed on demand (the initial
 * commit is one page), so a large stack costs address space, not memory.
 *
 * fiber_stack_bounds() reports [low, high): high is the fiber's StackBase (its TEB's top of
 * stack, as seen from inside the fiber), low is the base of the reservation plus
 * STACK_RESERVED_BELOW. All of [low, high) can be used; going below low ends in
 * EXCEPTION_STACK_OVERFLOW (the Windows counterpart of the POSIX guard region), never in a
 * write into a neighbour: Windows compilers probe every frame larger than a page (__chkstk,
 * ___chkstk_ms), so no frame skips the system's guard page, and fiber_set_guard_size()
 * (fiber.h) has nothing to change here. high - low is at least the rounded size S. The
 * bounds are recorded by the fiber itself, from its TEB, on its first run (inside
 * fiber_create), so they are what the system actually gave, whatever it did to the
 * requested size. fiber_stack_bounds(NULL) gives NULL bounds.
 *
 * Under Wine (checked with wine64 8.0): fiber stacks are reserved with at least 1 MiB and
 * committed in full at creation (the bounds show it); a commit that cannot be had crashes
 * Wine instead of failing CreateFiberEx, so under Wine only, stacks above WINE_CHECK_ABOVE
 * are tried with a committing VirtualAlloc first and give FIBER_ENOMEM when that fails; a
 * stack overflow inside a fiber ends the process with Wine's "stack overflow" error rather
 * than EXCEPTION_STACK_OVERFLOW. A size beyond the user address space (47 bits) is refused
 * before any system call.
 */
#if !defined(_WIN32_WINNT) || _WIN32_WINNT < 0x0600
#undef _WIN32_WINNT
#define _WIN32_WINNT 0x0600 /* IsThreadAFiber, InitOnceExecuteOnce, SRW locks: Vista */
#endif
#define WIN32_LEAN_AND_MEAN
/* GCC 12 takes mingw-w64's segment-register reads (__readgsqword, behind NtCurrentTeb and
   GetCurrentFiber) for out-of-bounds array accesses once they are inlined: a false positive
   in the system header, silenced here so that -Werror builds of this file stay possible. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Warray-bounds"
#endif
#include <windows.h>
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

#include <stdint.h>
#include <stdlib.h>

#include "fiber.h"
#include "pool.h"

enum fiber_state { STATE_NEW, STATE_RUNNING, STATE_SUSPENDED, STATE_DONE };

/* The FP control state: MXCSR and the x87 control word (see "FP state" above). */
struct fp_control {
#if defined(__x86_64__) || defined(__i386__)
    unsigned int mxcsr;
    unsigned short x87_cw;
#else
    int unused;
#endif
};

struct fiber {
    void *handle;           /* the Windows fiber, parked whenever this fiber is new or done */
    void *resumer_handle;   /* while running: the Windows fiber to switch back to */
    fiber_t *resumer;       /* while running: the fiber that resumed it (NULL: a thread) */
    fiber_entry_fn entry;
    void *arg;
    void *transfer;         /* the value crossing the current switch, in either direction */
    volatile LONG state;    /* enum fiber_state; claimed with a compare-exchange on resume */
    int owns_fp_control;    /* FIBER_OWN_FP_CONTROL: resume and suspend switch fp_control */
    struct fp_control fp_initial;   /* the creator's FP control state, for the entry */
    volatile int abandon;   /* set by fiber_destroy(): a suspended fiber goes back to its park */
    void *park[5];          /* __builtin_setjmp buffer of the park */
#if defined(__i386__)
    void *park_seh;         /* the SEH chain head (TEB ExceptionList) at the park */
#endif
    size_t reserve_size;    /* the stack reservation: the pool's key */
    void *stack_low;        /* fiber_stack_bounds(), recorded by fiber_proc on its first run */
    void *stack_high;
    struct fiber_pool_node pool_node; /* its place in the reuse pool while parked */
    void *user_area;        /* fiber_create_ex's user area (heap: Windows owns the stack's top) */
    size_t user_size;
};

/* ---------------------------------------------------------------------------------------
 * Sizes
 * ------------------------------------------------------------------------------------- */

/* See "Stacks" above. Windows needs about three pages at the bottom (the last page, which is
   never committed, the guard page, and the stack-overflow handler's guaranteed room); four
   pages keep [low, high) safely usable. */
#define STACK_RESERVED_BELOW ((size_t)16 << 10)

/* The system's page size and allocation granularity, read once. */
static const SYSTEM_INFO *system_info(void)
{
    static SYSTEM_INFO info;
    static volatile LONG ready;
    if (!ready) {
        GetSystemInfo(&info);
        ready = 1;
    }
    return &info;
}

static size_t page_size(void)
{
    DWORD page = system_info()->dwPageSize;
    return page ? page : 4096;
}

static size_t allocation_granularity(void)
{
    DWORD gran = system_info()->dwAllocationGranularity;
    return gran ? gran : 65536;
}

size_t fiber_default_stack_size(void)
{
    /* As on POSIX: generous on 64-bit, where a reservation costs only address space; modest
       on 32-bit, where many fibers must fit in 2-4 GiB of address space. */
    return sizeof(void *) >= 8 ? (size_t)1 << 20 : (size_t)256 << 10;
}

size_t fiber_min_stack_size(void)
{
    /* Room for fiber_proc, the entry function and a few levels of ordinary C. */
    return (size_t)16 << 10;
}

/* n rounded up to a multiple of `align` (a power of two) in *out; 0 if that overflows. */
static int round_up(size_t n, size_t align, size_t *out)
{
    size_t sum;
    if (__builtin_add_overflow(n, align - 1, &sum))
        return 0;
    *out = sum & ~(align - 1);
    return 1;
}

/* The reservation for a request, in *out. The same promise as on POSIX (fiber.h): a request
   whose arithmetic overflows size_t is FIBER_EINVAL, including the user area, which lives on
   the heap here but is part of what was asked for; one that can be represented but can
   never be had is FIBER_ENOMEM. */
static int reserve_size_for(size_t stack_size, size_t user_size, size_t *out)
{
    size_t page = page_size(), gran = allocation_granularity();
    if (stack_size == 0)
        stack_size = fiber_default_stack_size();
    if (stack_size < fiber_min_stack_size())
        stack_size = fiber_min_stack_size();
    size_t usable, total, user, whole;
    if (!round_up(stack_size, page, &usable) ||
        __builtin_add_overflow(usable, STACK_RESERVED_BELOW, &total) ||
        !round_up(total, gran, &total) || !round_up(user_size, 16, &user) ||
        __builtin_add_overflow(total, user, &whole) ||
        __builtin_add_overflow(whole, sizeof(fiber_t), &whole))
        return FIBER_EINVAL;
    /* SIZE_T is the API's type, but the reservation must also fit the stack's TEB fields,
       and a request beyond the address space can never succeed: refuse it here (under Wine
       trying would crash, see "Stacks"). */
    if (total > ((size_t)1 << (sizeof(void *) >= 8 ? 47 : 31)))
        return FIBER_ENOMEM;
    *out = total;
    return FIBER_OK;
}

/* The guard setting of fiber.h: kept and reported, but Windows stacks are the system's (see
   "Stacks"), so it changes none. 0: the POSIX default for this word size. */
static volatile size_t guard_setting;

size_t fiber_guard_size(void)
{
    size_t set = guard_setting;
    if (set)
        return set;
    return sizeof(void *) >= 8 ? (size_t)64 << 10 : (size_t)16 << 10;
}

int fiber_set_guard_size(size_t size)
{
    size_t guard = 0;
    if (size && !round_up(size, page_size(), &guard))
        return FIBER_EINVAL;
    guard_setting = guard;
    return FIBER_OK;
}

/* ---------------------------------------------------------------------------------------
 * FP control state
 * ------------------------------------------------------------------------------------- */

static inline void fp_save(struct fp_control *c)
{
#if defined(__x86_64__) || defined(__i386__)
    __asm__ volatile("stmxcsr %0\n\tfnstcw %1" : "=m"(c->mxcsr), "=m"(c->x87_cw) : : "memory");
#else
    (void)c;
#endif
}

static inline void fp_load(const struct fp_control *c)
{
#if defined(__x86_64__) || defined(__i386__)
    __asm__ volatile("ldmxcsr %0\n\tfldcw %1" : : "m"(c->mxcsr), "m"(c->x87_cw) : "memory");
#else
    (void)c;
#endif
}

/* ---------------------------------------------------------------------------------------
 * The current fiber of this thread, in a TLS slot.
 *
 * TlsGetValue/TlsSetValue are calls into the system, so the compiler cannot keep the slot's
 * address across a switch (a suspended fiber may be resumed on another thread).
 * TlsGetValue clears the thread's last-error value on success; fiber_current() restores it,
 * so that asking for the current fiber never disturbs GetLastError() of the caller.
 * ------------------------------------------------------------------------------------- */

static volatile DWORD tls_slot = TLS_OUT_OF_INDEXES;
static INIT_ONCE tls_once = INIT_ONCE_STATIC_INIT;

static BOOL CALLBACK tls_init(PINIT_ONCE once, PVOID param, PVOID *context)
{
    (void)once;
    (void)param;
    (void)context;
    DWORD slot = TlsAlloc();
    if (slot == TLS_OUT_OF_INDEXES)
        return FALSE;
    tls_slot = slot;
    return TRUE;
}

static int tls_ready(void)
{
    if (tls_slot != TLS_OUT_OF_INDEXES)
        return 1;
    return InitOnceExecuteOnce(&tls_once, tls_init, NULL, NULL) && tls_slot != TLS_OUT_OF_INDEXES;
}

fiber_t *fiber_current(void)
{
    DWORD slot = tls_slot;
    if (slot == TLS_OUT_OF_INDEXES)
        return NULL; /* no fiber has ever been created in this process */
    DWORD err = GetLastError();
    fiber_t *f = TlsGetValue(slot);
    SetLastError(err);
    return f;
}

static void set_current(fiber_t *f) { TlsSetValue(tls_slot, f); }

/* Make the calling thread able to switch fibers (see "Thread conversion" above).
   Returns the Windows fiber running now, or NULL if the thread could not be converted. */
static void *this_windows_fiber(void)
{
    if (!IsThreadAFiber()) {
        if (!ConvertThreadToFiberEx(NULL, 0)) /* no FLOAT_SWITCH: see "FP state" */
            return NULL;
    }
    return GetCurrentFiber();
}

/* ---------------------------------------------------------------------------------------
 * The fiber procedure: a loop that parks between jobs and never returns (returning from a
 * fiber procedure would end the thread).
 * ------------------------------------------------------------------------------------- */

static void record_stack_bounds(fiber_t *f)
{
    /* From inside: the TEB's StackBase is the top; VirtualQuery of a local finds the base of
       the reservation the system made for this fiber's stack. */
    NT_TIB *tib = (NT_TIB *)NtCurrentTeb();
    MEMORY_BASIC_INFORMATION mbi = {0};
    char *high = tib->StackBase;
    char *base = (char *)tib->StackLimit - f->reserve_size; /* fallback, never used in practice */
    if (VirtualQuery(&mbi, &mbi, sizeof mbi))
        base = mbi.AllocationBase;
    f->stack_high = high;
    f->stack_low = base + STACK_RESERVED_BELOW;
}

static VOID CALLBACK fiber_proc(LPVOID param)
{
    /* volatile: `self` must survive the __builtin_longjmp of an abandoned job back here,
       which restores the stack and frame pointers but no other register. */
    fiber_t *volatile self = param;
    record_stack_bounds(self);
#if defined(__i386__)
    self->park_seh = ((NT_TIB *)NtCurrentTeb())->ExceptionList;
#endif
    if (__builtin_setjmp(self->park)) {
        /* fiber_destroy() abandoned the suspended job: its frames are gone. */
#if defined(__i386__)
        ((NT_TIB *)NtCurrentTeb())->ExceptionList = self->park_seh;
#endif
        self->abandon = 0;
    }
    for (;;) {
        fiber_t *f = self;
        /* Park. The first time, this returns to fiber_create(); later, to the resume that
           saw the previous job finish, or to the fiber_destroy() that abandoned it. It comes
           back here when a new job's first resume switches in, on whatever thread that
           resume runs. */
        SwitchToFiber(f->resumer_handle);
        if (f->owns_fp_control)
            fp_load(&f->fp_initial);
        f->transfer = f->entry(f->arg, f->transfer);
        f->state = STATE_DONE;
    }
}

/* From fiber_suspend(), on the fiber: leave the abandoned job for the park, for good. */
__attribute__((noinline, noreturn)) static void jump_to_park(fiber_t *f)
{
    __builtin_longjmp(f->park, 1);
}

/* ---------------------------------------------------------------------------------------
 * The reuse pool (parked fibers, keyed by reservation size; bounded like the POSIX one).
 * ------------------------------------------------------------------------------------- */

static void delete_fiber(fiber_t *f)
{
    DeleteFiber(f->handle);
    free(f->user_area);
    free(f);
}

static fiber_t *pool_take(size_t reserve_size)
{
    struct fiber_pool_node *node = fiber_pool_take(reserve_size, 0, 0);
    return node ? FIBER_POOL_RECORD(node, fiber_t, pool_node) : NULL;
}

static int pool_has_room(size_t reserve_size) { return fiber_pool_has_room(reserve_size); }

static void pool_put(fiber_t *f)
{
    f->pool_node.size = f->reserve_size;
    f->pool_node.variant = 0;
    f->pool_node.guard = 0;
    if (!fiber_pool_keep(&f->pool_node))
        delete_fiber(f);
}

size_t fiber_pool_size(void) { return fiber_pool_shared_size(); }

void fiber_pool_trim(void)
{
    struct fiber_pool_node *node = fiber_pool_drain();
    while (node) {
        struct fiber_pool_node *next = node->next;
        delete_fiber(FIBER_POOL_RECORD(node, fiber_t, pool_node));
        node = next;
    }
}

/* ---------------------------------------------------------------------------------------
 * The API
 * ------------------------------------------------------------------------------------- */

/* Wine commits a fiber stack in full when it creates it, and crashes (rather than failing)
   when that commit is refused; Windows only reserves. Under Wine, a large stack is first
   checked with a committing VirtualAlloc, which fails cleanly. */
#define WINE_CHECK_ABOVE ((size_t)64 << 20)

static int running_on_wine(void)
{
    static volatile LONG cached = -1;
    if (cached < 0) {
        HMODULE ntdll = GetModuleHandleA("ntdll.dll");
        cached = ntdll && GetProcAddress(ntdll, "wine_get_version") ? 1 : 0;
    }
    return cached;
}

static int stack_can_be_had(size_t reserve_size)
{
    if (reserve_size <= WINE_CHECK_ABOVE || !running_on_wine())
        return 1;
    void *p = VirtualAlloc(NULL, reserve_size, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE);
    if (!p)
        return 0;
    VirtualFree(p, 0, MEM_RELEASE);
    return 1;
}

/* A fresh record with a new Windows fiber, switched into once so that it records its stack
   bounds and parks. NULL when the stack cannot be reserved (or the thread not converted). */
static fiber_t *new_fiber(size_t reserve_size)
{
    void *self = this_windows_fiber();
    if (!self || !stack_can_be_had(reserve_size))
        return NULL;
    fiber_t *f = calloc(1, sizeof *f);
    if (!f)
        return NULL;
    f->reserve_size = reserve_size;
    /* Commit one page up front; the rest is committed on demand through the guard page. */
    f->handle = CreateFiberEx(page_size(), reserve_size, 0, fiber_proc, f); /* see "FP state" */
    if (!f->handle) {
        free(f);
        return NULL;
    }
    f->resumer_handle = self;
    SwitchToFiber(f->handle); /* fiber_proc: record the bounds, park */
    f->resumer_handle = NULL;
    return f;
}

/* Give a fiber a user area of at least user_size bytes (a pooled record keeps its buffer). */
static int ensure_user_area(fiber_t *f, size_t user_size)
{
    user_size = (user_size + 15) & ~(size_t)15;
    if (f->user_size >= user_size)
        return FIBER_OK;
    /* malloc is 16-byte aligned on 64-bit Windows. */
    void *area = malloc(user_size);
    if (!area)
        return FIBER_ENOMEM;
    free(f->user_area);
    f->user_area = area;
    f->user_size = user_size;
    return FIBER_OK;
}

void *fiber_user_area(const fiber_t *f) { return f && f->user_size ? f->user_area : NULL; }

int fiber_create(fiber_t **out, size_t stack_size, fiber_entry_fn entry, void *arg)
{
    return fiber_create_ex(out, stack_size, 0, 0, entry, arg);
}

int fiber_create_ex(fiber_t **out, size_t stack_size, size_t user_size, unsigned flags,
                    fiber_entry_fn entry, void *arg)
{
    if (!out)
        return FIBER_EINVAL;
    *out = NULL; /* on any failure (fiber.h) */
    if (!entry || (flags & ~(unsigned)FIBER_OWN_FP_CONTROL))
        return FIBER_EINVAL;
    if (!tls_ready())
        return FIBER_ENOMEM;
    size_t reserve_size;
    int rc = reserve_size_for(stack_size, user_size, &reserve_size);
    if (rc != FIBER_OK)
        return rc;
    fiber_t *f = pool_take(reserve_size);
    if (!f) {
        f = new_fiber(reserve_size);
        if (!f)
            return FIBER_ENOMEM;
    }
    f->entry = entry;
    f->arg = arg;
    f->transfer = NULL;
    f->resumer = NULL;
    f->resumer_handle = NULL;
    f->state = STATE_NEW;
    f->owns_fp_control = (flags & FIBER_OWN_FP_CONTROL) != 0;
    if (f->owns_fp_control)
        fp_save(&f->fp_initial);
    if (user_size && ensure_user_area(f, user_size) != FIBER_OK) {
        fiber_destroy(f);
        return FIBER_ENOMEM;
    }
    *out = f;
    return FIBER_OK;
}

int fiber_resume(fiber_t *f, void *value, void **out)
{
    if (!f)
        return FIBER_EINVAL;
    LONG state = f->state;
    if (state == STATE_DONE)
        return FIBER_EDONE;
    if (state == STATE_RUNNING)
        return FIBER_EBUSY;
    void *self = this_windows_fiber();
    if (!self)
        return FIBER_ENOMEM; /* the thread could not be converted: out of memory */
    /* Claim it: two threads racing to resume the same suspended fiber cannot both win. */
    if (InterlockedCompareExchange(&f->state, STATE_RUNNING, state) != state)
        return f->state == STATE_DONE ? FIBER_EDONE : FIBER_EBUSY;
    f->resumer = fiber_current();
    f->resumer_handle = self;
    f->transfer = value;
    struct fp_control fp;
    if (f->owns_fp_control)
        fp_save(&fp);
    set_current(f);
    SwitchToFiber(f->handle);
    /* Back on the resumer's fiber, on the resumer's thread: f has suspended or finished. */
    if (f->owns_fp_control)
        fp_load(&fp);
    set_current(f->resumer);
    f->resumer = NULL;
    if (out)
        *out = f->transfer;
    return FIBER_OK;
}

int fiber_suspend(void *value, void **in)
{
    fiber_t *f = fiber_current();
    if (!f)
        return FIBER_ENOTFIBER;
    f->transfer = value;
    f->state = STATE_SUSPENDED;
    struct fp_control fp;
    if (f->owns_fp_control)
        fp_save(&fp);
    SwitchToFiber(f->resumer_handle);
    if (f->abandon)
        jump_to_park(f); /* fiber_destroy(): this job never continues */
    /* Resumed, possibly on another thread: the resumer has set this thread's current. */
    if (f->owns_fp_control)
        fp_load(&fp);
    if (in)
        *in = f->transfer;
    return FIBER_OK;
}

int fiber_done(const fiber_t *f) { return f && f->state == STATE_DONE; }

int fiber_running(const fiber_t *f) { return f && f->state == STATE_RUNNING; }

int fiber_destroy(fiber_t *f)
{
    if (!f)
        return FIBER_EINVAL;
    LONG state = f->state;
    if (state == STATE_RUNNING)
        return FIBER_EBUSY;
    if (state == STATE_SUSPENDED) {
        /* Stopped inside its entry: send it back to the park (see "Parking, and the pool"),
           or delete it when the pool would not keep it anyway. */
        if (InterlockedCompareExchange(&f->state, STATE_RUNNING, state) != state)
            return FIBER_EBUSY; /* resumed meanwhile by another thread: a caller's race */
        void *self = pool_has_room(f->reserve_size) ? this_windows_fiber() : NULL;
        if (!self) {
            delete_fiber(f);
            return FIBER_OK;
        }
        f->abandon = 1;
        f->resumer_handle = self;
        SwitchToFiber(f->handle); /* fiber_suspend -> jump_to_park -> park: back here */
        f->state = STATE_NEW;
    }
    /* New or done (or just abandoned): parked at the top of fiber_proc's loop. */
    pool_put(f);
    return FIBER_OK;
}

void fiber_stack_bounds(const fiber_t *f, void **low, void **high)
{
    if (low)
        *low = f ? f->stack_low : NULL;
    if (high)
        *high = f ? f->stack_high : NULL;
}

int fiber_install_overflow_handler(void)
{
    /* Nothing to install: Windows turns a fiber overrunning its guard page into
       EXCEPTION_STACK_OVERFLOW itself, which ends the process with that status. */
    return FIBER_OK;
}
