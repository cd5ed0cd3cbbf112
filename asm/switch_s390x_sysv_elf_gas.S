/*
 * Stack switching for s390x (z/Architecture, 64-bit, big-endian): the ELF ABI s390x
 * Supplement's calling convention, ELF, GNU as.
 *
 * !!! KEEP IN SYNC !!!
 * The three routines below share one frame layout. fiber_asm_switch pushes it and pops it,
 * fiber_asm_init forges one by hand, and the CFI of fiber_asm_start reads the resumer's copy
 * of it (FRAME_SIZE and LINK_FROM_SP in the CFA expression, every .cfi_offset). Change one of
 * the four and you must change the other three, plus fiber/core/switch.h (the link slot at
 * top - 16) and the s390x branch of ft_regs_roundtrip in tests/core/c/conformance.c.
 *
 * Registers (s390x ELF ABI Supplement, "Registers" and "Stack Frame")
 * -------------------------------------------------------------------
 * Saved ("belong to the calling function"): r6-r13, r15 (the stack pointer) and f8-f15.
 * r14 holds the return address and is volatile, but it is saved: the `br %r14` after the
 * stack exchange must return to the OTHER side's caller. r0-r5 and f0-f7 are volatile. The
 * vector registers v16-v31 are volatile, and of v8-v15 only the leftmost 64 bits, which are
 * f8-f15, are preserved: saving f8-f15 is saving everything the ABI asks for (GCC's own
 * prologues save exactly these). Access registers a0/a1 hold the thread pointer: left alone,
 * like tp elsewhere.
 *
 * The register save area: every caller provides 160 bytes at 0(%r15)..159(%r15) for the
 * callee (0: back chain, 48..127: r6-r15, 128..159: f0/f2/f4/f6). So:
 *  - the switch stores r6-r15 where every s390x function does, `stmg %r6,%r15,48(%r15)`, in
 *    the area its caller provided, and allocates only 72 bytes of its own, for f8-f15 and FPC;
 *  - fiber_asm_start calls the entry function, so its own sp must have 160 bytes above it for
 *    the entry's save area: start runs with sp = top - 16 - 160 = top - 176, and the link slot
 *    is at sp + 160, just above that area. The back chain word of start's frame is 0, which
 *    ends back-chain walks at the fiber's base.
 * The stack is 8-byte aligned (the ABI's requirement); the frames below keep that.
 *
 * FP control state: the thread's, unless the fiber owns its own
 * -------------------------------------------------------------
 * The floating-point control register (FPC) holds the IEEE exception masks, the BFP and DFP
 * rounding modes, and the sticky flags and DXC. A fiber created with FIBER_OWN_FP_CONTROL
 * (fiber.h) is switched by fiber_asm_switch_fp, which saves FPC in the switch frame and
 * restores the other side's: a rounding mode set inside such a fiber stays with it across
 * suspends and never leaks to its resumer. As with arm32's FPSCR and x86's MXCSR, the flags
 * share the register and travel with it. Other fibers are switched by fiber_asm_switch, which
 * leaves FPC alone: they run in the thread's modes (why that is the default: the x86_64 file).
 * A new fiber inherits the FPC its creator had at fiber_asm_init time. sfpc is executed only
 * when the incoming value differs.
 *
 * Switch frame: what both switch routines build (FRAME_SIZE = 232 from S to the CFA)
 * -----------------------------------------------------------------------------------
 *   S = the saved stack pointer (the value stored in the link slot) = caller's %r15 - 72
 *     S+224 .. S+231  f6 slot of the caller's register save area   (unused)
 *     S+200 .. S+223  f0/f2/f4 slots                                (unused)
 *     S+192  r15      = S + 72, the caller's stack pointer          \
 *     S+184  r14      the return address into the side that          | stmg %r6,%r15,48(%r15):
 *                     called fiber_asm_switch                        | the register save area
 *     S+120 .. S+176  r6-r13 at S+120 + 8*(n-6)                     /  the caller provided
 *     S+72  .. S+119  back chain, r2-r5 slots of that area          (untouched)
 *     S+64   FPC (4 bytes, then 4 bytes padding)    fiber_asm_switch_fp only
 *     S+0  .. S+63   f8-f15 at S + 8*(n-8)
 *   CFA of fiber_asm_switch = S + 232 = caller's %r15 + 160 (the s390x CFA convention).
 *
 * Initial frame: what fiber_asm_init forges, at S = top - 176 - 72 = top - 248
 * -----------------------------------------------------------------------------
 *       top        +--------------------------+
 *       top - 8    | reserved = 0             |  link area (switch.h)
 *       top - 16   | link slot = top - 248    |  the fiber's saved sp until the first switch
 *                  +--------------------------+
 *       top - 24   | (f6 slot)                |  \
 *                  | ...                      |   |
 *       top - 56   | r15 = top - 176          |   | S+192   fiber_asm_start's 160-byte
 *       top - 64   | r14 = start + 2          |   | S+184   register save area, used by
 *                  | r8-r13 = 0               |   |         this frame until the first
 *       top - 120  | r7 = arg                 |   | S+128   switch pops it, and by the entry
 *       top - 128  | r6 = entry               |   | S+120   function's prologue after that
 *       top - 176  | back chain = 0           |  /  S+72    <- %r15 when fiber_asm_start runs
 *       top - 184  | FPC of init's caller     |     S+64
 *       top - 248  | f8-f15 = 0               |     S+0
 *                  +--------------------------+
 * The first fiber_asm_switch(top) takes S from the slot, reloads this frame (r15 becomes
 * top - 176) and returns into fiber_asm_start + 2 (past its guard) with entry in r6 and arg
 * in r7.
 */

