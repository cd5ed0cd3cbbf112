/*
 * fiber: stackful fibers for C. The public C API; no Python anywhere in it.
 *
 * A fiber runs an entry function on its own stack. fiber_resume() switches into it;
 * fiber_suspend(), called anywhere below the entry function, switches back to whoever
 * resumed it. Values are pointers and travel both ways on every switch:
 *
 *     static void *count(void *arg, void *first) {
 *         for (intptr_t i = 0;; i++) fiber_suspend((void *)i, NULL);
 *     }
 *     fiber_t *f;
 *     fiber_create(&f, 0, count, NULL);        // 0: the default stack size
 *     void *out;
 *     fiber_resume(f, NULL, &out);             // out == 0
 *     fiber_resume(f, NULL, &out);             // out == 1
 *     fiber_destroy(f);                        // a suspended fiber may be destroyed
 *
 * Fibers nest (code on a fiber may resume another fiber; fiber_suspend() returns to the
 * innermost resumer) and migrate (a suspended fiber may be resumed from any thread, one
 * thread at a time; see "Thread-local storage and migration" below for the rule that code
 * on a migrating fiber must follow). Errors are returned as negative fiber_status codes,
 * never by crashing.
 *
 * Stacks are mapped with a PROT_NONE guard region below the usable area (see "The guard
 * region" below; on Windows the system's fiber stacks carry their own guard), and freed
 * stacks are kept in a small pool for reuse, so creating a fiber is normally a pool hit
 * rather than an mmap.
 *
 * Thread-local storage and migration
 * ----------------------------------
 * A suspended fiber may be resumed on another thread, and then every fiber_suspend() (and
 * every call that may suspend) can return on a different thread than the one it was called
 * on. Compilers do not know that: within one function they treat the thread's identity as
 * fixed, so they may compute the address of a thread-local variable once and keep it across
 * the call (on aarch64 and arm32 the thread pointer register is read once per function; in
 * shared objects __tls_get_addr is a pure function), and they may call a function declared
 * `const` once: pthread_self(), and __errno_location() behind `errno`. So a function that
 * touches thread-local state both before and after a suspend may, after a migration, read
 * and write the FIRST thread's variables (and errno), while that thread runs other code.
 * The rule:
 *   - in a function that calls fiber_suspend() (or anything that may suspend), touch
 *     thread-local state (TLS variables, errno, pthread_self()) on at most one side of the
 *     suspend; after it, reach thread-local state only through a function that is not
 *     inlined into it (GCC: __attribute__((noinline, noipa)); clang: noinline), which then
 *     computes the addresses afresh on the thread it runs on; or
 *   - do not migrate fibers whose code keeps thread-local state across a suspend (resume
 *     each fiber on one thread only).
 * The core follows the rule itself: fiber_current(), fiber_suspend() and fiber_resume() are
 * safe to call anywhere, before and after a migration.
 */
#ifndef FIBER_CORE_FIBER_H
#define FIBER_CORE_FIBER_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct fiber fiber_t;

/* Entry function: `arg` is fiber_create's argument, `first` the value of the first resume.
   Its return value is what the resume that saw it finish receives.
   It must leave only by returning: no C++ exception and no longjmp may cross it. The unwind
   info links a fiber's stack to its resumer's (so that debuggers and backtrace() see both),
   so an uncaught exception would go on unwinding into the resumer's frames without any
   switch, leaving the fiber marked running on a stack nobody owns. Catch everything in the
   entry and pass errors back as its return value. */
typedef void *(*fiber_entry_fn)(void *arg, void *first);

typedef enum fiber_status {
    FIBER_OK = 0,
    FIBER_ENOMEM = -1,      /* the system refused the memory: the stack could not be mapped
                               (POSIX: mmap or mprotect failed and errno is theirs, ENOMEM
                               when the process is out of address space or of mappings, see
                               vm.max_map_count below), or the record could not be allocated */
    FIBER_EDONE = -2,       /* resume of a fiber that has already finished */
    FIBER_ENOTFIBER = -3,   /* fiber_suspend() called on a thread's own stack */
    FIBER_EBUSY = -4,       /* resume of a running fiber (itself, or an ancestor resumer) */
    FIBER_EINVAL = -5,      /* a NULL fiber, out pointer or entry, an unknown flag, or a size
                               whose arithmetic overflows (see fiber_create_ex) */
} fiber_status;

