/*
 * The C core on POSIX systems: fiber records, guard-paged stacks, a reuse pool, and the
 * resume/suspend protocol on top of the per-ABI routines of switch.h.
 *
 * One mapping per fiber holds everything: the guard region, the usable stack, the caller's
 * user area and the fiber record itself at the very top (so creating a fiber from the pool
 * costs no allocation):
 *
 *   map_base                                                                map_base + map_size
 *   | guard (PROT_NONE) | usable stack, grows down <- | link area | user area | struct fiber |
 *   <-- guard_size -->  ^ low                        ^ top - 16  ^ top
 *
 * The guard is one mprotect of one range, so a fiber costs the kernel exactly two mappings
 * (vm.max_map_count counts them), whatever the guard's size (fiber_set_guard_size()).
 *
 * `top` (16-byte aligned) is what the assembly sees; its link slot at top - 16 is described
 * in switch.h. A fiber suspended shallow uses well under a page of C stack, so the top page
 * also holds the record and the start of the user area (the Python glue's first frames).
 */
#define _GNU_SOURCE
#include "fiber.h"
#include "pool.h"
#include "switch.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#if defined(__i386__)
#include <cpuid.h>
#endif

#if defined(__SANITIZE_ADDRESS__)
#define FIBER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define FIBER_ASAN 1
#endif
#endif
#ifdef FIBER_ASAN
#include <sanitizer/common_interface_defs.h>
#endif
#ifdef FIBER_VALGRIND
#include <valgrind/valgrind.h>
#endif

/* Order matters: fiber_resume() tests `state > STATE_SUSPENDED` for "not resumable". */
enum fiber_state { STATE_NEW, STATE_SUSPENDED, STATE_RUNNING, STATE_DONE };

struct fiber {
    void *top;              /* 16-aligned stack top handed to the assembly */
    char *map_base;         /* the whole mapping: guard region + stack + this record */
    size_t map_size;
    size_t guard_size;      /* bytes of PROT_NONE at map_base; part of the pool's key */
    size_t user_size;       /* bytes of user area between top and this record */
    size_t asked_stack_size;   /* the sizes the last create of this record asked for (the */
    size_t asked_user_size;    /* guard: the setting then, 0 for the default): a create */
    size_t asked_guard;        /* asking the same takes it from the thread's cache */
    fiber_entry_fn entry;
    void *arg;
    /* Values cross a switch by a store the side that leaves makes into a variable of the
       side that comes back, so nothing needs doing after the switch (see the protocol). */
    void **in;              /* where the next resume's value goes (NULL: dropped) */
    void **out;             /* where the next suspend's or the return's value goes */
    void *first;            /* the entry's `first`: `in` points here until the entry runs */
    fiber_t *resumer;       /* while running: the fiber that resumed it (NULL: a thread) */
    enum fiber_state state;
    /* fiber_asm_switch_fp (on i386 with SSE: fiber_asm_switch_fp_sse) for a fiber created
       with FIBER_OWN_FP_CONTROL, else fiber_asm_switch. Both directions of a fiber must use
       the same routine (switch.h), and it is fixed from create to destroy. A pointer rather
       than a flag: the wrappers end in one indirect jump instead of a test and two direct
       ones (measured: about 0.4 ns less per round trip). */
    int (*switch_routine)(void *top, int status);
    struct fiber_pool_node pool_node; /* its place in the reuse pool while freed */
#ifdef FIBER_VALGRIND
    unsigned valgrind_stack_id;
#endif
#ifdef FIBER_ASAN
    void *asan_fake_stack;  /* ASan's fake stack of the side that switched away */
    const void *resumer_stack_low;   /* the resumer's stack, for the switch back */
    size_t resumer_stack_size;
#endif
};

/* ---------------------------------------------------------------------------------------
 * Sizes
 * ------------------------------------------------------------------------------------- */

