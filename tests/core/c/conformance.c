/*
 * The C conformance suite of the fiber core: one program, built per target, that exercises
 * the public C API of fiber.h (and nothing else of the core) case by case.
 *
 * Usage:
 *     conformance             run every case, one result line each
 *     conformance --list      print the case names, one a line
 *     conformance NAME        run only that case, in this process (for debugging)
 *     conformance --no-fork   run every case in this process
 *
 * Every case prints exactly one line on stdout:
 *     CASE <name> PASS
 *     CASE <name> FAIL <reason>
 *     CASE <name> SKIP <reason>
 * Diagnostics go to stderr. The exit status is 0 when no case failed.
 *
 * On POSIX each case runs in a forked child, so a case that crashes is reported as a FAIL
 * with its signal and the remaining cases still run; fork() also keeps the program usable
 * under QEMU user mode, where re-executing argv[0] would need the emulator. On Windows the
 * cases run in this process (the cases that must kill a process do not apply there).
 *
 * Cases are named after the behaviour they pin; tests/core/test_c_conformance.py lists the same
 * names, and checks them against --list, so a case can never silently vanish.
 */
#if defined(_WIN32)
#define __USE_MINGW_ANSI_STDIO 1 /* C99 printf (%zu, PRIxPTR) rather than msvcrt's */
#else
#define _GNU_SOURCE
#endif

#include "fiber.h"

#include <errno.h>
#include <fenv.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef _WIN32
#include <windows.h>
#else
#include <execinfo.h>
#include <pthread.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>
#endif

#define FT_NOINLINE __attribute__((noinline))
#ifdef _WIN32
#define FT_PRINTF(f, a) __attribute__((format(gnu_printf, f, a)))
#else
#define FT_PRINTF(f, a) __attribute__((format(printf, f, a)))
#endif
#define FT_BARRIER() __asm__ __volatile__("" ::: "memory")

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* ---------------------------------------------------------------------------------------
 * Results
 * ------------------------------------------------------------------------------------- */

typedef enum { RES_PASS, RES_FAIL, RES_SKIP } result_t;

static char g_reason[700];
static int g_failed;

static void set_reason(const char *prefix, const char *fmt, va_list ap)
{
    size_t n = (size_t)snprintf(g_reason, sizeof g_reason, "%s", prefix);
    if (n < sizeof g_reason)
        vsnprintf(g_reason + n, sizeof g_reason - n, fmt, ap);
    for (char *p = g_reason; *p; p++) /* one line per case, whatever the message holds */
        if (*p == '\n' || *p == '\r')
            *p = ' ';
}

/* Record a failure; the first one is the reason the case reports. Returns 0. */
FT_PRINTF(2, 3) static int note_fail(int line, const char *fmt, ...)
{
    if (g_failed)
        return 0;
    g_failed = 1;
    char prefix[32];
    snprintf(prefix, sizeof prefix, "line %d: ", line);
    va_list ap;
    va_start(ap, fmt);
    set_reason(prefix, fmt, ap);
    va_end(ap);
    return 0;
}

FT_PRINTF(1, 2) __attribute__((unused)) static result_t skip(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    set_reason("", fmt, ap);
    va_end(ap);
    return RES_SKIP;
}

static result_t verdict(void) { return g_failed ? RES_FAIL : RES_PASS; }

/* EXPECT records a failure and goes on; REQUIRE also leaves the case. */
#define EXPECT(cond, ...) ((cond) ? 1 : note_fail(__LINE__, __VA_ARGS__))
#define REQUIRE(cond, ...)              \
    do {                                \
        if (!EXPECT(cond, __VA_ARGS__)) \
            return RES_FAIL;            \
    } while (0)
/* A call returning a fiber_status that must be `want`. */
#define EXPECT_RC(want, call)                                                                      \
    do {                                                                                           \
        int rc_ = (call);                                                                          \
        EXPECT(rc_ == (want), "%s returned %d (%s), expected %d", #call, rc_, fiber_strerror(rc_), \
               (int)(want));                                                                       \
    } while (0)
#define REQUIRE_RC(want, call)                                                 \
    do {                                                                       \
        int rc_ = (call);                                                      \
        REQUIRE(rc_ == (want), "%s returned %d (%s), expected %d", #call, rc_, \
                fiber_strerror(rc_), (int)(want));                             \
    } while (0)
#define REQUIRE_OK(call) REQUIRE_RC(FIBER_OK, call)

#define P(x) ((void *)(uintptr_t)(x))
#define U(p) ((uintptr_t)(p))

/* ---------------------------------------------------------------------------------------
 * Small platform helpers
 * ------------------------------------------------------------------------------------- */

static size_t page_size(void)
{
#ifdef _WIN32
    SYSTEM_INFO si;
    GetSystemInfo(&si);
    return si.dwPageSize;
#else
    long p = sysconf(_SC_PAGESIZE);
    return p > 0 ? (size_t)p : 4096;
#endif
}

static uint64_t mix64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15u;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9u;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebu;
    return x ^ (x >> 31);
}

/* Run fn(arg) on a new thread and wait for it. Returns 0 on success. */
typedef void (*thread_fn)(void *);
struct thread_call {
    thread_fn fn;
    void *arg;
};

#ifdef _WIN32
typedef HANDLE thread_t;
static DWORD WINAPI thread_trampoline(LPVOID p)
{
    struct thread_call *c = p;
    c->fn(c->arg);
    return 0;
}
static int thread_start(thread_t *t, struct thread_call *c)
{
    *t = CreateThread(NULL, 0, thread_trampoline, c, 0, NULL);
    return *t ? 0 : -1;
}
static void thread_join(thread_t t)
{
    WaitForSingleObject(t, INFINITE);
    CloseHandle(t);
}
#else
typedef pthread_t thread_t;
static void *thread_trampoline(void *p)
{
    struct thread_call *c = p;
    c->fn(c->arg);
    return NULL;
}
static int thread_start(thread_t *t, struct thread_call *c)
{
    return pthread_create(t, NULL, thread_trampoline, c);
}
static void thread_join(thread_t t) { pthread_join(t, NULL); }
#endif

static int run_on_thread(thread_fn fn, void *arg)
{
    struct thread_call c = {fn, arg};
    thread_t t;
    if (thread_start(&t, &c) != 0)
        return -1;
    thread_join(t);
    return 0;
}

/*
 * An identity of the running thread that the compiler cannot cache: a fiber's code may be
 * resumed on another thread after any fiber_suspend(), and compilers treat both the thread
 * pointer and pthread_self() (declared const) as invariant within a function. Calling
 * through a volatile function pointer forces a fresh read every time.
 */
static _Thread_local int tls_marker;
static uintptr_t thread_token_impl(void) { return (uintptr_t)&tls_marker; }
static uintptr_t (*volatile thread_token)(void) = thread_token_impl;

/* ---------------------------------------------------------------------------------------
 * entry_not_run_before_first_resume
 * ------------------------------------------------------------------------------------- */

static int smoke_runs;
static void *smoke_arg, *smoke_first;
static fiber_t *smoke_current;
static int smoke_running;

static void *smoke_entry(void *arg, void *first)
{
    smoke_runs++;
    smoke_arg = arg;
    smoke_first = first;
    smoke_current = fiber_current();
    smoke_running = fiber_running(smoke_current);
    return P(0x5a5a);
}

static result_t case_entry_not_run_before_first_resume(void)
{
    int marker;
    fiber_t *f = NULL;
    REQUIRE(fiber_current() == NULL, "fiber_current() is not NULL on the thread's own stack");
    REQUIRE_OK(fiber_create(&f, 0, smoke_entry, &marker));
    REQUIRE(f != NULL, "fiber_create succeeded but left *out NULL");
    EXPECT(smoke_runs == 0, "the entry ran during fiber_create");
    EXPECT(!fiber_done(f), "a new fiber reports done");
    EXPECT(!fiber_running(f), "a new fiber reports running");
    EXPECT(fiber_current() == NULL, "fiber_create changed fiber_current()");

    void *out = P(1);
    REQUIRE_OK(fiber_resume(f, P(0x77), &out));
    EXPECT(smoke_runs == 1, "the entry ran %d times on the first resume", smoke_runs);
    EXPECT(smoke_arg == &marker, "the entry got arg %p, expected %p", smoke_arg, (void *)&marker);
    EXPECT(smoke_first == P(0x77), "the entry got first=%p, expected 0x77", smoke_first);
    EXPECT(smoke_current == f, "fiber_current() inside the fiber was %p, expected %p",
           (void *)smoke_current, (void *)f);
    EXPECT(smoke_running, "fiber_running() of the current fiber was 0 inside it");
    EXPECT(out == P(0x5a5a), "resume returned %p, expected the entry's return value 0x5a5a", out);
    EXPECT(fiber_done(f), "the fiber does not report done after its entry returned");
    EXPECT(!fiber_running(f), "a finished fiber reports running");
    EXPECT(fiber_current() == NULL, "fiber_current() is not NULL again after the resume");
    REQUIRE_OK(fiber_destroy(f));

    /* A fiber destroyed before its first resume never runs its entry. */
    REQUIRE_OK(fiber_create(&f, 0, smoke_entry, &marker));
    REQUIRE_OK(fiber_destroy(f));
    EXPECT(smoke_runs == 1, "destroying a new fiber ran its entry");
    return verdict();
}

/* ---------------------------------------------------------------------------------------
 * suspend_resume_values_both_ways
 * ------------------------------------------------------------------------------------- */

#define VALUE_ROUNDS 50

static uintptr_t value_from_resumer(int round) { return (uintptr_t)round * 7919u + 3u; }
static uintptr_t value_from_fiber(uintptr_t in) { return ~in ^ (uintptr_t)0x5555; }

static void *values_entry(void *arg, void *first)
{
    EXPECT(first == P(value_from_resumer(0)), "first=%p, expected %p", first,
           P(value_from_resumer(0)));
    void *in = first;
    for (int r = 1; r <= VALUE_ROUNDS; r++) {
        void *next = NULL;
        EXPECT_RC(FIBER_OK, fiber_suspend(P(value_from_fiber(U(in))), &next));
        EXPECT(next == P(value_from_resumer(r)), "round %d: suspend returned %p, expected %p", r,
               next, P(value_from_resumer(r)));
        in = next;
    }
    /* Full-width values, a pointer into the resumer's stack, and NULL in/out pointers. */
    void *next = NULL;
    EXPECT_RC(FIBER_OK, fiber_suspend(P(UINTPTR_MAX), &next));
    EXPECT(next == P(UINTPTR_MAX - 1), "suspend returned %p, expected UINTPTR_MAX-1", next);
    EXPECT_RC(FIBER_OK, fiber_suspend(NULL, &next));
    *(int *)next = 4242; /* `next` points at a local of the resumer */
    EXPECT_RC(FIBER_OK, fiber_suspend(P(17), NULL));
    return arg;
}

static result_t case_suspend_resume_values_both_ways(void)
{
    fiber_t *f;
    REQUIRE_OK(fiber_create(&f, 0, values_entry, P(0xfeed)));
    void *out = NULL;
    REQUIRE_OK(fiber_resume(f, P(value_from_resumer(0)), &out));
    for (int r = 1; r <= VALUE_ROUNDS; r++) {
        REQUIRE(out == P(value_from_fiber(value_from_resumer(r - 1))),
                "round %d: resume returned %p, expected %p", r, out,
                P(value_from_fiber(value_from_resumer(r - 1))));
        REQUIRE(!fiber_done(f), "fiber done too early, at round %d", r);
        REQUIRE_OK(fiber_resume(f, P(value_from_resumer(r)), &out));
    }
    REQUIRE(out == P(UINTPTR_MAX), "resume returned %p, expected UINTPTR_MAX", out);
    REQUIRE_OK(fiber_resume(f, P(UINTPTR_MAX - 1), &out));
    REQUIRE(out == NULL, "resume returned %p, expected NULL", out);
    int local = 0;
    REQUIRE_OK(fiber_resume(f, &local, NULL)); /* out == NULL: the value 17 is dropped */
    EXPECT(local == 4242, "the fiber's write through a pointer to the resumer's stack was lost");
    REQUIRE_OK(fiber_resume(f, NULL, &out));
    EXPECT(out == P(0xfeed), "the final resume returned %p, expected the entry's result 0xfeed",
           out);
    EXPECT(fiber_done(f), "not done after the entry returned");
    REQUIRE_OK(fiber_destroy(f));
    return verdict();
}

/* ---------------------------------------------------------------------------------------
 * thousand_fibers_interleaved
 * ------------------------------------------------------------------------------------- */

#define MANY_FIBERS 1000
#define MANY_ROUNDS 20
#define MANY_STACK ((size_t)64 << 10)

static uintptr_t many_in(uintptr_t index, int round) { return index * 1000003u + (uintptr_t)round; }
static uintptr_t many_out(uintptr_t index, int round)
{
    return (index << 8) ^ (uintptr_t)round ^ 0xa5;
}

static void *many_entry(void *arg, void *first)
{
    uintptr_t index = U(arg);
    /* State on this fiber's own stack: must survive 999 other fibers running in between. */
    volatile uint32_t mine[32];
    for (int i = 0; i < 32; i++)
        mine[i] = (uint32_t)mix64(index * 64 + (uint64_t)i);
    void *in = first;
    for (int r = 0; r < MANY_ROUNDS; r++) {
        if (!EXPECT(in == P(many_in(index, r)), "fiber %u round %d: got %p, expected %p",
                    (unsigned)index, r, in, P(many_in(index, r))))
            return NULL;
        for (int i = 0; i < 32; i++)
            if (!EXPECT(mine[i] == (uint32_t)mix64(index * 64 + (uint64_t)i),
                        "fiber %u round %d: its stack data changed", (unsigned)index, r))
                return NULL;
        EXPECT_RC(FIBER_OK, fiber_suspend(P(many_out(index, r)), &in));
    }
    return P(index + 1);
}

static result_t case_thousand_fibers_interleaved(void)
{
    static fiber_t *f[MANY_FIBERS];
    size_t created = 0;
    for (; created < MANY_FIBERS; created++) {
        int rc = fiber_create(&f[created], MANY_STACK, many_entry, P(created));
        if (rc != FIBER_OK) {
            note_fail(__LINE__, "fiber_create #%u failed: %s", (unsigned)created,
                      fiber_strerror(rc));
            goto out;
        }
    }
    for (int r = 0; r < MANY_ROUNDS && !g_failed; r++) {
        for (uintptr_t i = 0; i < MANY_FIBERS && !g_failed; i++) {
            void *out = NULL;
            int rc = fiber_resume(f[i], P(many_in(i, r)), &out);
            if (!EXPECT(rc == FIBER_OK, "resume of fiber %u at round %d: %s", (unsigned)i, r,
                        fiber_strerror(rc)))
                break;
            EXPECT(out == P(many_out(i, r)), "fiber %u round %d: resume returned %p, expected %p",
                   (unsigned)i, r, out, P(many_out(i, r)));
        }
    }
    for (uintptr_t i = 0; i < MANY_FIBERS && !g_failed; i++) {
        void *out = NULL;
        int rc = fiber_resume(f[i], P(many_in(i, MANY_ROUNDS)), &out);
        EXPECT(rc == FIBER_OK && out == P(i + 1) && fiber_done(f[i]),
               "fiber %u did not finish with its result (rc=%d, out=%p)", (unsigned)i, rc, out);
    }
out:
    for (size_t i = 0; i < created; i++)
        EXPECT_RC(FIBER_OK, fiber_destroy(f[i]));
    return verdict();
}

/* ---------------------------------------------------------------------------------------
 * nested_fibers
 *
 * Phase 1: main resumes f0, each level resumes the next, the innermost suspends; each level
 *          receives its child's value and suspends its own, back up to main.
 * Phase 2: main resumes the innermost directly; its suspend must come back to main (its
 *          resumer this time), not to its suspended parent.
 * Phase 3: main resumes f0 again; the chain finishes from the inside out.
 * ------------------------------------------------------------------------------------- */

#define NEST_DEPTH 8
static fiber_t *nest_f[NEST_DEPTH];

static void *nest_entry(void *arg, void *first)
{
    int level = (int)U(arg);
    fiber_t *self = nest_f[level];
    EXPECT(fiber_current() == self, "level %d: fiber_current() is not the fiber", level);
    for (int a = 0; a <= level; a++)
        EXPECT(fiber_running(nest_f[a]), "level %d: ancestor %d is not reported running", level, a);
    if (level == NEST_DEPTH - 1) {
        EXPECT_RC(FIBER_OK, fiber_suspend(P(100 + level), NULL)); /* to level - 1 */
        /* Phase 2: resumed by main directly. */
        EXPECT(fiber_current() == self, "innermost: fiber_current() wrong in phase 2");
        for (int a = 0; a < level; a++)
            EXPECT(!fiber_running(nest_f[a]), "innermost, phase 2: level %d reported running", a);
        EXPECT_RC(FIBER_OK, fiber_suspend(P(200 + level), NULL)); /* to main */
        /* Phase 3: resumed by level - 1 again. */
        EXPECT(fiber_running(nest_f[level - 1]), "innermost, phase 3: parent not running");
        return P(300);
    }
    void *out = NULL;
    EXPECT_RC(FIBER_OK, fiber_resume(nest_f[level + 1], P(level + 1), &out));
    EXPECT(out == P(100 + level + 1), "level %d: child suspended %p, expected %d", level, out,
           100 + level + 1);
    EXPECT(fiber_current() == self, "level %d: fiber_current() wrong after the child suspended",
           level);
    EXPECT_RC(FIBER_OK, fiber_suspend(P(100 + level), NULL));
    /* Phase 3 */
    EXPECT(fiber_current() == self, "level %d: fiber_current() wrong in phase 3", level);
    EXPECT_RC(FIBER_OK, fiber_resume(nest_f[level + 1], NULL, &out));
    EXPECT(out == P(300), "level %d: the child returned %p, expected 300", level, out);
    EXPECT(fiber_done(nest_f[level + 1]), "level %d: the child is not done", level);
    EXPECT(fiber_current() == self, "level %d: fiber_current() wrong after the child finished",
           level);
    return P(300);
}

static result_t case_nested_fibers(void)
{
    for (int i = 0; i < NEST_DEPTH; i++)
        REQUIRE_OK(fiber_create(&nest_f[i], 0, nest_entry, P(i)));
    void *out = NULL;
    REQUIRE_OK(fiber_resume(nest_f[0], P(0), &out));
    EXPECT(out == P(100), "phase 1: main got %p, expected 100", out);
    EXPECT(fiber_current() == NULL, "phase 1: fiber_current() not NULL in main");
    for (int i = 0; i < NEST_DEPTH; i++)
        EXPECT(!fiber_running(nest_f[i]) && !fiber_done(nest_f[i]),
               "phase 1: level %d is not suspended", i);

    REQUIRE_OK(fiber_resume(nest_f[NEST_DEPTH - 1], NULL, &out));
    EXPECT(out == P(200 + NEST_DEPTH - 1),
           "phase 2: the innermost fiber's suspend went to %p, expected main to get %d", out,
           200 + NEST_DEPTH - 1);
    EXPECT(fiber_current() == NULL, "phase 2: fiber_current() not NULL in main");

    REQUIRE_OK(fiber_resume(nest_f[0], NULL, &out));
    EXPECT(out == P(300), "phase 3: main got %p, expected 300", out);
    for (int i = 0; i < NEST_DEPTH; i++) {
        EXPECT(fiber_done(nest_f[i]), "phase 3: level %d not done", i);
        EXPECT_RC(FIBER_OK, fiber_destroy(nest_f[i]));
    }
    return verdict();
}

/* ---------------------------------------------------------------------------------------
 * callee_saved_registers
 *
 * ft_regs_roundtrip(in, out, fn, arg), written in assembly per ABI below, saves its caller's
 * callee-saved registers, loads EVERY callee-saved integer and FP/SIMD register of the ABI
 * from `in`, calls fn(arg), stores the same registers to `out`, restores the caller's
 * registers and returns. Because fill, call and read happen in one assembly routine, no
 * compiled code touches those registers in between except through fn, which switches
 * fibers. Several fibers and the main stack each run roundtrips with their own patterns,
 * nested inside each other's switches, and check every register afterwards.
 * ------------------------------------------------------------------------------------- */