#include "macros.h"

#define FRAME_SIZE   232    /* S to the CFA: 72 of our own + the 160-byte save area */

/*
 * DWARF register numbers of the FPRs are not 16 + n: the ABI numbers them in the order
 * f0 f2 f4 f6 f1 f3 f5 f7 f8 f10 f12 f14 f9 f11 f13 f15 (16..31), which is also GCC's. GNU as
 * maps `.cfi_offset %f9` to 25 (f10's number), so the CFI below names FPRs by number:
 *     f8 24, f9 28, f10 25, f11 29, f12 26, f13 30, f14 27, f15 31.
 */
#define OWN_SIZE     72     /* f8-f15 and FPC, below the caller's save area */
#define SAVE_AREA    160    /* the register save area every caller provides */
#define LINK_SLOT    16     /* FIBER_LINK_SLOT_OFFSET in switch.h */

/*
 * void fiber_asm_init(void *top [%r2], void (*entry)(void *) [%r3], void *arg [%r4])
 * Leaf routine: touches only %r0, %r1 and memory below top.
 */
FIBER_FUNC_BEGIN(fiber_asm_init)
    .cfi_startproc
    lay     %r1, -(LINK_SLOT + SAVE_AREA + OWN_SIZE)(%r2)  /* S = top - 248 */
    xc      0(64,%r1), 0(%r1)                   /* f8-f15 = 0 */
    efpc    %r0                                 /* the new fiber inherits our FPC */
    st      %r0, 64(%r1)
    xc      68(52,%r1), 68(%r1)                 /* padding, back chain = 0, r2-r5 slots */
    stmg    %r3, %r4, 120(%r1)                  /* r6 = entry, r7 = arg */
    xc      136(48,%r1), 136(%r1)               /* r8-r13 = 0 */
    larl    %r0, fiber_asm_start                /* pc-relative: fine in a -fPIC object */
    aghi    %r0, 2                              /* r14 = start + 2, past the guard */
    stg     %r0, 184(%r1)
    la      %r0, OWN_SIZE(%r1)                  /* r15 = S + 72 = top - 176 */
    stg     %r0, 192(%r1)
    xc      200(32,%r1), 200(%r1)               /* the f0-f6 slots, for tidiness */
    stg     %r1, -LINK_SLOT(%r2)                /* link slot = S */
    lghi    %r0, 0
    stg     %r0, -8(%r2)                        /* reserved word of the link area */
    br      %r14
    .cfi_endproc
