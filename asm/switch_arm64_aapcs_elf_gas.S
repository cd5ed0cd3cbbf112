/*
 * Stack switching for aarch64: AAPCS64, ELF, GNU as.
 *
 * macOS arm64 (Apple's variant of AAPCS64) saves the same registers: switch_arm64_aapcs_macho
 * _gas.S assembles the routines below as Mach-O. So keep them format-neutral: symbols through
 * FIBER_SYM, local labels through FIBER_LOCAL, ELF-only sections behind FIBER_ELF, and no
 * x18 (asm/macros.h; the Mach-O file says why).
 *
 * !!! KEEP IN SYNC !!!
 * The three routines below share one frame layout. fiber_asm_switch pushes it and pops it,
 * fiber_asm_init forges one by hand, and the CFI of fiber_asm_start reads the resumer's copy
 * of it (FRAME_SIZE in the CFA expression and every .cfi_offset). Change one of the four and
 * you must change the other three, plus fiber/core/switch.h (the link slot at top - 16).
 *
 * Registers (AAPCS64 5.1.1, 5.1.2)
 * --------------------------------
 * Callee-saved: x19-x28, x29 (frame pointer), x30 (link register: saved because `ret` after
 * the stack exchange must return to the OTHER side's caller), sp (kept in the link slot),
 * and the low 64 bits of v8-v15, i.e. d8-d15. Everything else is caller-saved: the C caller
 * of fiber_asm_switch already assumes it is clobbered, so we neither save nor zero it.
 * x18 is the platform register; Linux leaves it to the program, nothing to do.
 *
 * FP control state: the thread's, unless the fiber owns its own
 * -------------------------------------------------------------
 * A fiber created with FIBER_OWN_FP_CONTROL (fiber.h) is switched by fiber_asm_switch_fp,
 * which saves FPCR (rounding mode, flush-to-zero, default-NaN, trap enables) in the switch
 * frame and restores the other side's: code that calls fesetround() inside such a fiber and
 * then suspends finds its mode again when resumed, and does not leak that mode into whoever
 * resumed it. Other fibers are switched by fiber_asm_switch, which leaves FPCR alone: they
 * run in the thread's modes (why that is the default: the x86_64 file). A new fiber inherits
 * the FPCR its creator had at fiber_asm_init time, like a new thread inherits it from
 * pthread_create's caller. FPSR (the sticky exception flags) is status, not control: it
 * stays with the OS thread.
 * Writing FPCR can be context-synchronizing (slow) on some cores, so the switch writes it
 * only when the incoming value differs from the current one (glibc's aarch64 fenv code
 * skips redundant writes the same way); in the common case both sides share one mode and
 * the cost is an mrs + cmp + b.eq.
 *
 * Switch frame: what both switch routines push (FRAME_SIZE = 176, keeps sp 16-aligned)
 * --------------------------------------------------------------------------------------
 *   offset from the saved sp (the value stored in the link slot)
 *     +168  padding (never read): 16-byte alignment of sp (AAPCS64 5.2.2.1)
 *     +160  FPCR
 *     +152  d15    \
 *     ...           | d8-d15 at +96 + 8*(n-8)
 *     +96   d8     /
 *     +88   x28    \
 *     ...           | x19-x28 at +16 + 8*(n-19)
 *     +16   x19    /
 *     +8    x30    the return address into the side that called fiber_asm_switch
 *     +0    x29    at +0 with x30 at +8 it is a standard AAPCS64 frame record (stp x29,x30 pair)
 *   CFA of fiber_asm_switch = saved sp + 176 = the caller's sp at the `bl`.
 *
 * Initial frame: what fiber_asm_init forges, at top - 16 - 176 = top - 192
 * -------------------------------------------------------------------------
 *       top      +-----------------------+
 *       top - 8  | reserved = 0          |  link area (switch.h)
 *       top - 16 | link slot = top - 192 |  the fiber's saved sp until the first switch
 *                +-----------------------+  <- sp when fiber_asm_start runs (16-aligned)
 *       top - 24 | padding = 0           |  +168
 *       top - 32 | FPCR of init's caller |  +160
 *                | d8-d15 = 0            |  +96..+159
 *                | x21-x28 = 0           |  +32..+95
 *                | x20 = arg             |  +24
 *                | x19 = entry           |  +16
 *                | x30 = start + 4       |  +8   `ret` at the end of the switch goes here
 *       top - 192| x29 = 0               |  +0   terminates frame-pointer chains (AAPCS64 6.2.3)
 *                +-----------------------+
 * The first fiber_asm_switch(top) swaps sp with the slot, pops this frame (sp becomes
 * top - 16) and returns into fiber_asm_start + 4 (past its guard instruction, see there) with
 * entry in x19 and arg in x20.
 */

