/*
 * Stack switching for arm64 on macOS: Apple's AArch64 ABI, Mach-O, clang's integrated assembler.
 *
 * !!! KEEP IN SYNC !!!
 * The routines are those of switch_arm64_aapcs_elf_gas.S, assembled here as Mach-O. Apple's
 * arm64 ABI ("Writing ARM64 code for Apple platforms") is AAPCS64 with differences, and none
 * of them touches what a stack switch saves:
 *  - x19-x28, x29 (frame pointer, which Apple requires to form a valid frame chain), x30, sp
 *    and the low 64 bits of v8-v15 are callee-saved, as in AAPCS64. The ELF file saves exactly
 *    these, with x29/x30 as a standard frame record at the frame's base.
 *  - x18 is reserved by the platform and must never be touched: the routines use only x0-x2,
 *    x9-x11 as scratch, never x18 (nor x16/x17, which the linker's veneers may clobber).
 *  - sp stays 16-byte aligned at all times (the frame is 176 bytes), and the routines keep
 *    nothing below sp (the 128-byte red zone is not needed).
 *  - FPCR holds the rounding mode and the FZ/DN bits on Apple silicon too; FPSR the flags.
 *  - No BTI landing pads and no GNU property note: both are ELF features (the ELF file emits
 *    them only for a BTI-enabled ELF build). Plain arm64 (not arm64e): x30 is never signed.
 * One body, assembled for both formats, means the code the Linux conformance cases prove under
 * QEMU is the code that runs on macOS. Change the frame there and this diagram, together.
 *
 * What differs is bookkeeping, handled by asm/macros.h: symbols carry a leading underscore,
 * `.private_extern` instead of `.hidden`, no `.type`/`.size`/`.note.GNU-stack`, local labels
 * `L...`, and `%%` as the statement separator inside macros (in Apple's arm64 dialect `;`
 * starts a comment).
 *
 * Switch frame (FRAME_SIZE = 176), offsets from the saved sp (the value in the link slot):
 *     +168  padding             +160  FPCR (fiber_asm_switch_fp only)
 *     +96..+159  d8-d15         +16..+95  x19-x28
 *     +8    x30 (return address into the side that called the switch)
 *     +0    x29                 CFA of the switch = saved sp + 176
 *
 * Initial frame (fiber_asm_init), at top - 192, below the link area (fiber/core/switch.h):
 *       top - 8    reserved = 0
 *       top - 16   link slot = top - 192      <- sp while fiber_asm_start runs
 *       top - 32   FPCR of the creator        (+160)
 *       ...        d8-d15 = 0, x21-x28 = 0
 *       top - 168  x20 = arg, top - 176 x19 = entry
 *       top - 184  x30 = Lstart_body (fiber_asm_start + 4)
 *       top - 192  x29 = 0 (ends frame-pointer chains)
 *
 * Unwinding on macOS: fiber_asm_start's CFA is a DWARF expression (CFA = *(sp + 0) + 176, the
 * resumer's frame through the link slot), which compact unwind cannot express, so its
 * compact-unwind entry says "use DWARF" and libunwind evaluates the FDE in __eh_frame.
 * tests/core/test_macho_asm.py assembles this file with clang for arm64-apple-macos and checks it.
 */

#include "switch_arm64_aapcs_elf_gas.S"
