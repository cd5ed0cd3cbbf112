/*
 * Stack switching for ppc64le: the 64-bit ELF V2 ABI (OpenPOWER), little-endian, ELF, GNU as.
 *
 * !!! KEEP IN SYNC !!!
 * The three routines below share one frame layout. fiber_asm_switch pushes it and pops it,
 * fiber_asm_init forges one by hand, and the CFI of fiber_asm_start reads the resumer's copy
 * of it (FRAME_SIZE and the link slot's offset in the CFA expression, every .cfi_offset).
 * Change one of the four and you must change the other three, plus fiber/core/switch.h (the
 * link slot at top - 16) and the ppc64le branch of ft_regs_roundtrip in tests/core/c/conformance.c.
 *
 * Registers (ELF V2 ABI, "Register Roles")
 * ----------------------------------------
 * Nonvolatile: r1 (sp), r14-r31, f14-f31, v20-v31 (all 128 bits; they are vs52-vs63), the
 * condition register fields cr2, cr3 and cr4, and r2, the TOC pointer (nonvolatile for calls
 * within a module: see below). The switch saves all of them, and also:
 *  - LR, because the return after the stack exchange must go to the OTHER side's caller;
 *  - VRSAVE, the 32-bit mask of live vector registers from the AltiVec programming model.
 *    Linux compilers do not maintain it, but glibc's setjmp/longjmp carry it across a jump,
 *    and so does this switch: each side gets back the value it had (two instructions).
 * Volatile (not saved): r0, r3-r12, f0-f13, the low doublewords of vs14-vs31 (the FPRs are
 * their high doublewords), v0-v19, cr0, cr1, cr5-cr7, CTR, XER, VSCR. r13 is the thread
 * pointer ("reserved"): never touched, so a fiber resumed on another thread sees that thread's.
 *
 * The TOC pointer: our routines have no global entry prologue (they use no TOC), so their
 * symbols carry the ELF V2 default st_other, which promises the caller that r2 is the same on
 * return as at entry. A switch returns to the OTHER side's caller, so it restores the r2 that
 * side had when it called: r2 is saved in the frame like a nonvolatile register. The entry
 * function is called through CTR with its address in r12, as the ABI requires of an indirect
 * call, so its global entry point computes its own r2.
 *
 * Frame conventions: r1 is 16-byte aligned and always points at a back-chain word (stdu keeps
 * that atomic). A callee saves LR at 16(r1) and CR at 8(r1) of its CALLER's frame; its own
 * frame begins with the 32-byte header (back chain, CR save, LR save, TOC save) for the
 * functions it calls. The 288 bytes below r1 are a protected zone, not needed here.
 *
 * FP control state: the thread's, unless the fiber owns its own
 * -------------------------------------------------------------
 * FPSCR holds the rounding mode (RN), non-IEEE mode (NI) and the exception enables (VE, OE,
 * UE, ZE, XE): fields 6 and 7, its low byte; the rest is status (sticky flags, FPRF). A fiber
 * created with FIBER_OWN_FP_CONTROL (fiber.h) is switched by fiber_asm_switch_fp, which saves
 * FPSCR in the switch frame and loads the other side's control fields only (mtfsf with field
 * mask 0x03): a rounding mode set inside such a fiber stays with it across suspends and never
 * leaks to its resumer, while the status bits stay with the thread (as FPSR on aarch64). Other
 * fibers are switched by fiber_asm_switch, which leaves FPSCR alone: they run in the thread's
 * modes (why that is the default: the x86_64 file). A new fiber inherits its creator's FPSCR.
 * mtfsf is context-synchronizing (slow), so it runs only when the control byte differs.
 *
 * Switch frame: what both switch routines build (FRAME_SIZE = 528 = 33 * 16)
 * --------------------------------------------------------------------------
 *   S = the saved stack pointer (the value stored in the link slot); CFA = S + 528 = the
 *   caller's r1 at the call.
 *     CFA+16  LR     the return address into the side that called      \ in the caller's
 *                    fiber_asm_switch                                   | frame header
 *     CFA+8   CR     (word) cr2-cr4 are the fields that matter         /
 *     S+336 .. S+527  v20-v31 at S+336 + 16*(n-20)   (16-byte aligned: stvx/lvx)
 *     S+192 .. S+335  f14-f31 at S+192 + 8*(n-14)
 *     S+48  .. S+191  r14-r31 at S+48 + 8*(n-14)
 *     S+40   VRSAVE (word; 4 bytes padding)
 *     S+32   FPSCR (doubleword image, as mffs gives it)   fiber_asm_switch_fp only
 *     S+24   r2 (the TOC save doubleword of our own header: where r2 conventionally goes)
 *     S+16, S+8  (our header's LR and CR save slots, for callees: we have none)
 *     S+0    back chain = CFA (written by stdu)
 *
 * Initial frame: what fiber_asm_init forges, at S = top - 48 - 528 = top - 576
 * -----------------------------------------------------------------------------
 *       top        +--------------------------+
 *       top - 8    | reserved = 0             |  link area (switch.h)
 *       top - 16   | link slot = top - 576    |  the fiber's saved sp until the first switch
 *                  +--------------------------+
 *       top - 24   | TOC save                 |  \ fiber_asm_start's frame header (32 bytes,
 *       top - 32   | LR save = start + 4      |   | for the entry function to write into);
 *       top - 40   | CR save = init's CR      |   | until the first switch it is also the
 *       top - 48   | back chain = 0           |  /  CFA+16 / CFA+8 of the initial frame
 *                  +--------------------------+  <- r1 when fiber_asm_start runs (CFA)
 *                  | v20-v31 = 0              |  S+336
 *                  | f14-f31 = 0              |  S+192
 *                  | r16-r31 = 0              |  S+64   (r31 = 0 ends frame-pointer chains)
 *                  | r15 = arg, r14 = entry   |  S+56, S+48
 *                  | VRSAVE, FPSCR of init's  |  S+40, S+32
 *                  | caller; r2 = init's r2   |  S+24
 *       top - 576  | back chain = top - 48    |  S+0
 *                  +--------------------------+
 * The first fiber_asm_switch(top) takes S from the slot, reloads this frame (r1 becomes
 * top - 48) and returns into fiber_asm_start + 4 (past its guard) with entry in r14 and arg in
 * r15. Back-chain walkers see S -> top - 48 -> 0.
 */

