/*
 * Stack switching for loongarch64: the LP64D calling convention (LA64 with 64-bit hardware
 * floating point), ELF, GNU as.
 *
 * !!! KEEP IN SYNC !!!
 * The three routines below share one frame layout. fiber_asm_switch pushes it and pops it,
 * fiber_asm_init forges one by hand, and the CFI of fiber_asm_start reads the resumer's copy
 * of it (FRAME_SIZE in the CFA expression and every .cfi_offset). Change one of the four and
 * you must change the other three, plus fiber/core/switch.h (the link slot at top - 16) and
 * the loongarch64 branch of ft_regs_roundtrip in tests/core/c/conformance.c.
 *
 * Registers (LoongArch ELF psABI, "Register Convention")
 * ------------------------------------------------------
 * Preserved across calls: $sp ($r3), $fp ($r22, also usable as $s9), $s0-$s8 ($r23-$r31) and,
 * with 64-bit FP registers (LP64D), $fs0-$fs7 ($f24-$f31). $ra ($r1) is not preserved, but it
 * is saved: the `jr $ra` after the stack exchange must return to the OTHER side's caller.
 * $tp ($r2, the thread pointer) and $r21 (reserved, non-allocatable) are never touched. All
 * other registers, and the LSX/LASX vector registers beyond the low 64 bits of $vr24-$vr31
 * (which are $fs0-$fs7), are caller-saved. The stack is 16-byte aligned at every call; there
 * is no red zone.
 *
 * FP control state: the thread's, unless the fiber owns its own
 * -------------------------------------------------------------
 * $fcsr0 holds the exception enables (bits 0-4), the rounding mode RM (bits 8-9), and the
 * sticky flags and causes. A fiber created with FIBER_OWN_FP_CONTROL (fiber.h) is switched by
 * fiber_asm_switch_fp, which saves $fcsr0 in the switch frame and restores the other side's:
 * a rounding mode set inside such a fiber stays with it across suspends and never leaks to
 * its resumer. As with arm32's FPSCR and x86's MXCSR, the flags share the register and travel
 * with it. Other fibers are switched by fiber_asm_switch, which leaves $fcsr0 alone: they run
 * in the thread's modes (why that is the default: the x86_64 file). A new fiber inherits the
 * $fcsr0 its creator had at fiber_asm_init time. The write happens only when the incoming
 * value differs.
 *
 * Switch frame: what both switch routines push (FRAME_SIZE = 160 = 10 * 16)
 * --------------------------------------------------------------------------
 *   offset from the saved sp S (the value stored in the link slot)
 *     S+152  $ra     the return address into the side that called fiber_asm_switch
 *     S+144  $fp     \ $ra at CFA - 8 and $fp at CFA - 16, as GCC's frames have them
 *     S+136  $fcsr0  (fiber_asm_switch_fp only; 8-byte slot)
 *     S+128  $fs7    \
 *     ...             | $fs0-$fs7 at S+72 + 8*n
 *     S+72   $fs0    /
 *     S+64   $s8     \
 *     ...             | $s0-$s8 at S + 8*n
 *     S+0    $s0     /
 *   CFA of fiber_asm_switch = S + 160 = the caller's sp at the call.
 *
 * Initial frame: what fiber_asm_init forges, at S = top - 16 - 160 = top - 176
 * -----------------------------------------------------------------------------
 *       top        +-------------------------+
 *       top - 8    | reserved = 0            |  link area (switch.h)
 *       top - 16   | link slot = top - 176   |  the fiber's saved sp until the first switch
 *                  +-------------------------+  <- $sp when fiber_asm_start runs (16-aligned)
 *       top - 24   | $ra = start + 4         |  S+152  the first switch's `jr $ra` goes here
 *       top - 32   | $fp = 0                 |  S+144  ends frame-pointer chains
 *       top - 40   | $fcsr0 of init's caller |  S+136
 *                  | $fs0-$fs7 = 0           |  S+72..S+135
 *                  | $s2-$s8 = 0             |  S+16..S+71
 *       top - 168  | $s1 = arg               |  S+8
 *       top - 176  | $s0 = entry             |  S+0
 *                  +-------------------------+
 * The first fiber_asm_switch(top) takes S from the slot, pops this frame ($sp becomes
 * top - 16) and returns into fiber_asm_start + 4 (past its guard) with entry in $s0 and arg in
 * $s1.
 */

#include "macros.h"

#define FRAME_SIZE 160
#define LINK_SLOT  16       /* FIBER_LINK_SLOT_OFFSET in switch.h */

/*
 * void fiber_asm_init(void *top [$a0], void (*entry)(void *) [$a1], void *arg [$a2])
 * Leaf routine: touches only $t0, $t1 and memory below top.
 */
