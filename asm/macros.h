/*
 * Shared assembler macros for the per-ABI switch files in asm/.
 *
 * Each switch file includes this header (it is preprocessed: the files end in .S) so that
 * the routine bodies read as plain assembly. The macros hide the object-format bookkeeping
 * that every routine needs and that is easy to get wrong by hand, and they are what lets one
 * routine body assemble both as ELF (Linux) and as Mach-O (macOS):
 *
 *   FIBER_FUNC_BEGIN(name)  global, hidden (not exported from the shared object), typed as a
 *                           function (on arm32 that is what makes the linker emit BLX from
 *                           Thumb-2 callers), aligned, and labelled.
 *   FIBER_FUNC_END(name)    records the symbol size, so debuggers and perf see its extent.
 *   FIBER_SYM(name)         the assembler-level name of a C symbol, for references from
 *                           inside a routine (`leaq FIBER_SYM(fiber_asm_start)(%rip)`).
 *   FIBER_LOCAL(name)       an assembler-local label: not in the symbol table, so debuggers
 *                           and backtrace_symbols() name the routine it lies in, not the label.
 *   FIBER_NO_EXEC_STACK     the .note.GNU-stack section: without it the linker would mark the
 *                           whole shared object as needing an executable stack.
 *
 * ELF vs Mach-O:
 *   - Mach-O C symbols carry a leading underscore; ELF ones do not.
 *   - ELF hides a symbol with .hidden, Mach-O with .private_extern (same meaning: global in
 *     the object, not exported from the linked image). Mach-O has no .type or .size, and no
 *     .note.GNU-stack (macOS stacks are never executable).
 *   - Local labels are `.L...` on ELF and `L...` on Mach-O.
 *   - The one-line macros below hold several statements; the separator is `;` everywhere
 *     except in Apple's arm64 assembler dialect, where `;` starts a comment and `%%`
 *     separates statements.
 *
 * fiber_asm_start is a signal frame (`.cfi_signal_frame`, CIE augmentation "S"), on every ABI:
 *   its CFA jumps from the fiber's stack to the resumer's, which may lie above or below it
 *   (mmap places fiber stacks anywhere; under qemu-user they sit above the main stack). gdb
 *   refuses a normal frame whose CFA is lower than its callee's and stops with "previous frame
 *   inner to this frame (corrupt stack?)"; a signal frame is exempt from that check, as
 *   handlers on a sigaltstack must be, so gdb walks on into the resumer and prints the boundary
 *   as "<signal handler called>". The only other effect, in gdb and libgcc's unwinder alike,
 *   is that the resumer's return address is looked up as it is rather than minus one: it is
 *   the instruction after the resumer's call of the switch, which lies inside the resumer (the
 *   call returns, so code always follows it), so the lookup finds the right function and CFI
 *   row. tests/core/test_unwind_info.py checks the mark on every ABI.
 *
 * `%function` rather than `@function` because `@` starts a comment in ARM assembly and `%`
 * is accepted by every GNU assembler backend we target.
 */
#ifndef FIBER_ASM_MACROS_H
#define FIBER_ASM_MACROS_H

#if defined(__APPLE__) && defined(__MACH__)
#define FIBER_MACHO 1
#define FIBER_ELF 0
#else
#define FIBER_MACHO 0
#define FIBER_ELF 1
#endif

#if FIBER_MACHO && defined(__aarch64__)
#define FIBER_SEP %%
#else
#define FIBER_SEP ;
#endif

#if FIBER_MACHO
#define FIBER_SYM(name) _##name
#define FIBER_LOCAL(name) L##name
#else
#define FIBER_SYM(name) name
#define FIBER_LOCAL(name) .L##name
#endif

#if defined(__arm__)
#define FIBER_FUNC_ALIGN .p2align 2
#else
#define FIBER_FUNC_ALIGN .p2align 4
#endif

#if FIBER_MACHO

#define FIBER_FUNC_BEGIN(name)              \
    .text FIBER_SEP                         \
    .globl FIBER_SYM(name) FIBER_SEP        \
    .private_extern FIBER_SYM(name) FIBER_SEP \
    FIBER_FUNC_ALIGN FIBER_SEP              \
FIBER_SYM(name):

#define FIBER_FUNC_END(name)
#define FIBER_NO_EXEC_STACK

#else /* ELF */

#define FIBER_FUNC_BEGIN(name)      \
    .text;                          \
    .globl name;                    \
    .hidden name;                   \
    .type name, %function;          \
    FIBER_FUNC_ALIGN;               \
name:

#define FIBER_FUNC_END(name)        \
    .size name, . - name

#define FIBER_NO_EXEC_STACK         \
    .section .note.GNU-stack, "", %progbits

#endif

#endif /* FIBER_ASM_MACROS_H */
