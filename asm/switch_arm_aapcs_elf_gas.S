/*
 * Stack switching for arm32: AAPCS with the VFP hard-float variant (armhf), ELF, GNU as.
 *
 * !!! KEEP IN SYNC !!!
 * The three routines below share one frame layout. fiber_asm_switch pushes it and pops it,
 * fiber_asm_init forges one by hand, and BOTH unwind descriptions of fiber_asm_start (the
 * EHABI opcodes used at run time and the DWARF CFI used by debuggers) read the resumer's
 * copy of it. Change one of them and you must change all of them, plus fiber/core/switch.h
 * (the link slot at top - 16).
 *
 * Instruction set: ARM (A32), not Thumb-2
 * ---------------------------------------
 * Debian armhf compiles C as Thumb-2, but these routines are ARM code on purpose:
 *  - they then also run on hard-float cores without Thumb-2 (ARMv6 + VFPv2, e.g. the
 *    32-bit Raspberry Pi OS userland), while every ARMv7 core runs ARM code too;
 *  - ARM mode has no restrictions on sp as an operand and allows a conditional vmsr
 *    without an IT block, which keeps the switch short and plain.
 * Interworking is by construction: the symbols are typed %function (FIBER_FUNC_BEGIN), so
 * the linker turns a Thumb caller's `bl` into `blx`; we return with `bx lr`, which goes
 * back to Thumb or ARM as bit 0 of lr says; and we call `entry` with `blx`, so a Thumb
 * entry (function pointer with bit 0 set) runs in Thumb state.
 *
 * Registers (AAPCS 5.1.1, 5.1.2.1)
 * --------------------------------
 * Callee-saved: r4-r11 (r7 is Thumb's frame pointer, r11 ARM's), sp (kept in the link
 * slot) and d8-d15 (s16-s31). lr is saved because the return after the stack exchange must
 * go to the OTHER side's caller. r0-r3, r12 and d0-d7 (d16-d31 where present) are
 * caller-saved: the C caller of fiber_asm_switch already assumes they are clobbered.
 *
 * FP control state: the thread's, unless the fiber owns its own
 * -------------------------------------------------------------
 * A fiber created with FIBER_OWN_FP_CONTROL (fiber.h) is switched by fiber_asm_switch_fp,
 * which saves FPSCR (rounding mode, flush-to-zero, default-NaN, trap enables, vector
 * length/stride) in the switch frame and restores the other side's: code that calls
 * fesetround() inside such a fiber and suspends finds its mode again when resumed, and does
 * not leak it into whoever resumed it. Other fibers are switched by fiber_asm_switch, which
 * leaves FPSCR alone: they run in the thread's modes (why that is the default: the x86_64
 * file). A new fiber inherits the FPSCR its creator had at fiber_asm_init time. On arm32
 * one register holds both the control bits and the status bits (cumulative exception
 * flags, the NZCV of the last vcmp), so for an FPSCR-owning fiber the flags travel too, as
 * a side effect; the x86_64 file does the same with MXCSR. (On aarch64 the flags live in
 * FPSR, which stays put.) vmsr to FPSCR can serialise the pipeline, so the switch writes it
 * only when the incoming value differs from the current one: in the common case it costs a
 * vmrs and a cmp.
 *
 * Switch frame: what both switch routines push (FRAME_SIZE = 104 = 13 * 8, keeps sp
 * 8-aligned as AAPCS 5.2.1.2 demands at every public interface)
 * ----------------------------------------------------------------------------------------
 *   offset from the saved sp F (the value stored in the link slot)
 *     F+100  lr      the return address into the side that called fiber_asm_switch
 *     F+96   r11     \
 *     ...             | r4-r11 at F+68 + 4*(n-4)     push {r3-r11, lr}: 10 words, the
 *     F+68   r4      /                                lowest register at the lowest address
 *     F+64   FPSCR   pushed from r3 in the same push; also makes the push an even 40 bytes
 *     F+56   d15     \
 *     ...             | d8-d15 at F + 8*(n-8)         vpush {d8-d15}: 64 bytes, 8-aligned
 *     F+0    d8      /
 *   The caller's sp at the call is F + 104.
 *
 * Initial frame: what fiber_asm_init forges, at F = top - 16 - 104 = top - 120
 * ----------------------------------------------------------------------------
 *       top       +-----------------------+
 *       top - 12  | reserved = 0 (3 words)|  link area (switch.h)
 *       top - 16  | link slot = top - 120 |  the fiber's saved sp until the first switch
 *                 +-----------------------+  <- sp when fiber_asm_start runs (8-aligned)
 *       top - 20  | lr = start + 4        |  F+100  `bx lr` at the end of the switch goes here
 *                 | r6-r11 = 0            |  F+76..F+99  zero fp (r7/r11) ends fp chains
 *                 | r5 = arg              |  F+72
 *                 | r4 = entry            |  F+68
 *                 | FPSCR of init's caller|  F+64
 *       top - 120 | d8-d15 = 0            |  F+0..F+63
 *                 +-----------------------+
 *
 * Unwinding out of a fiber
 * ------------------------
 * While the fiber runs, the link slot holds its resumer's saved sp F, i.e. the address of
 * the resumer's switch frame. fiber_asm_start never moves sp, which stays top - 16, so the
 * link slot is at [sp]. Its unwind info says "my caller is the resumer":
 *  - run time (glibc backtrace(), C++ exceptions: libgcc's EHABI unwinder, .ARM.exidx /
 *    .ARM.extab), raw opcodes, see fiber_asm_start;
 *  - debuggers: DWARF CFI in .debug_frame (gdb prefers it to .ARM.exidx), CFA =
 *    [sp] + 104 with the registers at their slots in the resumer's switch frame.
 */

