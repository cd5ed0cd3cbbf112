/*
 * Shared assembler macros for the per-ABI switch files in asm/.
 *
 * Each switch file includes this header (it is preprocessed: the files end in .S) so that
 * the routine bodies read as plain assembly. The macros hide the ELF bookkeeping that every
 * routine needs and that is easy to get wrong by hand:
 *
 *   FIBER_FUNC_BEGIN(name)  global, hidden (not exported from the shared object), typed as a
 *                           function (on arm32 that is what makes the linker emit BLX from
 *                           Thumb-2 callers), aligned, and labelled.
 *   FIBER_FUNC_END(name)    records the symbol size, so debuggers and perf see its extent.
 *   FIBER_NO_EXEC_STACK     the .note.GNU-stack section: without it the linker would mark the
 *                           whole shared object as needing an executable stack.
 *
 * `%function` rather than `@function` because `@` starts a comment in ARM assembly and `%`
 * is accepted by every GNU assembler backend we target.
 */
#ifndef FIBER_ASM_MACROS_H
#define FIBER_ASM_MACROS_H

#if defined(__arm__)
#define FIBER_FUNC_ALIGN .p2align 2
#else
#define FIBER_FUNC_ALIGN .p2align 4
#endif

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

#endif /* FIBER_ASM_MACROS_H */