static size_t page_size(void)
{
    static size_t cached;
    if (!cached) {
        long p = sysconf(_SC_PAGESIZE);
        cached = p > 0 ? (size_t)p : 4096;
    }
    return cached;
}

size_t fiber_default_stack_size(void)
{
    /* About what a thread gets by default on Linux, where address space is plentiful and
       only the pages a fiber touches cost memory: Python's default recursion limit is
       calibrated for a stack of that size. glibc's 8 MiB thread stack holds its guard page
       and thread descriptor; ours is 8 MiB less 128 KiB, so that the whole mapping (the
       default 64 KiB guard, the stack, and up to 60 KiB of record and user area above it;
       the Python glue's take 8 KiB) stays under 8 MiB too. That bound matters for speed:
       fibers created in a row lie one mapping apart, and a scheduler resuming them in turn
       reads their records and stacks at a constant stride, which the hardware prefetcher
       of the AMD EPYC we measure on follows only up to 8 MiB (at 8 MiB + 4 KiB apart a
       round-robin over 10,000+ fibers takes twice as long; ci/bench/analysis.md). Half of
       it on 32-bit, where the address space is only 3-4 GiB (thousands of fibers there
       need a smaller size). */
    return sizeof(void *) >= 8 ? ((size_t)8 << 20) - ((size_t)128 << 10) : (size_t)4 << 20;
}

size_t fiber_min_stack_size(void)
{
    /* Room for the start frame, the entry function and a few levels of ordinary C. */
    return (size_t)16 << 10;
}

#define ALIGN16(n) (((n) + 15) & ~(size_t)15)

/* n rounded up to a multiple of `align` (a power of two) in *out; 0 if that overflows. */
static int round_up(size_t n, size_t align, size_t *out)
{
    size_t sum;
    if (__builtin_add_overflow(n, align - 1, &sum))
        return 0;
    *out = sum & ~(align - 1);
    return 1;
}

/* ---------------------------------------------------------------------------------------
 * The guard region
 *
 * A function whose frame is larger than the guard moves the stack pointer past it in one
 * step, and its first store lands below the guard, in whatever mapping lies there: the
 * overflow goes unnoticed, or faults where nobody recognises it. Compilers place frames of
 * several KiB without touching the pages between (a local buffer of PATH_MAX * 4 or BUFSIZ
 * * 2 is 16 KiB) unless the code is built with -fstack-clash-protection, which probes
 * every page of a large frame on the way down. So the guard is larger than a page:
 *   - 64 KiB on 64-bit targets: what GCC's -fstack-clash-protection itself assumes on aarch64
 *     (it leaves frames below 64 KiB unprobed there), and enough for any unprobed frame
 *     below 64 KiB elsewhere. Address space is plentiful and PROT_NONE pages cost no memory.
 *   - 16 KiB on 32-bit targets, where address space is scarce (3-4 GiB for every stack of
 *     the process): still above the 12 KiB frames that a page-sized guard lets through, and
 *     a quarter of the 64-bit cost for programs with thousands of small fibers.
 * fiber_set_guard_size() changes it for the fibers created afterwards.
 * ------------------------------------------------------------------------------------- */

static size_t default_guard_size(void)
{
    return sizeof(void *) >= 8 ? (size_t)64 << 10 : (size_t)16 << 10;
}

static size_t guard_setting; /* 0: the default; else page-rounded bytes (atomic, relaxed) */

static size_t guard_asked(void) { return __atomic_load_n(&guard_setting, __ATOMIC_RELAXED); }

/* The guard size a setting stands for. */
static size_t guard_for(size_t asked)
{
    if (asked)
        return asked;
    size_t guard = 0;
    round_up(default_guard_size(), page_size(), &guard); /* a few KiB: cannot overflow */
    return guard;
}

size_t fiber_guard_size(void) { return guard_for(guard_asked()); }

