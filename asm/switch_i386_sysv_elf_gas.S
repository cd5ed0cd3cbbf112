/*
 * Stack switching for i386 (i686), System V ABI, ELF, GNU as (AT&T syntax).
 * Built by i686-linux-gnu-gcc for Debian i386, also into -fPIC shared objects: nothing below
 * needs a relocation that a PIC object cannot have (no GOT, no absolute addresses; the one
 * data reference, fiber_asm_init's test of fiber_asm_i386_sse, is PC-relative to a hidden
 * symbol, which the static link resolves).
 *
 * WARNING: the routines below (fiber_asm_init, the three switch routines built from one
 * macro, fiber_asm_start) share one frame layout. fiber_asm_init writes a frame that the
 * switch routines pop; they push a frame whose size and slot offsets are hard-coded in
 * fiber_asm_start's hand-written DWARF CFI; fiber_asm_start's stack pointer is placed by
 * fiber_asm_init; all of them use the link slot offset of fiber/core/switch.h
 * (FIBER_LINK_SLOT_OFFSET = 16). Change one, read all of them, and keep them in sync with
 * switch.h and with the diagram below.
 *
 * Which registers are saved and why
 * ---------------------------------
 * The i386 SysV ABI makes ebx, esi, edi and ebp callee-saved, and the x87 control word
 * (rounding, precision, exception masks). The FP control state is the thread's unless the
 * fiber owns its own (FIBER_OWN_FP_CONTROL, fiber.h; the reasons are in the x86_64 file).
 * Three routines build the same frame and differ only in what they do with its FP slot:
 *   fiber_asm_switch         leaves the FP control state alone (fibers that do not own it);
 *   fiber_asm_switch_fp      keeps the x87 control word in the frame (owning fibers, on a
 *                            CPU without SSE);
 *   fiber_asm_switch_fp_sse  keeps the x87 control word and MXCSR (owning fibers, on a CPU
 *                            with SSE).
 * Why MXCSR is decided at run time, not by the build:
 *   - Debian i386's baseline is i686 (Pentium Pro), which has no SSE: stmxcsr/ldmxcsr raise
 *     #UD (SIGILL) there, so code built for that baseline must not execute them blindly.
 *   - But on a CPU with SSE, MXCSR is part of the FP modes even for a baseline build:
 *     glibc's fesetround() and fesetenv() set it along with the x87 control word, and the
 *     SSE variants libm and other libraries choose at run time (ifunc) round by it.
 * So fiber_posix.c asks CPUID once and gives every owning fiber fiber_asm_switch_fp_sse
 * when SSE is there, fiber_asm_switch_fp when it is not (the choice is made at create and
 * held in the fiber's record, so no switch tests anything: i386 PIC has no EIP-relative
 * addressing, and a flag test would cost every switch a GOT-style address computation and
 * a branch). fiber_asm_init, which is not on the switch path, does test a flag set by the
 * same CPUID check (fiber_asm_i386_sse, switch.h) to capture the creator's MXCSR.
 * The frame layout is the same for all three, so the CFI and the offsets below do not
 * depend on the routine.
 */
/*
 * Switch frame (built by all three switch routines, 28 bytes; `sp` = the saved stack
 * pointer that goes into the link slot):
 *
 *       sp + 28  the caller's argument `top` (= CFA of the switch: caller's esp after ret)
 *       sp + 24  return address          pushed by the `call fiber_asm_switch`
 *       sp + 20  ebp                     first push
 *       sp + 16  ebx
 *       sp + 12  esi
 *       sp +  8  edi                     last push
 *       sp +  4  x87 control word (2 bytes; 2 bytes padding)   both _fp routines
 *       sp +  0  MXCSR (4 bytes)                              fiber_asm_switch_fp_sse only
 *
 *   The frame size is a constant 28: that constant is what fiber_asm_start's CFI adds to
 *   the link slot to find its "caller". The saved sp itself need not be aligned (nothing
 *   is called from inside the frame); alignment matters only for the initial frame below.
 *
 * Initial frame (built by fiber_asm_init):
 *
 *       top -  4  reserved (zero)     \
 *       top -  8  reserved (zero)      | link area, see switch.h
 *       top - 12  reserved (zero)      |
 *       top - 16  link slot = top - 60 /  the initial sp
 *       top - 20  zero  \
 *       top - 24  zero   | padding: keeps the call below 16-byte aligned
 *       top - 28  zero  /
 *       top - 32  argument slot for entry(arg) (zero; start writes arg)  <- start's esp
 *       top - 36  return address = fiber_asm_start     (sp + 24)
 *       top - 40  ebp = 0   ends frame-pointer chains  (sp + 20)
 *       top - 44  ebx = entry                          (sp + 16)
 *       top - 48  esi = arg                            (sp + 12)
 *       top - 52  edi = 0                              (sp +  8)
 *       top - 56  x87 control word of the caller of fiber_asm_init  (sp + 4)
 *       top - 60  MXCSR of the caller of fiber_asm_init (sp + 0), when fiber_asm_i386_sse
 *                 is set; else 0, never read (no fiber_asm_switch_fp_sse without SSE)
 *
 *   The first fiber_asm_switch(top) loads sp = top - 60, pops that frame and its return
 *   jump lands in fiber_asm_start with esp = top - 32. The i386 SysV ABI as used on Linux wants
 *   esp 16-byte aligned at every call, and top is 16-byte aligned, so top - 32 is too:
 *   start stores arg into the slot at 0(%esp) and calls entry without moving esp. The
 *   return address of that call lands at top - 36, below the padding and the link area.
 *
 * fiber_asm_start's unwind info
 * -----------------------------
 * While a fiber runs, its link slot holds the stack pointer its resumer saved in
 * fiber_asm_switch, i.e. the address of the resumer's switch frame. fiber_asm_start's esp is
 * always top - 32 (it never moves esp), so the link slot is at 16(%esp) in start's frame,
 * and start's CFA is defined as
 *       CFA = *(esp + 16) + 28
 * which is the resumer's stack pointer after its fiber_asm_switch call returns. The return
 * address and the callee-saved registers of that "caller" are the ones in the resumer's
 * switch frame: eip at CFA - 4, ebp at CFA - 8, ebx at CFA - 12, esi at CFA - 16, edi at
 * CFA - 20. An unwinder walking out of a fiber thus continues in the function that called
 * fiber_asm_switch on the resumer's side, on every resume, whoever and wherever that is.
 *
 * .cfi_signal_frame: see asm/macros.h ("fiber_asm_start is a signal frame").
 */

