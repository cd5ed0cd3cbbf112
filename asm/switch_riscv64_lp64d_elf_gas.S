/*
 * Stack switching for riscv64: the LP64D calling convention (RV64 with the D extension, hard
 * double-precision float ABI), ELF, GNU as.
 *
 * !!! KEEP IN SYNC !!!
 * The three routines below share one frame layout. fiber_asm_switch pushes it and pops it,
 * fiber_asm_init forges one by hand, and the CFI of fiber_asm_start reads the resumer's copy
 * of it (FRAME_SIZE in the CFA expression and every .cfi_offset). Change one of the four and
 * you must change the other three, plus fiber/core/switch.h (the link slot at top - 16) and
 * the riscv64 branch of ft_regs_roundtrip in tests/core/c/conformance.c.
 *
 * Registers (RISC-V psABI, "RISC-V Calling Conventions", register convention tables)
 * ----------------------------------------------------------------------------------
 * Preserved across calls: sp, s0-s11 (x8, x9, x18-x27; s0 is also the frame pointer) and,
 * in the hardware floating-point convention with ABI_FLEN = 64 (LP64D), fs0-fs11 (f8, f9,
 * f18-f27) as 64-bit values. ra is not preserved, but it is saved: the `ret` after the stack
 * exchange must return to the OTHER side's caller. gp and tp are "unallocatable": nobody
 * changes them, so they are the same on both sides and are left alone (tp is the thread
 * pointer: a fiber resumed on another thread must see that thread's tp). Everything else
 * (ra, t0-t6, a0-a7, ft0-ft11, fa0-fa7) is caller-saved. The vector extension's registers
 * v0-v31, vl, vtype, vxrm and vxsat are all caller-saved in the standard calling convention,
 * so nothing of it is saved here (the variant convention with callee-saved v1-v7/v24-v31
 * applies only to functions that take vector arguments, which these routines do not).
 * Stack: 16-byte aligned at every call; nothing below sp is safe (no red zone).
 *
 * FP control state: the thread's, unless the fiber owns its own
 * -------------------------------------------------------------
 * fcsr = frm (rounding mode, bits 5-7) | fflags (sticky exception flags, bits 0-4), and the
 * psABI gives it thread storage duration (C11 <fenv.h>). A fiber created with
 * FIBER_OWN_FP_CONTROL (fiber.h) is switched by fiber_asm_switch_fp, which saves frm in the
 * switch frame and restores the other side's: a rounding mode set inside such a fiber stays
 * with it across suspends and never leaks to its resumer. fflags is status, not control: it
 * stays with the thread (as FPSR does on aarch64). Other fibers are switched by
 * fiber_asm_switch, which leaves fcsr alone: they run in the thread's modes (why that is the
 * default: the x86_64 file). A new fiber inherits the frm its creator had at fiber_asm_init
 * time. Writing frm only when it differs keeps the common case at a read, a load and a branch.
 *
 * Switch frame: what both switch routines push (FRAME_SIZE = 208 = 13 * 16)
 * --------------------------------------------------------------------------
 *   offset from the saved sp S (the value stored in the link slot)
 *     S+200  ra      the return address into the side that called fiber_asm_switch
 *     S+192  s0      \ ra at CFA - 8 and s0 at CFA - 16: the psABI's frame record, so a
 *                    / frame-pointer walk through a suspended switch sees a normal frame
 *     S+184  frm     (fiber_asm_switch_fp only; 8-byte slot)
 *     S+176  fs11    \
 *     ...             | fs0-fs11 at S+88 + 8*n
 *     S+88   fs0     /
 *     S+80   s11     \
 *     ...             | s1-s11 at S + 8*(n-1)
 *     S+0    s1      /
 *   CFA of fiber_asm_switch = S + 208 = the caller's sp at the call.
 *
 * Initial frame: what fiber_asm_init forges, at S = top - 16 - 208 = top - 224
 * -----------------------------------------------------------------------------
 *       top        +-------------------------+
 *       top - 8    | reserved = 0            |  link area (switch.h)
 *       top - 16   | link slot = top - 224   |  the fiber's saved sp until the first switch
 *                  +-------------------------+  <- sp when fiber_asm_start runs (16-aligned)
 *       top - 24   | ra = start + 4          |  S+200  the first switch's `ret` goes here
 *       top - 32   | s0 = 0                  |  S+192  ends frame-pointer chains
 *       top - 40   | frm of init's caller    |  S+184
 *                  | fs0-fs11 = 0            |  S+88..S+183
 *                  | s3-s11 = 0              |  S+16..S+87
 *       top - 216  | s2 = arg                |  S+8
 *       top - 224  | s1 = entry              |  S+0
 *                  +-------------------------+
 * The first fiber_asm_switch(top) takes S from the slot, pops this frame (sp becomes
 * top - 16) and returns into fiber_asm_start + 4 (past its guard instruction) with entry in
 * s1 and arg in s2.
 */

