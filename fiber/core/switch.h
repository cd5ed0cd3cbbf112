/*
 * The contract between the C core and the per-ABI assembly in asm/.
 *
 * Every ABI implements the same three routines. Nothing else in the project touches a stack
 * pointer, so this header is the whole interface.
 *
 * Stack top and link area
 * -----------------------
 * `top` is the 16-byte-aligned address one past the highest usable byte of a fiber stack.
 * The 16 bytes just below it are the *link area*:
 *
 *       top ->  +---------------------------+
 *               | reserved (zero)           |  top - 8 .. top - 1 (64-bit) / top-12..top-1 (32-bit)
 *               | link slot (one pointer)   |  top - 16
 *               +---------------------------+
 *               | fiber_asm_start's frame   |  the base frame of the fiber
 *               | ...frames of the fiber... |
 *
 * The link slot always holds the saved stack pointer of the side that is NOT running:
 *   - fiber new or suspended: the fiber's own stack pointer (pointing at its switch frame);
 *   - fiber running: its resumer's stack pointer (pointing at the resumer's switch frame).
 * fiber_asm_switch() exchanges the two, which is why one routine both enters and leaves a
 * fiber. fiber_asm_start's unwind info reads the slot to continue a backtrace into the
 * resumer's stack, whoever and wherever that resumer is on this resume.
 */
#ifndef FIBER_CORE_SWITCH_H
#define FIBER_CORE_SWITCH_H

/* Offset of the link slot below `top`, in bytes. The assembly hard-codes the same value. */
#define FIBER_LINK_SLOT_OFFSET 16

/* The routines are hidden symbols of the object they are linked into (asm/macros.h). Saying
   so here lets the compiler call them directly, without the PLT and, on i386, without
   setting up the GOT register, which is also what allows the tail calls described below. */
#if defined(__GNUC__) && !defined(_WIN32)
#define FIBER_ASM_ROUTINE __attribute__((visibility("hidden")))
#else
#define FIBER_ASM_ROUTINE
#endif

/*
 * Lay out a fresh stack so that the first fiber_asm_switch(top) lands in fiber_asm_start,
 * which then calls entry(arg) on the fiber stack. Stores the fiber's initial stack pointer in
 * the link slot. The initial switch frame carries the FP control state (MXCSR/x87 control
 * word, FPCR, FPSCR; on i386 MXCSR only when fiber_asm_i386_sse is set, see below) of the
 * caller of fiber_asm_init, so a new fiber that owns its FP control state starts with the FP
 * modes of the code that created it. `entry` must never
 * return: it leaves the fiber for good by a last switch(top, status). If it returns anyway,
 * fiber_asm_start traps.
 */
FIBER_ASM_ROUTINE void fiber_asm_init(void *top, void (*entry)(void *arg), void *arg);

/*
 * Save every callee-saved register of the ABI (integer and FP/SIMD) on the current stack,
 * swap the stack pointer with the link slot at top - 16, restore the registers saved on the
 * other stack, and return there: the other side's pending switch call returns `status`.
 * Passing the result across lets a C function end in `return fiber_asm_switch(top, status);`,
 * a tail call: the switch then saves that function's caller as the place to come back to,
 * and the other side resumes in its own caller directly, with no return through the C
 * wrapper (whose `ret` the CPU's return-stack predictor would miss on every switch, since it
 * expects the other stack's caller).
 *
 * fiber_asm_switch leaves the FP control state (MXCSR and x87 control word, FPCR, FPSCR) as
 * it is: the fiber runs in the thread's modes. fiber_asm_switch_fp also saves it in the
 * frame and loads the other side's, for fibers that own theirs (FIBER_OWN_FP_CONTROL). Both
 * build the same frame; a fiber must be entered and left by the same one of the two.
 *
 * i386 only: fiber_asm_switch_fp saves the x87 control word alone, and a third routine,
 * fiber_asm_switch_fp_sse, saves MXCSR as well; the core picks it for owning fibers when
 * CPUID reports SSE (MXCSR does not exist without SSE, and touching it raises SIGILL).
 * fiber_asm_init captures the creator's MXCSR into the initial frame only once the core has
 * set fiber_asm_i386_sse to 1, which it does before the first create that uses
 * fiber_asm_switch_fp_sse: a byte test in init rather than a fourth routine, since init is
 * not on the switch path.
 */
FIBER_ASM_ROUTINE int fiber_asm_switch(void *top, int status);
FIBER_ASM_ROUTINE int fiber_asm_switch_fp(void *top, int status);
#if defined(__i386__)
FIBER_ASM_ROUTINE int fiber_asm_switch_fp_sse(void *top, int status);
extern FIBER_ASM_ROUTINE unsigned char fiber_asm_i386_sse; /* hidden like the routines */
#endif

/* The base frame of every fiber; never called from C. Declared for address comparisons. */
FIBER_ASM_ROUTINE void fiber_asm_start(void);

#endif /* FIBER_CORE_SWITCH_H */