#include "macros.h"

#define FRAME_SIZE  528
#define START_HDR   32      /* fiber_asm_start's frame header: its r1 = top - 16 - 32 */
#define LINK_SLOT   16      /* FIBER_LINK_SLOT_OFFSET in switch.h */
#define V_BASE      336     /* v20 */

    .abiversion 2
    .machine power8         /* the ELF V2 baseline (ISA 2.07), AltiVec included */

/*
 * void fiber_asm_init(void *top [r3], void (*entry)(void *) [r4], void *arg [r5])
 * Leaf routine: touches only r0, r6-r12, f0 and memory below top.
 */
FIBER_FUNC_BEGIN(fiber_asm_init)
    .cfi_startproc
    addi    %r6, %r3, -(LINK_SLOT + START_HDR + FRAME_SIZE)  /* S = top - 576 */
    addi    %r7, %r3, -(LINK_SLOT + START_HDR)               /* start's r1 = top - 48 */
    li      %r0, 0
    std     %r7, 0(%r6)               /* back chain of the initial frame */
    std     %r0, 8(%r6)
    std     %r0, 16(%r6)
    std     %r2, 24(%r6)              /* r2: the creator's TOC, same module as every switch */
    mffs    %f0
    stfd    %f0, 32(%r6)              /* the new fiber inherits our FP modes */
    mfvrsave %r8
    stw     %r8, 40(%r6)
    stw     %r0, 44(%r6)
    std     %r4, 48(%r6)              /* r14 = entry */
    std     %r5, 56(%r6)              /* r15 = arg */
    addi    %r9, %r6, 64              /* r16-r31 and f14-f31: 34 doublewords of zero */
    li      %r10, 34
    mtctr   %r10
1:  std     %r0, 0(%r9)
    addi    %r9, %r9, 8
    bdnz    1b
    addi    %r9, %r6, V_BASE          /* v20-v31: 24 doublewords of zero */
    li      %r10, 24
    mtctr   %r10