int fiber_set_guard_size(size_t size)
{
    size_t guard = 0;
    if (size && !round_up(size, page_size(), &guard))
        return FIBER_EINVAL;
    __atomic_store_n(&guard_setting, guard, __ATOMIC_RELAXED);
    return FIBER_OK;
}

/* The mapping for a request: the guard, the stack rounded to pages, and the pages above
   `top` (record and user area). FIBER_EINVAL when that sum cannot be represented in a
   size_t: such a request is malformed, whatever the system's memory. */
static int mapping_size_for(size_t stack_size, size_t user_size, size_t guard, size_t *out)
{
    size_t page = page_size();
    if (stack_size == 0)
        stack_size = fiber_default_stack_size();
    if (stack_size < fiber_min_stack_size())
        stack_size = fiber_min_stack_size();
    /* The record and user area come out of the stack's top page when they leave it at
       least `page / 4` of stack; otherwise they get pages of their own. */
    size_t user, above, stack, total;
    if (!round_up(user_size, 16, &user) ||
        __builtin_add_overflow(user, ALIGN16(sizeof(fiber_t)) + page / 4, &above) ||
        !round_up(above, page, &above) || !round_up(stack_size, page, &stack) ||
        __builtin_add_overflow(stack, above, &total) ||
        __builtin_add_overflow(total, guard, &total))
        return FIBER_EINVAL;
    *out = total;
    return FIBER_OK;
}

/* ---------------------------------------------------------------------------------------
 * Per-thread state: the current fiber, and whether the thread has an alternate signal stack.
 *
 * The initial-exec TLS model makes each access one thread-pointer-relative load even inside
 * a dlopen'ed extension (a few bytes of glibc's static TLS surplus), instead of a call to
 * __tls_get_addr. fiber_resume() may keep this thread's address across its switch: a resume
 * always comes back on the thread that made it. Code on a fiber that may have been suspended
 * since it last looked (fiber_main after the entry returns) must reach it through an
 * out-of-line call: a suspended fiber may be resumed on another thread, and a compiler may
 * keep the thread pointer in a register (on aarch64 and arm32 it treats it as a constant).
 * ------------------------------------------------------------------------------------- */

struct thread_state {
    fiber_t *current;
    int altstack_ready; /* 1 once the thread has an alternate signal stack (or one was there) */
    fiber_t *cached; /* the thread's one-fiber cache in front of the shared pool */
    int cache_registered; /* the exit destructor is armed for this thread */
};

#if defined(__GNUC__)
#define FIBER_TLS __thread __attribute__((tls_model("initial-exec")))
#else
#define FIBER_TLS _Thread_local
#endif

static FIBER_TLS struct thread_state tls;

#if defined(__GNUC__) && !defined(__clang__)
#define FIBER_OPAQUE __attribute__((noinline, noipa))
#else
#define FIBER_OPAQUE __attribute__((noinline))
#endif

/* Out of line so that every call reads the thread it is running on now. */
FIBER_OPAQUE fiber_t *fiber_current(void) { return tls.current; }

/* ---------------------------------------------------------------------------------------
 * The reuse pool (pool.c): a freed fiber keeps its mapping for a create of the same mapping,
 * user-area and guard sizes.
 * ------------------------------------------------------------------------------------- */

static void unmap_fiber(fiber_t *f)
{
#ifdef FIBER_VALGRIND
    VALGRIND_STACK_DEREGISTER(f->valgrind_stack_id);
#endif
    munmap(f->map_base, f->map_size);
}

static void shared_pool_put(fiber_t *f)
{
    f->pool_node.size = f->map_size;
    f->pool_node.variant = f->user_size;
    f->pool_node.guard = f->guard_size;
    if (!fiber_pool_keep(&f->pool_node))
        unmap_fiber(f);
}

/* Each thread keeps the last fiber it freed in a cache of one in front of the shared pool,
   so that a thread creating and destroying fibers in a loop never takes the pool's lock. A
   thread's cached fiber goes to the shared pool when the thread exits (a key destructor). */