#if defined(__x86_64__) && !defined(_WIN32)
#define REGS_SUPPORTED 1
#define NGPR 6
#define NFPR 0
static const char *const gpr_names[NGPR] = {"rbx", "rbp", "r12", "r13", "r14", "r15"};
static const char *const fpr_names[1] = {""};
#elif defined(__x86_64__) && defined(_WIN32)
#define REGS_SUPPORTED 1
#define NGPR 8
#define NFPR 20
static const char *const gpr_names[NGPR] = {"rbx", "rbp", "rdi", "rsi", "r12", "r13", "r14", "r15"};
static const char *const fpr_names[NFPR] = {
    "xmm6.lo",  "xmm6.hi",  "xmm7.lo",  "xmm7.hi",  "xmm8.lo",  "xmm8.hi",  "xmm9.lo",
    "xmm9.hi",  "xmm10.lo", "xmm10.hi", "xmm11.lo", "xmm11.hi", "xmm12.lo", "xmm12.hi",
    "xmm13.lo", "xmm13.hi", "xmm14.lo", "xmm14.hi", "xmm15.lo", "xmm15.hi"};
#elif defined(__i386__) && !defined(_WIN32)
#define REGS_SUPPORTED 1
#define NGPR 4
#define NFPR 0
static const char *const gpr_names[NGPR] = {"ebx", "esi", "edi", "ebp"};
static const char *const fpr_names[1] = {""};
#elif defined(__aarch64__) && !defined(_WIN32)
#define REGS_SUPPORTED 1
#define NGPR 11
#define NFPR 8
static const char *const gpr_names[NGPR] = {"x19", "x20", "x21", "x22", "x23", "x24",
                                            "x25", "x26", "x27", "x28", "x29"};
static const char *const fpr_names[NFPR] = {"d8", "d9", "d10", "d11", "d12", "d13", "d14", "d15"};
#elif defined(__arm__) && !defined(_WIN32) && defined(__ARM_PCS_VFP)
#define REGS_SUPPORTED 1
#define NGPR 8
#define NFPR 8
static const char *const gpr_names[NGPR] = {"r4", "r5", "r6", "r7", "r8", "r9", "r10", "r11"};
static const char *const fpr_names[NFPR] = {"d8", "d9", "d10", "d11", "d12", "d13", "d14", "d15"};
#elif defined(__riscv) && __riscv_xlen == 64 && defined(__riscv_float_abi_double)
#define REGS_SUPPORTED 1
#define NGPR 12
#define NFPR 12
static const char *const gpr_names[NGPR] = {"s0", "s1", "s2", "s3", "s4",  "s5",
                                            "s6", "s7", "s8", "s9", "s10", "s11"};
static const char *const fpr_names[NFPR] = {"fs0", "fs1", "fs2", "fs3", "fs4",  "fs5",
                                            "fs6", "fs7", "fs8", "fs9", "fs10", "fs11"};
#elif defined(__s390x__)
#define REGS_SUPPORTED 1
#define NGPR 8
#define NFPR 8
static const char *const gpr_names[NGPR] = {"r6", "r7", "r8", "r9", "r10", "r11", "r12", "r13"};
static const char *const fpr_names[NFPR] = {"f8", "f9", "f10", "f11", "f12", "f13", "f14", "f15"};
#elif defined(__powerpc64__) && defined(_CALL_ELF) && _CALL_ELF == 2 && \
    __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
/* r14-r31, then two non-GPR entries the routine merges into its `out` (see there): the CR
   fields cr2-cr4 and VRSAVE. FPRs f14-f31, then v20-v31 as two doublewords each. r2 (the TOC
   pointer) is not among them: an indirect call re-derives it, so garbage cannot be passed
   through fn; within one module both sides of a switch share it anyway. */
#define REGS_SUPPORTED 1
#define NGPR 20
#define NFPR 42
static const char *const gpr_names[NGPR] = {"r14", "r15", "r16", "r17", "r18",     "r19",   "r20",
                                            "r21", "r22", "r23", "r24", "r25",     "r26",   "r27",
                                            "r28", "r29", "r30", "r31", "cr2-cr4", "vrsave"};
static const char *const fpr_names[NFPR] = {
    "f14",     "f15",     "f16",     "f17",     "f18",     "f19",     "f20",
    "f21",     "f22",     "f23",     "f24",     "f25",     "f26",     "f27",
    "f28",     "f29",     "f30",     "f31",     "v20.dw0", "v20.dw1", "v21.dw0",
    "v21.dw1", "v22.dw0", "v22.dw1", "v23.dw0", "v23.dw1", "v24.dw0", "v24.dw1",
    "v25.dw0", "v25.dw1", "v26.dw0", "v26.dw1", "v27.dw0", "v27.dw1", "v28.dw0",
    "v28.dw1", "v29.dw0", "v29.dw1", "v30.dw0", "v30.dw1", "v31.dw0", "v31.dw1"};
#elif defined(__loongarch64) && defined(__loongarch_double_float)
#define REGS_SUPPORTED 1
#define NGPR 10
#define NFPR 8
static const char *const gpr_names[NGPR] = {"fp", "s0", "s1", "s2", "s3",
                                            "s4", "s5", "s6", "s7", "s8"};
static const char *const fpr_names[NFPR] = {"fs0", "fs1", "fs2", "fs3", "fs4", "fs5", "fs6", "fs7"};
#else
#define REGS_SUPPORTED 0
#define NGPR 1
#define NFPR 0
static const char *const gpr_names[1] = {""};
static const char *const fpr_names[1] = {""};
#endif

struct regset {
    uintptr_t gpr[NGPR];
    uint64_t fpr[NFPR > 0 ? NFPR : 1];
};

#if REGS_SUPPORTED
void ft_regs_roundtrip(const struct regset *in, struct regset *out, void (*fn)(void *), void *arg);
#endif

#if defined(__x86_64__) && !defined(_WIN32)
_Static_assert(sizeof(struct regset) >= 48, "layout assumed by the assembly");
__asm__(".pushsection .text\n"
        ".globl ft_regs_roundtrip\n"
        ".type ft_regs_roundtrip, @function\n"
        ".p2align 4\n"
        "ft_regs_roundtrip:\n"          /* rdi = in, rsi = out, rdx = fn, rcx = arg */
        "    pushq %rbp\n"
        "    pushq %rbx\n"
        "    pushq %r12\n"
        "    pushq %r13\n"
        "    pushq %r14\n"
        "    pushq %r15\n"
        "    pushq %rsi\n"              /* out; 7 pushes + return address: rsp is 16-aligned */
        "    movq %rdi, %r11\n"
        "    movq %rdx, %rax\n"
        "    movq %rcx, %rdi\n"
        "    movq 0(%r11), %rbx\n"
        "    movq 8(%r11), %rbp\n"
        "    movq 16(%r11), %r12\n"
        "    movq 24(%r11), %r13\n"
        "    movq 32(%r11), %r14\n"
        "    movq 40(%r11), %r15\n"
        "    callq *%rax\n"
        "    popq %rax\n"
        "    movq %rbx, 0(%rax)\n"
        "    movq %rbp, 8(%rax)\n"
        "    movq %r12, 16(%rax)\n"
        "    movq %r13, 24(%rax)\n"
        "    movq %r14, 32(%rax)\n"
        "    movq %r15, 40(%rax)\n"
        "    popq %r15\n"
        "    popq %r14\n"
        "    popq %r13\n"
        "    popq %r12\n"
        "    popq %rbx\n"
        "    popq %rbp\n"
        "    ret\n"
        ".size ft_regs_roundtrip, . - ft_regs_roundtrip\n"
        ".popsection\n");
#elif defined(__x86_64__) && defined(_WIN32)
_Static_assert(offsetof(struct regset, fpr) == 64, "layout assumed by the assembly");
__asm__(".text\n"
        ".globl ft_regs_roundtrip\n"
        ".def ft_regs_roundtrip; .scl 2; .type 32; .endef\n"
        ".p2align 4\n"
        "ft_regs_roundtrip:\n"          /* rcx = in, rdx = out, r8 = fn, r9 = arg */
        "    pushq %rbp\n"
        "    pushq %rbx\n"
        "    pushq %rdi\n"
        "    pushq %rsi\n"
        "    pushq %r12\n"
        "    pushq %r13\n"
        "    pushq %r14\n"
        "    pushq %r15\n"
        "    subq $200, %rsp\n"         /* 32 shadow + out + 10 xmm; rsp ends 16-aligned */
        "    movq %rdx, 32(%rsp)\n"
        "    movdqu %xmm6, 40(%rsp)\n"
        "    movdqu %xmm7, 56(%rsp)\n"
        "    movdqu %xmm8, 72(%rsp)\n"
        "    movdqu %xmm9, 88(%rsp)\n"
        "    movdqu %xmm10, 104(%rsp)\n"
        "    movdqu %xmm11, 120(%rsp)\n"
        "    movdqu %xmm12, 136(%rsp)\n"
        "    movdqu %xmm13, 152(%rsp)\n"
        "    movdqu %xmm14, 168(%rsp)\n"
        "    movdqu %xmm15, 184(%rsp)\n"
        "    movq %rcx, %r10\n"
        "    movq %r8, %rax\n"
        "    movq %r9, %rcx\n"
        "    movq 0(%r10), %rbx\n"
        "    movq 8(%r10), %rbp\n"
        "    movq 16(%r10), %rdi\n"
        "    movq 24(%r10), %rsi\n"
        "    movq 32(%r10), %r12\n"
        "    movq 40(%r10), %r13\n"
        "    movq 48(%r10), %r14\n"
        "    movq 56(%r10), %r15\n"
        "    movdqu 64(%r10), %xmm6\n"
        "    movdqu 80(%r10), %xmm7\n"
        "    movdqu 96(%r10), %xmm8\n"
        "    movdqu 112(%r10), %xmm9\n"
        "    movdqu 128(%r10), %xmm10\n"
        "    movdqu 144(%r10), %xmm11\n"
        "    movdqu 160(%r10), %xmm12\n"
        "    movdqu 176(%r10), %xmm13\n"
        "    movdqu 192(%r10), %xmm14\n"
        "    movdqu 208(%r10), %xmm15\n"
        "    callq *%rax\n"
        "    movq 32(%rsp), %rax\n"
        "    movq %rbx, 0(%rax)\n"
        "    movq %rbp, 8(%rax)\n"
        "    movq %rdi, 16(%rax)\n"
        "    movq %rsi, 24(%rax)\n"
        "    movq %r12, 32(%rax)\n"
        "    movq %r13, 40(%rax)\n"
        "    movq %r14, 48(%rax)\n"
        "    movq %r15, 56(%rax)\n"
        "    movdqu %xmm6, 64(%rax)\n"
        "    movdqu %xmm7, 80(%rax)\n"
        "    movdqu %xmm8, 96(%rax)\n"
        "    movdqu %xmm9, 112(%rax)\n"
        "    movdqu %xmm10, 128(%rax)\n"
        "    movdqu %xmm11, 144(%rax)\n"
        "    movdqu %xmm12, 160(%rax)\n"
        "    movdqu %xmm13, 176(%rax)\n"
        "    movdqu %xmm14, 192(%rax)\n"
        "    movdqu %xmm15, 208(%rax)\n"
        "    movdqu 40(%rsp), %xmm6\n"
        "    movdqu 56(%rsp), %xmm7\n"
        "    movdqu 72(%rsp), %xmm8\n"
        "    movdqu 88(%rsp), %xmm9\n"
        "    movdqu 104(%rsp), %xmm10\n"
        "    movdqu 120(%rsp), %xmm11\n"
        "    movdqu 136(%rsp), %xmm12\n"
        "    movdqu 152(%rsp), %xmm13\n"
        "    movdqu 168(%rsp), %xmm14\n"
        "    movdqu 184(%rsp), %xmm15\n"
        "    addq $200, %rsp\n"
        "    popq %r15\n"
        "    popq %r14\n"
        "    popq %r13\n"
        "    popq %r12\n"
        "    popq %rsi\n"
        "    popq %rdi\n"
        "    popq %rbx\n"
        "    popq %rbp\n"
        "    ret\n");
#elif defined(__i386__) && !defined(_WIN32)
__asm__(".pushsection .text\n"
        ".globl ft_regs_roundtrip\n"
        ".type ft_regs_roundtrip, @function\n"
        ".p2align 4\n"
        "ft_regs_roundtrip:\n"          /* 4(%esp) in, 8 out, 12 fn, 16 arg */
        "    pushl %ebp\n"
        "    pushl %ebx\n"
        "    pushl %esi\n"
        "    pushl %edi\n"              /* now: 20(%esp) in, 24 out, 28 fn, 32 arg */
        "    movl 20(%esp), %edx\n"
        "    movl 28(%esp), %eax\n"
        "    movl 32(%esp), %ecx\n"
        "    movl 24(%esp), %ebx\n"
        "    pushl %ebx\n"              /* out */
        "    subl $4, %esp\n"           /* keep the call 16-byte aligned */
        "    pushl %ecx\n"              /* arg */
        "    movl 0(%edx), %ebx\n"
        "    movl 4(%edx), %esi\n"
        "    movl 8(%edx), %edi\n"
        "    movl 12(%edx), %ebp\n"
        "    calll *%eax\n"
        "    addl $8, %esp\n"
        "    popl %ecx\n"
        "    movl %ebx, 0(%ecx)\n"
        "    movl %esi, 4(%ecx)\n"
        "    movl %edi, 8(%ecx)\n"
        "    movl %ebp, 12(%ecx)\n"
        "    popl %edi\n"
        "    popl %esi\n"
        "    popl %ebx\n"
        "    popl %ebp\n"
        "    ret\n"
        ".size ft_regs_roundtrip, . - ft_regs_roundtrip\n"
        ".popsection\n");
#elif defined(__aarch64__) && !defined(_WIN32)
_Static_assert(offsetof(struct regset, fpr) == 88, "layout assumed by the assembly");
__asm__(".pushsection .text\n"
        ".globl ft_regs_roundtrip\n"
        ".type ft_regs_roundtrip, %function\n"
        ".p2align 2\n"
        "ft_regs_roundtrip:\n"          /* x0 = in, x1 = out, x2 = fn, x3 = arg */
        "    stp x29, x30, [sp, #-176]!\n"
        "    stp x19, x20, [sp, #16]\n"
        "    stp x21, x22, [sp, #32]\n"
        "    stp x23, x24, [sp, #48]\n"
        "    stp x25, x26, [sp, #64]\n"
        "    stp x27, x28, [sp, #80]\n"
        "    stp d8, d9, [sp, #96]\n"
        "    stp d10, d11, [sp, #112]\n"
        "    stp d12, d13, [sp, #128]\n"
        "    stp d14, d15, [sp, #144]\n"
        "    str x1, [sp, #160]\n"
        "    mov x16, x2\n"
        "    mov x9, x0\n"
        "    mov x0, x3\n"
        "    ldp x19, x20, [x9, #0]\n"
        "    ldp x21, x22, [x9, #16]\n"
        "    ldp x23, x24, [x9, #32]\n"
        "    ldp x25, x26, [x9, #48]\n"
        "    ldp x27, x28, [x9, #64]\n"
        "    ldr x29, [x9, #80]\n"
        "    ldp d8, d9, [x9, #88]\n"
        "    ldp d10, d11, [x9, #104]\n"
        "    ldp d12, d13, [x9, #120]\n"
        "    ldp d14, d15, [x9, #136]\n"
        "    blr x16\n"
        "    ldr x9, [sp, #160]\n"
        "    stp x19, x20, [x9, #0]\n"
        "    stp x21, x22, [x9, #16]\n"
        "    stp x23, x24, [x9, #32]\n"
        "    stp x25, x26, [x9, #48]\n"
        "    stp x27, x28, [x9, #64]\n"
        "    str x29, [x9, #80]\n"
        "    stp d8, d9, [x9, #88]\n"
        "    stp d10, d11, [x9, #104]\n"
        "    stp d12, d13, [x9, #120]\n"
        "    stp d14, d15, [x9, #136]\n"
        "    ldp x19, x20, [sp, #16]\n"
        "    ldp x21, x22, [sp, #32]\n"
        "    ldp x23, x24, [sp, #48]\n"
        "    ldp x25, x26, [sp, #64]\n"
        "    ldp x27, x28, [sp, #80]\n"
        "    ldp d8, d9, [sp, #96]\n"
        "    ldp d10, d11, [sp, #112]\n"
        "    ldp d12, d13, [sp, #128]\n"
        "    ldp d14, d15, [sp, #144]\n"
        "    ldp x29, x30, [sp], #176\n"
        "    ret\n"
        ".size ft_regs_roundtrip, . - ft_regs_roundtrip\n"
        ".popsection\n");
#elif defined(__arm__) && !defined(_WIN32) && defined(__ARM_PCS_VFP)
_Static_assert(offsetof(struct regset, fpr) == 32, "layout assumed by the assembly");
/* ARM (not Thumb) state; `%function` makes the linker turn Thumb-2 callers' BL into BLX. */
__asm__(".pushsection .text\n"
        ".syntax unified\n"
        ".arm\n"
        ".p2align 2\n"
        ".globl ft_regs_roundtrip\n"
        ".type ft_regs_roundtrip, %function\n"
        "ft_regs_roundtrip:\n"          /* r0 = in, r1 = out, r2 = fn, r3 = arg */
        "    push {r1, r4-r11, lr}\n"   /* 10 words: sp stays 8-byte aligned */
        "    vpush {d8-d15}\n"
        "    mov r12, r2\n"
        "    add r2, r0, #32\n"
        "    vldmia r2, {d8-d15}\n"
        "    ldmia r0, {r4-r11}\n"
        "    mov r0, r3\n"
        "    blx r12\n"
        "    ldr r1, [sp, #64]\n"
        "    stmia r1, {r4-r11}\n"
        "    add r1, r1, #32\n"
        "    vstmia r1, {d8-d15}\n"
        "    vpop {d8-d15}\n"
        "    pop {r1, r4-r11, pc}\n"
        ".size ft_regs_roundtrip, . - ft_regs_roundtrip\n"
#if defined(__thumb__)
        ".thumb\n"
#endif
        ".popsection\n");