2:  std     %r0, 0(%r9)
    addi    %r9, %r9, 8
    bdnz    2b
    std     %r0, 0(%r7)               /* start's back chain = 0: walks end at the fiber's base */
    mfcr    %r8
    stw     %r8, 8(%r7)               /* CR save word of the initial frame's caller (CFA + 8) */
    stw     %r0, 12(%r7)
    /* LR save (CFA + 16) = fiber_asm_start + 4, pc-relative: the address of label 3 from a
     * bcl to the next instruction (the form the ISA recommends for reading the pc: it does not
     * disturb the link-stack predictor), plus the assembly-time distance to start. */
    mflr    %r11
    bcl     20, 31, 3f
3:  mflr    %r12
    mtlr    %r11
    addi    %r12, %r12, (FIBER_SYM(fiber_asm_start) + 4 - 3b)
    std     %r12, 16(%r7)
    std     %r0, 24(%r7)              /* start's TOC save slot */
    std     %r6, -LINK_SLOT(%r3)      /* link slot = S */
    std     %r0, -8(%r3)              /* reserved word of the link area */
    blr
    .cfi_endproc
FIBER_FUNC_END(fiber_asm_init)

/*
 * int fiber_asm_switch(void *top [r3], int status [r4])      registers only
 * int fiber_asm_switch_fp(void *top [r3], int status [r4])   and FPSCR's control fields
 * Saves our frame, exchanges r1 with the link slot, restores the other side's frame and
 * returns on the other side, whose pending switch call returns `status` (so C callers can
 * tail-call these routines). Both build the same frame; the plain one leaves its FPSCR slot
 * unwritten and does not read the other side's. A fiber is entered and left by the same one
 * of the two (fiber_posix.c picks it by the fiber's FIBER_OWN_FP_CONTROL flag), so an FPSCR
 * slot is read only after it was written. The CFI stays true throughout: before the exchange
 * it describes our frame, after it the other side's, which has the same layout.
 */