#include "macros.h"

#define FRAME_SIZE 208
#define LINK_SLOT  16       /* FIBER_LINK_SLOT_OFFSET in switch.h */

    /* Instruction lengths are part of the design below (the guard word in fiber_asm_start is
     * exactly 4 bytes): no compressed encodings in this file, and no linker relaxation
     * rewriting them. */
    .option norvc
    .option norelax

/*
 * void fiber_asm_init(void *top [a0], void (*entry)(void *) [a1], void *arg [a2])
 * Leaf routine: touches only t0, t1 and memory below top.
 */
FIBER_FUNC_BEGIN(fiber_asm_init)
    .cfi_startproc
    addi    t0, a0, -(LINK_SLOT + FRAME_SIZE)   /* S = top - 224, 16-aligned */
    sd      a1, 0(t0)                           /* s1 = entry */
    sd      a2, 8(t0)                           /* s2 = arg */
    sd      zero, 16(t0)                        /* s3 .. */
    sd      zero, 24(t0)
    sd      zero, 32(t0)
    sd      zero, 40(t0)
    sd      zero, 48(t0)
    sd      zero, 56(t0)
    sd      zero, 64(t0)
    sd      zero, 72(t0)
    sd      zero, 80(t0)                        /* .. s11 */
    sd      zero, 88(t0)                        /* fs0 .. */
    sd      zero, 96(t0)
    sd      zero, 104(t0)
    sd      zero, 112(t0)
    sd      zero, 120(t0)
    sd      zero, 128(t0)
    sd      zero, 136(t0)
    sd      zero, 144(t0)
    sd      zero, 152(t0)
    sd      zero, 160(t0)
    sd      zero, 168(t0)
    sd      zero, 176(t0)                       /* .. fs11 */
    frrm    t1                                  /* the new fiber inherits our rounding mode */
    sd      t1, 184(t0)
    sd      zero, 192(t0)                       /* s0 = 0 */
    /* ra = fiber_asm_start + 4, pc-relative (fine in a -fPIC object: the symbol is hidden).
     * Not `lla` of a local label at start + 4: the auipc/addi pair needs a relocation
     * against its target, which would put that label in the symbol table, and debuggers
     * would then name the fiber's base frame after it. */
    lla     t1, fiber_asm_start
    addi    t1, t1, 4
    sd      t1, 200(t0)
    sd      t0, -LINK_SLOT(a0)                  /* link slot = S */
    sd      zero, -8(a0)                        /* reserved word of the link area */
    ret
    .cfi_endproc
FIBER_FUNC_END(fiber_asm_init)

/*
 * int fiber_asm_switch(void *top [a0], int status [a1])      registers only
 * int fiber_asm_switch_fp(void *top [a0], int status [a1])   and frm
 * Saves our frame, exchanges sp with the link slot, restores the other side's frame and
 * returns on the other side, whose pending switch call returns `status` (so C callers can
 * tail-call these routines). Both build the same frame; the plain one leaves its frm slot
 * unwritten and does not read the other side's. A fiber is entered and left by the same one
 * of the two (fiber_posix.c picks it by the fiber's FIBER_OWN_FP_CONTROL flag), so an frm
 * slot is read only after it was written. The CFI below stays true throughout: before the
 * exchange it describes our frame, after it the other side's, which has the same layout.
 */