#elif defined(__riscv) && __riscv_xlen == 64 && defined(__riscv_float_abi_double)
_Static_assert(offsetof(struct regset, fpr) == 96, "layout assumed by the assembly");
__asm__(".pushsection .text\n"
        ".globl ft_regs_roundtrip\n"
        ".type ft_regs_roundtrip, @function\n"
        ".p2align 2\n"
        "ft_regs_roundtrip:\n"          /* a0 = in, a1 = out, a2 = fn, a3 = arg */
        "    addi sp, sp, -208\n"       /* ra, out, s0-s11, fs0-fs11: 26 doublewords */
        "    sd ra, 0(sp)\n"
        "    sd a1, 8(sp)\n"
        "    sd s0, 16(sp)\n"
        "    sd s1, 24(sp)\n"
        "    sd s2, 32(sp)\n"
        "    sd s3, 40(sp)\n"
        "    sd s4, 48(sp)\n"
        "    sd s5, 56(sp)\n"
        "    sd s6, 64(sp)\n"
        "    sd s7, 72(sp)\n"
        "    sd s8, 80(sp)\n"
        "    sd s9, 88(sp)\n"
        "    sd s10, 96(sp)\n"
        "    sd s11, 104(sp)\n"
        "    fsd fs0, 112(sp)\n"
        "    fsd fs1, 120(sp)\n"
        "    fsd fs2, 128(sp)\n"
        "    fsd fs3, 136(sp)\n"
        "    fsd fs4, 144(sp)\n"
        "    fsd fs5, 152(sp)\n"
        "    fsd fs6, 160(sp)\n"
        "    fsd fs7, 168(sp)\n"
        "    fsd fs8, 176(sp)\n"
        "    fsd fs9, 184(sp)\n"
        "    fsd fs10, 192(sp)\n"
        "    fsd fs11, 200(sp)\n"
        "    mv t0, a0\n"
        "    mv t1, a2\n"
        "    mv a0, a3\n"
        "    ld s0, 0(t0)\n"
        "    ld s1, 8(t0)\n"
        "    ld s2, 16(t0)\n"
        "    ld s3, 24(t0)\n"
        "    ld s4, 32(t0)\n"
        "    ld s5, 40(t0)\n"
        "    ld s6, 48(t0)\n"
        "    ld s7, 56(t0)\n"
        "    ld s8, 64(t0)\n"
        "    ld s9, 72(t0)\n"
        "    ld s10, 80(t0)\n"
        "    ld s11, 88(t0)\n"
        "    fld fs0, 96(t0)\n"
        "    fld fs1, 104(t0)\n"
        "    fld fs2, 112(t0)\n"
        "    fld fs3, 120(t0)\n"
        "    fld fs4, 128(t0)\n"
        "    fld fs5, 136(t0)\n"
        "    fld fs6, 144(t0)\n"
        "    fld fs7, 152(t0)\n"
        "    fld fs8, 160(t0)\n"
        "    fld fs9, 168(t0)\n"
        "    fld fs10, 176(t0)\n"
        "    fld fs11, 184(t0)\n"
        "    jalr t1\n"
        "    ld t0, 8(sp)\n"
        "    sd s0, 0(t0)\n"
        "    sd s1, 8(t0)\n"
        "    sd s2, 16(t0)\n"
        "    sd s3, 24(t0)\n"
        "    sd s4, 32(t0)\n"
        "    sd s5, 40(t0)\n"
        "    sd s6, 48(t0)\n"
        "    sd s7, 56(t0)\n"
        "    sd s8, 64(t0)\n"
        "    sd s9, 72(t0)\n"
        "    sd s10, 80(t0)\n"
        "    sd s11, 88(t0)\n"
        "    fsd fs0, 96(t0)\n"
        "    fsd fs1, 104(t0)\n"
        "    fsd fs2, 112(t0)\n"
        "    fsd fs3, 120(t0)\n"
        "    fsd fs4, 128(t0)\n"
        "    fsd fs5, 136(t0)\n"
        "    fsd fs6, 144(t0)\n"
        "    fsd fs7, 152(t0)\n"
        "    fsd fs8, 160(t0)\n"
        "    fsd fs9, 168(t0)\n"
        "    fsd fs10, 176(t0)\n"
        "    fsd fs11, 184(t0)\n"
        "    ld ra, 0(sp)\n"
        "    ld s0, 16(sp)\n"
        "    ld s1, 24(sp)\n"
        "    ld s2, 32(sp)\n"
        "    ld s3, 40(sp)\n"
        "    ld s4, 48(sp)\n"
        "    ld s5, 56(sp)\n"
        "    ld s6, 64(sp)\n"
        "    ld s7, 72(sp)\n"
        "    ld s8, 80(sp)\n"
        "    ld s9, 88(sp)\n"
        "    ld s10, 96(sp)\n"
        "    ld s11, 104(sp)\n"
        "    fld fs0, 112(sp)\n"
        "    fld fs1, 120(sp)\n"
        "    fld fs2, 128(sp)\n"
        "    fld fs3, 136(sp)\n"
        "    fld fs4, 144(sp)\n"
        "    fld fs5, 152(sp)\n"
        "    fld fs6, 160(sp)\n"
        "    fld fs7, 168(sp)\n"
        "    fld fs8, 176(sp)\n"
        "    fld fs9, 184(sp)\n"
        "    fld fs10, 192(sp)\n"
        "    fld fs11, 200(sp)\n"
        "    addi sp, sp, 208\n"
        "    ret\n"
        ".size ft_regs_roundtrip, . - ft_regs_roundtrip\n"
        ".popsection\n");
#elif defined(__s390x__)
_Static_assert(offsetof(struct regset, fpr) == 64, "layout assumed by the assembly");
__asm__(".pushsection .text\n"
        ".globl ft_regs_roundtrip\n"
        ".type ft_regs_roundtrip, @function\n"
        ".p2align 3\n"
        "ft_regs_roundtrip:\n"          /* r2 = in, r3 = out, r4 = fn, r5 = arg */
        "    stmg %r6, %r15, 48(%r15)\n"    /* into the save area our caller provides */
        "    lay %r15, -232(%r15)\n"        /* 160-byte save area for fn, f8-f15, out */
        "    std %f8, 160(%r15)\n"
        "    std %f9, 168(%r15)\n"
        "    std %f10, 176(%r15)\n"
        "    std %f11, 184(%r15)\n"
        "    std %f12, 192(%r15)\n"
        "    std %f13, 200(%r15)\n"
        "    std %f14, 208(%r15)\n"
        "    std %f15, 216(%r15)\n"
        "    stg %r3, 224(%r15)\n"
        "    lgr %r1, %r2\n"
        "    lgr %r2, %r5\n"
        "    lmg %r6, %r13, 0(%r1)\n"
        "    ld %f8, 64(%r1)\n"
        "    ld %f9, 72(%r1)\n"
        "    ld %f10, 80(%r1)\n"
        "    ld %f11, 88(%r1)\n"
        "    ld %f12, 96(%r1)\n"
        "    ld %f13, 104(%r1)\n"
        "    ld %f14, 112(%r1)\n"
        "    ld %f15, 120(%r1)\n"
        "    basr %r14, %r4\n"
        "    lg %r1, 224(%r15)\n"
        "    stmg %r6, %r13, 0(%r1)\n"
        "    std %f8, 64(%r1)\n"
        "    std %f9, 72(%r1)\n"
        "    std %f10, 80(%r1)\n"
        "    std %f11, 88(%r1)\n"
        "    std %f12, 96(%r1)\n"
        "    std %f13, 104(%r1)\n"
        "    std %f14, 112(%r1)\n"
        "    std %f15, 120(%r1)\n"
        "    ld %f8, 160(%r15)\n"
        "    ld %f9, 168(%r15)\n"
        "    ld %f10, 176(%r15)\n"
        "    ld %f11, 184(%r15)\n"
        "    ld %f12, 192(%r15)\n"
        "    ld %f13, 200(%r15)\n"
        "    ld %f14, 208(%r15)\n"
        "    ld %f15, 216(%r15)\n"
        "    lmg %r6, %r15, 280(%r15)\n"    /* 232 + 48: r15 comes back as the caller's */
        "    br %r14\n"
        ".size ft_regs_roundtrip, . - ft_regs_roundtrip\n"
        ".popsection\n");
#elif defined(__powerpc64__) && defined(_CALL_ELF) && _CALL_ELF == 2 && \
    __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
_Static_assert(offsetof(struct regset, fpr) == 160, "layout assumed by the assembly");
/* Frame (544 bytes): 0 back chain, 24 r2, 32 out, 40 in, 48 r14-r31, 192 f14-f31,
   336 v20-v31 (16-aligned: stvx), 528 VRSAVE. The vectors of `in`/`out` need not be 16-byte
   aligned, so they move with lxvd2x/stxvd2x (VSX, any alignment; v20-v31 are vs52-vs63); the
   pair keeps the memory image whatever element order it uses in the register. Entries 18
   and 19 of gpr are not registers but what the routine reads back after fn: the CR with
   fields cr2-cr4 (mask 0x00fff000) taken from the register and the other bits from `in`, and
   VRSAVE in the low word with the high word from `in`, so that `out` equals `in` exactly
   when cr2-cr4 and VRSAVE were preserved. */
__asm__(".pushsection .text\n"
        ".abiversion 2\n"
        ".globl ft_regs_roundtrip\n"
        ".type ft_regs_roundtrip, @function\n"
        ".p2align 4\n"
        "ft_regs_roundtrip:\n"          /* r3 = in, r4 = out, r5 = fn, r6 = arg */
        "    mflr %r0\n"
        "    std %r0, 16(%r1)\n"
        "    mfcr %r12\n"
        "    stw %r12, 8(%r1)\n"
        "    stdu %r1, -544(%r1)\n"
        "    std %r2, 24(%r1)\n"
        "    std %r4, 32(%r1)\n"
        "    std %r3, 40(%r1)\n"
        "    std %r14, 48(%r1)\n"
        "    std %r15, 56(%r1)\n"
        "    std %r16, 64(%r1)\n"
        "    std %r17, 72(%r1)\n"
        "    std %r18, 80(%r1)\n"
        "    std %r19, 88(%r1)\n"
        "    std %r20, 96(%r1)\n"
        "    std %r21, 104(%r1)\n"
        "    std %r22, 112(%r1)\n"
        "    std %r23, 120(%r1)\n"
        "    std %r24, 128(%r1)\n"
        "    std %r25, 136(%r1)\n"
        "    std %r26, 144(%r1)\n"
        "    std %r27, 152(%r1)\n"
        "    std %r28, 160(%r1)\n"
        "    std %r29, 168(%r1)\n"
        "    std %r30, 176(%r1)\n"
        "    std %r31, 184(%r1)\n"
        "    stfd %f14, 192(%r1)\n"
        "    stfd %f15, 200(%r1)\n"
        "    stfd %f16, 208(%r1)\n"
        "    stfd %f17, 216(%r1)\n"
        "    stfd %f18, 224(%r1)\n"
        "    stfd %f19, 232(%r1)\n"
        "    stfd %f20, 240(%r1)\n"
        "    stfd %f21, 248(%r1)\n"
        "    stfd %f22, 256(%r1)\n"
        "    stfd %f23, 264(%r1)\n"
        "    stfd %f24, 272(%r1)\n"
        "    stfd %f25, 280(%r1)\n"
        "    stfd %f26, 288(%r1)\n"
        "    stfd %f27, 296(%r1)\n"
        "    stfd %f28, 304(%r1)\n"
        "    stfd %f29, 312(%r1)\n"
        "    stfd %f30, 320(%r1)\n"
        "    stfd %f31, 328(%r1)\n"
        "    li %r7, 336\n"
        "    li %r8, 352\n"
        "    li %r9, 368\n"
        "    li %r10, 384\n"
        "    stvx %v20, %r1, %r7\n"
        "    stvx %v21, %r1, %r8\n"
        "    stvx %v22, %r1, %r9\n"
        "    stvx %v23, %r1, %r10\n"
        "    li %r7, 400\n"
        "    li %r8, 416\n"
        "    li %r9, 432\n"
        "    li %r10, 448\n"
        "    stvx %v24, %r1, %r7\n"
        "    stvx %v25, %r1, %r8\n"
        "    stvx %v26, %r1, %r9\n"
        "    stvx %v27, %r1, %r10\n"
        "    li %r7, 464\n"
        "    li %r8, 480\n"
        "    li %r9, 496\n"
        "    li %r10, 512\n"
        "    stvx %v28, %r1, %r7\n"
        "    stvx %v29, %r1, %r8\n"
        "    stvx %v30, %r1, %r9\n"
        "    stvx %v31, %r1, %r10\n"
        "    mfvrsave %r7\n"
        "    stw %r7, 528(%r1)\n"
    /* Load everything from `in` (r3). */
        "    ld %r14, 0(%r3)\n"
        "    ld %r15, 8(%r3)\n"
        "    ld %r16, 16(%r3)\n"
        "    ld %r17, 24(%r3)\n"
        "    ld %r18, 32(%r3)\n"
        "    ld %r19, 40(%r3)\n"
        "    ld %r20, 48(%r3)\n"
        "    ld %r21, 56(%r3)\n"
        "    ld %r22, 64(%r3)\n"
        "    ld %r23, 72(%r3)\n"
        "    ld %r24, 80(%r3)\n"
        "    ld %r25, 88(%r3)\n"
        "    ld %r26, 96(%r3)\n"
        "    ld %r27, 104(%r3)\n"
        "    ld %r28, 112(%r3)\n"
        "    ld %r29, 120(%r3)\n"
        "    ld %r30, 128(%r3)\n"
        "    ld %r31, 136(%r3)\n"
        "    ld %r7, 144(%r3)\n"
        "    mtcrf 0x38, %r7\n"
        "    ld %r7, 152(%r3)\n"
        "    mtvrsave %r7\n"
        "    lfd %f14, 160(%r3)\n"
        "    lfd %f15, 168(%r3)\n"
        "    lfd %f16, 176(%r3)\n"
        "    lfd %f17, 184(%r3)\n"
        "    lfd %f18, 192(%r3)\n"
        "    lfd %f19, 200(%r3)\n"
        "    lfd %f20, 208(%r3)\n"
        "    lfd %f21, 216(%r3)\n"
        "    lfd %f22, 224(%r3)\n"
        "    lfd %f23, 232(%r3)\n"
        "    lfd %f24, 240(%r3)\n"
        "    lfd %f25, 248(%r3)\n"
        "    lfd %f26, 256(%r3)\n"
        "    lfd %f27, 264(%r3)\n"
        "    lfd %f28, 272(%r3)\n"
        "    lfd %f29, 280(%r3)\n"
        "    lfd %f30, 288(%r3)\n"
        "    lfd %f31, 296(%r3)\n"
        "    addi %r9, %r3, 304\n"
        "    li %r10, 16\n"
        "    lxvd2x %vs52, 0, %r9\n"
        "    addi %r9, %r9, 16\n"
        "    lxvd2x %vs53, 0, %r9\n"
        "    addi %r9, %r9, 16\n"
        "    lxvd2x %vs54, 0, %r9\n"
        "    addi %r9, %r9, 16\n"
        "    lxvd2x %vs55, 0, %r9\n"
        "    addi %r9, %r9, 16\n"
        "    lxvd2x %vs56, 0, %r9\n"
        "    addi %r9, %r9, 16\n"
        "    lxvd2x %vs57, 0, %r9\n"
        "    addi %r9, %r9, 16\n"
        "    lxvd2x %vs58, 0, %r9\n"
        "    addi %r9, %r9, 16\n"
        "    lxvd2x %vs59, 0, %r9\n"
        "    addi %r9, %r9, 16\n"
        "    lxvd2x %vs60, 0, %r9\n"
        "    addi %r9, %r9, 16\n"
        "    lxvd2x %vs61, 0, %r9\n"
        "    addi %r9, %r9, 16\n"
        "    lxvd2x %vs62, 0, %r9\n"
        "    addi %r9, %r9, 16\n"
        "    lxvd2x %vs63, 0, %r9\n"
        /* fn(arg): an ELF V2 indirect call, target in r12; r2 reloaded from our frame after. */
        "    mr %r12, %r5\n"
        "    mtctr %r12\n"
        "    mr %r3, %r6\n"
        "    bctrl\n"
        "    ld %r2, 24(%r1)\n"
        "    ld %r4, 32(%r1)\n"
        "    ld %r3, 40(%r1)\n"
        "    std %r14, 0(%r4)\n"
        "    std %r15, 8(%r4)\n"
        "    std %r16, 16(%r4)\n"
        "    std %r17, 24(%r4)\n"
        "    std %r18, 32(%r4)\n"
        "    std %r19, 40(%r4)\n"
        "    std %r20, 48(%r4)\n"
        "    std %r21, 56(%r4)\n"
        "    std %r22, 64(%r4)\n"
        "    std %r23, 72(%r4)\n"
        "    std %r24, 80(%r4)\n"
        "    std %r25, 88(%r4)\n"
        "    std %r26, 96(%r4)\n"
        "    std %r27, 104(%r4)\n"
        "    std %r28, 112(%r4)\n"
        "    std %r29, 120(%r4)\n"
        "    std %r30, 128(%r4)\n"
        "    std %r31, 136(%r4)\n"
        "    mfcr %r7\n" /* out = in with cr2-cr4 replaced by the register's */
        "    ld %r8, 144(%r3)\n"
        "    lis %r9, 0x00ff\n"
        "    ori %r9, %r9, 0xf000\n"
        "    xor %r10, %r7, %r8\n"
        "    and %r10, %r10, %r9\n"
        "    xor %r8, %r8, %r10\n"
        "    std %r8, 144(%r4)\n"
        "    mfvrsave %r7\n" /* out = in with the low word replaced by VRSAVE */
        "    ld %r8, 152(%r3)\n"
        "    rldimi %r8, %r7, 0, 32\n"
        "    std %r8, 152(%r4)\n"
        "    stfd %f14, 160(%r4)\n"
        "    stfd %f15, 168(%r4)\n"
        "    stfd %f16, 176(%r4)\n"
        "    stfd %f17, 184(%r4)\n"
        "    stfd %f18, 192(%r4)\n"
        "    stfd %f19, 200(%r4)\n"
        "    stfd %f20, 208(%r4)\n"
        "    stfd %f21, 216(%r4)\n"
        "    stfd %f22, 224(%r4)\n"
        "    stfd %f23, 232(%r4)\n"
        "    stfd %f24, 240(%r4)\n"
        "    stfd %f25, 248(%r4)\n"
        "    stfd %f26, 256(%r4)\n"
        "    stfd %f27, 264(%r4)\n"
        "    stfd %f28, 272(%r4)\n"
        "    stfd %f29, 280(%r4)\n"
        "    stfd %f30, 288(%r4)\n"
        "    stfd %f31, 296(%r4)\n"
        "    addi %r9, %r4, 304\n"
        "    stxvd2x %vs52, 0, %r9\n"
        "    addi %r9, %r9, 16\n"
        "    stxvd2x %vs53, 0, %r9\n"
        "    addi %r9, %r9, 16\n"
        "    stxvd2x %vs54, 0, %r9\n"
        "    addi %r9, %r9, 16\n"
        "    stxvd2x %vs55, 0, %r9\n"
        "    addi %r9, %r9, 16\n"
        "    stxvd2x %vs56, 0, %r9\n"
        "    addi %r9, %r9, 16\n"
        "    stxvd2x %vs57, 0, %r9\n"
        "    addi %r9, %r9, 16\n"
        "    stxvd2x %vs58, 0, %r9\n"
        "    addi %r9, %r9, 16\n"
        "    stxvd2x %vs59, 0, %r9\n"
        "    addi %r9, %r9, 16\n"
        "    stxvd2x %vs60, 0, %r9\n"
        "    addi %r9, %r9, 16\n"
        "    stxvd2x %vs61, 0, %r9\n"
        "    addi %r9, %r9, 16\n"
        "    stxvd2x %vs62, 0, %r9\n"
        "    addi %r9, %r9, 16\n"
        "    stxvd2x %vs63, 0, %r9\n"
        /* Restore the caller's registers. */
        "    li %r7, 336\n"
        "    li %r8, 352\n"
        "    li %r9, 368\n"
        "    li %r10, 384\n"
        "    lvx %v20, %r1, %r7\n"
        "    lvx %v21, %r1, %r8\n"
        "    lvx %v22, %r1, %r9\n"
        "    lvx %v23, %r1, %r10\n"
        "    li %r7, 400\n"
        "    li %r8, 416\n"
        "    li %r9, 432\n"
        "    li %r10, 448\n"
        "    lvx %v24, %r1, %r7\n"
        "    lvx %v25, %r1, %r8\n"
        "    lvx %v26, %r1, %r9\n"
        "    lvx %v27, %r1, %r10\n"
        "    li %r7, 464\n"
        "    li %r8, 480\n"
        "    li %r9, 496\n"
        "    li %r10, 512\n"
        "    lvx %v28, %r1, %r7\n"
        "    lvx %v29, %r1, %r8\n"
        "    lvx %v30, %r1, %r9\n"
        "    lvx %v31, %r1, %r10\n"
        "    lwz %r7, 528(%r1)\n"
        "    mtvrsave %r7\n"
        "    ld %r14, 48(%r1)\n"
        "    ld %r15, 56(%r1)\n"
        "    ld %r16, 64(%r1)\n"
        "    ld %r17, 72(%r1)\n"
        "    ld %r18, 80(%r1)\n"
        "    ld %r19, 88(%r1)\n"
        "    ld %r20, 96(%r1)\n"
        "    ld %r21, 104(%r1)\n"
        "    ld %r22, 112(%r1)\n"
        "    ld %r23, 120(%r1)\n"
        "    ld %r24, 128(%r1)\n"
        "    ld %r25, 136(%r1)\n"
        "    ld %r26, 144(%r1)\n"
        "    ld %r27, 152(%r1)\n"
        "    ld %r28, 160(%r1)\n"
        "    ld %r29, 168(%r1)\n"
        "    ld %r30, 176(%r1)\n"
        "    ld %r31, 184(%r1)\n"
        "    lfd %f14, 192(%r1)\n"
        "    lfd %f15, 200(%r1)\n"
        "    lfd %f16, 208(%r1)\n"
        "    lfd %f17, 216(%r1)\n"
        "    lfd %f18, 224(%r1)\n"
        "    lfd %f19, 232(%r1)\n"
        "    lfd %f20, 240(%r1)\n"
        "    lfd %f21, 248(%r1)\n"
        "    lfd %f22, 256(%r1)\n"
        "    lfd %f23, 264(%r1)\n"
        "    lfd %f24, 272(%r1)\n"
        "    lfd %f25, 280(%r1)\n"
        "    lfd %f26, 288(%r1)\n"
        "    lfd %f27, 296(%r1)\n"
        "    lfd %f28, 304(%r1)\n"
        "    lfd %f29, 312(%r1)\n"
        "    lfd %f30, 320(%r1)\n"
        "    lfd %f31, 328(%r1)\n"
        "    addi %r1, %r1, 544\n"
        "    ld %r0, 16(%r1)\n"
        "    mtlr %r0\n"
        "    lwz %r12, 8(%r1)\n"
        "    mtcrf 0x38, %r12\n"
        "    blr\n"
        ".size ft_regs_roundtrip, . - ft_regs_roundtrip\n"
        ".popsection\n");
