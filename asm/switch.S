/*
 * The stack-switch routines (fiber/core/switch.h) for whatever target the compiler builds for.
 *
 * This is the one assembly file the build compiles (fiber/_build.py, core_sources()). It picks
 * the per-ABI file by the compiler's own predefined macros, so the choice follows the target
 * of the compiler that runs (a cross compiler, `-m32`, a `-target` of clang, a universal
 * macOS build compiled once per slice) and never the machine the build happens to run on.
 * Each per-ABI file is named after Boost.Context's scheme: arch_abi_format_assembler.S.
 *
 * Adding an ABI: a new per-ABI file and one branch here (plus its conformance branches in
 * tests/core/c/conformance.c); nothing in the build changes.
 */

#if defined(__APPLE__) && defined(__MACH__)

#if defined(__x86_64__)
#include "switch_x86_64_sysv_macho_gas.S"
#elif defined(__aarch64__) && !defined(__ILP32__)
#include "switch_arm64_aapcs_macho_gas.S"
#else
#error "fiber: no stack-switch assembly for this Apple target; supported: macOS x86_64 and arm64"
#endif

#elif defined(_WIN32)

#error "fiber: Windows switches with native fibers (fiber/core/fiber_windows.c), not switch.S"

#elif defined(__x86_64__) && !defined(__ILP32__)
#include "switch_x86_64_sysv_elf_gas.S"

#elif defined(__i386__)
#include "switch_i386_sysv_elf_gas.S"

#elif defined(__aarch64__) && !defined(__ILP32__)
#include "switch_arm64_aapcs_elf_gas.S"

#elif defined(__arm__) && defined(__ARM_PCS_VFP)
#include "switch_arm_aapcs_elf_gas.S"

#elif defined(__riscv) && __riscv_xlen == 64 && defined(__riscv_float_abi_double)
#include "switch_riscv64_lp64d_elf_gas.S"

#elif defined(__s390x__)
#include "switch_s390x_sysv_elf_gas.S"

#elif defined(__powerpc64__) && defined(_CALL_ELF) && _CALL_ELF == 2 && \
    defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#include "switch_ppc64le_elfv2_elf_gas.S"

#elif defined(__loongarch64) && defined(__loongarch_double_float)
#include "switch_loongarch64_lp64d_elf_gas.S"

#else
/* Everything else, near misses included (x32, armel soft-float, riscv64 lp64/lp64f, big-endian
   or ELFv1 ppc64, loongarch64 soft-float): say what is supported and how to add an ABI. */
#error "fiber: no stack-switch assembly for this target. Supported on ELF: x86_64 SysV (not"
#error "x32), i686 SysV, aarch64 LP64, arm32 hard-float (AAPCS-VFP), riscv64 LP64D, s390x,"
#error "ppc64le ELFv2, loongarch64 LP64D; and macOS x86_64 and arm64. A new ABI is a new"
#error "asm/switch_<arch>_<abi>_<format>_gas.S and one #elif in asm/switch.S."
#endif