.macro SWITCH_BODY with_fp
    .cfi_startproc
    addi    sp, sp, -FRAME_SIZE
    .cfi_def_cfa_offset FRAME_SIZE
    sd      ra, 200(sp)
    sd      s0, 192(sp)
    sd      s1, 0(sp)
    sd      s2, 8(sp)
    sd      s3, 16(sp)
    sd      s4, 24(sp)
    sd      s5, 32(sp)
    sd      s6, 40(sp)
    sd      s7, 48(sp)
    sd      s8, 56(sp)
    sd      s9, 64(sp)
    sd      s10, 72(sp)
    sd      s11, 80(sp)
    fsd     fs0, 88(sp)
    fsd     fs1, 96(sp)
    fsd     fs2, 104(sp)
    fsd     fs3, 112(sp)
    fsd     fs4, 120(sp)
    fsd     fs5, 128(sp)
    fsd     fs6, 136(sp)
    fsd     fs7, 144(sp)
    fsd     fs8, 152(sp)
    fsd     fs9, 160(sp)
    fsd     fs10, 168(sp)
    fsd     fs11, 176(sp)
    .cfi_offset ra, -8
    .cfi_offset s0, -16
    .cfi_offset s1, -208
    .cfi_offset s2, -200
    .cfi_offset s3, -192
    .cfi_offset s4, -184
    .cfi_offset s5, -176
    .cfi_offset s6, -168
    .cfi_offset s7, -160
    .cfi_offset s8, -152
    .cfi_offset s9, -144
    .cfi_offset s10, -136
    .cfi_offset s11, -128
    .cfi_offset fs0, -120
    .cfi_offset fs1, -112
    .cfi_offset fs2, -104
    .cfi_offset fs3, -96
    .cfi_offset fs4, -88
    .cfi_offset fs5, -80
    .cfi_offset fs6, -72
    .cfi_offset fs7, -64
    .cfi_offset fs8, -56
    .cfi_offset fs9, -48
    .cfi_offset fs10, -40
    .cfi_offset fs11, -32
.if \with_fp
    frrm    t2                                  /* kept in t2 for the compare below */
    sd      t2, 184(sp)
.endif

    /* The exchange: the slot gets our sp, sp gets the other side's. */
    ld      t0, -LINK_SLOT(a0)
    sd      sp, -LINK_SLOT(a0)
    mv      sp, t0

.if \with_fp
    ld      t1, 184(sp)
    beq     t1, t2, 1f
    fsrm    t1                                  /* only when the mode differs: see header */