#elif defined(__loongarch64) && defined(__loongarch_double_float)
_Static_assert(offsetof(struct regset, fpr) == 80, "layout assumed by the assembly");
__asm__(".pushsection .text\n"
        ".globl ft_regs_roundtrip\n"
        ".type ft_regs_roundtrip, @function\n"
        ".p2align 2\n"
        "ft_regs_roundtrip:\n"          /* a0 = in, a1 = out, a2 = fn, a3 = arg */
        "    addi.d $sp, $sp, -160\n"   /* ra, out, fp, s0-s8, fs0-fs7: 20 doublewords */
        "    st.d $ra, $sp, 0\n"
        "    st.d $a1, $sp, 8\n"
        "    st.d $fp, $sp, 16\n"
        "    st.d $s0, $sp, 24\n"
        "    st.d $s1, $sp, 32\n"
        "    st.d $s2, $sp, 40\n"
        "    st.d $s3, $sp, 48\n"
        "    st.d $s4, $sp, 56\n"
        "    st.d $s5, $sp, 64\n"
        "    st.d $s6, $sp, 72\n"
        "    st.d $s7, $sp, 80\n"
        "    st.d $s8, $sp, 88\n"
        "    fst.d $fs0, $sp, 96\n"
        "    fst.d $fs1, $sp, 104\n"
        "    fst.d $fs2, $sp, 112\n"
        "    fst.d $fs3, $sp, 120\n"
        "    fst.d $fs4, $sp, 128\n"
        "    fst.d $fs5, $sp, 136\n"
        "    fst.d $fs6, $sp, 144\n"
        "    fst.d $fs7, $sp, 152\n"
        "    move $t0, $a0\n"
        "    move $t1, $a2\n"
        "    move $a0, $a3\n"
        "    ld.d $fp, $t0, 0\n"
        "    ld.d $s0, $t0, 8\n"
        "    ld.d $s1, $t0, 16\n"
        "    ld.d $s2, $t0, 24\n"
        "    ld.d $s3, $t0, 32\n"
        "    ld.d $s4, $t0, 40\n"
        "    ld.d $s5, $t0, 48\n"
        "    ld.d $s6, $t0, 56\n"
        "    ld.d $s7, $t0, 64\n"
        "    ld.d $s8, $t0, 72\n"
        "    fld.d $fs0, $t0, 80\n"
        "    fld.d $fs1, $t0, 88\n"
        "    fld.d $fs2, $t0, 96\n"
        "    fld.d $fs3, $t0, 104\n"
        "    fld.d $fs4, $t0, 112\n"
        "    fld.d $fs5, $t0, 120\n"
        "    fld.d $fs6, $t0, 128\n"
        "    fld.d $fs7, $t0, 136\n"
        "    jirl $ra, $t1, 0\n"
        "    ld.d $t0, $sp, 8\n"
        "    st.d $fp, $t0, 0\n"
        "    st.d $s0, $t0, 8\n"
        "    st.d $s1, $t0, 16\n"
        "    st.d $s2, $t0, 24\n"
        "    st.d $s3, $t0, 32\n"
        "    st.d $s4, $t0, 40\n"
        "    st.d $s5, $t0, 48\n"
        "    st.d $s6, $t0, 56\n"
        "    st.d $s7, $t0, 64\n"
        "    st.d $s8, $t0, 72\n"
        "    fst.d $fs0, $t0, 80\n"
        "    fst.d $fs1, $t0, 88\n"
        "    fst.d $fs2, $t0, 96\n"
        "    fst.d $fs3, $t0, 104\n"
        "    fst.d $fs4, $t0, 112\n"
        "    fst.d $fs5, $t0, 120\n"
        "    fst.d $fs6, $t0, 128\n"
        "    fst.d $fs7, $t0, 136\n"
        "    ld.d $ra, $sp, 0\n"
        "    ld.d $fp, $sp, 16\n"
        "    ld.d $s0, $sp, 24\n"
        "    ld.d $s1, $sp, 32\n"
        "    ld.d $s2, $sp, 40\n"
        "    ld.d $s3, $sp, 48\n"
        "    ld.d $s4, $sp, 56\n"
        "    ld.d $s5, $sp, 64\n"
        "    ld.d $s6, $sp, 72\n"
        "    ld.d $s7, $sp, 80\n"
        "    ld.d $s8, $sp, 88\n"
        "    fld.d $fs0, $sp, 96\n"
        "    fld.d $fs1, $sp, 104\n"
        "    fld.d $fs2, $sp, 112\n"
        "    fld.d $fs3, $sp, 120\n"
        "    fld.d $fs4, $sp, 128\n"
        "    fld.d $fs5, $sp, 136\n"
        "    fld.d $fs6, $sp, 144\n"
        "    fld.d $fs7, $sp, 152\n"
        "    addi.d $sp, $sp, 160\n"
        "    ret\n"
        ".size ft_regs_roundtrip, . - ft_regs_roundtrip\n"
        ".popsection\n");
#endif

#define REG_FIBERS 3
#define REG_ROUNDS 20
static fiber_t *reg_f[REG_FIBERS + 1]; /* the last one is nested inside fiber 0 */

static void regs_fill(struct regset *r, uint64_t seed)
{
    for (int i = 0; i < NGPR; i++)
        r->gpr[i] = (uintptr_t)mix64(seed * 64 + (uint64_t)i);
    for (int i = 0; i < NFPR; i++)
        r->fpr[i] = mix64(seed * 64 + 32 + (uint64_t)i);
}

static void regs_check(const struct regset *want, const struct regset *got, const char *who,
                       int round)
{
    for (int i = 0; i < NGPR; i++)
        if (want->gpr[i] != got->gpr[i]) {
            note_fail(__LINE__, "%s, round %d: %s was 0x%" PRIxPTR ", expected 0x%" PRIxPTR, who,
                      round, gpr_names[i], got->gpr[i], want->gpr[i]);
            return;
        }
    for (int i = 0; i < NFPR; i++)
        if (want->fpr[i] != got->fpr[i]) {
            note_fail(__LINE__, "%s, round %d: %s was 0x%016" PRIx64 ", expected 0x%016" PRIx64,
                      who, round, fpr_names[i], got->fpr[i], want->fpr[i]);
            return;
        }
}

#if REGS_SUPPORTED
static void regs_cb_suspend(void *arg) { EXPECT_RC(FIBER_OK, fiber_suspend(arg, NULL)); }

static void regs_cb_resume_nested_then_suspend(void *arg)
{
    /* Fiber 0: run the nested fiber (which clobbers everything) before leaving. */
    if (!fiber_done(reg_f[REG_FIBERS]))
        EXPECT_RC(FIBER_OK, fiber_resume(reg_f[REG_FIBERS], NULL, NULL));
    EXPECT_RC(FIBER_OK, fiber_suspend(arg, NULL));
}

static void regs_cb_resume_all(void *arg)
{
    for (int i = 0; i < REG_FIBERS; i++)
        EXPECT_RC(FIBER_OK, fiber_resume(reg_f[i], NULL, NULL));
}

static void *regs_entry(void *arg, void *first)
{
    int id = (int)U(arg);
    char who[32];
    snprintf(who, sizeof who, "fiber %d", id);
    for (int r = 0; r < REG_ROUNDS; r++) {
        struct regset want, got;
        regs_fill(&want, (uint64_t)(id + 1) * 1000 + (uint64_t)r);
        memset(&got, 0, sizeof got);
        ft_regs_roundtrip(&want, &got,
                          id == 0 ? regs_cb_resume_nested_then_suspend : regs_cb_suspend, NULL);
        regs_check(&want, &got, who, r);
    }
    return NULL;
}
#endif

static result_t case_callee_saved_registers(void)
{
#if !REGS_SUPPORTED
    return skip("no register-filling routine for this architecture/ABI");
#else
    for (int i = 0; i <= REG_FIBERS; i++)
        REQUIRE_OK(fiber_create(&reg_f[i], 0, regs_entry, P(i)));
    for (int r = 0; r < REG_ROUNDS && !g_failed; r++) {
        struct regset want, got;
        regs_fill(&want, 999999u + (uint64_t)r);
        memset(&got, 0, sizeof got);
        ft_regs_roundtrip(&want, &got, regs_cb_resume_all, NULL);
        regs_check(&want, &got, "resumer (thread stack)", r);
    }
    /* Let every fiber finish its last roundtrip (and check it). */
    for (int i = 0; i < REG_FIBERS; i++)
        EXPECT_RC(FIBER_OK, fiber_resume(reg_f[i], NULL, NULL));
    while (!fiber_done(reg_f[REG_FIBERS]) && !g_failed)
        EXPECT_RC(FIBER_OK, fiber_resume(reg_f[REG_FIBERS], NULL, NULL));
    for (int i = 0; i <= REG_FIBERS; i++) {
        EXPECT(fiber_done(reg_f[i]), "fiber %d did not finish", i);
        EXPECT_RC(FIBER_OK, fiber_destroy(reg_f[i]));
    }
    return verdict();
#endif
}

/* ---------------------------------------------------------------------------------------
 * fp_control_travels_with_fiber, fp_control_is_the_threads_by_default
 *
 * The project's decision (fiber.h, FIBER_OWN_FP_CONTROL): the FP control state (rounding
 * mode, ...) belongs to a fiber created with that flag: a mode set inside it stays with it
 * across suspends and never leaks to its resumer, and it starts with the mode of the code
 * that created it. Any other fiber runs in the thread's modes, like a function its resumer
 * calls: it sees the resumer's mode of the moment, and its resumer sees a mode it set.
 * ------------------------------------------------------------------------------------- */

#if defined(FE_TONEAREST) && defined(FE_UPWARD) && defined(FE_DOWNWARD) && defined(FE_TOWARDZERO)
#define HAVE_ROUNDING_MODES 1
#else
#define HAVE_ROUNDING_MODES 0
#endif

/* 1/3 computed at run time in the current rounding mode (volatile: no constant folding). */
FT_NOINLINE static double third(void)
{
    volatile double one = 1.0, three = 3.0;
    volatile double r = one / three;
    return r;
}

static const char *mode_name(int mode)
{
#if HAVE_ROUNDING_MODES
    if (mode == FE_TONEAREST)
        return "FE_TONEAREST";
    if (mode == FE_UPWARD)
        return "FE_UPWARD";
    if (mode == FE_DOWNWARD)
        return "FE_DOWNWARD";
    if (mode == FE_TOWARDZERO)
        return "FE_TOWARDZERO";
#endif
    return "unknown";
}

static double fp_nearest;

#if HAVE_ROUNDING_MODES
static void *fp_entry(void *arg, void *first)
{
    int created_in = (int)U(arg);
    int m = fegetround();
    EXPECT(m == created_in, "a new fiber started in %s, expected its creator's %s", mode_name(m),
           mode_name(created_in));
    EXPECT_RC(0, fesetround(FE_UPWARD));
    double up = third();
    EXPECT(up > fp_nearest, "FE_UPWARD inside the fiber did not round 1/3 up");
    for (int i = 0; i < 3; i++) {
        EXPECT_RC(FIBER_OK, fiber_suspend(NULL, NULL));
        m = fegetround();
        EXPECT(m == FE_UPWARD, "after suspend #%d the fiber's mode was %s, expected FE_UPWARD",
               i + 1, mode_name(m));
        EXPECT(third() == up,
               "after suspend #%d the fiber no longer rounds upward (MXCSR/FPCR "
               "/FPSCR state lost)",
               i + 1);
    }
    return NULL;
}

static void *fp_entry_report(void *arg, void *first) { return P(fegetround()); }
#endif

static result_t case_fp_control_travels_with_fiber(void)
{
#if !HAVE_ROUNDING_MODES
    return skip("<fenv.h> does not define all four rounding modes on this target");
#else
    int orig = fegetround();
    REQUIRE_RC(0, fesetround(FE_TONEAREST));
    fp_nearest = third();

    fiber_t *f, *g;
    REQUIRE_RC(0, fesetround(FE_DOWNWARD));
    REQUIRE_OK(fiber_create_ex(&f, 0, 0, FIBER_OWN_FP_CONTROL, fp_entry, P(FE_DOWNWARD)));
    REQUIRE_RC(0, fesetround(FE_TONEAREST));

    REQUIRE_OK(fiber_resume(f, NULL, NULL));
    int m = fegetround();
    EXPECT(m == FE_TONEAREST,
           "after the fiber set FE_UPWARD and suspended, the resumer's mode "
           "was %s, expected FE_TONEAREST",
           mode_name(m));
    EXPECT(third() == fp_nearest, "the resumer's SSE/VFP rounding changed after the fiber "
                                  "suspended");

    REQUIRE_RC(0, fesetround(FE_TOWARDZERO));
    double tz = third();
    REQUIRE_OK(fiber_resume(f, NULL, NULL));
    m = fegetround();
    EXPECT(m == FE_TOWARDZERO,
           "the resumer's mode was %s after a resume, expected "
           "FE_TOWARDZERO",
           mode_name(m));
    EXPECT(third() == tz, "the resumer's rounding changed across a resume");

    /* A second fiber, created while the resumer is in FE_TOWARDZERO, starts in it. */
    void *out = NULL;
    REQUIRE_OK(fiber_create_ex(&g, 0, 0, FIBER_OWN_FP_CONTROL, fp_entry_report, NULL));
    REQUIRE_RC(0, fesetround(FE_TOWARDZERO));
    REQUIRE_OK(fiber_resume(g, NULL, &out));
    EXPECT((int)U(out) == FE_TOWARDZERO, "a fiber created in FE_TOWARDZERO started in %s",
           mode_name((int)U(out)));
    REQUIRE_OK(fiber_destroy(g));

    REQUIRE_RC(0, fesetround(FE_DOWNWARD));
    while (!fiber_done(f) && !g_failed)
        EXPECT_RC(FIBER_OK, fiber_resume(f, NULL, NULL));
    m = fegetround();
    EXPECT(m == FE_DOWNWARD,
           "after the fiber finished in FE_UPWARD the resumer's mode was %s, "
           "expected FE_DOWNWARD",
           mode_name(m));
    REQUIRE_OK(fiber_destroy(f));
    fesetround(orig);
    return verdict();
#endif
}

#if HAVE_ROUNDING_MODES
/* A fiber without FIBER_OWN_FP_CONTROL: reports the mode it runs in, sets FE_UPWARD, and
   reports the mode it finds after each resume. */
static void *shared_fp_entry(void *arg, void *first)
{
    void *in = NULL;
    EXPECT_RC(FIBER_OK, fiber_suspend(P(fegetround()), &in));
    EXPECT_RC(0, fesetround(FE_UPWARD));
    EXPECT_RC(FIBER_OK, fiber_suspend(P(fegetround()), &in));
    return P(fegetround());
}

/* An owning fiber that resumes a plain one inside it: the plain one shares the owner's modes,
   and the owner's suspend still gives its resumer back its own. */
static void *owner_of_plain_entry(void *arg, void *first)
{
    fiber_t *plain;
    void *out = NULL;
    EXPECT_RC(0, fesetround(FE_TOWARDZERO));
    EXPECT_RC(FIBER_OK, fiber_create(&plain, 0, shared_fp_entry, NULL));
    EXPECT_RC(FIBER_OK, fiber_resume(plain, NULL, &out));
    EXPECT((int)U(out) == FE_TOWARDZERO,
           "a plain fiber inside an owning one ran in %s, "
           "expected the owner's FE_TOWARDZERO",
           mode_name((int)U(out)));
    EXPECT_RC(FIBER_OK, fiber_resume(plain, NULL, &out)); /* it sets FE_UPWARD */
    int m = fegetround();
    EXPECT(m == FE_UPWARD,
           "the owning fiber's mode was %s after the plain fiber it resumed "
           "set FE_UPWARD, expected FE_UPWARD (shared)",
           mode_name(m));
    while (!fiber_done(plain) && !g_failed)
        EXPECT_RC(FIBER_OK, fiber_resume(plain, NULL, NULL));
    EXPECT_RC(FIBER_OK, fiber_destroy(plain));
    return NULL;
}
#endif

static result_t case_fp_control_is_the_threads_by_default(void)
{
#if !HAVE_ROUNDING_MODES
    return skip("<fenv.h> does not define all four rounding modes on this target");
#else
    int orig = fegetround();
    fiber_t *f;
    void *out = NULL;

    /* Created in FE_DOWNWARD, first resumed in FE_TONEAREST: it runs in the latter. */
    REQUIRE_RC(0, fesetround(FE_DOWNWARD));
    REQUIRE_OK(fiber_create(&f, 0, shared_fp_entry, NULL));
    REQUIRE_RC(0, fesetround(FE_TONEAREST));
    REQUIRE_OK(fiber_resume(f, NULL, &out));
    EXPECT((int)U(out) == FE_TONEAREST,
           "a fiber without FIBER_OWN_FP_CONTROL ran in %s, "
           "expected its resumer's FE_TONEAREST",
           mode_name((int)U(out)));

    /* It sets FE_UPWARD and suspends: the resumer now runs in FE_UPWARD. */
    REQUIRE_OK(fiber_resume(f, NULL, &out));
    int m = fegetround();
    EXPECT(m == FE_UPWARD,
           "the fiber set FE_UPWARD and suspended, but its resumer runs in "
           "%s: the plain switch must leave the FP control state alone",
           mode_name(m));

    /* The resumer changes it back: the fiber sees the change. */
    REQUIRE_RC(0, fesetround(FE_DOWNWARD));
    REQUIRE_OK(fiber_resume(f, NULL, &out));
    EXPECT(fiber_done(f), "the fiber did not finish");
    EXPECT((int)U(out) == FE_DOWNWARD, "after the resumer set FE_DOWNWARD the fiber found %s",
           mode_name((int)U(out)));
    REQUIRE_OK(fiber_destroy(f));

    /* Mixed: an owning fiber resumes a plain one; the thread keeps its own mode throughout. */
    REQUIRE_RC(0, fesetround(FE_DOWNWARD));
    REQUIRE_OK(fiber_create_ex(&f, 0, 0, FIBER_OWN_FP_CONTROL, owner_of_plain_entry, NULL));
    REQUIRE_OK(fiber_resume(f, NULL, NULL));
    EXPECT(fiber_done(f), "the owning fiber did not finish");
    m = fegetround();
    EXPECT(m == FE_DOWNWARD,
           "after an owning fiber (and a plain one inside it) changed modes "
           "the thread's mode was %s, expected FE_DOWNWARD",
           mode_name(m));
    REQUIRE_OK(fiber_destroy(f));
    fesetround(orig);
    return verdict();
#endif
}