#include "macros.h"

/* DWARF register number of esp, used in the CFI escape below. */
#define DW_REG_ESP 4

/* Defined in fiber_posix.c; hidden there too (switch.h), so the PC-relative reference in
 * fiber_asm_init is resolved by the static link. */
    .hidden fiber_asm_i386_sse

/*
 * void fiber_asm_init(void *top, void (*entry)(void *), void *arg)
 *   Arguments on the stack: 4(%esp) = top, 8(%esp) = entry, 12(%esp) = arg.
 *   Uses only the scratch registers eax, ecx, edx.
 */
FIBER_FUNC_BEGIN(fiber_asm_init)
    .cfi_startproc
    movl    4(%esp), %edx               /* edx = top; the frame is addressed from it */
    movl    12(%esp), %eax              /* arg */
    movl    $0, -52(%edx)               /* edi */
    movl    %eax, -48(%edx)             /* esi = arg,   read by fiber_asm_start */
    movl    8(%esp), %eax               /* entry */
    movl    %eax, -44(%edx)             /* ebx = entry, called by fiber_asm_start */
    movl    $0, -40(%edx)               /* ebp = 0: frame-pointer walkers stop at the base */
    /* EIP, position-independently: i386 has no EIP-relative addressing, so take it from a
     * call to the next instruction, then address fiber_asm_start and fiber_asm_i386_sse
     * from label 1. start is in this section, so its distance is an assembly-time constant;
     * the flag's is a PC-relative relocation that the static link resolves (the symbol is
     * hidden), so a PIC object needs no GOT and no text relocation for either.
     * (A call to the next instruction is special-cased by CPUs: it does not unbalance the
     * return-address predictor. init is not on the hot path anyway.) */
    call    1f
1:  .cfi_adjust_cfa_offset 4
    popl    %ecx
    .cfi_adjust_cfa_offset -4
    movl    $0, -60(%edx)               /* MXCSR slot: stays 0 on a CPU without SSE */
    movl    $0, -56(%edx)               /* x87 CW slot, including its padding */
    cmpb    $0, fiber_asm_i386_sse - 1b(%ecx)
    je      2f
    stmxcsr -60(%edx)                   /* the creator's FP modes become the fiber's */
2:  fnstcw  -56(%edx)
    leal    fiber_asm_start - 1b(%ecx), %eax
    movl    %eax, -36(%edx)             /* the first switch's `ret` goes to start */
    movl    $0, -32(%edx)               /* entry's argument slot, filled by start */
    movl    $0, -28(%edx)               /* alignment padding */
    movl    $0, -24(%edx)
    movl    $0, -20(%edx)
    leal    -60(%edx), %eax
    movl    %eax, -16(%edx)             /* link slot: the not-running side is the new fiber */
    movl    $0, -12(%edx)               /* reserved words of the link area */
    movl    $0, -8(%edx)
    movl    $0, -4(%edx)
    ret
    .cfi_endproc
FIBER_FUNC_END(fiber_asm_init)

