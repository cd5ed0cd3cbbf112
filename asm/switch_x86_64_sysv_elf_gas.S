/*
 * Stack switching for x86_64, System V ABI, ELF, GNU as (AT&T syntax).
 *
 * macOS x86_64 follows the same System V ABI: switch_x86_64_sysv_macho_gas.S assembles the
 * routines below as Mach-O. So keep them format-neutral: symbols through FIBER_SYM, local
 * labels through FIBER_LOCAL, ELF-only sections behind FIBER_ELF (asm/macros.h).
 *
 * WARNING: the three routines below (fiber_asm_init, fiber_asm_switch, fiber_asm_start)
 * share one frame layout. fiber_asm_init writes a frame that fiber_asm_switch pops;
 * fiber_asm_switch pushes a frame whose size and slot offsets are hard-coded in
 * fiber_asm_start's hand-written DWARF CFI; all of them use the link slot offset of
 * fiber/core/switch.h (FIBER_LINK_SLOT_OFFSET = 16). Change one, read all three, and keep
 * them in sync with switch.h and with the diagram below.
 *
 * Which registers are saved and why
 * ---------------------------------
 * The SysV x86_64 ABI makes rbx, rbp, r12-r15 callee-saved, and also the control bits of
 * MXCSR and the x87 control word (rounding mode, exception masks, precision). All xmm
 * registers are caller-saved, so no vector register is saved.
 *
 * The FP control state is the thread's unless the fiber owns its own (fiber.h): a fiber
 * created with FIBER_OWN_FP_CONTROL is switched by fiber_asm_switch_fp, which also saves
 * MXCSR and the x87 control word in the frame and loads the other side's, so that fiber keeps
 * a rounding mode it sets across suspends and its resumer never sees it. (The MXCSR status
 * flags travel too, as a side effect of saving the whole register; the x87 status word does
 * not.) Other fibers are switched by fiber_asm_switch, which leaves both registers alone.
 * Why not always: reading MXCSR (stmxcsr) is slow on some CPUs. On the AMD EPYC this
 * project measures on, one stmxcsr takes about 3.5 ns (12 cycles) while a whole round trip
 * without it takes under 6 ns; and almost no code changes these modes across a suspend.
 * Windows makes the same choice (FIBER_FLAG_FLOAT_SWITCH is opt-in).
 *
 * Switch frame (built by both switch routines, 64 bytes; `sp` = the frame's base, the value
 * that goes into the link slot; the routine itself runs with rsp = sp + 8 after its pushes,
 * the FP slot lying in the red zone just below):
 *
 *       sp + 64  caller's stack pointer after the switch returns (= CFA of the switch)
 *       sp + 56  return address          pushed by the `call fiber_asm_switch`
 *       sp + 48  rbp                     first push
 *       sp + 40  rbx
 *       sp + 32  r12
 *       sp + 24  r13
 *       sp + 16  r14
 *       sp +  8  r15                     last push
 *       sp +  4  x87 control word (2 bytes; bytes 6-7 padding)
 *       sp +  0  MXCSR (4 bytes)
 *
 *   The caller's sp is 16-byte aligned at the call, so it is 8 mod 16 after the return
 *   address and after the six pushes; the 8-byte FP slot below brings it back to 16-byte
 *   alignment. So the saved base is always 16-byte aligned and the frame size is a constant
 *   64: that constant is what fiber_asm_start's CFI adds to the link slot to find its
 *   "caller".
 *
 * Initial frame (built by fiber_asm_init):
 *
 *       top -  8  reserved (zero)                              link area, see switch.h
 *       top - 16  link slot = top - 80 (the initial base)      <- fiber_asm_start's rsp
 *       top - 24  return address = fiber_asm_start             (sp + 56)
 *       top - 32  rbp = 0      ends frame-pointer chains here  (sp + 48)
 *       top - 40  rbx = entry                                  (sp + 40)
 *       top - 48  r12 = arg                                    (sp + 32)
 *       top - 56  r13 = 0                                      (sp + 24)
 *       top - 64  r14 = 0                                      (sp + 16)
 *       top - 72  r15 = 0                                      (sp +  8)
 *       top - 80  MXCSR, x87 CW of the caller of fiber_asm_init  (sp + 0)
 *
 *   The first fiber_asm_switch(top) takes the base top - 80, pops that frame, and its return jump
 *   jumps to fiber_asm_start with rsp = top - 16. That is 16-byte aligned, as the ABI wants
 *   at a call, so fiber_asm_start calls entry without adjusting rsp; the return address of
 *   that call lands at top - 24, below the link area, which therefore stays intact.
 *
 * fiber_asm_start's unwind info
 * -----------------------------
 * While a fiber runs, its link slot holds the stack pointer its resumer saved in
 * fiber_asm_switch, i.e. the address of the resumer's switch frame. fiber_asm_start's rsp
 * is always top - 16 (it never moves rsp), so the link slot is at 0(%rsp) in start's frame,
 * and start's CFA is defined as
 *       CFA = *(rsp + 0) + 64
 * which is the resumer's stack pointer after its fiber_asm_switch call returns. The return
 * address and the callee-saved registers of that "caller" are the ones in the resumer's
 * switch frame: ra at CFA - 8, rbp at CFA - 16, rbx at CFA - 24, r12 at CFA - 32, r13 at
 * CFA - 40, r14 at CFA - 48, r15 at CFA - 56. An unwinder walking out of a fiber thus
 * continues in the function that called fiber_asm_switch on the resumer's side, on every
 * resume, whoever and wherever that resumer is.
 *
 * .cfi_signal_frame: see asm/macros.h ("fiber_asm_start is a signal frame").
 */