static pthread_key_t cache_key;
static pthread_once_t cache_key_once = PTHREAD_ONCE_INIT;

static void cache_flush(void *unused)
{
    fiber_t *f = tls.cached;
    tls.cached = NULL;
    if (f)
        shared_pool_put(f);
}

static void cache_key_create(void) { pthread_key_create(&cache_key, cache_flush); }

static fiber_t *pool_take(size_t map_size, size_t user_size, size_t guard)
{
    fiber_t *f = tls.cached;
    if (f && f->map_size == map_size && f->user_size == ALIGN16(user_size) &&
        f->guard_size == guard) {
        tls.cached = NULL;
        return f;
    }
    struct fiber_pool_node *node = fiber_pool_take(map_size, ALIGN16(user_size), guard);
    return node ? FIBER_POOL_RECORD(node, fiber_t, pool_node) : NULL;
}

static __attribute__((noinline)) void pool_put_slow(fiber_t *f)
{
    struct thread_state *t = &tls;
    if (!t->cache_registered) {
        pthread_once(&cache_key_once, cache_key_create);
        t->cache_registered = pthread_setspecific(cache_key, t) == 0;
    }
    if (t->cache_registered && !t->cached) {
        t->cached = f;
        return;
    }
    shared_pool_put(f);
}

static inline void pool_put(fiber_t *f)
{
    struct thread_state *t = &tls;
    if (__builtin_expect(t->cache_registered && !t->cached, 1))
        t->cached = f;
    else
        pool_put_slow(f);
}

void fiber_pool_trim(void)
{
    cache_flush(NULL);
    struct fiber_pool_node *node = fiber_pool_drain();
    while (node) {
        struct fiber_pool_node *next = node->next;
        unmap_fiber(FIBER_POOL_RECORD(node, fiber_t, pool_node));
        node = next;
    }
}

size_t fiber_pool_size(void) { return fiber_pool_shared_size() + (tls.cached != NULL); }

/* A new mapping laid out as described at the top of this file; NULL with errno as mmap or
   mprotect left it (ENOMEM for lack of address space, or of mappings: the guard's
   mprotect splits the mapping in two, which fails at vm.max_map_count). Nothing stays
   mapped on failure. */
static fiber_t *map_fiber(size_t map_size, size_t user_size, size_t guard)
{
    int flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE;
#ifdef MAP_STACK
    flags |= MAP_STACK;
#endif
    char *base = mmap(NULL, map_size, PROT_READ | PROT_WRITE, flags, -1, 0);
    if (base == MAP_FAILED)
        return NULL;
    if (mprotect(base, guard, PROT_NONE) != 0) {
        int err = errno;
        munmap(base, map_size);
        errno = err;
        return NULL;
    }
    char *end = base + map_size;
    fiber_t *f = (fiber_t *)(((uintptr_t)end - sizeof(fiber_t)) & ~(uintptr_t)15);
    memset(f, 0, sizeof *f);
    f->map_base = base;
    f->map_size = map_size;
    f->guard_size = guard;
    f->user_size = ALIGN16(user_size);
    f->top = (char *)f - f->user_size;
#ifdef FIBER_VALGRIND
    f->valgrind_stack_id = VALGRIND_STACK_REGISTER(base + guard, f->top);
#endif
    return f;
}

/* map_fiber, and once more after giving the pool's stacks back when the system is short of
   address space or mappings (each pooled stack holds two mappings): a pool kept for speed
   must not make a create fail. errno is the last attempt's. */
static fiber_t *map_fiber_or_trim(size_t map_size, size_t user_size, size_t guard)
{
    fiber_t *f = map_fiber(map_size, user_size, guard);
    if (f || errno != ENOMEM || fiber_pool_size() == 0)
        return f;
    fiber_pool_trim();
    return map_fiber(map_size, user_size, guard);
}