/* ---------------------------------------------------------------------------------------
 * stack_sizes
 * ------------------------------------------------------------------------------------- */

static void *sizes_entry(void *arg, void *first)
{
    volatile unsigned char buf[2048];
    unsigned sum = 0;
    for (size_t i = 0; i < sizeof buf; i++)
        buf[i] = (unsigned char)(i * 31u);
    for (size_t i = 0; i < sizeof buf; i++)
        sum += buf[i];
    return P(sum);
}

static result_t case_stack_sizes(void)
{
    size_t page = page_size();
    size_t mib = (size_t)1 << 20;
    const size_t sizes[] = {0, 1, page - 1, page, page + 1, 64 * 1024 + 3, 64 * mib};
    unsigned expected_sum = 0;
    for (size_t i = 0; i < 2048; i++)
        expected_sum += (unsigned char)(i * 31u);

    EXPECT(fiber_min_stack_size() > 0, "fiber_min_stack_size() is 0");
    EXPECT(fiber_default_stack_size() >= fiber_min_stack_size(),
           "the default stack size is below the minimum");
#ifndef _WIN32
    /* fiber_posix.c: by default the whole mapping (guard, stack, and up to 60 KiB of record
       and user area) stays under 8 MiB on 64-bit, so fibers made in a row lie less than the
       prefetcher's 8 MiB reach apart. */
    if (sizeof(void *) >= 8)
        EXPECT(fiber_default_stack_size() + fiber_guard_size() + 60 * 1024 < 8 * mib,
               "the default mapping reaches 8 MiB (stack %zu, guard %zu)",
               fiber_default_stack_size(), fiber_guard_size());
#endif

    for (size_t k = 0; k < ARRAY_LEN(sizes) && !g_failed; k++) {
        size_t req = sizes[k];
        size_t want = req == 0 ? fiber_default_stack_size() : req;
        if (want < fiber_min_stack_size())
            want = fiber_min_stack_size();
        fiber_t *f = NULL;
        int rc = fiber_create(&f, req, sizes_entry, NULL);
        REQUIRE(rc == FIBER_OK, "fiber_create with size %zu: %s", req, fiber_strerror(rc));
        void *lowp = NULL, *highp = NULL;
        fiber_stack_bounds(f, &lowp, &highp);
        uintptr_t low = U(lowp), high = U(highp);
        EXPECT(low != 0 && high > low, "size %zu: bounds [%p, %p) are empty", req, lowp, highp);
        size_t got = (size_t)(high - low);
        EXPECT(got >= want, "size %zu: usable stack is %zu bytes, less than %zu", req, got, want);
#ifndef _WIN32
        EXPECT(low % page == 0, "size %zu: stack low bound %p is not page-aligned", req, lowp);
        size_t rounded = (want + page - 1) / page * page;
        EXPECT(got <= rounded + page,
               "size %zu: usable stack is %zu bytes, more than the "
               "page-rounded %zu plus one page",
               req, got, rounded);
        /* Every page of [low, high) is mapped and writable (the fiber is not running, so a
           write-and-restore of one byte per page disturbs nothing). */
        for (uintptr_t p = low; p < high; p += page) {
            volatile unsigned char *b = (volatile unsigned char *)p;
            unsigned char old = *b;
            *b = (unsigned char)~old;
            *b = old;
        }
        volatile unsigned char *last = (volatile unsigned char *)(high - 1);
        *last = *last;
#endif
        void *out = NULL;
        rc = fiber_resume(f, NULL, &out);
        EXPECT(rc == FIBER_OK && out == P(expected_sum),
               "size %zu: the fiber did not run correctly (rc=%d, out=%p)", req, rc, out);
        EXPECT_RC(FIBER_OK, fiber_destroy(f));
    }
    return verdict();
}

/* ---------------------------------------------------------------------------------------
 * unmappable_stack_size_is_an_error
 * ------------------------------------------------------------------------------------- */

static void *never_entry(void *arg, void *first)
{
    note_fail(__LINE__, "the entry of a fiber that should not exist ran");
    return NULL;
}

static result_t case_unmappable_stack_size_is_an_error(void)
{
    size_t page = page_size();
    const size_t sizes[] = {
        SIZE_MAX,
        SIZE_MAX - 1,
        SIZE_MAX - page + 2,          /* overflows when rounded up to pages */
        SIZE_MAX - 2 * page,          /* overflows when the guard page is added */
        SIZE_MAX / 8 * 7,             /* no overflow, but more than any address space */
#if SIZE_MAX > 0xffffffffu
        SIZE_MAX / 2,
        (size_t)1 << 62,
#endif
    };
    for (size_t k = 0; k < ARRAY_LEN(sizes); k++) {
        fiber_t *f = NULL;
        int rc = fiber_create(&f, sizes[k], never_entry, NULL);
        if (rc == FIBER_OK) {
            note_fail(__LINE__, "fiber_create with size %zu succeeded", sizes[k]);
            fiber_destroy(f);
            continue;
        }
        EXPECT(rc == FIBER_ENOMEM || rc == FIBER_EINVAL,
               "fiber_create with size %zu returned %d (%s), expected FIBER_ENOMEM or "
               "FIBER_EINVAL",
               sizes[k], rc, fiber_strerror(rc));
    }
    /* The failures left nothing broken behind. */
    fiber_t *f = NULL;
    void *out = NULL;
    REQUIRE_OK(fiber_create(&f, 0, sizes_entry, NULL));
    REQUIRE_OK(fiber_resume(f, NULL, &out));
    EXPECT(fiber_done(f), "a normal fiber after the failed creates did not finish");
    REQUIRE_OK(fiber_destroy(f));
    return verdict();
}

/* ---------------------------------------------------------------------------------------
 * deep_recursion_within_stack
 *
 * Recurse until less than DEEP_MARGIN bytes of the stack are left, suspend at the bottom,
 * and check every frame's data on the way back up after being resumed.
 * ------------------------------------------------------------------------------------- */

#define DEEP_STACK ((size_t)256 << 10)
#define DEEP_MARGIN ((uintptr_t)8 << 10)
static uintptr_t deep_low, deep_bottom;
static unsigned deep_max;

FT_NOINLINE static uint64_t deep_recurse(unsigned depth)
{
    volatile unsigned char pad[200];
    for (unsigned i = 0; i < sizeof pad; i++)
        pad[i] = (unsigned char)(depth * 7u + i);
    uint64_t sum;
    if (U(&pad[0]) - deep_low > DEEP_MARGIN) {
        sum = deep_recurse(depth + 1);
    } else {
        deep_max = depth;
        deep_bottom = U(&pad[0]);
        EXPECT_RC(FIBER_OK, fiber_suspend(P(depth), NULL));
        sum = 0;
    }
    for (unsigned i = 0; i < sizeof pad; i++) {
        if (pad[i] != (unsigned char)(depth * 7u + i)) {
            note_fail(__LINE__, "frame at depth %u was corrupted", depth);
            break;
        }
        sum += pad[i];
    }
    return sum + depth;
}

static void *deep_entry(void *arg, void *first)
{
    uint64_t sum = deep_recurse(0);
    return P(sum);
}

static result_t case_deep_recursion_within_stack(void)
{
    fiber_t *f;
    REQUIRE_OK(fiber_create(&f, DEEP_STACK, deep_entry, NULL));
    void *lowp, *highp;
    fiber_stack_bounds(f, &lowp, &highp);
    deep_low = U(lowp);
    void *out = NULL;
    REQUIRE_OK(fiber_resume(f, NULL, &out));
    REQUIRE(!fiber_done(f), "the recursion finished without reaching the bottom");
    unsigned depth = (unsigned)U(out);
    EXPECT(depth == deep_max, "suspended value %u != deepest depth %u", depth, deep_max);
    /* The frames really filled the stack, down to DEEP_MARGIN above its low bound. */
    EXPECT(deep_bottom > deep_low && deep_bottom - deep_low <= DEEP_MARGIN,
           "the deepest frame is at %p, not within %u bytes above the low bound %p", P(deep_bottom),
           (unsigned)DEEP_MARGIN, P(deep_low));
    EXPECT(depth > 100, "recursion stopped at depth %u", depth);
    uint64_t want = 0;
    for (unsigned d = 0; d <= depth; d++) {
        for (unsigned i = 0; i < 200; i++)
            want += (unsigned char)(d * 7u + i);
        want += d;
    }
    REQUIRE_OK(fiber_resume(f, NULL, &out));
    EXPECT(fiber_done(f), "the fiber did not finish");
    EXPECT(U(out) == (uintptr_t)want,
           "the recursion's checksum was %" PRIuPTR ", expected %" PRIuPTR, U(out),
           (uintptr_t)want);
    REQUIRE_OK(fiber_destroy(f));
    return verdict();
}

/* ---------------------------------------------------------------------------------------
 * guard_page_write_kills_with_sigsegv
 *
 * In a child process: two neighbour fibers, created just before and just after a victim V
 * (so that one of them usually lies right below V's guard region, whichever way the system
 * places new mappings), fill a buffer on their stacks and suspend; V either
 * writes one byte below its stack's low bound or recurses without end. A SIGSEGV handler (on
 * an alternate stack) reports the fault address and N's checksum through a pipe, then lets
 * the signal kill the child. The parent checks: killed by SIGSEGV, the fault was in V's guard
 * region (fiber_guard_size() bytes below the low bound), N's stack data intact.
 * ------------------------------------------------------------------------------------- */

#ifndef _WIN32
static int guard_fd = -1;
static uintptr_t guard_victim_low;
static size_t guard_page, guard_region; /* a page; the whole guard (fiber_guard_size()) */
#define GUARD_NEIGHBOURS 2
static uintptr_t guard_nb_data[GUARD_NEIGHBOURS];
static size_t guard_nb_len[GUARD_NEIGHBOURS];
static uint64_t guard_nb_sum[GUARD_NEIGHBOURS];
static int guard_mode; /* 0: write below low, 1: runaway recursion */

/* Reads across frames on purpose: no sanitizer bounds checks here. */
#if defined(__clang__)
__attribute__((no_sanitize("address", "undefined")))
#elif defined(__GNUC__)
__attribute__((no_sanitize_address, no_sanitize_undefined))
#endif
static uint64_t
guard_checksum(uintptr_t start, size_t n)
{
    const volatile unsigned char *p = (const volatile unsigned char *)start;
    uint64_t h = 1469598103934665603u;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 1099511628211u;
    return h;
}

static void put_str(const char *s) { (void)!write(guard_fd, s, strlen(s)); }

static void guard_handler(int sig, siginfo_t *si, void *ctx)
{
    uintptr_t a = U(si->si_addr);
    int in_guard = a >= guard_victim_low - guard_region && a < guard_victim_low;
    int intact = 1;
    for (int i = 0; i < GUARD_NEIGHBOURS; i++)
        intact &= guard_checksum(guard_nb_data[i], guard_nb_len[i]) == guard_nb_sum[i];
    put_str(in_guard ? "SEGV in-guard" : "SEGV outside-guard");
    put_str(intact ? " neighbour-intact\n" : " neighbour-corrupted\n");
    /* Let the signal kill the process: the faulting access runs again with the default
       action in place. */
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = SIG_DFL;
    sigaction(SIGSEGV, &sa, NULL);
}

static void *guard_neighbour_entry(void *arg, void *first)
{
    volatile unsigned char buf[8192];
    for (size_t i = 0; i < sizeof buf; i++)
        buf[i] = (unsigned char)mix64(i);
    /* Checksum everything from the buffer up to the link area at the top of this stack:
       our frames, the core's and the start frame, none of which changes while this fiber
       is suspended. (The 16-byte link area itself changes on every switch.) */
    void *low, *high;
    fiber_stack_bounds(fiber_current(), &low, &high);
    int i = (int)U(arg);
    guard_nb_data[i] = U(buf);
    guard_nb_len[i] = (size_t)(U(high) - 16 - U(buf));
    guard_nb_sum[i] = guard_checksum(guard_nb_data[i], guard_nb_len[i]);
    fiber_suspend(NULL, NULL);
    return NULL;
}

static volatile int guard_keep_going = 1; /* always 1; hides the endless recursion */

FT_NOINLINE static unsigned guard_runaway(unsigned depth)
{
    volatile unsigned char pad[128];
    for (unsigned i = 0; i < sizeof pad; i++)
        pad[i] = (unsigned char)depth;
    if (!guard_keep_going)
        return 0;
    return guard_runaway(depth + 1) + pad[depth % sizeof pad];
}

static void *guard_victim_entry(void *arg, void *first)
{
    put_str("ARMED\n");
    if (guard_mode == 0) {
        volatile unsigned char *below = (volatile unsigned char *)(guard_victim_low - 1);
        *below = 1;
    } else {
        return P(guard_runaway(0));
    }
    return NULL;
}