#include "macros.h"

/* DWARF register numbers for x86_64 used in the CFI escape below. */
#define DW_REG_RSP 7

/*
 * void fiber_asm_init(void *top, void (*entry)(void *), void *arg)
 *   rdi = top, rsi = entry, rdx = arg. Writes the initial frame and the link area; touches
 *   no callee-saved register.
 */
FIBER_FUNC_BEGIN(fiber_asm_init)
    .cfi_startproc
    leaq    -80(%rdi), %rax             /* rax = initial sp (switch frame base) */
    movq    $0, (%rax)                  /* clear the FP slot's padding bytes 6-7 */
    stmxcsr (%rax)                      /* the creator's FP modes become the fiber's */
    fnstcw  4(%rax)
    movq    $0, 8(%rax)                 /* r15 */
    movq    $0, 16(%rax)                /* r14 */
    movq    $0, 24(%rax)                /* r13 */
    movq    %rdx, 32(%rax)              /* r12 = arg,   read by fiber_asm_start */
    movq    %rsi, 40(%rax)              /* rbx = entry, read by fiber_asm_start */
    movq    $0, 48(%rax)                /* rbp = 0: frame-pointer walkers stop at the base */
    leaq    FIBER_SYM(fiber_asm_start)(%rip), %rcx  /* hidden: PC-relative, no GOT, PIC-safe */
    movq    %rcx, 56(%rax)              /* the first switch returns into start */
    movq    %rax, -16(%rdi)             /* link slot: the not-running side is the new fiber */
    movq    $0, -8(%rdi)                /* reserved word of the link area */
    ret
    .cfi_endproc
FIBER_FUNC_END(fiber_asm_init)

/*
 * int fiber_asm_switch(void *top, int status)      integer registers only
 * int fiber_asm_switch_fp(void *top, int status)   and the FP control state (MXCSR, x87 CW)
 *   rdi = top of the fiber stack whose link slot is exchanged, esi = status. Used both to
 *   enter a fiber (from its resumer) and to leave it (from inside the fiber): the slot always
 *   holds the sp of the side that is not running. The other side's pending switch call
 *   returns `status` (eax), so C callers can tail-call these routines. Both build the same
 *   frame; the plain one leaves its FP slot unwritten and does not read the other side's.
 *   A fiber is entered and left by the same one of the two (fiber_posix.c picks it by the
 *   fiber's FIBER_OWN_FP_CONTROL flag), so an FP slot is read only after it was written.
 */
.macro SWITCH_BODY with_fp
    .cfi_startproc
.if \with_fp
    /* The FP control state goes first, into the frame's FP slot just below where the pushes
     * end (the ABI's red zone keeps it safe below rsp): stmxcsr and fnstcw are slow, and
     * issued first they overlap with the pushes. */
    stmxcsr -56(%rsp)
    fnstcw  -52(%rsp)