/* ---------------------------------------------------------------------------------------
 * Stack overflow reporting: a fault anywhere in the guard region of the running fiber (or of
 * one of its resumers) is a fiber stack overflow. Everything below runs in a signal handler,
 * so it uses only async-signal-safe calls (write, sigaction, raise).
 * ------------------------------------------------------------------------------------- */

static struct sigaction previous_segv;
static volatile sig_atomic_t overflow_handler_installed;

static size_t format_hex(char *buf, uintptr_t value)
{
    char tmp[2 * sizeof value];
    size_t n = 0;
    do {
        tmp[n++] = "0123456789abcdef"[value & 15];
        value >>= 4;
    } while (value);
    buf[0] = '0';
    buf[1] = 'x';
    for (size_t i = 0; i < n; i++)
        buf[2 + i] = tmp[n - 1 - i];
    return n + 2;
}

static void write_overflow_message(const fiber_t *f, const void *addr)
{
    char msg[256];
    size_t len = 0;
    /* "guard page" although the guard is a region now: tests/python/test_reliability_overflow.py
       (and maybe users' log filters) match this text. */
    const char *parts[] = {"fiber: stack overflow: a fiber overran its stack [", ", ",
                           ") into the guard page (fault at ", "); aborting\n"};
    uintptr_t values[] = {(uintptr_t)(f->map_base + f->guard_size), (uintptr_t)f->top,
                          (uintptr_t)addr};
    for (size_t i = 0; i < 4; i++) {
        size_t plen = strlen(parts[i]);
        memcpy(msg + len, parts[i], plen);
        len += plen;
        if (i < 3)
            len += format_hex(msg + len, values[i]);
    }
    ssize_t ignored = write(STDERR_FILENO, msg, len);
    (void)ignored;
}

/* Known gap: fiber_suspend() hands `current` back to the resumer just before its switch, so
   a fault while that switch pushes its frame (a fiber with under 100 bytes of stack left)
   is not recognised and ends as a plain SIGSEGV. */
static void overflow_handler(int sig, siginfo_t *info, void *context)
{
    const char *addr = info->si_addr;
    for (const fiber_t *f = tls.current; f; f = f->resumer) {
        if (addr >= f->map_base && addr < f->map_base + f->guard_size) {
            write_overflow_message(f, addr);
            signal(SIGABRT, SIG_DFL);
            raise(SIGABRT);
            _exit(134);
        }
    }
    /* Not ours: hand over to whoever handled SIGSEGV before. */
    if (previous_segv.sa_flags & SA_SIGINFO) {
        if (previous_segv.sa_sigaction) {
            previous_segv.sa_sigaction(sig, info, context);
            return;
        }
    } else if (previous_segv.sa_handler != SIG_DFL && previous_segv.sa_handler != SIG_IGN) {
        previous_segv.sa_handler(sig);
        return;
    }
    /* Default action: restore it and return; the faulting instruction faults again. */
    signal(SIGSEGV, SIG_DFL);
}

int fiber_install_overflow_handler(void)
{
    static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    int rc = FIBER_OK;
    pthread_mutex_lock(&lock);
    if (!overflow_handler_installed) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_sigaction = overflow_handler;
        sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
        sigemptyset(&sa.sa_mask);
        if (sigaction(SIGSEGV, &sa, &previous_segv) == 0)
            overflow_handler_installed = 1;
        else
            rc = FIBER_EINVAL;
    }
    pthread_mutex_unlock(&lock);
    return rc;
}

/* The handler cannot run on the stack that overflowed: give this thread an alternate signal
   stack, unless it has one already (the runtime may have set one up, as CPython's
   faulthandler does). Never freed: it must outlive every fiber the thread runs. */