#include "macros.h"

#define FRAME_SIZE 104
#define LINK_SLOT  16       /* FIBER_LINK_SLOT_OFFSET in switch.h */

    .syntax unified
    .arm
    .fpu    vfp             /* VFPv2 is enough: vmrs/vmsr FPSCR, vpush/vpop d8-d15 */
    .cfi_sections .debug_frame

/*
 * void fiber_asm_init(void *top [r0], void (*entry)(void *) [r1], void *arg [r2])
 * Leaf routine: touches only r0-r3, r12 and memory below top.
 */
FIBER_FUNC_BEGIN(fiber_asm_init)
    .fnstart
    .cfi_startproc
    sub     r12, r0, #(LINK_SLOT + FRAME_SIZE)  /* F = top - 120, the fiber's initial sp */
    str     r12, [r0, #-LINK_SLOT]              /* link slot = F */
    vmrs    r3, fpscr                           /* the new fiber inherits our FP modes */
    str     r3, [r12, #64]                      /* FPSCR slot */
    str     r1, [r12, #68]                      /* r4 = entry */
    str     r2, [r12, #72]                      /* r5 = arg */
    adr     r3, .Lstart_body                    /* pc-relative: fine in a -fPIC object */
    str     r3, [r12, #100]                     /* lr = fiber_asm_start + 4 (ARM: bit 0 clear) */
    mov     r2, #0
    mov     r3, #0
    strd    r2, r3, [r12, #0]                   /* d8 .. */
    strd    r2, r3, [r12, #8]
    strd    r2, r3, [r12, #16]
    strd    r2, r3, [r12, #24]
    strd    r2, r3, [r12, #32]
    strd    r2, r3, [r12, #40]
    strd    r2, r3, [r12, #48]
    strd    r2, r3, [r12, #56]                  /* .. d15 */
    strd    r2, r3, [r12, #76]                  /* r6, r7 */
    strd    r2, r3, [r12, #84]                  /* r8, r9 */
    strd    r2, r3, [r12, #92]                  /* r10, r11 */
    str     r2, [r0, #-12]                      /* reserved words of the link area */
    strd    r2, r3, [r0, #-8]
    bx      lr
    .cfi_endproc
    .fnend
FIBER_FUNC_END(fiber_asm_init)

/*
 * int fiber_asm_switch(void *top [r0], int status [r1])      registers only
 * int fiber_asm_switch_fp(void *top [r0], int status [r1])   and FPSCR
 * Saves our frame, exchanges sp with the link slot, restores the other side's frame and
 * returns on the other side, whose pending switch call returns `status` (so C callers can
 * tail-call these routines). Both build the same frame: the plain one pushes whatever r3
 * holds into the FPSCR slot and ignores the other side's. A fiber is entered and left by
 * the same one of the two (fiber_posix.c picks it by the fiber's FIBER_OWN_FP_CONTROL flag),
 * so an FPSCR slot is read only after it was written. The unwind info stays true throughout: before the
 * exchange it describes our frame, after it the other side's, which has the same layout.
 */
.macro SWITCH_BODY with_fp
    .fnstart
    .cfi_startproc
.if \with_fp
    vmrs    r3, fpscr                           /* r3 keeps OUR FPSCR across the exchange */
.endif
    push    {r3-r11, lr}
    .save   {r4-r11, lr}                        /* r3's word is the FPSCR slot, not a */
    .pad    #4                                  /* saved register: unwinders skip it */
    .cfi_def_cfa_offset 40
    .cfi_offset r4, -36
    .cfi_offset r5, -32
    .cfi_offset r6, -28
    .cfi_offset r7, -24
    .cfi_offset r8, -20
    .cfi_offset r9, -16
    .cfi_offset r10, -12
    .cfi_offset r11, -8
    .cfi_offset lr, -4
    vpush   {d8-d15}
    .vsave  {d8-d15}
    .cfi_def_cfa_offset FRAME_SIZE
    .cfi_offset d8, -104
    .cfi_offset d9, -96
    .cfi_offset d10, -88
    .cfi_offset d11, -80
    .cfi_offset d12, -72
    .cfi_offset d13, -64
    .cfi_offset d14, -56
    .cfi_offset d15, -48

    /* The exchange: the slot gets our sp, sp gets the other side's. */
    ldr     r2, [r0, #-LINK_SLOT]
    str     sp, [r0, #-LINK_SLOT]
    mov     sp, r2

    vpop    {d8-d15}
    pop     {r2, r4-r11, lr}                    /* r2 = the incoming side's FPSCR */
.if \with_fp
    cmp     r2, r3
    vmsrne  fpscr, r2                           /* only when it differs: see header */
.endif
    mov     r0, r1                              /* the other side's call returns `status` */
    bx      lr
    .cfi_endproc
    .fnend
.endm

FIBER_FUNC_BEGIN(fiber_asm_switch)
    SWITCH_BODY with_fp=0
FIBER_FUNC_END(fiber_asm_switch)

FIBER_FUNC_BEGIN(fiber_asm_switch_fp)
    SWITCH_BODY with_fp=1
FIBER_FUNC_END(fiber_asm_switch_fp)

/*
 * fiber_asm_start: the base frame of every fiber. Entered at .Lstart_body (start + 4) by
 * the `bx lr` of the first fiber_asm_switch into the fiber, with sp = top - 16 (link slot at [sp]), r4 = entry,
 * r5 = arg. sp never moves in this routine: both unwind descriptions rely on it.
 *
 * EHABI (run time). The unwinder enters this frame with vsp = our sp = top - 16 and runs:
 *   0x82 0x00   pop {r13} under mask: loads the link slot into r13; popping r13 makes the
 *               loaded value the new vsp (EHABI 9.3; libgcc's _Unwind_VRS_Pop skips the
 *               vsp writeback when the mask holds r13). vsp = F, the resumer's frame.
 *   0xd7        vpop {d8-d15} (VPUSH format)      F+0..F+63,   vsp = F + 64
 *   0x00        vsp += 4: skip the FPSCR slot     F+64,        vsp = F + 68
 *   0xaf        pop {r4-r11, r14}                 F+68..F+103, vsp = F + 104
 *   (0xb0       finish: pc = the popped lr, the return into the resumer)
 * The result is the resumer's state right after its `bl fiber_asm_switch` returned, so the
 * unwinder continues in the resumer, wherever it is this time. Five opcode bytes do not fit
 * the compact pr0 format (3 bytes), so the assembler emits a long-format .ARM.extab entry
 * with __aeabi_unwind_cpp_pr1, which libgcc provides like pr0.
 *
 * DWARF (debuggers, .debug_frame):
 *   DW_CFA_def_cfa_expression (0x0f), length 5:
 *     DW_OP_breg13 (0x7d) SLEB 0     push sp + 0  (the address of the link slot)
 *     DW_OP_deref  (0x06)            load it      (the resumer's saved sp F)
 *     DW_OP_plus_uconst (0x23) 104 (0x68)         + FRAME_SIZE = the resumer's sp at its call
 *   and every saved register at its slot in the resumer's switch frame (CFA - 104 + offset).
 *   .cfi_signal_frame: see asm/macros.h ("fiber_asm_start is a signal frame").
 */
FIBER_FUNC_BEGIN(fiber_asm_start)
    .fnstart
    .cfi_startproc
    .cfi_signal_frame
    .cfi_escape 0x0f, 0x05, 0x7d, 0x00, 0x06, 0x23, 0x68
    .cfi_offset d8, -104
    .cfi_offset d9, -96
    .cfi_offset d10, -88
    .cfi_offset d11, -80
    .cfi_offset d12, -72
    .cfi_offset d13, -64
    .cfi_offset d14, -56
    .cfi_offset d15, -48
    .cfi_offset r4, -36
    .cfi_offset r5, -32
    .cfi_offset r6, -28
    .cfi_offset r7, -24
    .cfi_offset r8, -20
    .cfi_offset r9, -16
    .cfi_offset r10, -12
    .cfi_offset r11, -8
    .cfi_offset lr, -4
    .unwind_raw 0, 0x82, 0x00, 0xd7, 0x00, 0xaf
    /* Guard instruction, never executed: the first switch into a fiber "returns" to
     * .Lstart_body, and unwinders look up a return address minus one (gdb) or minus two
     * (libgcc). Without this word that lookup would land in the end of fiber_asm_switch
     * whenever a stack is walked while the fiber is parked at its very first instruction
     * (a breakpoint or profiler signal inside the first switch). It also traps a stray
     * call to fiber_asm_start from C. */
    udf     #0xf0
.Lstart_body:
    mov     r0, r5
    blx     r4                                  /* entry(arg); sp = top - 16, 8-aligned */
    /* entry must never return. If it does, trap here (SIGILL) rather than run off into
     * whatever follows. Being the instruction after the blx, it also keeps entry's return
     * address inside this routine's unwind range. Not 0xe7f001f0: that is the Linux/gdb
     * ARM breakpoint encoding. */
    udf     #0xf1
    .cfi_endproc
    .fnend
FIBER_FUNC_END(fiber_asm_start)

FIBER_NO_EXEC_STACK