.endif
    pushq   %rbp
    .cfi_adjust_cfa_offset 8
    .cfi_rel_offset %rbp, 0
    pushq   %rbx
    .cfi_adjust_cfa_offset 8
    .cfi_rel_offset %rbx, 0
    pushq   %r12
    .cfi_adjust_cfa_offset 8
    .cfi_rel_offset %r12, 0
    pushq   %r13
    .cfi_adjust_cfa_offset 8
    .cfi_rel_offset %r13, 0
    pushq   %r14
    .cfi_adjust_cfa_offset 8
    .cfi_rel_offset %r14, 0
    pushq   %r15
    .cfi_adjust_cfa_offset 8
    .cfi_rel_offset %r15, 0

    /* Exchange stack pointers through the link slot. The slot holds a frame's base (its FP
     * slot, `sp` in the diagram), which is 8 below the rsp this routine runs with after the
     * pushes: no `sub`/`add` of rsp for the FP slot, and the FP state is read through r8
     * (one instruction less each way, measurably faster: BENCHMARKS.md). Two plain moves,
     * not xchg: xchg with memory is an implicitly locked instruction and costs a full
     * barrier. The other side's frame has the same shape as ours, so the CFI above
     * (CFA = rsp + 56) stays true across the `leaq ..., %rsp`. */
    movq    -16(%rdi), %r8              /* the other side's frame base */
    leaq    -8(%rsp), %r9
    movq    %r9, -16(%rdi)              /* ours */
.if \with_fp
    movzwl  -4(%rsp), %ecx              /* this side's x87 CW, for the compare below */
.endif
    leaq    8(%r8), %rsp
    movl    %esi, %eax                  /* the other side's pending call returns `status` */
.if \with_fp
    /* Load the other side's FP control state (in the red zone now: still safe). fldcw is
     * skipped when the control word is the same (fibers almost never change it, and fldcw
     * stalls the x87 pipeline). ldmxcsr is not: the compare would have to read back the
     * value stmxcsr just stored, and that load waits for the store to complete, which costs
     * more than the ldmxcsr it saves (measured: about 3 ns per round trip; BENCHMARKS.md). */
    ldmxcsr (%r8)
    cmpw    4(%r8), %cx
    je      1f
    fldcw   4(%r8)
1:
.endif
    popq    %r15
    .cfi_adjust_cfa_offset -8
    .cfi_restore %r15
    popq    %r14
    .cfi_adjust_cfa_offset -8
    .cfi_restore %r14
    popq    %r13
    .cfi_adjust_cfa_offset -8
    .cfi_restore %r13
    popq    %r12
    .cfi_adjust_cfa_offset -8
    .cfi_restore %r12
    popq    %rbx
    .cfi_adjust_cfa_offset -8
    .cfi_restore %rbx
    popq    %rbp
    .cfi_adjust_cfa_offset -8
    .cfi_restore %rbp
    /* Return into the other side's caller (or into start) by pop + indirect jump, not `ret`:
     * the CPU's return-stack predictor holds *this* side's caller, so a `ret` mispredicts on
     * every switch, and so do the returns after it. rcx is caller-saved: free here. */
    popq    %rcx
    .cfi_adjust_cfa_offset -8
    .cfi_register %rip, %rcx
    jmpq    *%rcx
    .cfi_endproc
.endm

FIBER_FUNC_BEGIN(fiber_asm_switch)
    SWITCH_BODY with_fp=0
FIBER_FUNC_END(fiber_asm_switch)

FIBER_FUNC_BEGIN(fiber_asm_switch_fp)
    SWITCH_BODY with_fp=1
FIBER_FUNC_END(fiber_asm_switch_fp)

/*
 * fiber_asm_start: the base frame of every fiber. Reached only by the return jump of the first
 * fiber_asm_switch into a fresh stack, with rsp = top - 16, rbx = entry, r12 = arg.
 * It must not move rsp: its CFI reads the link slot at 0(%rsp).
 */
FIBER_FUNC_BEGIN(fiber_asm_start)
    .cfi_startproc
    .cfi_signal_frame
    /* CFA = *(rsp + 0) + 64: the resumer's sp, saved in the link slot by its
     * fiber_asm_switch, plus the size of that switch frame.
     * DW_CFA_def_cfa_expression, length 5:
     *   DW_OP_breg7 (rsp) 0; DW_OP_deref; DW_OP_plus_uconst 64 */
    .cfi_escape 0x0f, 0x05, 0x70 + DW_REG_RSP, 0x00, 0x06, 0x23, 0x40
    /* The resumer's registers live in its switch frame, at fixed offsets from that CFA. */
    .cfi_offset %rip, -8
    .cfi_offset %rbp, -16
    .cfi_offset %rbx, -24
    .cfi_offset %r12, -32
    .cfi_offset %r13, -40
    .cfi_offset %r14, -48
    .cfi_offset %r15, -56
    movq    %r12, %rdi                  /* entry(arg) */
    call    *%rbx
    /* entry must leave by a final fiber_asm_switch and never return. If it does, there is
     * no frame to return to: trap. The ud2 also keeps the call's return address inside
     * this function, so unwinders looking up (return address - 1) find start's FDE. */
    ud2
    .cfi_endproc
FIBER_FUNC_END(fiber_asm_start)

FIBER_NO_EXEC_STACK