/*
 * int fiber_asm_switch(void *top, int status)         integer registers only
 * int fiber_asm_switch_fp(void *top, int status)      and the x87 control word
 * int fiber_asm_switch_fp_sse(void *top, int status)  and the x87 control word and MXCSR
 *   4(%esp) = top of the fiber stack whose link slot is exchanged, 8(%esp) = status. Used
 *   both to enter a fiber (from its resumer) and to leave it (from inside the fiber): the
 *   slot always holds the sp of the side that is not running. The other side's pending
 *   switch call returns `status` (eax), so C callers can tail-call these routines. All
 *   build the same frame; each writes only the FP slots it reads back (none, the x87 CW, or
 *   both). A fiber is entered and left by the same one of the three (fiber_posix.c picks it
 *   at create from the fiber's FIBER_OWN_FP_CONTROL flag and, once per process, CPUID), so
 *   an FP slot is read only after it was written. fp = 0, 1 or 2 selects the variant.
 */
.macro SWITCH_BODY fp
    .cfi_startproc
    movl    4(%esp), %edx               /* top, read before the pushes move it */
    movl    8(%esp), %ecx               /* status, returned to the other side below */
    pushl   %ebp
    .cfi_adjust_cfa_offset 4
    .cfi_rel_offset %ebp, 0
    pushl   %ebx
    .cfi_adjust_cfa_offset 4
    .cfi_rel_offset %ebx, 0
    pushl   %esi
    .cfi_adjust_cfa_offset 4
    .cfi_rel_offset %esi, 0
    pushl   %edi
    .cfi_adjust_cfa_offset 4
    .cfi_rel_offset %edi, 0
    subl    $8, %esp                    /* FP control slot */
    .cfi_adjust_cfa_offset 8
.if \fp >= 2
    stmxcsr (%esp)
.endif
.if \fp >= 1
    fnstcw  4(%esp)
.endif

    /* Exchange esp with the link slot. Two plain moves, not xchg: xchg with memory is an
     * implicitly locked instruction and costs a full barrier. The other side's frame has
     * the same shape as ours, so the CFI above stays true across the `movl ..., %esp`. */
    movl    -16(%edx), %eax
    movl    %esp, -16(%edx)
    movl    %eax, %esp

.if \fp >= 2
    ldmxcsr (%esp)
.endif
.if \fp >= 1
    fldcw   4(%esp)
.endif
    addl    $8, %esp
    .cfi_adjust_cfa_offset -8
    popl    %edi
    .cfi_adjust_cfa_offset -4
    .cfi_restore %edi
    popl    %esi
    .cfi_adjust_cfa_offset -4
    .cfi_restore %esi
    popl    %ebx
    .cfi_adjust_cfa_offset -4
    .cfi_restore %ebx
    popl    %ebp
    .cfi_adjust_cfa_offset -4
    .cfi_restore %ebp
    movl    %ecx, %eax                  /* the other side's pending call returns `status` */
    /* Return into the other side's caller (or into start) by pop + indirect jump, not `ret`:
     * the CPU's return-stack predictor holds *this* side's caller, so a `ret` mispredicts on
     * every switch, and so do the returns after it. edx is caller-saved: free here. */
    popl    %edx
    .cfi_adjust_cfa_offset -4
    .cfi_register %eip, %edx
    jmp     *%edx
    .cfi_endproc
.endm

FIBER_FUNC_BEGIN(fiber_asm_switch)
    SWITCH_BODY fp=0
FIBER_FUNC_END(fiber_asm_switch)

FIBER_FUNC_BEGIN(fiber_asm_switch_fp)
    SWITCH_BODY fp=1
FIBER_FUNC_END(fiber_asm_switch_fp)

FIBER_FUNC_BEGIN(fiber_asm_switch_fp_sse)
    SWITCH_BODY fp=2
FIBER_FUNC_END(fiber_asm_switch_fp_sse)

/*
 * fiber_asm_start: the base frame of every fiber. Reached only by the return jump of the first
 * fiber_asm_switch into a fresh stack, with esp = top - 32, ebx = entry, esi = arg.
 * It must not move esp: its CFI reads the link slot at 16(%esp).
 */
FIBER_FUNC_BEGIN(fiber_asm_start)
    .cfi_startproc
    .cfi_signal_frame
    /* CFA = *(esp + 16) + 28: the resumer's sp, saved in the link slot by its
     * fiber_asm_switch, plus the size of that switch frame.
     * DW_CFA_def_cfa_expression, length 5:
     *   DW_OP_breg4 (esp) 16; DW_OP_deref; DW_OP_plus_uconst 28 */
    .cfi_escape 0x0f, 0x05, 0x70 + DW_REG_ESP, 0x10, 0x06, 0x23, 0x1c
    /* The resumer's registers live in its switch frame, at fixed offsets from that CFA. */
    .cfi_offset %eip, -4
    .cfi_offset %ebp, -8
    .cfi_offset %ebx, -12
    .cfi_offset %esi, -16
    .cfi_offset %edi, -20
    movl    %esi, (%esp)                /* entry(arg): the argument slot init reserved */
    call    *%ebx
    /* entry must leave by a final fiber_asm_switch and never return. If it does, there is
     * no frame to return to: trap. The ud2 also keeps the call's return address inside
     * this function, so unwinders looking up (return address - 1) find start's FDE. */
    ud2
    .cfi_endproc
FIBER_FUNC_END(fiber_asm_start)

FIBER_NO_EXEC_STACK