.macro SWITCH_BODY with_fp
    .cfi_startproc
    mflr    %r0
    mfcr    %r12
    std     %r0, 16(%r1)                  /* LR into the caller's header, as every callee does */
    stw     %r12, 8(%r1)                  /* and CR */
    .cfi_offset lr, 16
    .cfi_offset cr2, 8
    .cfi_offset cr3, 8
    .cfi_offset cr4, 8
    stdu    %r1, -FRAME_SIZE(%r1)
    .cfi_def_cfa_offset FRAME_SIZE
    std     %r2, 24(%r1)
    std     %r14, 48(%r1)
    std     %r15, 56(%r1)
    std     %r16, 64(%r1)
    std     %r17, 72(%r1)
    std     %r18, 80(%r1)
    std     %r19, 88(%r1)
    std     %r20, 96(%r1)
    std     %r21, 104(%r1)
    std     %r22, 112(%r1)
    std     %r23, 120(%r1)
    std     %r24, 128(%r1)
    std     %r25, 136(%r1)
    std     %r26, 144(%r1)
    std     %r27, 152(%r1)
    std     %r28, 160(%r1)
    std     %r29, 168(%r1)
    std     %r30, 176(%r1)
    std     %r31, 184(%r1)
    stfd    %f14, 192(%r1)
    stfd    %f15, 200(%r1)
    stfd    %f16, 208(%r1)
    stfd    %f17, 216(%r1)
    stfd    %f18, 224(%r1)
    stfd    %f19, 232(%r1)
    stfd    %f20, 240(%r1)
    stfd    %f21, 248(%r1)
    stfd    %f22, 256(%r1)
    stfd    %f23, 264(%r1)
    stfd    %f24, 272(%r1)
    stfd    %f25, 280(%r1)
    stfd    %f26, 288(%r1)
    stfd    %f27, 296(%r1)
    stfd    %f28, 304(%r1)
    stfd    %f29, 312(%r1)
    stfd    %f30, 320(%r1)
    stfd    %f31, 328(%r1)
    /* stvx takes its offset in a register (EA = r1 + rB): one per vector register, from the
     * volatile r0 and r5-r12, the first ones reused once their stores are issued. */
    li      %r0, V_BASE
    li      %r5, V_BASE + 16
    li      %r6, V_BASE + 32
    li      %r7, V_BASE + 48
    li      %r8, V_BASE + 64
    li      %r9, V_BASE + 80
    li      %r10, V_BASE + 96
    li      %r11, V_BASE + 112
    li      %r12, V_BASE + 128
    stvx    %v20, %r1, %r0
    stvx    %v21, %r1, %r5
    stvx    %v22, %r1, %r6
    stvx    %v23, %r1, %r7
    stvx    %v24, %r1, %r8
    stvx    %v25, %r1, %r9
    stvx    %v26, %r1, %r10
    stvx    %v27, %r1, %r11
    stvx    %v28, %r1, %r12
    li      %r0, V_BASE + 144
    li      %r5, V_BASE + 160
    li      %r6, V_BASE + 176
    stvx    %v29, %r1, %r0
    stvx    %v30, %r1, %r5
    stvx    %v31, %r1, %r6
    mfvrsave %r7
    stw     %r7, 40(%r1)
    .cfi_offset r2, -528
    .cfi_offset r14, -480
    .cfi_offset r15, -472
    .cfi_offset r16, -464
    .cfi_offset r17, -456
    .cfi_offset r18, -448
    .cfi_offset r19, -440
    .cfi_offset r20, -432
    .cfi_offset r21, -424
    .cfi_offset r22, -416
    .cfi_offset r23, -408
    .cfi_offset r24, -400
    .cfi_offset r25, -392
    .cfi_offset r26, -384
    .cfi_offset r27, -376
    .cfi_offset r28, -368
    .cfi_offset r29, -360
    .cfi_offset r30, -352
    .cfi_offset r31, -344
    .cfi_offset f14, -336
    .cfi_offset f15, -328
    .cfi_offset f16, -320
    .cfi_offset f17, -312
    .cfi_offset f18, -304
    .cfi_offset f19, -296
    .cfi_offset f20, -288
    .cfi_offset f21, -280
    .cfi_offset f22, -272
    .cfi_offset f23, -264
    .cfi_offset f24, -256
    .cfi_offset f25, -248
    .cfi_offset f26, -240
    .cfi_offset f27, -232
    .cfi_offset f28, -224
    .cfi_offset f29, -216
    .cfi_offset f30, -208
    .cfi_offset f31, -200
    .cfi_offset v20, -192
    .cfi_offset v21, -176
    .cfi_offset v22, -160
    .cfi_offset v23, -144
    .cfi_offset v24, -128
    .cfi_offset v25, -112
    .cfi_offset v26, -96
    .cfi_offset v27, -80
    .cfi_offset v28, -64
    .cfi_offset v29, -48
    .cfi_offset v30, -32
    .cfi_offset v31, -16
.if \with_fp
    mffs    %f0
    stfd    %f0, 32(%r1)
    ld      %r8, 32(%r1)                  /* ours, kept in r8 for the compare below */
.endif

    /* The exchange: the slot gets our sp, r1 gets the other side's. */
    ld      %r5, -LINK_SLOT(%r3)
    std     %r1, -LINK_SLOT(%r3)
    mr      %r1, %r5

.if \with_fp
    ld      %r9, 32(%r1)
    xor     %r10, %r9, %r8
    andi.   %r10, %r10, 0xff              /* FPSCR fields 6-7: RN, NI and the enables */
    beq     1f
    lfd     %f0, 32(%r1)
    mtfsf   0x03, %f0                    /* only the control fields, only when they differ */