static void guard_child(int mode, int fd)
{
    struct rlimit no_core = {0, 0};
    setrlimit(RLIMIT_CORE, &no_core);
    guard_fd = fd;
    guard_mode = mode;
    guard_page = page_size();
    guard_region = fiber_guard_size();

    static unsigned char altstack[64 * 1024];
    stack_t ss;
    memset(&ss, 0, sizeof ss);
    ss.ss_sp = altstack;
    ss.ss_size = sizeof altstack;
    if (sigaltstack(&ss, NULL) != 0) {
        put_str("SETUP sigaltstack failed\n");
        _exit(3);
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = guard_handler;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigaction(SIGSEGV, &sa, NULL);

    fiber_pool_trim(); /* fresh mappings, placed next to each other */
    fiber_t *victim, *nb[GUARD_NEIGHBOURS];
    if (fiber_create(&nb[0], 64 * 1024, guard_neighbour_entry, P(0)) != FIBER_OK ||
        fiber_create(&victim, 64 * 1024, guard_victim_entry, NULL) != FIBER_OK ||
        fiber_create(&nb[1], 64 * 1024, guard_neighbour_entry, P(1)) != FIBER_OK) {
        put_str("SETUP fiber_create failed\n");
        _exit(3);
    }
    void *low, *high;
    fiber_stack_bounds(victim, &low, &high);
    guard_victim_low = U(low);
    fprintf(stderr, "# guard: victim stack [%p, %p)", low, high);
    for (int i = 0; i < GUARD_NEIGHBOURS; i++) {
        void *nlow, *nhigh;
        fiber_stack_bounds(nb[i], &nlow, &nhigh);
        /* Right below V's guard region: only the neighbour's fiber record page between. */
        uintptr_t guard_start = U(low) - guard_region;
        int below = U(nhigh) < guard_start && guard_start - U(nhigh) < 2 * guard_page;
        fprintf(stderr, ", neighbour %d [%p, %p)%s", i, nlow, nhigh,
                below ? " right below the victim's guard region" : "");
        fiber_resume(nb[i], NULL, NULL);
    }
    fprintf(stderr, "\n");
    fiber_resume(victim, NULL, NULL);
    put_str("SURVIVED\n");
    _exit(0);
}

static result_t guard_run(int mode, const char *what)
{
    int fds[2];
    REQUIRE(pipe(fds) == 0, "pipe: %s", strerror(errno));
    fflush(NULL);
    pid_t pid = fork();
    REQUIRE(pid >= 0, "fork: %s", strerror(errno));
    if (pid == 0) {
        close(fds[0]);
        guard_child(mode, fds[1]);
    }
    close(fds[1]);
    char buf[512];
    size_t n = 0;
    for (;;) {
        ssize_t r = read(fds[0], buf + n, sizeof buf - 1 - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        n += (size_t)r;
        if (n == sizeof buf - 1)
            break;
    }
    buf[n] = 0;
    close(fds[0]);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    REQUIRE(strstr(buf, "ARMED"), "%s: the child never reached the fault (child said: %s)", what,
            buf);
    REQUIRE(!strstr(buf, "SURVIVED"), "%s: the child survived the access", what);
    REQUIRE(WIFSIGNALED(status) && WTERMSIG(status) == SIGSEGV,
            "%s: the child was not killed by SIGSEGV (status 0x%x; child said: %s)", what, status,
            buf);
    REQUIRE(strstr(buf, "SEGV "), "%s: the SIGSEGV handler did not report (child said: %s)", what,
            buf);
    REQUIRE(strstr(buf, "in-guard"),
            "%s: the fault was not in the guard page below the stack "
            "(child said: %s)",
            what, buf);
    REQUIRE(strstr(buf, "neighbour-intact"),
            "%s: a neighbour fiber's stack was modified "
            "(child said: %s)",
            what, buf);
    return RES_PASS;
}
#endif

static result_t case_guard_page_write_kills_with_sigsegv(void)
{
#ifdef _WIN32
    return skip("Windows fiber stacks are the system's (CreateFiberEx); an overflow raises "
                "EXCEPTION_STACK_OVERFLOW, there is no SIGSEGV to check");
#else
    if (guard_run(0, "write below the stack") != RES_PASS)
        return RES_FAIL;
    if (guard_run(1, "runaway recursion") != RES_PASS)
        return RES_FAIL;
    return verdict();
#endif
}

/* ---------------------------------------------------------------------------------------
 * pool_reuses_stacks
 * ------------------------------------------------------------------------------------- */

static result_t case_pool_reuses_stacks(void)
{
    const size_t size = 128 * 1024;
    fiber_pool_trim();
    REQUIRE(fiber_pool_size() == 0, "fiber_pool_trim() left %zu stacks", fiber_pool_size());
    fiber_t *f, *g;
    void *out, *flow, *glow, *high;
    REQUIRE_OK(fiber_create(&f, size, sizes_entry, NULL));
    REQUIRE_OK(fiber_resume(f, NULL, &out));
    fiber_stack_bounds(f, &flow, &high);
    REQUIRE_OK(fiber_destroy(f));
#ifdef _WIN32
    if (fiber_pool_size() == 0)
        return skip("the Windows backend keeps no stack pool (system fiber stacks)");
#endif
    REQUIRE(fiber_pool_size() == 1,
            "after destroying a fiber the pool holds %zu stacks, "
            "expected 1",
            fiber_pool_size());
    REQUIRE_OK(fiber_create(&g, size, sizes_entry, NULL));
    EXPECT(fiber_pool_size() == 0,
           "a create of the same size did not take the pooled stack "
           "(pool size %zu)",
           fiber_pool_size());
    fiber_stack_bounds(g, &glow, &high);
    EXPECT(glow == flow, "the new fiber's stack %p is not the pooled one %p", glow, flow);
    /* A reused stack starts cleanly. */
    out = NULL;
    REQUIRE_OK(fiber_resume(g, NULL, &out));
    EXPECT(fiber_done(g), "a fiber on a reused stack did not run to completion");
    REQUIRE_OK(fiber_destroy(g));
    EXPECT(fiber_pool_size() == 1, "pool size %zu after the second destroy, expected 1",
           fiber_pool_size());
    /* Destroying a suspended fiber also returns its stack. */
    fiber_t *s;
    REQUIRE_OK(fiber_create(&s, size, values_entry, NULL));
    EXPECT(fiber_pool_size() == 0, "the pooled stack was not reused a second time");
    REQUIRE_OK(fiber_resume(s, P(value_from_resumer(0)), NULL));
    REQUIRE_OK(fiber_destroy(s));
    EXPECT(fiber_pool_size() == 1, "destroying a suspended fiber did not pool its stack");
    fiber_pool_trim();
    EXPECT(fiber_pool_size() == 0, "fiber_pool_trim() left %zu stacks", fiber_pool_size());
    return verdict();
}

/* ---------------------------------------------------------------------------------------
 * backtrace_crosses_into_resumer
 *
 * Inside a fiber, glibc backtrace() must walk through the fiber's base frame into whoever
 * resumed it this time: ft_resumer_site_one or ft_resumer_site_two (external, noinline, and
 * the program is linked with -rdynamic so that backtrace_symbols() can name them).
 * ------------------------------------------------------------------------------------- */

#ifndef _WIN32
#define BT_MAX 128
#define BT_PROBES 3
static int bt_saw[BT_PROBES][2];
static int bt_depth[BT_PROBES];
static char bt_trace[BT_PROBES][400];

/* "prog(func+0x1c) [0x...]" -> "func", appended to out. */
static void bt_append_name(char *out, size_t cap, const char *sym)
{
    const char *l = strchr(sym, '('), *r = l ? strpbrk(l, "+)") : NULL;
    size_t len = strlen(out);
    if (len + 2 >= cap)
        return;
    if (len)
        out[len++] = ' ', out[len] = 0;
    if (l && r && r > l + 1)
        snprintf(out + len, cap - len, "%.*s", (int)(r - l - 1), l + 1);
    else
        snprintf(out + len, cap - len, "?");
}

FT_NOINLINE static void bt_take(int probe)
{
    void *frames[BT_MAX];
    int n = backtrace(frames, BT_MAX);
    bt_depth[probe] = n;
    char **syms = backtrace_symbols(frames, n);
    bt_trace[probe][0] = 0;
    if (!syms)
        return;
    for (int i = 0; i < n; i++) {
        if (strstr(syms[i], "(ft_resumer_site_one+"))
            bt_saw[probe][0] = 1;
        if (strstr(syms[i], "(ft_resumer_site_two+"))
            bt_saw[probe][1] = 1;
        if (i < 24)
            bt_append_name(bt_trace[probe], sizeof bt_trace[probe], syms[i]);
    }
    free(syms);
}

FT_NOINLINE void ft_fiber_probe(void)
{
    for (int k = 0; k < BT_PROBES; k++) {
        bt_take(k);
        if (k + 1 < BT_PROBES)
            fiber_suspend(NULL, NULL);
    }
    FT_BARRIER();
}

static void *bt_entry(void *arg, void *first)
{
    ft_fiber_probe();
    FT_BARRIER();
    return NULL;
}

FT_NOINLINE int ft_resumer_site_one(fiber_t *f)
{
    volatile int rc = fiber_resume(f, NULL, NULL);
    return rc;
}

FT_NOINLINE int ft_resumer_site_two(fiber_t *f)
{
    volatile int rc = fiber_resume(f, NULL, NULL);
    return rc;
}
#endif

static result_t case_backtrace_crosses_into_resumer(void)
{
#ifdef _WIN32
    return skip("glibc backtrace() is not available on Windows");
#else
    fiber_t *f;
    REQUIRE_OK(fiber_create(&f, 0, bt_entry, NULL));
    REQUIRE_OK(ft_resumer_site_one(f)); /* probe 0: first resume */
    REQUIRE_OK(ft_resumer_site_two(f)); /* probe 1: after a suspend, another call site */
    REQUIRE_OK(ft_resumer_site_one(f)); /* probe 2: back to the first site */
    EXPECT(fiber_done(f), "the probing fiber did not finish");
    REQUIRE_OK(fiber_destroy(f));
    static const int want[BT_PROBES] = {0, 1, 0};
    static const char *const site[2] = {"ft_resumer_site_one", "ft_resumer_site_two"};
    for (int k = 0; k < BT_PROBES; k++)
        fprintf(stderr, "# backtrace probe %d (%d frames): %s\n", k, bt_depth[k], bt_trace[k]);
    for (int k = 0; k < BT_PROBES; k++) {
        REQUIRE(bt_trace[k][0], "probe %d: backtrace_symbols() gave nothing (%d frames)", k,
                bt_depth[k]);
        REQUIRE(strstr(bt_trace[k], "ft_fiber_probe"),
                "probe %d: the trace does not even name the fiber's own function "
                "(linked without -rdynamic?): %s",
                k, bt_trace[k]);
        REQUIRE(bt_saw[k][want[k]],
                "probe %d (%s suspend): the trace does not reach the "
                "resumer %s: %s",
                k, k ? "after a" : "before any", site[want[k]], bt_trace[k]);
        REQUIRE(!bt_saw[k][1 - want[k]], "probe %d: the trace shows the stale resumer %s: %s", k,
                site[1 - want[k]], bt_trace[k]);
        REQUIRE(bt_depth[k] < BT_MAX, "probe %d: the unwinder did not stop within %d frames: %s", k,
                BT_MAX, bt_trace[k]);
    }
    return verdict();
#endif
}

/* ---------------------------------------------------------------------------------------
 * resume_from_another_thread
 *
 * Phase 1: one fiber, resumed alternately by this thread and by short-lived new threads
 *          (the very first resume happens on a new thread); inside, the fiber sees the
 *          resuming thread's thread-local storage and fiber_current().
 * Phase 2: two threads drive their own fibers at the same time: fiber_current() is per
 *          thread.
 * ------------------------------------------------------------------------------------- */

#define MIGRATE_ROUNDS 24
#define CONCURRENT_ROUNDS 2000
static fiber_t *mig_f;

static void *mig_entry(void *arg, void *first)
{
    void *in = first;
    for (int r = 0; r < MIGRATE_ROUNDS; r++) {
        EXPECT(in == P(r), "round %d: the fiber got %p", r, in);
        EXPECT(fiber_current() == mig_f,
               "round %d: fiber_current() inside the fiber is wrong "
               "after migrating",
               r);
        EXPECT(fiber_running(mig_f), "round %d: not running", r);
        EXPECT_RC(FIBER_OK, fiber_suspend(P(thread_token()), &in));
    }
    return P(0xd0e);
}

struct mig_call {
    int round;
    void *out;
    int rc;
    fiber_t *current_before, *current_after;
    uintptr_t token;
};

static void mig_resume_here(void *p)
{
    struct mig_call *c = p;
    c->token = thread_token();
    c->current_before = fiber_current();
    c->rc = fiber_resume(mig_f, P(c->round), &c->out);
    c->current_after = fiber_current();
}

struct conc_state {
    fiber_t *f;
    int failures;
};

static void *conc_entry(void *arg, void *first)
{
    struct conc_state *st = arg;
    for (int r = 0; r < CONCURRENT_ROUNDS; r++) {
        if (fiber_current() != st->f)
            st->failures++;
        fiber_suspend(NULL, NULL);
    }
    return NULL;
}

static void conc_drive(void *p)
{
    struct conc_state *st = p;
    while (!fiber_done(st->f)) {
        if (fiber_resume(st->f, NULL, NULL) != FIBER_OK || fiber_current() != NULL) {
            st->failures++;
            break;
        }
    }
}

static result_t case_resume_from_another_thread(void)
{
    REQUIRE_OK(fiber_create(&mig_f, 0, mig_entry, NULL));
    for (int r = 0; r < MIGRATE_ROUNDS && !g_failed; r++) {
        struct mig_call c = {r, NULL, -99, NULL, NULL, 0};
        int on_thread = r % 2 == 0;
        if (on_thread)
            REQUIRE(run_on_thread(mig_resume_here, &c) == 0, "could not start a thread");
        else
            mig_resume_here(&c);
        const char *where = on_thread ? "a new thread" : "the main thread";
        REQUIRE(c.rc == FIBER_OK, "round %d on %s: resume returned %d (%s)", r, where, c.rc,
                fiber_strerror(c.rc));
        EXPECT(c.current_before == NULL && c.current_after == NULL,
               "round %d on %s: fiber_current() outside the fiber was not NULL", r, where);
        EXPECT(U(c.out) == c.token,
               "round %d on %s: the fiber ran with another thread's "
               "thread-local storage",
               r, where);
    }
    EXPECT(fiber_current() == NULL, "fiber_current() is not NULL in the main thread");
    void *out = NULL;
    REQUIRE_OK(fiber_resume(mig_f, P(MIGRATE_ROUNDS), &out));
    EXPECT(out == P(0xd0e) && fiber_done(mig_f), "the migrated fiber did not finish properly");
    REQUIRE_OK(fiber_destroy(mig_f));

    struct conc_state a = {NULL, 0}, b = {NULL, 0};
    REQUIRE_OK(fiber_create(&a.f, 0, conc_entry, &a));
    REQUIRE_OK(fiber_create(&b.f, 0, conc_entry, &b));
    struct thread_call call = {conc_drive, &b};
    thread_t t;
    REQUIRE(thread_start(&t, &call) == 0, "could not start a thread");
    conc_drive(&a);
    thread_join(t);
    EXPECT(a.failures == 0 && b.failures == 0,
           "with two threads switching at once, "
           "fiber_current() was wrong %d times (main) and %d times (other thread)",
           a.failures, b.failures);
    EXPECT(fiber_done(a.f) && fiber_done(b.f), "the concurrent fibers did not finish");
    REQUIRE_OK(fiber_destroy(a.f));
    REQUIRE_OK(fiber_destroy(b.f));
    return verdict();
}

/* ---------------------------------------------------------------------------------------
 * resume_finished_fiber_is_an_error
 * ------------------------------------------------------------------------------------- */

static void *return_arg_entry(void *arg, void *first) { return arg; }

static result_t case_resume_finished_fiber_is_an_error(void)
{
    fiber_t *f;
    void *out = NULL;
    REQUIRE_OK(fiber_create(&f, 0, return_arg_entry, P(31)));
    REQUIRE_OK(fiber_resume(f, NULL, &out));
    REQUIRE(out == P(31) && fiber_done(f), "the fiber did not finish with its value");
    for (int i = 0; i < 3; i++) {
        out = P(0xabc);
        EXPECT_RC(FIBER_EDONE, fiber_resume(f, P(1), &out));
        EXPECT(fiber_done(f), "the fiber stopped being done after a bad resume");
        EXPECT(fiber_current() == NULL, "a bad resume changed fiber_current()");
    }
    REQUIRE_OK(fiber_destroy(f));
    return verdict();
}

/* ---------------------------------------------------------------------------------------
 * suspend_outside_fiber_is_an_error
 * ------------------------------------------------------------------------------------- */

static int suspend_rc_on_thread;
static void suspend_on_new_thread(void *p) { suspend_rc_on_thread = fiber_suspend(P(1), NULL); }

static result_t case_suspend_outside_fiber_is_an_error(void)
{
    void *in = P(0x1234);
    EXPECT_RC(FIBER_ENOTFIBER, fiber_suspend(P(1), &in));
    EXPECT(fiber_current() == NULL, "a bad suspend changed fiber_current()");
    REQUIRE(run_on_thread(suspend_on_new_thread, NULL) == 0, "could not start a thread");
    EXPECT(suspend_rc_on_thread == FIBER_ENOTFIBER,
           "fiber_suspend() on a new thread returned %d (%s), expected FIBER_ENOTFIBER",
           suspend_rc_on_thread, fiber_strerror(suspend_rc_on_thread));
    /* Still an error after a fiber has run and finished on this thread. */
    fiber_t *f;
    REQUIRE_OK(fiber_create(&f, 0, return_arg_entry, NULL));
    REQUIRE_OK(fiber_resume(f, NULL, NULL));
    REQUIRE_OK(fiber_destroy(f));
    EXPECT_RC(FIBER_ENOTFIBER, fiber_suspend(NULL, NULL));
    return verdict();
}

/* ---------------------------------------------------------------------------------------
 * resume_running_fiber_is_an_error
 * ------------------------------------------------------------------------------------- */

static fiber_t *busy_outer, *busy_inner;

static void *busy_inner_entry(void *arg, void *first)
{
    EXPECT_RC(FIBER_EBUSY, fiber_resume(busy_outer, NULL, NULL)); /* its resumer */
    EXPECT_RC(FIBER_EBUSY, fiber_resume(busy_inner, NULL, NULL)); /* itself */
    EXPECT_RC(FIBER_EBUSY, fiber_destroy(busy_outer));
    EXPECT_RC(FIBER_EBUSY, fiber_destroy(busy_inner));
    EXPECT(fiber_current() == busy_inner, "the refused calls changed fiber_current()");
    EXPECT_RC(FIBER_OK, fiber_suspend(P(5), NULL)); /* still goes to busy_outer */
    return P(6);
}

static void *busy_outer_entry(void *arg, void *first)
{
    EXPECT_RC(FIBER_EBUSY, fiber_resume(busy_outer, NULL, NULL)); /* itself */
    EXPECT_RC(FIBER_EBUSY, fiber_destroy(busy_outer));
    void *out = NULL;
    EXPECT_RC(FIBER_OK, fiber_resume(busy_inner, NULL, &out));
    EXPECT(out == P(5), "the inner fiber's suspend gave %p, expected 5", out);
    EXPECT(fiber_current() == busy_outer, "fiber_current() wrong after the inner fiber suspended");
    EXPECT_RC(FIBER_OK, fiber_resume(busy_inner, NULL, &out));
    EXPECT(out == P(6) && fiber_done(busy_inner), "the inner fiber did not finish");
    return P(7);
}

static result_t case_resume_running_fiber_is_an_error(void)
{
    REQUIRE_OK(fiber_create(&busy_outer, 0, busy_outer_entry, NULL));
    REQUIRE_OK(fiber_create(&busy_inner, 0, busy_inner_entry, NULL));
    void *out = NULL;
    REQUIRE_OK(fiber_resume(busy_outer, NULL, &out));
    EXPECT(out == P(7) && fiber_done(busy_outer), "the outer fiber did not finish");
    EXPECT(!fiber_running(busy_outer) && !fiber_running(busy_inner),
           "a finished fiber reports running");
    REQUIRE_OK(fiber_destroy(busy_outer));
    REQUIRE_OK(fiber_destroy(busy_inner));
    return verdict();
}

/* ---------------------------------------------------------------------------------------
 * destroy_suspended_fiber
 * ------------------------------------------------------------------------------------- */

static int destroyed_continued;

FT_NOINLINE static void suspend_deep(int depth)
{
    volatile char pad[64];
    pad[0] = (char)depth;
    if (depth > 0)
        suspend_deep(depth - 1);
    else
        fiber_suspend(P(1), NULL);
    destroyed_continued += pad[0] == (char)depth;
}

static void *destroy_entry(void *arg, void *first)
{
    suspend_deep((int)U(arg));
    destroyed_continued++;
    return NULL;
}

static result_t case_destroy_suspended_fiber(void)
{
    for (int i = 0; i < 200 && !g_failed; i++) {
        fiber_t *f;
        void *out = NULL;
        REQUIRE_OK(fiber_create(&f, (size_t)(i % 3) * 64 * 1024, destroy_entry, P(i % 7)));
        REQUIRE_OK(fiber_resume(f, NULL, &out));
        REQUIRE(out == P(1) && !fiber_done(f), "iteration %d: the fiber did not suspend", i);
        REQUIRE_OK(fiber_destroy(f));
    }
    EXPECT(destroyed_continued == 0, "code below the suspension point of a destroyed fiber ran");
    /* A destroyed fiber's neighbours are unaffected. */
    fiber_t *keep, *drop;
    REQUIRE_OK(fiber_create(&keep, 0, values_entry, P(0xfeed)));
    REQUIRE_OK(fiber_create(&drop, 0, destroy_entry, P(3)));
    void *out = NULL;
    REQUIRE_OK(fiber_resume(keep, P(value_from_resumer(0)), &out));
    REQUIRE_OK(fiber_resume(drop, NULL, NULL));
    REQUIRE_OK(fiber_destroy(drop));
    REQUIRE_OK(fiber_resume(keep, P(value_from_resumer(1)), &out));
    EXPECT(out == P(value_from_fiber(value_from_resumer(1))),
           "a fiber misbehaved after its neighbour was destroyed");
    REQUIRE_OK(fiber_destroy(keep));
    EXPECT(destroyed_continued == 0, "code below the suspension point of a destroyed fiber ran");
    return verdict();
}

/* ---------------------------------------------------------------------------------------
 * null_arguments_are_einval
 * ------------------------------------------------------------------------------------- */

static result_t case_null_arguments_are_einval(void)
{
    fiber_t *f = NULL;
    EXPECT_RC(FIBER_EINVAL, fiber_create(&f, 0, NULL, NULL));
    EXPECT_RC(FIBER_EINVAL, fiber_create(NULL, 0, return_arg_entry, NULL));
    EXPECT_RC(FIBER_EINVAL, fiber_create_ex(&f, 0, 0, 1u << 7, return_arg_entry, NULL));
    /* fiber.h: *out is NULL after any failed create. */
    f = P(1);
    EXPECT_RC(FIBER_EINVAL, fiber_create(&f, 0, NULL, NULL));
    EXPECT(f == NULL, "a create refused for a NULL entry left *out = %p", (void *)f);
    f = P(1);
    EXPECT_RC(FIBER_EINVAL, fiber_create_ex(&f, 0, 0, 1u << 7, return_arg_entry, NULL));
    EXPECT(f == NULL, "a create refused for an unknown flag left *out = %p", (void *)f);
    EXPECT_RC(FIBER_EINVAL, fiber_resume(NULL, NULL, NULL));
    EXPECT(!fiber_done(NULL) && !fiber_running(NULL), "fiber_done/fiber_running(NULL) non-zero");
    return verdict();
}

/* ---------------------------------------------------------------------------------------
 * strerror_describes_every_status
 * ------------------------------------------------------------------------------------- */

static result_t case_strerror_describes_every_status(void)
{
    const int codes[] = {FIBER_OK,        FIBER_ENOMEM, FIBER_EDONE,
                         FIBER_ENOTFIBER, FIBER_EBUSY,  FIBER_EINVAL};
    for (size_t i = 0; i < ARRAY_LEN(codes); i++) {
        const char *s = fiber_strerror(codes[i]);
        REQUIRE(s && *s, "fiber_strerror(%d) is empty", codes[i]);
        for (size_t j = 0; j < i; j++)
            EXPECT(strcmp(s, fiber_strerror(codes[j])) != 0,
                   "fiber_strerror(%d) and (%d) are the same text", codes[i], codes[j]);
    }
    EXPECT(fiber_strerror(-999) != NULL && fiber_strerror(12345) != NULL,
           "fiber_strerror of an unknown code is NULL");
    return verdict();
}

/* ---------------------------------------------------------------------------------------
 * stack_aligned_per_abi
 *
 * The compiler trusts the ABI's stack alignment: a local declared with that alignment is
 * not realigned, so its address shows whether the fiber's frames are aligned. Checked in
 * the entry, one call deeper, and after suspends.
 * ------------------------------------------------------------------------------------- */

#if defined(__x86_64__) || defined(__i386__) || defined(__aarch64__)
#define ABI_STACK_ALIGN 16
#elif defined(__riscv) || defined(__powerpc64__) || defined(__loongarch64)
#define ABI_STACK_ALIGN 16 /* the RISC-V, ELF V2 and LoongArch psABIs: 16 at every call */
#else /* arm32 (AAPCS: 8 at public interfaces), s390x (8) */
#define ABI_STACK_ALIGN 8
#endif

FT_NOINLINE static uintptr_t aligned_local_misalignment(void)
{
    _Alignas(ABI_STACK_ALIGN) volatile unsigned char probe[ABI_STACK_ALIGN];
    uintptr_t p = U(probe);
    __asm__ __volatile__("" : "+r"(p)); /* hide the address from the optimiser */
    probe[0] = 1;
    return p % ABI_STACK_ALIGN;
}

static void *align_entry(void *arg, void *first)
{
    _Alignas(ABI_STACK_ALIGN) volatile unsigned char here[ABI_STACK_ALIGN];
    uintptr_t p = U(here);
    __asm__ __volatile__("" : "+r"(p));
    here[0] = 0;
    EXPECT(p % ABI_STACK_ALIGN == 0, "a %d-aligned local in the entry is at %p", ABI_STACK_ALIGN,
           (void *)p);
    for (int i = 0; i < 3; i++) {
        uintptr_t m = aligned_local_misalignment();
        EXPECT(m == 0,
               "a %d-aligned local one call below the entry is misaligned by %u "
               "(after %d suspends)",
               ABI_STACK_ALIGN, (unsigned)m, i);
        fiber_suspend(NULL, NULL);
    }
    return NULL;
}

static result_t case_stack_aligned_per_abi(void)
{
    fiber_t *f;
    REQUIRE_OK(fiber_create(&f, 0, align_entry, NULL));
    while (!fiber_done(f) && !g_failed)
        REQUIRE_OK(fiber_resume(f, NULL, NULL));
    EXPECT(aligned_local_misalignment() == 0, "the resumer's own stack became misaligned");
    REQUIRE_OK(fiber_destroy(f));
    return verdict();
}

/* Tools some cases must know about: they build this program with -fsanitize=address, or
   with -DFIBER_VALGRIND and run it under valgrind (ci/reliability). */
#if defined(__SANITIZE_ADDRESS__)
#define FT_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define FT_ASAN 1
#endif
#endif
#ifdef FIBER_VALGRIND
#include <valgrind/valgrind.h>
#define FT_ON_VALGRIND() RUNNING_ON_VALGRIND
#else
#define FT_ON_VALGRIND() 0
#endif

/* ---------------------------------------------------------------------------------------
 * size_overflow_is_einval
 *
 * fiber.h: a request whose size arithmetic overflows size_t is malformed (FIBER_EINVAL);
 * one that can be represented but that the system will not map is FIBER_ENOMEM, with errno
 * as mmap left it.
 * ------------------------------------------------------------------------------------- */

static result_t create_expecting(int want, size_t stack_size, size_t user_size, const char *what)
{
    fiber_t *f = P(1);
#ifndef _WIN32
    errno = 0;
#endif
    int rc = fiber_create_ex(&f, stack_size, user_size, 0, never_entry, NULL);
    if (rc == FIBER_OK) {
        fiber_destroy(f);
        return note_fail(__LINE__, "%s (stack %zu, user area %zu) was created", what, stack_size,
                         user_size),
               RES_FAIL;
    }
    EXPECT(rc == want, "%s (stack %zu, user area %zu) returned %d (%s), expected %d (%s)", what,
           stack_size, user_size, rc, fiber_strerror(rc), want, fiber_strerror(want));
    EXPECT(f == NULL, "%s: a failed create left *out = %p, not NULL", what, (void *)f);
#ifndef _WIN32
    /* errno is mmap's: Linux's ENOMEM; valgrind's own mmap answers EINVAL for a length
       beyond its address-space manager. */
    if (want == FIBER_ENOMEM)
        EXPECT(errno == ENOMEM || (FT_ON_VALGRIND() && errno != 0),
               "%s: FIBER_ENOMEM with "
               "errno %d (%s), expected the system's ENOMEM",
               what, errno, strerror(errno));
#endif
    return verdict();
}

static result_t case_size_overflow_is_einval(void)
{
    size_t page = page_size();
    const size_t half = SIZE_MAX / 2 + 1;
    /* Each of these overflows size_t on the way to a mapping size. */
    const struct {
        size_t stack, user;
        const char *what;
    } overflowing[] = {
        {SIZE_MAX, 0, "SIZE_MAX"},
        {SIZE_MAX - 1, 0, "SIZE_MAX - 1"},
        {SIZE_MAX - page + 2, 0, "a stack that overflows when rounded to pages"},
        {SIZE_MAX - 2 * page, 0, "a stack that overflows with the guard added"},
        {0, SIZE_MAX, "a user area of SIZE_MAX"},
        {0, SIZE_MAX - 8, "a user area that overflows when rounded to 16 bytes"},
        {half, half, "a stack and a user area that overflow together"},
        {fiber_min_stack_size(), SIZE_MAX - fiber_min_stack_size() / 2,
         "a user area that overflows with the stack added"},
    };
    for (size_t k = 0; k < ARRAY_LEN(overflowing); k++)
        create_expecting(FIBER_EINVAL, overflowing[k].stack, overflowing[k].user,
                         overflowing[k].what);
    /* Representable, but more than the address space: the system refuses it. */
    create_expecting(FIBER_ENOMEM, SIZE_MAX / 8 * 7, 0, "a stack of 7/8 of the address space");
#if SIZE_MAX > 0xffffffffu
    create_expecting(FIBER_ENOMEM, half, 0, "a stack of half the 64-bit range");
    create_expecting(FIBER_ENOMEM, 0, half, "a user area of half the 64-bit range");
#endif
    /* The failures left nothing broken behind. */
    fiber_t *f = NULL;
    void *out = NULL;
    REQUIRE_OK(fiber_create(&f, 0, sizes_entry, NULL));
    REQUIRE_OK(fiber_resume(f, NULL, &out));
    EXPECT(fiber_done(f), "a normal fiber after the failed creates did not finish");
    REQUIRE_OK(fiber_destroy(f));
    return verdict();
}

/* ---------------------------------------------------------------------------------------
 * owning_fiber_keeps_mxcsr
 *
 * x86: MXCSR (SSE rounding, flush-to-zero, exception masks) is part of the FP control state
 * an owning fiber keeps, read here with stmxcsr itself, whatever fegetround() reports (on
 * i386 glibc's fegetround() reads only the x87 control word, while its fesetround() sets
 * both). On i386 the core decides at run time whether the CPU has MXCSR.
 * ------------------------------------------------------------------------------------- */

#if defined(__x86_64__) || defined(__i386__)
#define HAVE_MXCSR_CASE 1
#if defined(__i386__)
#include <cpuid.h>
#endif
#define MXCSR_RC_MASK 0x6000u
#define MXCSR_RC_NEAREST 0x0000u
#define MXCSR_RC_DOWN 0x2000u
#define MXCSR_RC_UP 0x4000u
#define MXCSR_RC_ZERO 0x6000u
#define MXCSR_FTZ 0x8000u

static int cpu_has_sse(void)
{
#if defined(__i386__)
    unsigned a, b, c, d;
    return __get_cpuid(1, &a, &b, &c, &d) && (d & bit_SSE);
#else
    return 1;
#endif
}

#if defined(__i386__) && !defined(__SSE__)
#define FT_SSE_TARGET __attribute__((target("sse")))
#else
#define FT_SSE_TARGET
#endif

FT_SSE_TARGET static unsigned mxcsr_get(void)
{
    unsigned m;
    __asm__ __volatile__("stmxcsr %0" : "=m"(m));
    return m;
}

FT_SSE_TARGET static void mxcsr_set(unsigned m) { __asm__ __volatile__("ldmxcsr %0" : : "m"(m)); }

static void mxcsr_set_rc(unsigned rc) { mxcsr_set((mxcsr_get() & ~MXCSR_RC_MASK) | rc); }
static unsigned mxcsr_rc(void) { return mxcsr_get() & MXCSR_RC_MASK; }

static const char *rc_name(unsigned rc)
{
    switch (rc) {
    case MXCSR_RC_NEAREST: return "nearest";
    case MXCSR_RC_DOWN: return "down";
    case MXCSR_RC_UP: return "up";
    default: return "toward zero";
    }
}

static int ftz_sticks; /* whether this CPU (or emulator) keeps MXCSR.FTZ at all */

static void *mxcsr_owner_entry(void *arg, void *first)
{
    unsigned start = mxcsr_rc();
    EXPECT(start == MXCSR_RC_DOWN,
           "a new owning fiber started with MXCSR rounding %s, "
           "expected its creator's (down)",
           rc_name(start));
    /* What a C program does: fesetround() sets MXCSR too (glibc on an SSE CPU); set it
       directly as well, in case a libc leaves MXCSR alone. */
#if HAVE_ROUNDING_MODES
    fesetround(FE_UPWARD);
#endif
    mxcsr_set_rc(MXCSR_RC_UP);
    if (ftz_sticks)
        mxcsr_set(mxcsr_get() | MXCSR_FTZ);
    for (int i = 0; i < 2; i++) {
        EXPECT_RC(FIBER_OK, fiber_suspend(NULL, NULL));
        unsigned m = mxcsr_get();
        EXPECT((m & MXCSR_RC_MASK) == MXCSR_RC_UP,
               "after suspend #%d the owning fiber's "
               "MXCSR rounding was %s, expected its own (up)",
               i + 1, rc_name(m & MXCSR_RC_MASK));
        EXPECT(!ftz_sticks || (m & MXCSR_FTZ),
               "after suspend #%d the owning fiber lost its "
               "MXCSR flush-to-zero bit",
               i + 1);
    }
    return NULL;
}

static void *mxcsr_plain_entry(void *arg, void *first)
{
    unsigned start = mxcsr_rc();
    mxcsr_set_rc(MXCSR_RC_UP);
    return P(start);
}
#else
#define HAVE_MXCSR_CASE 0
#endif

static result_t case_owning_fiber_keeps_mxcsr(void)
{
#if !HAVE_MXCSR_CASE
    return skip("MXCSR is x86's; FPCR/FPSCR ownership is pinned by fp_control_travels_with_fiber");
#else
    if (!cpu_has_sse())
        return skip("this CPU has no SSE, hence no MXCSR to own");
    unsigned orig = mxcsr_get();
#if HAVE_ROUNDING_MODES
    int orig_mode = fegetround();
#endif
    mxcsr_set(orig | MXCSR_FTZ);
    ftz_sticks = (mxcsr_get() & MXCSR_FTZ) != 0;
    mxcsr_set(orig & ~MXCSR_FTZ);

    fiber_t *f;
    mxcsr_set_rc(MXCSR_RC_DOWN);
    REQUIRE_OK(fiber_create_ex(&f, 0, 0, FIBER_OWN_FP_CONTROL, mxcsr_owner_entry, NULL));
    mxcsr_set_rc(MXCSR_RC_NEAREST);
    REQUIRE_OK(fiber_resume(f, NULL, NULL));
    unsigned m = mxcsr_get();
    EXPECT((m & MXCSR_RC_MASK) == MXCSR_RC_NEAREST,
           "after an owning fiber set its rounding "
           "(fesetround and MXCSR) and suspended, the resumer's MXCSR rounding was %s, "
           "expected its own (nearest)",
           rc_name(m & MXCSR_RC_MASK));
    EXPECT(!(m & MXCSR_FTZ), "an owning fiber's flush-to-zero bit leaked to its resumer");
    mxcsr_set_rc(MXCSR_RC_ZERO);
    REQUIRE_OK(fiber_resume(f, NULL, NULL));
    EXPECT(mxcsr_rc() == MXCSR_RC_ZERO,
           "the resumer's MXCSR rounding was %s after a resume, "
           "expected toward zero",
           rc_name(mxcsr_rc()));
    REQUIRE_OK(fiber_resume(f, NULL, NULL));
    EXPECT(fiber_done(f), "the owning fiber did not finish");
    EXPECT(mxcsr_rc() == MXCSR_RC_ZERO,
           "after the owning fiber finished the resumer's MXCSR "
           "rounding was %s, expected toward zero",
           rc_name(mxcsr_rc()));
    REQUIRE_OK(fiber_destroy(f));

    /* Without the flag MXCSR stays the thread's, both ways. */
    void *out = NULL;
    mxcsr_set_rc(MXCSR_RC_DOWN);
    REQUIRE_OK(fiber_create(&f, 0, mxcsr_plain_entry, NULL));
    mxcsr_set_rc(MXCSR_RC_ZERO);
    REQUIRE_OK(fiber_resume(f, NULL, &out));
    EXPECT((unsigned)U(out) == MXCSR_RC_ZERO,
           "a fiber without FIBER_OWN_FP_CONTROL ran with "
           "MXCSR rounding %s, expected its resumer's (toward zero)",
           rc_name((unsigned)U(out)));
    EXPECT(mxcsr_rc() == MXCSR_RC_UP,
           "a fiber without FIBER_OWN_FP_CONTROL set MXCSR rounding "
           "up and returned, but its resumer has %s",
           rc_name(mxcsr_rc()));
    REQUIRE_OK(fiber_destroy(f));
    mxcsr_set(orig);
#if HAVE_ROUNDING_MODES
    fesetround(orig_mode);
#endif
    return verdict();
#endif
}

/* ---------------------------------------------------------------------------------------
 * thread_local_state_after_migration_through_out_of_line_reads
 *
 * fiber.h's rule for code on a fiber that may migrate: after a suspend, reach thread-local
 * state (TLS variables, errno) only through a function that is not inlined into the one that
 * suspends. This pins that the rule works: such reads and writes, after a resume on another
 * thread, reach the new thread's variables and errno, and leave the old thread's alone.
 * ------------------------------------------------------------------------------------- */

#if defined(__GNUC__) && !defined(__clang__)
#define FT_OUT_OF_LINE __attribute__((noinline, noipa))
#else
#define FT_OUT_OF_LINE __attribute__((noinline))
#endif

static _Thread_local int tls_value;
FT_OUT_OF_LINE static int *tls_value_here(void) { return &tls_value; }
FT_OUT_OF_LINE static int errno_here(void) { return errno; }
FT_OUT_OF_LINE static void set_errno_here(int e) { errno = e; }

#define TLS_ROUNDS 6
static fiber_t *tls_f;

static void *tls_entry(void *arg, void *first)
{
    for (int r = 0; r < TLS_ROUNDS; r++) {
        /* What the thread running this round has: its TLS value and its errno. */
        int seen = *tls_value_here() * 1000 + errno_here();
        *tls_value_here() += 1;         /* a write: must reach this round's thread */
        set_errno_here(errno_here() + 1);
        EXPECT_RC(FIBER_OK, fiber_suspend(P(seen), NULL));
    }
    return NULL;
}

struct tls_round {
    int round, value_before, value_after, errno_after, rc;
    void *seen;
};

static void tls_resume_here(void *p)
{
    struct tls_round *t = p;
    *tls_value_here() = t->value_before;
    set_errno_here(t->round + 1);
    t->rc = fiber_resume(tls_f, NULL, &t->seen);
    t->value_after = *tls_value_here();
    t->errno_after = errno_here();
}

static result_t case_thread_local_state_after_migration_through_out_of_line_reads(void)
{
    REQUIRE_OK(fiber_create(&tls_f, 0, tls_entry, NULL));
    int main_value = 0;
    for (int r = 0; r < TLS_ROUNDS && !g_failed; r++) {
        int on_thread = r % 2 == 1;
        struct tls_round t = {r, 10 + r, 0, 0, -99, NULL};
        if (on_thread)
            REQUIRE(run_on_thread(tls_resume_here, &t) == 0, "could not start a thread");
        else
            tls_resume_here(&t);
        const char *where = on_thread ? "a new thread" : "the main thread";
        REQUIRE(t.rc == FIBER_OK, "round %d: resume returned %d", r, t.rc);
        int want = (10 + r) * 1000 + r + 1;
        EXPECT((int)U(t.seen) == want,
               "round %d on %s: the fiber read TLS value and errno %d, "
               "expected this thread's %d",
               r, where, (int)U(t.seen), want);
        EXPECT(t.value_after == 10 + r + 1 && t.errno_after == r + 2,
               "round %d on %s: the "
               "fiber's writes did not reach this thread's TLS value and errno (%d, %d; "
               "expected %d, %d)",
               r, where, t.value_after, t.errno_after, 10 + r + 1, r + 2);
        if (on_thread)
            EXPECT(*tls_value_here() == main_value,
                   "round %d: the fiber, resumed on a new "
                   "thread, changed the main thread's TLS value to %d (was %d)",
                   r, *tls_value_here(), main_value);
        else
            main_value = t.value_after;
    }
    REQUIRE_OK(fiber_resume(tls_f, NULL, NULL));
    EXPECT(fiber_done(tls_f), "the fiber did not finish");
    REQUIRE_OK(fiber_destroy(tls_f));
    return verdict();
}

/* ---------------------------------------------------------------------------------------
 * null_fiber_queries_give_null
 * ------------------------------------------------------------------------------------- */

static result_t case_null_fiber_queries_give_null(void)
{
    EXPECT(fiber_user_area(NULL) == NULL, "fiber_user_area(NULL) is not NULL");
    void *low = P(1), *high = P(1);
    fiber_stack_bounds(NULL, &low, &high);
    EXPECT(low == NULL && high == NULL,
           "fiber_stack_bounds(NULL) gave [%p, %p), expected "
           "NULL bounds",
           low, high);
    low = P(1);
    fiber_stack_bounds(NULL, &low, NULL);
    EXPECT(low == NULL, "fiber_stack_bounds(NULL, &low, NULL) gave low %p", low);
    fiber_stack_bounds(NULL, NULL, NULL);
    EXPECT_RC(FIBER_EINVAL, fiber_destroy(NULL));
    /* And the same queries of real fibers, for contrast. */
    fiber_t *f, *g;
    REQUIRE_OK(fiber_create(&f, 0, return_arg_entry, NULL));
    REQUIRE_OK(fiber_create_ex(&g, 0, 40, 0, return_arg_entry, NULL));
    EXPECT(fiber_user_area(f) == NULL, "a fiber without a user area has one");
    void *area = fiber_user_area(g);
    EXPECT(area != NULL && U(area) % 16 == 0, "the 40-byte user area is %p", area);
    fiber_stack_bounds(g, &low, &high);
    EXPECT(low != NULL && U(high) > U(low), "a real fiber's bounds [%p, %p) are empty", low, high);
    REQUIRE_OK(fiber_destroy(f));
    REQUIRE_OK(fiber_destroy(g));
    return verdict();
}

/* ---------------------------------------------------------------------------------------
 * guard_size_setting_applies_to_new_fibers
 *
 * fiber_set_guard_size(): whole pages, 0 for the default (64 KiB on 64-bit, 16 KiB on
 * 32-bit), EINVAL when rounding overflows; fibers created afterwards get it, and a stack
 * pooled with another guard is not handed to them even when its mapping has the same size.
 * ------------------------------------------------------------------------------------- */

static size_t expected_default_guard(void)
{
    size_t page = page_size(), want = sizeof(void *) >= 8 ? (size_t)64 << 10 : (size_t)16 << 10;
    return (want + page - 1) / page * page;
}

static result_t case_guard_size_setting_applies_to_new_fibers(void)
{
    size_t page = page_size(), dflt = expected_default_guard();
    EXPECT(fiber_guard_size() == dflt, "the default guard is %zu bytes, expected %zu",
           fiber_guard_size(), dflt);
    EXPECT_RC(FIBER_OK, fiber_set_guard_size(1));
    EXPECT(fiber_guard_size() == page, "a guard of 1 byte became %zu, expected one page (%zu)",
           fiber_guard_size(), page);
    EXPECT_RC(FIBER_EINVAL, fiber_set_guard_size(SIZE_MAX));
    EXPECT(fiber_guard_size() == page, "a refused setting changed the guard to %zu",
           fiber_guard_size());
    EXPECT_RC(FIBER_OK, fiber_set_guard_size(0));
    EXPECT(fiber_guard_size() == dflt, "fiber_set_guard_size(0) gave %zu, not the default %zu",
           fiber_guard_size(), dflt);
#ifndef _WIN32
    /* Two requests whose mappings have the same size, split differently: stack S + 64 KiB
       with the default guard, then stack S with a guard 64 KiB larger. */
    const size_t extra = (size_t)64 << 10, stack = (size_t)128 << 10;
    fiber_pool_trim();
    fiber_t *f;
    void *low, *high;
    REQUIRE_OK(fiber_create(&f, stack + extra, sizes_entry, NULL));
    REQUIRE_OK(fiber_destroy(f)); /* pooled, guard `dflt` */
    REQUIRE_OK(fiber_set_guard_size(dflt + extra));
    REQUIRE_OK(fiber_create(&f, stack, sizes_entry, NULL));
    fiber_stack_bounds(f, &low, &high);
    size_t usable = (size_t)(U(high) - U(low));
    EXPECT(usable < stack + extra,
           "a fiber created with a %zu-byte guard got the pooled stack "
           "of a %zu-byte guard (%zu usable bytes for %zu asked)",
           dflt + extra, dflt, usable, stack);
    void *out = NULL;
    REQUIRE_OK(fiber_resume(f, NULL, &out));
    EXPECT(fiber_done(f), "the fiber did not run");
    REQUIRE_OK(fiber_destroy(f));
    /* The same request after the guard changes back takes no stack of the wrong guard. */
    REQUIRE_OK(fiber_set_guard_size(0));
    REQUIRE_OK(fiber_create(&f, stack + extra, sizes_entry, NULL));
    fiber_stack_bounds(f, &low, &high);
    usable = (size_t)(U(high) - U(low));
    EXPECT(usable >= stack + extra, "a fiber asking %zu bytes got %zu", stack + extra, usable);
    REQUIRE_OK(fiber_destroy(f));
    fiber_pool_trim();
#endif
    fiber_set_guard_size(0);
    return verdict();
}

/* ---------------------------------------------------------------------------------------
 * frame_larger_than_a_page_is_a_reported_overflow
 *
 * In a child process with fiber_install_overflow_handler(): a fiber recurses until less than
 * 1 KiB of its stack is left, then calls a function with a 12 KiB local array whose first
 * store is its lowest byte (no stack probes: a plain -O2 build), i.e. about 11 KiB below the
 * stack: past a one-page guard, inside the larger guard region. A second child writes to the
 * lowest byte of a guard region made 256 KiB by fiber_set_guard_size(). Both must end in
 * the core's "fiber: stack overflow" report and SIGABRT, not in silence or a plain SIGSEGV.
 * (Under ASan a large local may live on the sanitizer's fake stack instead: the first child
 * sees that and the case reports a skip, after the second has run.)
 * ------------------------------------------------------------------------------------- */

#ifndef _WIN32
#define BIG_FRAME ((size_t)12 << 10)
#define BIG_LEFT ((uintptr_t)1 << 10)
static uintptr_t big_low, big_high, big_guard; /* set before the descent: no calls below */
static int big_mode; /* 0: a big frame at the bottom of the stack; 1: the lowest guard byte */
static int big_fd;

FT_NOINLINE static int big_frame(int x)
{
    volatile unsigned char buf[BIG_FRAME];
    uintptr_t top_of_frame = U(&buf[BIG_FRAME - 1]);
    if (top_of_frame >= big_high || top_of_frame < big_low - big_guard) {
        /* The frame is not on the fiber's stack at all: ASan's fake stack
           (detect_stack_use_after_return) holds such locals under clang. */
        (void)!write(big_fd, "NOTONSTACK\n", 11);
        _exit(4);
    }
    buf[0] = (unsigned char)x; /* the lowest byte, first: nothing above it was touched */
    buf[BIG_FRAME - 1] = (unsigned char)x;
    return buf[0] + buf[BIG_FRAME - 1];
}

FT_NOINLINE static int big_descend(int depth)
{
    volatile unsigned char pad[128];
    pad[0] = (unsigned char)depth;
    if (U(&pad[0]) - big_low > BIG_LEFT)
        return big_descend(depth + 1) + pad[0];
    return big_frame(depth) + pad[0];
}

static void *big_entry(void *arg, void *first)
{
    void *low, *high;
    fiber_stack_bounds(fiber_current(), &low, &high);
    big_low = U(low);
    big_high = U(high);
    big_guard = fiber_guard_size();
    if (big_mode == 0)
        return P(big_descend(0));
    volatile unsigned char *lowest = (volatile unsigned char *)(U(low) - big_guard);
    *lowest = 1;
    return NULL;
}

/* The child: stderr into `fd`, the handler installed, a victim fiber with a neighbour mapped
   right below it (so that a write past a small guard lands in a live stack, silently). */
static void big_child(int mode, int fd)
{
    struct rlimit no_core = {0, 0};
    setrlimit(RLIMIT_CORE, &no_core);
    dup2(fd, STDERR_FILENO);
    big_fd = fd;
    big_mode = mode;
    if (mode == 1 && fiber_set_guard_size((size_t)256 << 10) != FIBER_OK)
        _exit(3);
    fiber_pool_trim();
    fiber_t *victim, *neighbour;
    if (fiber_install_overflow_handler() != FIBER_OK ||
        fiber_create(&victim, 64 << 10, big_entry, NULL) != FIBER_OK ||
        fiber_create(&neighbour, 64 << 10, sizes_entry, NULL) != FIBER_OK)
        _exit(3);
    fiber_resume(victim, NULL, NULL);
    (void)!write(fd, "SURVIVED\n", 9);
    _exit(0);
}

static result_t big_run(int mode, const char *what)
{
    int fds[2];
    REQUIRE(pipe(fds) == 0, "pipe: %s", strerror(errno));
    fflush(NULL);
    pid_t pid = fork();
    REQUIRE(pid >= 0, "fork: %s", strerror(errno));
    if (pid == 0) {
        close(fds[0]);
        big_child(mode, fds[1]);
    }
    close(fds[1]);
    char buf[1024];
    size_t n = 0;
    for (;;) {
        ssize_t r = read(fds[0], buf + n, sizeof buf - 1 - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        n += (size_t)r;
        if (n == sizeof buf - 1)
            break;
    }
    buf[n] = 0;
    close(fds[0]);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 4)
        return RES_SKIP;
    REQUIRE(!(WIFEXITED(status) && WEXITSTATUS(status) == 3),
            "%s: the child could not set up "
            "(stderr: %s)",
            what, buf);
    REQUIRE(!strstr(buf, "SURVIVED"),
            "%s: the write below the stack went unnoticed: it "
            "jumped the guard into another mapping",
            what);
    REQUIRE(strstr(buf, "fiber: stack overflow"),
            "%s: the fault was not reported as a fiber "
            "stack overflow (status 0x%x, stderr: %s)",
            what, status, buf);
    REQUIRE(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT,
            "%s: the child was not ended "
            "by SIGABRT (status 0x%x)",
            what, status);
    return RES_PASS;
}
#endif

static result_t case_frame_larger_than_a_page_is_a_reported_overflow(void)
{
#ifdef _WIN32
    return skip("Windows fiber stacks are the system's: Windows compilers probe every frame "
                "larger than a page (__chkstk), so no frame skips the system's guard page");
#else
    result_t frame = big_run(0, "a 12 KiB frame at the bottom of the stack");
    if (frame == RES_FAIL)
        return RES_FAIL;
    if (big_run(1, "the lowest byte of a 256 KiB guard region") != RES_PASS)
        return RES_FAIL;
    if (frame == RES_SKIP)
        return skip("the 12 KiB frame was not placed on the fiber's stack (ASan's fake stack, "
                    "detect_stack_use_after_return): only the write to the lowest guard byte "
                    "ran, and passed");
    return verdict();
#endif
}

/* ---------------------------------------------------------------------------------------
 * mapping_limit_is_enomem_and_leaks_nothing
 *
 * Linux caps a process's mappings at vm.max_map_count, and a fiber takes two (the guard's
 * mprotect splits its mapping). In a child process: split a reserved region into single
 * pages (mprotect of every other page) until the kernel refuses another split: the count is
 * at its maximum. Then
 *   - a create fails with FIBER_ENOMEM, *out NULL, errno ENOMEM (the mprotect's), and leaves
 *     no mapping behind (/proc/self/maps has as many lines as before);
 *   - with a destroyed fiber in the reuse pool, a create of another size succeeds: the core
 *     gives the pooled stack's two mappings back and tries again.
 * ------------------------------------------------------------------------------------- */

#ifndef _WIN32
#include <fcntl.h>
#include <sys/mman.h>

static long max_map_count(void)
{
    FILE *fp = fopen("/proc/sys/vm/max_map_count", "r");
    long n = -1;
    if (fp) {
        if (fscanf(fp, "%ld", &n) != 1)
            n = -1;
        fclose(fp);
    }
    return n;
}

static void put_fd(int fd, const char *s) { (void)!write(fd, s, strlen(s)); }

/* Split [base, base + pages * page) by making every other page readable until the kernel
   refuses: 1 when the mapping count reached its maximum, 0 when the region ran out first.
   (mprotect rather than munmap: under QEMU user mode a 32-bit guest's munmap does not free
   the emulator's mapping, while an mprotect split is a split on both sides.) */
static int exhaust_mappings(char *base, size_t pages, size_t page)
{
    for (size_t i = 1; i + 1 < pages; i += 2) {
        if (mprotect(base + i * page, page, PROT_READ) != 0)
            return errno == ENOMEM;
    }
    return 0;
}

/* Whether a stack-like mapping (two pages, the lower one made PROT_NONE), made directly, is
   refused now, as it is at the kernel's limit. Under QEMU user mode with a reserved guest
   address space (32-bit guests) the guest's mappings are carved out of one emulator mapping
   and such a split can still succeed: then the limit cannot be reached from the guest. */
static int limit_refuses_a_stack_layout(size_t page)
{
    char *p = mmap(NULL, 2 * page, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED)
        return 1;
    int refused = mprotect(p, page, PROT_NONE) != 0;
    munmap(p, 2 * page);
    return refused;
}

/* The process's mappings as it sees them: the lines of /proc/self/maps (read with a static
   buffer: nothing here may need a mapping of its own). -1 if it cannot be read. */
static long count_mappings(void)
{
    static char buf[1 << 16];
    int fd = open("/proc/self/maps", O_RDONLY);
    if (fd < 0)
        return -1;
    long lines = 0;
    for (;;) {
        ssize_t n = read(fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        for (ssize_t i = 0; i < n; i++)
            lines += buf[i] == '\n';
    }
    close(fd);
    return lines;
}

static void maplimit_child(int fd, long limit)
{
    size_t page = page_size();
    fiber_pool_trim();
    fiber_t *kept, *f = P(1);
    if (fiber_create(&kept, 16 << 10, return_arg_entry, NULL) != FIBER_OK) {
        put_fd(fd, "SETUP fiber_create failed\n");
        _exit(3);
    }
    size_t pages = (size_t)limit * 2 + 4096;
    char *region = mmap(NULL, pages * page, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (region == MAP_FAILED) {
        put_fd(fd, "NOSPACE\n");
        _exit(0);
    }
    if (!exhaust_mappings(region, pages, page)) {
        put_fd(fd, "NOLIMIT\n");
        _exit(0);
    }
    if (!limit_refuses_a_stack_layout(page)) {
        put_fd(fd, "NOTONETOONE\n");
        _exit(0);
    }
    long before = count_mappings();
    errno = 0;
    int rc = fiber_create(&f, 64 << 10, return_arg_entry, NULL);
    int err = errno;
    long after = count_mappings();
    put_fd(fd, rc == FIBER_ENOMEM ? "FULL enomem" : rc == FIBER_OK ? "FULL ok" : "FULL other");
    put_fd(fd, f == NULL ? " out-null" : " out-set");
    put_fd(fd, err == ENOMEM ? " errno-enomem" : " errno-other");
    put_fd(fd, before < 0 ? " maps-unreadable\n" : after == before ? " no-leak\n" : " leaked\n");
    fiber_destroy(kept); /* now in the thread's cache: two mappings the core may give back */
    rc = fiber_create(&f, 64 << 10, return_arg_entry, P(5));
    void *out = NULL;
    int ran = rc == FIBER_OK && fiber_resume(f, NULL, &out) == FIBER_OK && out == P(5);
    put_fd(fd, rc == FIBER_OK ? (ran ? "POOLED ok\n" : "POOLED broken\n") : "POOLED enomem\n");
    _exit(0);
}
#endif

static result_t case_mapping_limit_is_enomem_and_leaks_nothing(void)
{
#ifdef _WIN32
    return skip("Windows has no mapping count: a fiber stack is one reservation of the "
                "system's, and vm.max_map_count is Linux's");
#else
    if (FT_ON_VALGRIND())
        return skip("valgrind's address-space manager holds fewer mappings than "
                    "vm.max_map_count: it exits ('VG_N_SEGMENTS is too low') before the "
                    "kernel's limit is reached");
    long limit = max_map_count();
    if (limit <= 0)
        return skip("/proc/sys/vm/max_map_count is not readable here");
    if (limit > (1L << 20))
        return skip("vm.max_map_count is %ld: too many mappings to exhaust in a test", limit);
    int fds[2];
    REQUIRE(pipe(fds) == 0, "pipe: %s", strerror(errno));
    fflush(NULL);
    pid_t pid = fork();
    REQUIRE(pid >= 0, "fork: %s", strerror(errno));
    if (pid == 0) {
        close(fds[0]);
        maplimit_child(fds[1], limit);
    }
    close(fds[1]);
    char buf[512];
    size_t n = 0;
    for (;;) {
        ssize_t r = read(fds[0], buf + n, sizeof buf - 1 - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        n += (size_t)r;
        if (n == sizeof buf - 1)
            break;
    }
    buf[n] = 0;
    close(fds[0]);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    fprintf(stderr, "# maplimit (vm.max_map_count %ld): %s", limit, buf);
    REQUIRE(WIFEXITED(status) && WEXITSTATUS(status) == 0,
            "the child did not exit cleanly "
            "(status 0x%x; it said: %s)",
            status, buf);
    if (strstr(buf, "NOSPACE"))
        return skip("could not reserve %ld pages of address space to split", limit * 2);
    if (strstr(buf, "NOLIMIT"))
        return skip("splitting %ld mappings never reached the limit: the mappings are not "
                    "the kernel's one to one here (an emulator's)",
                    limit * 2);
    if (strstr(buf, "NOTONETOONE"))
        return skip("at the kernel's mapping limit a new mapping could still be split: the "
                    "process's mappings are not the kernel's one to one here (QEMU user mode "
                    "carves a 32-bit guest's mappings out of one reserved region)");
    REQUIRE(strstr(buf, "FULL "), "the child said: %s", buf);
    EXPECT(strstr(buf, "FULL enomem"),
           "at the mapping limit the create did not return "
           "FIBER_ENOMEM: %s",
           buf);
    EXPECT(strstr(buf, "out-null"), "the failed create did not leave *out NULL: %s", buf);
    EXPECT(strstr(buf, "errno-enomem"), "errno was not the system's ENOMEM: %s", buf);
    EXPECT(strstr(buf, "no-leak") || strstr(buf, "maps-unreadable"),
           "the failed create left "
           "a mapping behind: %s",
           buf);
    EXPECT(strstr(buf, "POOLED ok"),
           "with a pooled stack to give back, a create at the mapping "
           "limit still failed: %s",
           buf);
    return verdict();
#endif
}

/* ---------------------------------------------------------------------------------------
 * The case table and the driver
 * ------------------------------------------------------------------------------------- */

struct test_case {
    const char *name;
    result_t (*run)(void);
};

#define CASE(name) {#name, case_##name}
static const struct test_case cases[] = {
    CASE(entry_not_run_before_first_resume),
    CASE(suspend_resume_values_both_ways),
    CASE(thousand_fibers_interleaved),
    CASE(nested_fibers),
    CASE(callee_saved_registers),
    CASE(fp_control_travels_with_fiber),
    CASE(fp_control_is_the_threads_by_default),
    CASE(stack_aligned_per_abi),
    CASE(stack_sizes),
    CASE(unmappable_stack_size_is_an_error),
    CASE(deep_recursion_within_stack),
    CASE(guard_page_write_kills_with_sigsegv),
    CASE(pool_reuses_stacks),
    CASE(backtrace_crosses_into_resumer),
    CASE(resume_from_another_thread),
    CASE(resume_finished_fiber_is_an_error),
    CASE(suspend_outside_fiber_is_an_error),
    CASE(resume_running_fiber_is_an_error),
    CASE(destroy_suspended_fiber),
    CASE(null_arguments_are_einval),
    CASE(strerror_describes_every_status),
    CASE(size_overflow_is_einval),
    CASE(owning_fiber_keeps_mxcsr),
    CASE(thread_local_state_after_migration_through_out_of_line_reads),
    CASE(null_fiber_queries_give_null),
    CASE(guard_size_setting_applies_to_new_fibers),
    CASE(frame_larger_than_a_page_is_a_reported_overflow),
    CASE(mapping_limit_is_enomem_and_leaks_nothing),
};

static const char *status_word(result_t r)
{
    return r == RES_PASS ? "PASS" : r == RES_SKIP ? "SKIP" : "FAIL";
}

/* Run one case here; format its result line into `line`. */
static result_t run_here(const struct test_case *c, char *line, size_t cap)
{
    g_failed = 0;
    g_reason[0] = 0;
    result_t r = c->run();
    if (r == RES_PASS && g_failed)
        r = RES_FAIL;
    if (r == RES_FAIL && !g_reason[0])
        snprintf(g_reason, sizeof g_reason, "failed without a reason");
    if (r == RES_PASS)
        snprintf(line, cap, "CASE %s PASS\n", c->name);
    else
        snprintf(line, cap, "CASE %s %s %s\n", c->name, status_word(r), g_reason);
    return r;
}

#ifndef _WIN32
#define CASE_TIMEOUT_SECONDS 120

/* Run one case in a forked child, so that a crash is a FAIL line, not a lost suite. */
static result_t run_forked(const struct test_case *c, char *line, size_t cap)
{
    int fds[2];
    if (pipe(fds) != 0) {
        snprintf(line, cap, "CASE %s FAIL pipe: %s\n", c->name, strerror(errno));
        return RES_FAIL;
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        snprintf(line, cap, "CASE %s FAIL fork: %s\n", c->name, strerror(errno));
        return RES_FAIL;
    }
    if (pid == 0) {
        close(fds[0]);
        alarm(CASE_TIMEOUT_SECONDS);
        char out[1024];
        result_t r = run_here(c, out, sizeof out);
        (void)!write(fds[1], out, strlen(out));
        fflush(NULL);
        _exit((int)r);
    }
    close(fds[1]);
    size_t n = 0;
    line[0] = 0;
    for (;;) {
        ssize_t got = read(fds[0], line + n, cap - 1 - n);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            break;
        n += (size_t)got;
        if (n == cap - 1)
            break;
    }
    line[n] = 0;
    close(fds[0]);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    char prefix[128];
    snprintf(prefix, sizeof prefix, "CASE %s ", c->name);
    if (n > 0 && strncmp(line, prefix, strlen(prefix)) == 0 && line[n - 1] == '\n' &&
        WIFEXITED(status)) {
        const char *word = line + strlen(prefix);
        return strncmp(word, "PASS", 4) == 0   ? RES_PASS
               : strncmp(word, "SKIP", 4) == 0 ? RES_SKIP
                                               : RES_FAIL;
    }
    if (WIFSIGNALED(status))
        snprintf(line, cap, "CASE %s FAIL the case's process was killed by signal %d (%s)%s\n",
                 c->name, WTERMSIG(status), strsignal(WTERMSIG(status)),
                 WTERMSIG(status) == SIGALRM ? ": timed out" : "");
    else
        snprintf(line, cap,
                 "CASE %s FAIL the case's process exited with status %d without a "
                 "result line\n",
                 c->name, WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    return RES_FAIL;
}
#endif

static void usage(FILE *to, const char *prog)
{
    fprintf(to, "usage: %s [--list | --no-fork | CASE_NAME]\n", prog);
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    int in_process = 0;
#ifdef _WIN32
    in_process = 1;
#endif
    const char *only = NULL;
    if (argc > 2) {
        usage(stderr, argv[0]);
        return 2;
    }
    if (argc == 2) {
        if (strcmp(argv[1], "--list") == 0) {
            for (size_t i = 0; i < ARRAY_LEN(cases); i++)
                printf("%s\n", cases[i].name);
            return 0;
        } else if (strcmp(argv[1], "--no-fork") == 0) {
            in_process = 1;
        } else if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
            usage(stdout, argv[0]);
            return 0;
        } else {
            only = argv[1];
            in_process = 1;
        }
    }
    int failures = 0, ran = 0;
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        const struct test_case *c = &cases[i];
        if (only && strcmp(only, c->name) != 0)
            continue;
        char line[1024];
        result_t r;
#ifndef _WIN32
        if (!in_process)
            r = run_forked(c, line, sizeof line);
        else
#endif
            r = run_here(c, line, sizeof line);
        fputs(line, stdout);
        fflush(stdout);
        failures += r == RES_FAIL;
        ran++;
    }
    (void)in_process; /* Windows always runs in-process */
    if (only && !ran) {
        fprintf(stderr, "%s: no case named %s (see --list)\n", argv[0], only);
        return 2;
    }
    return failures ? 1 : 0;
}