#include "macros.h"

#define FRAME_SIZE 176
#define LINK_SLOT  16       /* FIBER_LINK_SLOT_OFFSET in switch.h */

/*
 * Branch Target Identification: a C caller built with -mbranch-protection=standard may call
 * us indirectly (through a PLT in a static archive linked into a BTI program), so each entry
 * point starts with `bti c` (a NOP in the hint space on cores without BTI), and the object
 * advertises BTI/PAC compatibility in .note.gnu.property so the linker keeps the program
 * BTI-enabled. We never sign x30: we store exactly the value our caller gave us and return
 * to it, so PAC-RET callers are unaffected. Only emitted when the compiler targets BTI.
 */
#if defined(__ARM_FEATURE_BTI_DEFAULT) && __ARM_FEATURE_BTI_DEFAULT
#define FIBER_BTI_C hint 34
#else
#define FIBER_BTI_C
#endif

/*
 * void fiber_asm_init(void *top [x0], void (*entry)(void *) [x1], void *arg [x2])
 * Leaf routine: touches only x9, x10 and memory below top.
 */
FIBER_FUNC_BEGIN(fiber_asm_init)
    .cfi_startproc
    FIBER_BTI_C
    sub     x9, x0, #(LINK_SLOT + FRAME_SIZE)   /* initial sp = top - 192, 16-aligned */
    adr     x10, FIBER_LOCAL(start_body)       /* pc-relative: fine in a -fPIC object */
    stp     xzr, x10, [x9, #0]                  /* x29 = 0, x30 = fiber_asm_start + 4 */
    stp     x1, x2, [x9, #16]                   /* x19 = entry, x20 = arg */
    stp     xzr, xzr, [x9, #32]                 /* x21, x22 */
    stp     xzr, xzr, [x9, #48]                 /* x23, x24 */
    stp     xzr, xzr, [x9, #64]                 /* x25, x26 */
    stp     xzr, xzr, [x9, #80]                 /* x27, x28 */
    stp     xzr, xzr, [x9, #96]                 /* d8, d9 */
    stp     xzr, xzr, [x9, #112]                /* d10, d11 */
    stp     xzr, xzr, [x9, #128]                /* d12, d13 */
    stp     xzr, xzr, [x9, #144]                /* d14, d15 */
    mrs     x10, fpcr                           /* the new fiber inherits our FP modes */
    stp     x10, xzr, [x9, #160]                /* FPCR, padding */
    stp     x9, xzr, [x0, #-LINK_SLOT]          /* link slot = initial sp, reserved = 0 */
    ret
    .cfi_endproc
FIBER_FUNC_END(fiber_asm_init)

/*
 * int fiber_asm_switch(void *top [x0], int status [w1])      registers only
 * int fiber_asm_switch_fp(void *top [x0], int status [w1])   and FPCR
 * Saves our frame, exchanges sp with the link slot, restores the other side's frame and
 * returns on the other side, whose pending switch call returns `status` (so C callers can
 * tail-call these routines). Both build the same frame; the plain one leaves its FPCR slot
 * unwritten and does not read the other side's. A fiber is entered and left by the same one
 * of the two (fiber_posix.c picks it by the fiber's FIBER_OWN_FP_CONTROL flag), so an FPCR
 * slot is read only after it was written. It returns by `ret`, not by an indirect `br`: under
 * BTI, `br` may only land on a landing pad, and a return address is none (`ret` is exempt).
 * The CFI below stays true throughout: before the exchange it describes our frame, after it
 * the other side's frame, which has the same layout.
 */
.macro SWITCH_BODY with_fp
    .cfi_startproc
    FIBER_BTI_C
    stp     x29, x30, [sp, #-FRAME_SIZE]!
    .cfi_def_cfa_offset FRAME_SIZE
    .cfi_offset x29, -176
    .cfi_offset x30, -168
    stp     x19, x20, [sp, #16]
    stp     x21, x22, [sp, #32]
    stp     x23, x24, [sp, #48]
    stp     x25, x26, [sp, #64]
    stp     x27, x28, [sp, #80]
    stp     d8, d9, [sp, #96]
    stp     d10, d11, [sp, #112]
    stp     d12, d13, [sp, #128]
    stp     d14, d15, [sp, #144]
    .cfi_offset x19, -160
    .cfi_offset x20, -152
    .cfi_offset x21, -144
    .cfi_offset x22, -136
    .cfi_offset x23, -128
    .cfi_offset x24, -120
    .cfi_offset x25, -112
    .cfi_offset x26, -104
    .cfi_offset x27, -96
    .cfi_offset x28, -88
    .cfi_offset d8, -80
    .cfi_offset d9, -72
    .cfi_offset d10, -64
    .cfi_offset d11, -56
    .cfi_offset d12, -48
    .cfi_offset d13, -40
    .cfi_offset d14, -32
    .cfi_offset d15, -24
.if \with_fp
    mrs     x9, fpcr
    str     x9, [sp, #160]                      /* +168 is padding: never written */
.endif

    /* The exchange: the slot gets our sp, sp gets the other side's. */
    mov     x10, sp
    ldr     x11, [x0, #-LINK_SLOT]
    str     x10, [x0, #-LINK_SLOT]
    mov     sp, x11

.if \with_fp
    ldr     x10, [sp, #160]                     /* x9 still holds the current FPCR */
    cmp     x9, x10
    b.eq    1f
    msr     fpcr, x10                           /* only when the modes differ: see header */
1:
.endif
    ldp     x19, x20, [sp, #16]
    ldp     x21, x22, [sp, #32]
    ldp     x23, x24, [sp, #48]
    ldp     x25, x26, [sp, #64]
    ldp     x27, x28, [sp, #80]
    ldp     d8, d9, [sp, #96]
    ldp     d10, d11, [sp, #112]
    ldp     d12, d13, [sp, #128]
    ldp     d14, d15, [sp, #144]
    ldp     x29, x30, [sp], #FRAME_SIZE
    .cfi_def_cfa_offset 0
    .cfi_restore x29
    .cfi_restore x30
    .cfi_restore x19
    .cfi_restore x20
    .cfi_restore x21
    .cfi_restore x22
    .cfi_restore x23
    .cfi_restore x24
    .cfi_restore x25
    .cfi_restore x26
    .cfi_restore x27
    .cfi_restore x28
    .cfi_restore d8
    .cfi_restore d9
    .cfi_restore d10
    .cfi_restore d11
    .cfi_restore d12
    .cfi_restore d13
    .cfi_restore d14
    .cfi_restore d15
    mov     w0, w1                              /* the other side's call returns `status` */
    ret
    .cfi_endproc
.endm

FIBER_FUNC_BEGIN(fiber_asm_switch)
    SWITCH_BODY with_fp=0
FIBER_FUNC_END(fiber_asm_switch)

FIBER_FUNC_BEGIN(fiber_asm_switch_fp)
    SWITCH_BODY with_fp=1
FIBER_FUNC_END(fiber_asm_switch_fp)

/*
 * fiber_asm_start: the base frame of every fiber. Entered at .Lstart_body (start + 4) by the
 * `ret` of the first fiber_asm_switch into the fiber, with sp = top - 16 (the link slot is at [sp]),
 * x19 = entry, x20 = arg. sp never moves in this routine, which is what lets the CFI
 * name the link slot as [sp + 0].
 *
 * Unwind info: we claim that our caller is whoever last called fiber_asm_switch to resume
 * this fiber. While the fiber runs, the link slot holds that resumer's sp, which points at
 * the resumer's switch frame (layout above). So:
 *   CFA          = *(sp + 0) + FRAME_SIZE   the resumer's sp at its `bl fiber_asm_switch`
 *   x30 (the return-address column) = [CFA - 168], the resumer's return address
 *   x29, x19-x28, d8-d15 = their slots in the resumer's switch frame
 * The expression is evaluated at unwind time, so a backtrace follows the current resumer,
 * wherever it is this time. DWARF register 31 is sp on aarch64.
 *
 *   DW_CFA_def_cfa_expression (0x0f), length 6:
 *     DW_OP_breg31 (0x8f) SLEB 0     push sp + 0           (the address of the link slot)
 *     DW_OP_deref  (0x06)            load the link slot    (the resumer's saved sp)
 *     DW_OP_plus_uconst (0x23) ULEB 176 (0xb0 0x01)        + FRAME_SIZE
 *
 * .cfi_signal_frame: see asm/macros.h ("fiber_asm_start is a signal frame").
 */
FIBER_FUNC_BEGIN(fiber_asm_start)
    .cfi_startproc
    .cfi_signal_frame
    .cfi_escape 0x0f, 0x06, 0x8f, 0x00, 0x06, 0x23, 0xb0, 0x01
    .cfi_offset x29, -176
    .cfi_offset x30, -168
    .cfi_offset x19, -160
    .cfi_offset x20, -152
    .cfi_offset x21, -144
    .cfi_offset x22, -136
    .cfi_offset x23, -128
    .cfi_offset x24, -120
    .cfi_offset x25, -112
    .cfi_offset x26, -104
    .cfi_offset x27, -96
    .cfi_offset x28, -88
    .cfi_offset d8, -80
    .cfi_offset d9, -72
    .cfi_offset d10, -64
    .cfi_offset d11, -56
    .cfi_offset d12, -48
    .cfi_offset d13, -40
    .cfi_offset d14, -32
    .cfi_offset d15, -24
    /* Guard instruction, never executed: the first switch into a fiber "returns" to
     * .Lstart_body, and unwinders look up a return address minus one. Without this word
     * that lookup would land in whatever precedes the routine (the end of fiber_asm_switch)
     * whenever a stack is walked while the fiber is parked at its very first instruction
     * (a breakpoint or profiler signal inside the first switch). It also traps a stray
     * call to fiber_asm_start from C. */
    brk     #0xf0
FIBER_LOCAL(start_body):
    mov     x0, x20
    blr     x19                                 /* entry(arg); sp = top - 16, 16-aligned */
    /* entry must never return. If it does, trap here rather than run off into whatever
     * follows. Being the instruction after the blr, the brk also keeps entry's return
     * address inside this routine, so unwinding from entry finds this FDE. */
    brk     #0xf1
    .cfi_endproc
FIBER_FUNC_END(fiber_asm_start)

#if FIBER_ELF && defined(__ARM_FEATURE_BTI_DEFAULT) && __ARM_FEATURE_BTI_DEFAULT
/* GNU_PROPERTY_AARCH64_FEATURE_1_AND: BTI (bit 0) and PAC (bit 1) compatible. */
    .pushsection .note.gnu.property, "a"
    .p2align 3
    .word   4                   /* name size ("GNU\0") */
    .word   16                  /* descriptor size */
    .word   5                   /* NT_GNU_PROPERTY_TYPE_0 */
    .asciz  "GNU"
    .word   0xc0000000          /* GNU_PROPERTY_AARCH64_FEATURE_1_AND */
    .word   4                   /* property data size */
    .word   3                   /* BTI | PAC */
    .word   0                   /* pad to 8 */
    .popsection
#endif

FIBER_NO_EXEC_STACK
