/*
 * Stack switching for x86_64, System V ABI, Mach-O (macOS), clang's integrated assembler.
 *
 * !!! KEEP IN SYNC !!!
 * The routines are those of switch_x86_64_sysv_elf_gas.S, assembled here as Mach-O: macOS on
 * x86_64 uses the System V AMD64 ABI (Apple's "x86-64 function calling conventions" change
 * nothing that matters to a stack switch), so the callee-saved set (rbx, rbp, r12-r15, the
 * MXCSR and x87 control bits), the 16-byte call alignment and the 128-byte red zone the switch
 * keeps its FP slot in are the same. One body, assembled for both formats, means the code that
 * the Linux conformance cases prove is the code that runs on macOS. Change the frame there and
 * this file's diagram below, together.
 *
 * What differs is bookkeeping, handled by asm/macros.h: C symbols carry a leading underscore
 * (`_fiber_asm_switch`), `.private_extern` instead of `.hidden`, no `.type`/`.size`, no
 * `.note.GNU-stack`, local labels `L...` instead of `.L...`.
 *
 * Switch frame (64 bytes; `sp` = the frame base that goes into the link slot):
 *
 *       sp + 64  caller's stack pointer after the switch returns (= CFA of the switch)
 *       sp + 56  return address          pushed by the `call _fiber_asm_switch`
 *       sp + 48  rbp
 *       sp + 40  rbx
 *       sp + 32  r12
 *       sp + 24  r13
 *       sp + 16  r14
 *       sp +  8  r15
 *       sp +  4  x87 control word (2 bytes; bytes 6-7 padding)    fiber_asm_switch_fp only
 *       sp +  0  MXCSR (4 bytes)                                   fiber_asm_switch_fp only
 *
 * Initial frame (fiber_asm_init), the link area at the top (fiber/core/switch.h):
 *
 *       top -  8  reserved (zero)
 *       top - 16  link slot = top - 80        <- rsp while fiber_asm_start runs
 *       top - 24  return address = _fiber_asm_start
 *       top - 32  rbp = 0 / top - 40 rbx = entry / top - 48 r12 = arg / r13-r15 = 0
 *       top - 80  MXCSR, x87 CW of the creator
 *
 * Unwinding on macOS
 * ------------------
 * fiber_asm_start's CFA is computed by a DWARF expression (CFA = *(rsp + 0) + 64: the
 * resumer's frame, reached through the link slot), which Apple's compact unwind encoding
 * cannot express. The assembler therefore marks the routine's compact-unwind entry as "use
 * DWARF" and keeps its FDE in __eh_frame; libunwind (backtrace(), C++ exceptions, lldb's
 * fallback) evaluates DW_CFA_def_cfa_expression there. tests/core/test_macho_asm.py assembles this
 * file with clang for x86_64-apple-macos and checks both facts with the LLVM tools.
 */

#include "switch_x86_64_sysv_elf_gas.S"