/* A short English description of a status code (never NULL). */
const char *fiber_strerror(int status);

/* Stack sizes: 0 asks for fiber_default_stack_size(); smaller sizes are rounded up to
   fiber_min_stack_size(), every size up to a whole number of pages. The guard region is
   extra. */
size_t fiber_default_stack_size(void);
size_t fiber_min_stack_size(void);

/* The guard region
   ----------------
   Below every POSIX fiber stack lies a PROT_NONE guard region; a fault anywhere in it is a
   stack overflow of that fiber (see fiber_install_overflow_handler). It is larger than a
   page because a function whose frame is larger than the guard moves the stack pointer past
   it in one step and its first store lands below, in another mapping: an overflow nobody
   notices. Compilers do that for any frame of more than a page (a 12 KiB local array is
   enough) unless the code is built with -fstack-clash-protection (GCC, clang), which probes
   each page of a large frame on the way down; C code run on fibers with frames larger than
   the guard should be built with it. The default is 64 KiB on 64-bit targets (what GCC's
   stack-clash protection assumes on aarch64, where it leaves smaller frames unprobed) and
   16 KiB on 32-bit ones (address space is scarce there); PROT_NONE pages cost address
   space, never memory.

   Each fiber costs the kernel exactly two mappings, the guard and the rest (one mmap, one
   mprotect of one range), whatever the guard's size. Linux limits a process to
   vm.max_map_count mappings (65530 by default), so a process that keeps about 32,000 fibers
   alive (fewer, since the program's own mappings count too) gets FIBER_ENOMEM with errno
   ENOMEM from the next create; raise the sysctl to go further. A failed create leaves
   nothing mapped, and it gives the reuse pool's stacks back to the system and tries once
   more before it reports the failure. On Windows, where the system's fiber stacks carry
   the guard (and Windows compilers probe every frame larger than a page, __chkstk), the
   setting is kept and reported but changes no stack. */

/* The guard size, in bytes, that fibers created from now on get (a whole number of pages). */
size_t fiber_guard_size(void);

/* Set the guard size for fibers created from now on, process-wide (fibers already created,
   and stacks already pooled for another size, keep theirs): rounded up to whole pages; 0
   restores the default. Returns FIBER_OK, or FIBER_EINVAL if rounding overflows. A guard
   too large for the address space makes creates fail with FIBER_ENOMEM. Process-wide
   rather than per fiber because what it guards against is a property of the code the
   process runs (how large its frames are, and whether it was built with stack-clash
   protection), not of one fiber. Safe to call from any thread. */
int fiber_set_guard_size(size_t size);

/* Create a fiber that will run entry(arg, first) on a new stack of (at least) stack_size
   bytes. The entry does not run until the first fiber_resume(). It runs in the thread's FP
   modes (see FIBER_OWN_FP_CONTROL below for the alternative). */
int fiber_create(fiber_t **out, size_t stack_size, fiber_entry_fn entry, void *arg);

/* Flags for fiber_create_ex(). */
enum fiber_flags {
    /* The fiber owns its FP control state: MXCSR and the x87 control word on x86 (on 32-bit
       x86, MXCSR when the CPU has SSE, checked at run time: a CPU without it has no MXCSR),
       FPCR on aarch64, FPSCR on arm32 (rounding mode, flush-to-zero, exception masks). It starts
       with its creator's modes, keeps a mode it sets across its suspends, and its resumer
       never sees that mode. Without the flag a fiber runs in the thread's modes, like any
       function its resumer calls: code on it that changes a mode must restore it before it
       suspends or returns, or the resumer continues in the changed mode. The flag costs
       about 3.5 ns per switch on the x86_64 machine BENCHMARKS.md is measured on (reading
       MXCSR is slow there), which is why it is not the default; Windows fibers make the
       same choice (FIBER_FLAG_FLOAT_SWITCH). Python fibers always set it. */
    FIBER_OWN_FP_CONTROL = 1u << 0,
};