1:
.endif
    ld      ra, 200(sp)
    ld      s0, 192(sp)
    ld      s1, 0(sp)
    ld      s2, 8(sp)
    ld      s3, 16(sp)
    ld      s4, 24(sp)
    ld      s5, 32(sp)
    ld      s6, 40(sp)
    ld      s7, 48(sp)
    ld      s8, 56(sp)
    ld      s9, 64(sp)
    ld      s10, 72(sp)
    ld      s11, 80(sp)
    fld     fs0, 88(sp)
    fld     fs1, 96(sp)
    fld     fs2, 104(sp)
    fld     fs3, 112(sp)
    fld     fs4, 120(sp)
    fld     fs5, 128(sp)
    fld     fs6, 136(sp)
    fld     fs7, 144(sp)
    fld     fs8, 152(sp)
    fld     fs9, 160(sp)
    fld     fs10, 168(sp)
    fld     fs11, 176(sp)
    addi    sp, sp, FRAME_SIZE
    .cfi_def_cfa_offset 0
    .cfi_restore ra
    .cfi_restore s0
    .cfi_restore s1
    .cfi_restore s2
    .cfi_restore s3
    .cfi_restore s4
    .cfi_restore s5
    .cfi_restore s6
    .cfi_restore s7
    .cfi_restore s8
    .cfi_restore s9
    .cfi_restore s10
    .cfi_restore s11
    .cfi_restore fs0
    .cfi_restore fs1
    .cfi_restore fs2
    .cfi_restore fs3
    .cfi_restore fs4
    .cfi_restore fs5
    .cfi_restore fs6
    .cfi_restore fs7
    .cfi_restore fs8
    .cfi_restore fs9
    .cfi_restore fs10
    .cfi_restore fs11
    mv      a0, a1                              /* the other side's call returns `status` */
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
 * `ret` of the first fiber_asm_switch into the fiber, with sp = top - 16 (the link slot is at
 * 0(sp)), s1 = entry, s2 = arg. sp never moves in this routine, which is what lets the CFI
 * name the link slot as sp + 0.
 *
 * Unwind info: our "caller" is whoever last called fiber_asm_switch to resume this fiber.
 * While the fiber runs, the link slot holds that resumer's saved sp S, which points at the
 * resumer's switch frame (layout above). So:
 *   CFA          = *(sp + 0) + FRAME_SIZE   the resumer's sp at its call of the switch
 *   ra (the return-address column, DWARF 1) = [CFA - 8], the resumer's return address
 *   s0-s11, fs0-fs11 = their slots in the resumer's switch frame
 *
 *   DW_CFA_def_cfa_expression (0x0f), length 6:
 *     DW_OP_breg2 (0x72) SLEB 0      push sp + 0     (x2 is sp; the address of the link slot)
 *     DW_OP_deref  (0x06)            load the slot   (the resumer's saved sp)
 *     DW_OP_plus_uconst (0x23) ULEB 208 (0xd0 0x01)  + FRAME_SIZE
 *
 * .cfi_signal_frame: see asm/macros.h ("fiber_asm_start is a signal frame").
 */
FIBER_FUNC_BEGIN(fiber_asm_start)
    .cfi_startproc
    .cfi_signal_frame
    .cfi_escape 0x0f, 0x06, 0x72, 0x00, 0x06, 0x23, 0xd0, 0x01
    .cfi_offset ra, -8
    .cfi_offset s0, -16
    .cfi_offset s1, -208
    .cfi_offset s2, -200
    .cfi_offset s3, -192
    .cfi_offset s4, -184
    .cfi_offset s5, -176
    .cfi_offset s6, -168
    .cfi_offset s7, -160
    .cfi_offset s8, -152
    .cfi_offset s9, -144
    .cfi_offset s10, -136
    .cfi_offset s11, -128
    .cfi_offset fs0, -120
    .cfi_offset fs1, -112
    .cfi_offset fs2, -104
    .cfi_offset fs3, -96
    .cfi_offset fs4, -88
    .cfi_offset fs5, -80
    .cfi_offset fs6, -72
    .cfi_offset fs7, -64
    .cfi_offset fs8, -56
    .cfi_offset fs9, -48
    .cfi_offset fs10, -40
    .cfi_offset fs11, -32
    /* Guard word, never executed: the first switch into a fiber "returns" to start + 4,
     * and unwinders look up a return address minus one. Without this word that lookup would
     * land in whatever precedes the routine (the end of fiber_asm_switch_fp) whenever a stack
     * is walked while the fiber is parked at its very first instruction. It also traps
     * (SIGILL) a stray call to fiber_asm_start from C. 4 bytes: .option norvc above. */
    unimp
    /* start + 4: where the first switch into the fiber lands. */
    mv      a0, s2
    jalr    s1                                  /* entry(arg); sp = top - 16, 16-aligned */
    /* entry must never return. If it does, trap here (SIGILL) rather than run off into
     * whatever follows. Being the instruction after the call, it also keeps entry's return
     * address inside this routine, so unwinding from entry finds this FDE. */
    unimp
    .cfi_endproc
FIBER_FUNC_END(fiber_asm_start)

FIBER_NO_EXEC_STACK