static void ensure_altstack(struct thread_state *t)
{
    t->altstack_ready = 1;
    stack_t current;
    if (sigaltstack(NULL, &current) == 0 && !(current.ss_flags & SS_DISABLE))
        return;
    size_t size = 64 << 10;
    void *mem = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mem == MAP_FAILED)
        return;
    stack_t ss = {.ss_sp = mem, .ss_size = size, .ss_flags = 0};
    if (sigaltstack(&ss, NULL) != 0)
        munmap(mem, size);
}

/* ---------------------------------------------------------------------------------------
 * Sanitizer hooks around every switch: ASan must be told which stack is about to run, or it
 * reports the other stack's frames as overflows.
 * ------------------------------------------------------------------------------------- */

#ifdef FIBER_ASAN
static void stack_range(const fiber_t *f, const void **low, size_t *size)
{
    char *lo = f->map_base + f->guard_size;
    *low = lo;
    *size = (size_t)((char *)f->top - lo);
}
#endif

/* ---------------------------------------------------------------------------------------
 * The switch protocol
 *
 * Every piece of bookkeeping is done by the side that leaves, before it switches: the side
 * that arrives has nothing left to do and returns straight to its caller. So fiber_resume()
 * and fiber_suspend() end in a tail call of the fiber's switch routine (fiber_asm_switch, or
 * fiber_asm_switch_fp for a fiber that owns its FP control state), which then saves *their*
 * caller's return address, and a switch lands directly in the caller of the other side's
 * resume or suspend. (The sanitizer build keeps a step after the switch and loses this.)
 *
 *   resume(f, v, out):  *f->in = v; f->out = out; f->resumer = current; current = f; switch
 *   suspend(v, in):     *f->out = v; f->in = in; current = f->resumer; switch
 *   entry returns r:    *f->out = r; state = DONE; current = f->resumer; switch (for good)
 * ------------------------------------------------------------------------------------- */

/* Switch into or out of `f` by its routine; `return switch_fiber(...)` is a tail call. */
static inline int switch_fiber(const fiber_t *f, int status)
{
    return f->switch_routine(f->top, status);
}

/* Set this thread's current fiber. Out of line so that it reads the thread it runs on now:
   code on a fiber may have moved to another thread since it last looked. */
static FIBER_OPAQUE void set_current(fiber_t *f) { tls.current = f; }

static void fiber_main(void *arg)
{
    fiber_t *f = arg;
#ifdef FIBER_ASAN
    __sanitizer_finish_switch_fiber(NULL, &f->resumer_stack_low, &f->resumer_stack_size);
#endif
    void *result = f->entry(f->arg, f->first);
    if (f->out)
        *f->out = result;
    f->state = STATE_DONE;
    set_current(f->resumer);
#ifdef FIBER_ASAN
    /* NULL fake-stack save: this stack is finished for good. */
    __sanitizer_start_switch_fiber(NULL, f->resumer_stack_low, f->resumer_stack_size);
#endif
    switch_fiber(f, FIBER_OK);
    abort(); /* unreachable: a done fiber is never switched into again */
}

int fiber_create(fiber_t **out, size_t stack_size, fiber_entry_fn entry, void *arg)
{
    return fiber_create_ex(out, stack_size, 0, 0, entry, arg);
}

typedef int (*switch_routine_fn)(void *top, int status);

#if defined(__i386__)
unsigned char fiber_asm_i386_sse; /* declared in switch.h: read by fiber_asm_init */

/* i386: whether the FP control state includes MXCSR depends on the CPU, not on the build.
   Debian's i686 baseline has no SSE (stmxcsr would raise SIGILL there, so a default build
   cannot save it unconditionally), but on a CPU that has it glibc's fesetround() sets MXCSR
   as well as the x87 control word, and SSE code chosen at run time rounds by MXCSR. CPUID
   is asked once, at the first create of an owning fiber; the answer picks the routine for
   every owning fiber (fixed for the process, so a fiber is always entered and left by the
   same one) and tells fiber_asm_init to capture MXCSR for them (switch.h). The plain switch
   is not involved. */