/* fiber_create with flags (enum fiber_flags, 0 for none) and a *user area*: `user_size`
   bytes (16-byte aligned; contents unspecified on creation, as a pooled fiber's are whatever
   it last held) that belong to the caller for the fiber's lifetime, placed next to the top
   of the stack so that data used with the first stack frames shares their pages (the Python
   glue keeps the first interpreter frames there). fiber_user_area() returns it. Unknown
   flags are refused with FIBER_EINVAL.
   Sizes: a request whose arithmetic overflows size_t is malformed and gets FIBER_EINVAL:
   stack_size or user_size rounded up (to pages, to 16 bytes), or the whole, stack + guard
   region + user area + the record, beyond SIZE_MAX (SIZE_MAX itself, for instance). A
   request that can be represented but that the system will not map (more than the address
   space, or than it has left) gets FIBER_ENOMEM. On any failure *out (if out is not NULL)
   is NULL. */
int fiber_create_ex(fiber_t **out, size_t stack_size, size_t user_size, unsigned flags,
                    fiber_entry_fn entry, void *arg);

/* The fiber's user area (NULL when it was created with user_size 0, or f is NULL). */
void *fiber_user_area(const fiber_t *f);

/* Switch into `f`, passing `value` (the first resume passes it as the entry's `first`; later
   ones make the pending fiber_suspend() return it). Returns when `f` suspends or finishes;
   `*out` (if out is not NULL) receives the suspended or returned value. */
int fiber_resume(fiber_t *f, void *value, void **out);

/* From inside a fiber: switch back to its resumer, which receives `value`. Returns when the
   fiber is resumed again; `*in` (if not NULL) receives that resume's value. */
int fiber_suspend(void *value, void **in);

/* The fiber running on this thread now, or NULL on the thread's own stack. */
fiber_t *fiber_current(void);

/* Non-zero once the entry function has returned. */
int fiber_done(const fiber_t *f);

/* Non-zero while the fiber is running (it is the current fiber or one of its resumers). */
int fiber_running(const fiber_t *f);

/* Free a fiber that is new, suspended or done (never a running one: returns FIBER_EBUSY).
   Destroying a suspended fiber discards its stack: C has no unwinding, so code below its
   suspension point simply never continues. */
int fiber_destroy(fiber_t *f);

/* The usable stack of a fiber: [*low, *high) (the guard region lies just below low). A NULL
   f gives *low = *high = NULL. low or high may be NULL. */
void fiber_stack_bounds(const fiber_t *f, void **low, void **high);

/* Install (once per process) a SIGSEGV handler that recognises a fiber overrunning its
   stack into its guard region (a fault anywhere in it, from the running fiber or one of its
   resumers): it prints "fiber: stack overflow" with the fiber's stack range to stderr and
   aborts, instead of a silent segfault. A frame larger than the guard can still jump past
   it (see "The guard region"). Other faults go to the handler that was installed before
   (or the default action). Each thread gets a small alternate signal stack the first time
   it resumes a fiber, since the overflowed stack cannot run the handler. Returns FIBER_OK,
   or FIBER_EINVAL if sigaction failed. On Windows the system reports the overflow itself
   (EXCEPTION_STACK_OVERFLOW) and this does nothing. */
int fiber_install_overflow_handler(void);

/* Release every stack held by the reuse pool, and by the calling thread's cache of one in
   front of it (other threads' caches go to the pool when those threads exit). */
void fiber_pool_trim(void);

/* How many stacks the pool and the calling thread's cache hold now (tests, diagnostics). */
size_t fiber_pool_size(void);

#ifdef __cplusplus
}
#endif

#endif /* FIBER_CORE_FIBER_H */