FIBER_FUNC_BEGIN(fiber_asm_init)
    .cfi_startproc
    addi.d  $t0, $a0, -(LINK_SLOT + FRAME_SIZE) /* S = top - 176, 16-aligned */
    st.d    $a1, $t0, 0                         /* $s0 = entry */
    st.d    $a2, $t0, 8                         /* $s1 = arg */
    st.d    $zero, $t0, 16                      /* $s2 .. */
    st.d    $zero, $t0, 24
    st.d    $zero, $t0, 32
    st.d    $zero, $t0, 40
    st.d    $zero, $t0, 48
    st.d    $zero, $t0, 56
    st.d    $zero, $t0, 64                      /* .. $s8 */
    st.d    $zero, $t0, 72                      /* $fs0 .. */
    st.d    $zero, $t0, 80
    st.d    $zero, $t0, 88
    st.d    $zero, $t0, 96
    st.d    $zero, $t0, 104
    st.d    $zero, $t0, 112
    st.d    $zero, $t0, 120
    st.d    $zero, $t0, 128                     /* .. $fs7 */
    movfcsr2gr $t1, $fcsr0                      /* the new fiber inherits our FP modes */
    st.d    $t1, $t0, 136
    st.d    $zero, $t0, 144                     /* $fp = 0 */
    /* $ra = fiber_asm_start + 4, pc-relative (fine in a -fPIC object: the symbol is hidden).
     * Not the address of a local label at start + 4: pcalau12i/addi.d need relocations
     * against their target, which would put that label in the symbol table, and debuggers
     * would then name the fiber's base frame after it. */
    la.pcrel $t1, FIBER_SYM(fiber_asm_start)
    addi.d  $t1, $t1, 4
    st.d    $t1, $t0, 152
    st.d    $t0, $a0, -LINK_SLOT                /* link slot = S */
    st.d    $zero, $a0, -8                      /* reserved word of the link area */
    ret
    .cfi_endproc
FIBER_FUNC_END(fiber_asm_init)

/*
 * int fiber_asm_switch(void *top [$a0], int status [$a1])      registers only
 * int fiber_asm_switch_fp(void *top [$a0], int status [$a1])   and $fcsr0
 * Saves our frame, exchanges $sp with the link slot, restores the other side's frame and
 * returns on the other side, whose pending switch call returns `status` (so C callers can
 * tail-call these routines). Both build the same frame; the plain one leaves its $fcsr0 slot
 * unwritten and does not read the other side's. A fiber is entered and left by the same one
 * of the two (fiber_posix.c picks it by the fiber's FIBER_OWN_FP_CONTROL flag), so an $fcsr0
 * slot is read only after it was written. The CFI stays true throughout: before the exchange
 * it describes our frame, after it the other side's, which has the same layout. (DWARF
 * numbers: $rN is N, $fN is 32 + N.)
 */
.macro SWITCH_BODY with_fp
    .cfi_startproc
    addi.d  $sp, $sp, -FRAME_SIZE
    .cfi_def_cfa_offset FRAME_SIZE
    st.d    $ra, $sp, 152
    st.d    $fp, $sp, 144
    st.d    $s0, $sp, 0
    st.d    $s1, $sp, 8
    st.d    $s2, $sp, 16
    st.d    $s3, $sp, 24
    st.d    $s4, $sp, 32
    st.d    $s5, $sp, 40
    st.d    $s6, $sp, 48
    st.d    $s7, $sp, 56
    st.d    $s8, $sp, 64
    fst.d   $fs0, $sp, 72
    fst.d   $fs1, $sp, 80
    fst.d   $fs2, $sp, 88
    fst.d   $fs3, $sp, 96
    fst.d   $fs4, $sp, 104
    fst.d   $fs5, $sp, 112
    fst.d   $fs6, $sp, 120
    fst.d   $fs7, $sp, 128
    .cfi_offset 1, -8                           /* $ra */
    .cfi_offset 22, -16                         /* $fp */
    .cfi_offset 23, -160                        /* $s0 .. */
    .cfi_offset 24, -152
    .cfi_offset 25, -144
    .cfi_offset 26, -136
    .cfi_offset 27, -128
    .cfi_offset 28, -120
    .cfi_offset 29, -112
    .cfi_offset 30, -104
    .cfi_offset 31, -96                         /* .. $s8 */
    .cfi_offset 56, -88                         /* $fs0 ($f24) .. */
    .cfi_offset 57, -80
    .cfi_offset 58, -72
    .cfi_offset 59, -64
    .cfi_offset 60, -56
    .cfi_offset 61, -48
    .cfi_offset 62, -40
    .cfi_offset 63, -32                         /* .. $fs7 ($f31) */
.if \with_fp
    movfcsr2gr $t2, $fcsr0                      /* kept in $t2 for the compare below */
    st.d    $t2, $sp, 136
.endif

    /* The exchange: the slot gets our $sp, $sp gets the other side's. */
    ld.d    $t0, $a0, -LINK_SLOT
    st.d    $sp, $a0, -LINK_SLOT
    move    $sp, $t0