1:
.endif
    li      %r0, V_BASE
    li      %r5, V_BASE + 16
    li      %r6, V_BASE + 32
    li      %r7, V_BASE + 48
    li      %r8, V_BASE + 64
    li      %r9, V_BASE + 80
    li      %r10, V_BASE + 96
    li      %r11, V_BASE + 112
    li      %r12, V_BASE + 128
    lvx     %v20, %r1, %r0
    lvx     %v21, %r1, %r5
    lvx     %v22, %r1, %r6
    lvx     %v23, %r1, %r7
    lvx     %v24, %r1, %r8
    lvx     %v25, %r1, %r9
    lvx     %v26, %r1, %r10
    lvx     %v27, %r1, %r11
    lvx     %v28, %r1, %r12
    li      %r0, V_BASE + 144
    li      %r5, V_BASE + 160
    li      %r6, V_BASE + 176
    lvx     %v29, %r1, %r0
    lvx     %v30, %r1, %r5
    lvx     %v31, %r1, %r6
    lwz     %r7, 40(%r1)
    mtvrsave %r7
    ld      %r2, 24(%r1)
    ld      %r14, 48(%r1)
    ld      %r15, 56(%r1)
    ld      %r16, 64(%r1)
    ld      %r17, 72(%r1)
    ld      %r18, 80(%r1)
    ld      %r19, 88(%r1)
    ld      %r20, 96(%r1)
    ld      %r21, 104(%r1)
    ld      %r22, 112(%r1)
    ld      %r23, 120(%r1)
    ld      %r24, 128(%r1)
    ld      %r25, 136(%r1)
    ld      %r26, 144(%r1)
    ld      %r27, 152(%r1)
    ld      %r28, 160(%r1)
    ld      %r29, 168(%r1)
    ld      %r30, 176(%r1)
    ld      %r31, 184(%r1)
    lfd     %f14, 192(%r1)
    lfd     %f15, 200(%r1)
    lfd     %f16, 208(%r1)
    lfd     %f17, 216(%r1)
    lfd     %f18, 224(%r1)
    lfd     %f19, 232(%r1)
    lfd     %f20, 240(%r1)
    lfd     %f21, 248(%r1)
    lfd     %f22, 256(%r1)
    lfd     %f23, 264(%r1)
    lfd     %f24, 272(%r1)
    lfd     %f25, 280(%r1)
    lfd     %f26, 288(%r1)
    lfd     %f27, 296(%r1)
    lfd     %f28, 304(%r1)
    lfd     %f29, 312(%r1)
    lfd     %f30, 320(%r1)
    lfd     %f31, 328(%r1)
    ld      %r0, FRAME_SIZE + 16(%r1)     /* the other side's LR and CR, from its caller's header */
    lwz     %r12, FRAME_SIZE + 8(%r1)
    mtlr    %r0
    mtcrf   0x38, %r12                   /* cr2, cr3, cr4 only: the others are volatile */
    addi    %r1, %r1, FRAME_SIZE
    .cfi_def_cfa_offset 0
    .cfi_restore lr
    .cfi_restore cr2
    .cfi_restore cr3
    .cfi_restore cr4
    .cfi_restore r2
    .cfi_restore r14
    .cfi_restore r15
    .cfi_restore r16
    .cfi_restore r17
    .cfi_restore r18
    .cfi_restore r19
    .cfi_restore r20
    .cfi_restore r21
    .cfi_restore r22
    .cfi_restore r23
    .cfi_restore r24
    .cfi_restore r25
    .cfi_restore r26
    .cfi_restore r27
    .cfi_restore r28
    .cfi_restore r29
    .cfi_restore r30
    .cfi_restore r31
    .cfi_restore f14
    .cfi_restore f15
    .cfi_restore f16
    .cfi_restore f17
    .cfi_restore f18
    .cfi_restore f19
    .cfi_restore f20
    .cfi_restore f21
    .cfi_restore f22
    .cfi_restore f23
    .cfi_restore f24
    .cfi_restore f25
    .cfi_restore f26
    .cfi_restore f27
    .cfi_restore f28
    .cfi_restore f29
    .cfi_restore f30
    .cfi_restore f31
    .cfi_restore v20
    .cfi_restore v21
    .cfi_restore v22
    .cfi_restore v23
    .cfi_restore v24
    .cfi_restore v25
    .cfi_restore v26
    .cfi_restore v27
    .cfi_restore v28
    .cfi_restore v29
    .cfi_restore v30
    .cfi_restore v31
    extsw   %r3, %r4                      /* the other side's call returns `status` */
    blr
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
 * `blr` of the first fiber_asm_switch into the fiber, with r1 = top - 48 (its 32-byte header
 * below the link slot, which is at 32(r1)), r14 = entry, r15 = arg. r1 never moves in this
 * routine, which is what lets the CFI find the slot.
 *
 * Unwind info: our "caller" is whoever last called fiber_asm_switch to resume this fiber.
 * While the fiber runs, the link slot holds that resumer's saved sp S, which points at the
 * resumer's switch frame (layout above). So:
 *   CFA = *(r1 + 32) + FRAME_SIZE   the resumer's r1 at its call of the switch
 *   LR (the return-address column, DWARF 65) = [CFA + 16], cr2-cr4 = [CFA + 8], and r2,
 *   r14-r31, f14-f31, v20-v31 = their slots in the resumer's switch frame
 *
 *   DW_CFA_def_cfa_expression (0x0f), length 6:
 *     DW_OP_breg1 (0x71) SLEB 32 (0x20)         push r1 + 32  (the link slot's address)
 *     DW_OP_deref  (0x06)                       load the slot (the resumer's saved sp)
 *     DW_OP_plus_uconst (0x23) ULEB 528 (0x90 0x04)           + FRAME_SIZE
 *
 * .cfi_signal_frame: see asm/macros.h ("fiber_asm_start is a signal frame").
 */
FIBER_FUNC_BEGIN(fiber_asm_start)
    .cfi_startproc
    .cfi_signal_frame
    .cfi_escape 0x0f, 0x06, 0x71, 0x20, 0x06, 0x23, 0x90, 0x04
    .cfi_offset lr, 16
    .cfi_offset cr2, 8
    .cfi_offset cr3, 8
    .cfi_offset cr4, 8
    .cfi_offset r2, -528
    .cfi_offset r14, -480
    .cfi_offset r15, -472
    .cfi_offset r16, -464
    .cfi_offset r17, -456
    .cfi_offset r18, -448
    .cfi_offset r19, -440
    .cfi_offset r20, -432
    .cfi_offset r21, -424
    .cfi_offset r22, -416
    .cfi_offset r23, -408
    .cfi_offset r24, -400
    .cfi_offset r25, -392
    .cfi_offset r26, -384
    .cfi_offset r27, -376
    .cfi_offset r28, -368
    .cfi_offset r29, -360
    .cfi_offset r30, -352
    .cfi_offset r31, -344
    .cfi_offset f14, -336
    .cfi_offset f15, -328
    .cfi_offset f16, -320
    .cfi_offset f17, -312
    .cfi_offset f18, -304
    .cfi_offset f19, -296
    .cfi_offset f20, -288
    .cfi_offset f21, -280
    .cfi_offset f22, -272
    .cfi_offset f23, -264
    .cfi_offset f24, -256
    .cfi_offset f25, -248
    .cfi_offset f26, -240
    .cfi_offset f27, -232
    .cfi_offset f28, -224
    .cfi_offset f29, -216
    .cfi_offset f30, -208
    .cfi_offset f31, -200
    .cfi_offset v20, -192
    .cfi_offset v21, -176
    .cfi_offset v22, -160
    .cfi_offset v23, -144
    .cfi_offset v24, -128
    .cfi_offset v25, -112
    .cfi_offset v26, -96
    .cfi_offset v27, -80
    .cfi_offset v28, -64
    .cfi_offset v29, -48
    .cfi_offset v30, -32
    .cfi_offset v31, -16
    /* Guard word, never executed: the first switch into a fiber "returns" to start + 4, and
     * unwinders look up a return address minus one. Without this word that lookup would land
     * in the end of fiber_asm_switch_fp whenever a stack is walked while the fiber is parked
     * at its very first instruction. It also traps (SIGTRAP) a stray call from C. */
    trap
    /* start + 4 */
    mr      %r12, %r14                    /* ELF V2 indirect call: the target's address in r12 */
    mtctr   %r12
    mr      %r3, %r15
    bctrl                               /* entry(arg); r1 = top - 48, 16-aligned */
    /* entry must never return. If it does, trap here rather than run off into whatever
     * follows. Being the instruction after the call, it also keeps entry's return address
     * inside this routine, so unwinding from entry finds this FDE. */
    trap
    .cfi_endproc
FIBER_FUNC_END(fiber_asm_start)

FIBER_NO_EXEC_STACK