FIBER_FUNC_END(fiber_asm_init)

/*
 * int fiber_asm_switch(void *top [%r2], int status [%r3])      registers only
 * int fiber_asm_switch_fp(void *top [%r2], int status [%r3])   and FPC
 * Saves our frame, exchanges %r15 with the link slot, restores the other side's frame and
 * returns on the other side, whose pending switch call returns `status` (so C callers can
 * tail-call these routines). Both build the same frame; the plain one leaves its FPC slot
 * unwritten and does not read the other side's. A fiber is entered and left by the same one
 * of the two (fiber_posix.c picks it by the fiber's FIBER_OWN_FP_CONTROL flag), so an FPC
 * slot is read only after it was written. The CFI stays true throughout: before the exchange
 * it describes our frame, after it the other side's, which has the same layout.
 */
.macro SWITCH_BODY with_fp
    .cfi_startproc
    stmg    %r6, %r15, 48(%r15)
    .cfi_offset %r6, -112
    .cfi_offset %r7, -104
    .cfi_offset %r8, -96
    .cfi_offset %r9, -88
    .cfi_offset %r10, -80
    .cfi_offset %r11, -72
    .cfi_offset %r12, -64
    .cfi_offset %r13, -56
    .cfi_offset %r14, -48
    .cfi_offset %r15, -40
    aghi    %r15, -OWN_SIZE
    .cfi_adjust_cfa_offset OWN_SIZE
    std     %f8, 0(%r15)
    std     %f9, 8(%r15)
    std     %f10, 16(%r15)
    std     %f11, 24(%r15)
    std     %f12, 32(%r15)
    std     %f13, 40(%r15)
    std     %f14, 48(%r15)
    std     %f15, 56(%r15)
    .cfi_offset 24, -232   /* f8 */
    .cfi_offset 28, -224   /* f9 */
    .cfi_offset 25, -216   /* f10 */
    .cfi_offset 29, -208   /* f11 */
    .cfi_offset 26, -200   /* f12 */
    .cfi_offset 30, -192   /* f13 */
    .cfi_offset 27, -184   /* f14 */
    .cfi_offset 31, -176   /* f15 */
.if \with_fp
    efpc    %r0                                 /* kept in %r0 for the compare below */
    st      %r0, 64(%r15)
.endif

    /* The exchange: the slot gets our sp, %r15 gets the other side's. */
    lg      %r1, -LINK_SLOT(%r2)
    stg     %r15, -LINK_SLOT(%r2)
    lgr     %r15, %r1

.if \with_fp
    l       %r1, 64(%r15)
    cr      %r0, %r1
    je      1f
    sfpc    %r1                                 /* only when it differs: see header */
1:
.endif
    ld      %f8, 0(%r15)
    ld      %f9, 8(%r15)
    ld      %f10, 16(%r15)
    ld      %f11, 24(%r15)
    ld      %f12, 32(%r15)
    ld      %f13, 40(%r15)
    ld      %f14, 48(%r15)
    ld      %f15, 56(%r15)
    lgfr    %r2, %r3                            /* the other side's call returns `status` */
    lmg     %r6, %r15, OWN_SIZE + 48(%r15)      /* %r15 itself comes back as S + 72 */
    .cfi_def_cfa_offset SAVE_AREA
    .cfi_restore %r6
    .cfi_restore %r7
    .cfi_restore %r8
    .cfi_restore %r9
    .cfi_restore %r10
    .cfi_restore %r11
    .cfi_restore %r12
    .cfi_restore %r13
    .cfi_restore %r14
    .cfi_restore %r15
    .cfi_restore 24   /* f8 */
    .cfi_restore 28   /* f9 */
    .cfi_restore 25   /* f10 */
    .cfi_restore 29   /* f11 */
    .cfi_restore 26   /* f12 */
    .cfi_restore 30   /* f13 */
    .cfi_restore 27   /* f14 */
    .cfi_restore 31   /* f15 */
    br      %r14
    .cfi_endproc