.if \with_fp
    ld.d    $t1, $sp, 136
    beq     $t1, $t2, 1f
    movgr2fcsr $fcsr0, $t1                      /* only when it differs: see header */
1:
.endif
    ld.d    $ra, $sp, 152
    ld.d    $fp, $sp, 144
    ld.d    $s0, $sp, 0
    ld.d    $s1, $sp, 8
    ld.d    $s2, $sp, 16
    ld.d    $s3, $sp, 24
    ld.d    $s4, $sp, 32
    ld.d    $s5, $sp, 40
    ld.d    $s6, $sp, 48
    ld.d    $s7, $sp, 56
    ld.d    $s8, $sp, 64
    fld.d   $fs0, $sp, 72
    fld.d   $fs1, $sp, 80
    fld.d   $fs2, $sp, 88
    fld.d   $fs3, $sp, 96
    fld.d   $fs4, $sp, 104
    fld.d   $fs5, $sp, 112
    fld.d   $fs6, $sp, 120
    fld.d   $fs7, $sp, 128
    addi.d  $sp, $sp, FRAME_SIZE
    .cfi_def_cfa_offset 0
    .cfi_restore 1
    .cfi_restore 22
    .cfi_restore 23
    .cfi_restore 24
    .cfi_restore 25
    .cfi_restore 26
    .cfi_restore 27
    .cfi_restore 28
    .cfi_restore 29
    .cfi_restore 30
    .cfi_restore 31
    .cfi_restore 56
    .cfi_restore 57
    .cfi_restore 58
    .cfi_restore 59
    .cfi_restore 60
    .cfi_restore 61
    .cfi_restore 62
    .cfi_restore 63
    addi.w  $a0, $a1, 0                         /* the other side's call returns `status` */
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
 * fiber_asm_start: the base frame of every fiber. Entered at start + 4 (past its guard) by the
 * `jr $ra` of the first fiber_asm_switch into the fiber, with $sp = top - 16 (the link slot is
 * at 0($sp)), $s0 = entry, $s1 = arg. $sp never moves in this routine, which is what lets the
 * CFI name the link slot as $sp + 0.
 *
 * Unwind info: our "caller" is whoever last called fiber_asm_switch to resume this fiber.
 * While the fiber runs, the link slot holds that resumer's saved sp S, which points at the
 * resumer's switch frame (layout above). So:
 *   CFA = *($sp + 0) + FRAME_SIZE     the resumer's $sp at its call of the switch
 *   $ra (the return-address column, DWARF 1) = [CFA - 8], the resumer's return address
 *   $fp, $s0-$s8, $fs0-$fs7 = their slots in the resumer's switch frame
 *
 *   DW_CFA_def_cfa_expression (0x0f), length 6:
 *     DW_OP_breg3 (0x73) SLEB 0      push $sp + 0   ($r3 is $sp; the link slot's address)
 *     DW_OP_deref  (0x06)            load the slot  (the resumer's saved sp)
 *     DW_OP_plus_uconst (0x23) ULEB 160 (0xa0 0x01) + FRAME_SIZE
 *
 * .cfi_signal_frame: see asm/macros.h ("fiber_asm_start is a signal frame").
 */
FIBER_FUNC_BEGIN(fiber_asm_start)
    .cfi_startproc
    .cfi_signal_frame
    .cfi_escape 0x0f, 0x06, 0x73, 0x00, 0x06, 0x23, 0xa0, 0x01
    .cfi_offset 1, -8
    .cfi_offset 22, -16
    .cfi_offset 23, -160
    .cfi_offset 24, -152
    .cfi_offset 25, -144
    .cfi_offset 26, -136
    .cfi_offset 27, -128
    .cfi_offset 28, -120
    .cfi_offset 29, -112
    .cfi_offset 30, -104
    .cfi_offset 31, -96
    .cfi_offset 56, -88
    .cfi_offset 57, -80
    .cfi_offset 58, -72
    .cfi_offset 59, -64
    .cfi_offset 60, -56
    .cfi_offset 61, -48
    .cfi_offset 62, -40
    .cfi_offset 63, -32
    /* Guard word, never executed: the first switch into a fiber "returns" to start + 4, and
     * unwinders look up a return address minus one. Without this word that lookup would land
     * in the end of fiber_asm_switch_fp whenever a stack is walked while the fiber is parked
     * at its very first instruction. It also traps (SIGTRAP) a stray call from C. */
    break   0
    /* start + 4 */
    move    $a0, $s1
    jirl    $ra, $s0, 0                         /* entry(arg); $sp = top - 16, 16-aligned */
    /* entry must never return. If it does, trap here rather than run off into whatever
     * follows. Being the instruction after the call, it also keeps entry's return address
     * inside this routine, so unwinding from entry finds this FDE. */
    break   0
    .cfi_endproc
FIBER_FUNC_END(fiber_asm_start)

FIBER_NO_EXEC_STACK