static switch_routine_fn detect_owning_switch(void)
{
    unsigned eax, ebx, ecx, edx;
    if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx) || !(edx & bit_SSE))
        return fiber_asm_switch_fp;
    __atomic_store_n(&fiber_asm_i386_sse, 1, __ATOMIC_RELAXED);
    return fiber_asm_switch_fp_sse;
}

static switch_routine_fn owning_switch(void)
{
    static switch_routine_fn chosen;
    /* Acquire/release: a thread that sees `chosen` also sees the flag stored before it. */
    switch_routine_fn s = __atomic_load_n(&chosen, __ATOMIC_ACQUIRE);
    if (__builtin_expect(!s, 0)) {
        s = detect_owning_switch();
        __atomic_store_n(&chosen, s, __ATOMIC_RELEASE);
    }
    return s;
}
#else
static inline switch_routine_fn owning_switch(void) { return fiber_asm_switch_fp; }
#endif

/* Make a taken record a new fiber that will run entry(arg). */
static inline int start_record(fiber_t **out, fiber_t *f, unsigned flags, fiber_entry_fn entry,
                               void *arg)
{
    f->switch_routine = (flags & FIBER_OWN_FP_CONTROL) ? owning_switch() : fiber_asm_switch;
    f->entry = entry;
    f->arg = arg;
    f->in = &f->first;
    f->state = STATE_NEW;
    *out = f;
    fiber_asm_init(f->top, fiber_main, f);
    return FIBER_OK;
}

/* A create that the thread's cache cannot serve at a glance: a record from the cache or the
   shared pool by mapping size, else a new mapping. Out of line so that the common path of
   fiber_create_ex() needs no stack frame. */
static __attribute__((noinline)) int create_from_pool_or_map(fiber_t **out, size_t stack_size,
                                                             size_t user_size, unsigned flags,
                                                             fiber_entry_fn entry, void *arg)
{
    *out = NULL;
    /* Read here rather than passed: six arguments keep the call from fiber_create_ex a tail
       call (a seventh would go on the stack). */
    size_t asked_guard = guard_asked();
    size_t guard = guard_for(asked_guard), map_size;
    int rc = mapping_size_for(stack_size, user_size, guard, &map_size);
    if (rc != FIBER_OK)
        return rc;
    fiber_t *f = pool_take(map_size, user_size, guard);
    if (!f)
        f = map_fiber_or_trim(map_size, user_size, guard);
    if (!f)
        return FIBER_ENOMEM;
    f->asked_stack_size = stack_size;
    f->asked_user_size = user_size;
    f->asked_guard = asked_guard;
    return start_record(out, f, flags, entry, arg);
}

/* Why a create cannot go ahead (a NULL out or entry, an unknown flag); *out is NULL after
   any failed create (fiber.h). Kept out of fiber_create_ex's straight path. */
static __attribute__((noinline, cold)) int create_refused(fiber_t **out)
{
    if (out)
        *out = NULL;
    return FIBER_EINVAL;
}

int fiber_create_ex(fiber_t **out, size_t stack_size, size_t user_size, unsigned flags,
                    fiber_entry_fn entry, void *arg)
{
    if (__builtin_expect(!out || !entry || (flags & ~(unsigned)FIBER_OWN_FP_CONTROL), 0))
        return create_refused(out);
    /* The common case, a thread creating fibers like the one it last destroyed, skips the
       size arithmetic: the cached record remembers what its creator asked for. */
    struct thread_state *t = &tls;
    fiber_t *f = t->cached;
    if (f && f->asked_stack_size == stack_size && f->asked_user_size == user_size &&
        f->asked_guard == guard_asked()) {
        t->cached = NULL;
        return start_record(out, f, flags, entry, arg);
    }
    return create_from_pool_or_map(out, stack_size, user_size, flags, entry, arg);
}