.endm

FIBER_FUNC_BEGIN(fiber_asm_switch)
    SWITCH_BODY with_fp=0
FIBER_FUNC_END(fiber_asm_switch)

FIBER_FUNC_BEGIN(fiber_asm_switch_fp)
    SWITCH_BODY with_fp=1
FIBER_FUNC_END(fiber_asm_switch_fp)

/*
 * fiber_asm_start: the base frame of every fiber. Entered at start + 2 (past the guard) by
 * the `br %r14` of the first fiber_asm_switch into the fiber, with %r15 = top - 176 (the
 * link slot is at 160(%r15), just above this frame's register save area), %r6 = entry,
 * %r7 = arg. %r15 never moves in this routine, which is what lets the CFI find the slot.
 *
 * Unwind info: our "caller" is whoever last called fiber_asm_switch to resume this fiber.
 * While the fiber runs, the link slot holds that resumer's saved sp S, which points at the
 * resumer's switch frame (layout above). So:
 *   CFA = *(%r15 + 160) + FRAME_SIZE   the resumer's %r15 at its call, plus 160 (the s390x CFA)
 *   r14 (the return-address column) = [CFA - 48], the resumer's return address
 *   r6-r13, r15, f8-f15 = their slots in the resumer's switch frame. r15 has a rule of its
 *   own (as in every GCC-built s390x frame): unwinders take the caller's stack pointer from
 *   it, not from the CFA, which on s390x lies 160 bytes above it.
 *
 *   DW_CFA_def_cfa_expression (0x0f), length 7:
 *     DW_OP_breg15 (0x7f) SLEB 160 (0xa0 0x01)   push %r15 + 160  (the link slot's address)
 *     DW_OP_deref  (0x06)                         load the slot   (the resumer's saved sp)
 *     DW_OP_plus_uconst (0x23) ULEB 232 (0xe8 0x01)               + FRAME_SIZE
 *
 * .cfi_signal_frame: see asm/macros.h ("fiber_asm_start is a signal frame").
 */
FIBER_FUNC_BEGIN(fiber_asm_start)
    .cfi_startproc
    .cfi_signal_frame
    .cfi_escape 0x0f, 0x07, 0x7f, 0xa0, 0x01, 0x06, 0x23, 0xe8, 0x01
    .cfi_offset %r6, -112
    .cfi_offset %r7, -104
    .cfi_offset %r8, -96
    .cfi_offset %r9, -88
    .cfi_offset %r10, -80
    .cfi_offset %r11, -72
    .cfi_offset %r12, -64
    .cfi_offset %r13, -56
    .cfi_offset %r14, -48
    .cfi_offset %r15, -40
    .cfi_offset 24, -232   /* f8 */
    .cfi_offset 28, -224   /* f9 */
    .cfi_offset 25, -216   /* f10 */
    .cfi_offset 29, -208   /* f11 */
    .cfi_offset 26, -200   /* f12 */
    .cfi_offset 30, -192   /* f13 */
    .cfi_offset 27, -184   /* f14 */
    .cfi_offset 31, -176   /* f15 */
    /* Guard halfword, never executed (0x0000 is no instruction: SIGILL): the first switch
     * into a fiber "returns" to start + 2, and unwinders look up a return address minus one.
     * Without it that lookup would land in the end of fiber_asm_switch_fp whenever a stack is
     * walked while the fiber is parked at its very first instruction. It also traps a stray
     * call to fiber_asm_start from C. */
    .short  0
    /* start + 2 */
    lgr     %r2, %r7
    basr    %r14, %r6                           /* entry(arg); %r15 = top - 176 */
    /* entry must never return. If it does, trap here (SIGILL) rather than run off into
     * whatever follows. Being the halfword after the call, it also keeps entry's return
     * address inside this routine, so unwinding from entry finds this FDE. */
    .short  0
    .cfi_endproc
FIBER_FUNC_END(fiber_asm_start)

FIBER_NO_EXEC_STACK