/* fiber_resume() and fiber_suspend() start on a cache line of their own. A round trip runs
   through both of them and the switch routine, and how their code falls across 64-byte
   fetch blocks otherwise depends on the size of everything before them in this file: a
   change elsewhere in the file (the guard-region commit, whose resume and suspend compiled
   to the same instructions) moved them and cost about 10% of the C round trip on the
   x86_64 machine BENCHMARKS.md is measured on; aligned, it measured level with the code
   before that change (0.94-1.07x in eight paired runs on a busy machine). */
#define FIBER_HOT_PATH __attribute__((aligned(64)))

/* Why a resume cannot go ahead; kept out of fiber_resume's straight path. */
static __attribute__((noinline, cold)) int resume_refused(const fiber_t *f)
{
    if (!f)
        return FIBER_EINVAL;
    return f->state == STATE_DONE ? FIBER_EDONE : FIBER_EBUSY;
}

/* The first resume on a thread after fiber_install_overflow_handler(): give the thread its
   alternate signal stack, then resume. Out of line, so that fiber_resume() itself needs no
   stack frame and stays a straight path into its tail call. */
static __attribute__((noinline, cold)) int resume_with_altstack(fiber_t *f, void *value, void **out)
{
    ensure_altstack(&tls);
    return fiber_resume(f, value, out);
}

FIBER_HOT_PATH int fiber_resume(fiber_t *f, void *value, void **out)
{
    /* NEW and SUSPENDED are the two resumable states: one compare for both. */
    if (__builtin_expect(!f || f->state > STATE_SUSPENDED, 0))
        return resume_refused(f);
    struct thread_state *t = &tls;
    if (__builtin_expect(t->altstack_ready != overflow_handler_installed, 0))
        return resume_with_altstack(f, value, out);
    if (f->in)
        *f->in = value;
    f->out = out;
    f->resumer = t->current;
    f->state = STATE_RUNNING;
    t->current = f;
#ifdef FIBER_ASAN
    const void *low;
    size_t size;
    stack_range(f, &low, &size);
    __sanitizer_start_switch_fiber(&f->asan_fake_stack, low, size);
    int status = switch_fiber(f, FIBER_OK);
    __sanitizer_finish_switch_fiber(f->asan_fake_stack, NULL, NULL);
    return status;
#else
    return switch_fiber(f, FIBER_OK); /* a tail call: see the protocol above */
#endif
}

FIBER_HOT_PATH int fiber_suspend(void *value, void **in)
{
    fiber_t *f = tls.current;
    if (!f)
        return FIBER_ENOTFIBER;
    if (f->out)
        *f->out = value;
    f->in = in;
    f->state = STATE_SUSPENDED;
    tls.current = f->resumer;
#ifdef FIBER_ASAN
    void *fake_stack = NULL;
    __sanitizer_start_switch_fiber(&fake_stack, f->resumer_stack_low, f->resumer_stack_size);
    int status = switch_fiber(f, FIBER_OK);
    /* Resumed, possibly on another thread: touch no thread-local state below this line. */
    __sanitizer_finish_switch_fiber(fake_stack, &f->resumer_stack_low, &f->resumer_stack_size);
    return status;
#else
    return switch_fiber(f, FIBER_OK); /* a tail call: see the protocol above */
#endif
}

void *fiber_user_area(const fiber_t *f) { return f && f->user_size ? f->top : NULL; }

int fiber_done(const fiber_t *f) { return f && f->state == STATE_DONE; }

int fiber_running(const fiber_t *f) { return f && f->state == STATE_RUNNING; }

int fiber_destroy(fiber_t *f)
{
    if (!f)
        return FIBER_EINVAL;
    if (f->state == STATE_RUNNING)
        return FIBER_EBUSY;
    pool_put(f);
    return FIBER_OK;
}

void fiber_stack_bounds(const fiber_t *f, void **low, void **high)
{
    if (low)
        *low = f ? f->map_base + f->guard_size : NULL;
    if (high)
        *high = f ? f->top : NULL;
}
