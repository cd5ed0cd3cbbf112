"""Instructions per stack switch on every ABI: ours against Boost.Context's jump_fcontext.

Ours: each target's assembly file is assembled with that target's cross compiler (through
fiber._build.compile_native, ``-c``) and both switch routines are disassembled with objdump:
fiber_asm_switch (the default: registers only) and fiber_asm_switch_fp (a fiber created with
FIBER_OWN_FP_CONTROL: also the FP control state, as jump_fcontext does on x86). They are
straight-line except where the second skips writing an unchanged FP control register, so a
count is reported as "executed" (common case) and "static" (all of it).

Boost.Context: on the host, jump_fcontext is disassembled from the installed
libboost_context.so. For foreign ABIs the Debian packages of those architectures are not
installable here (no foreign dpkg architecture is configured), so their counts are taken from
Boost.Context's assembly sources for the same ABI (the transfer_t "v2" routines, in use since
Boost 1.61) and marked as such.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from fiber._build import ASM_DIR, ASM_FILES, Toolchain, compile_native, host_arch

# arch -> (cross compiler, objdump)
TOOLS = {
    "x86_64": ("x86_64-linux-gnu-gcc", "x86_64-linux-gnu-objdump"),
    "i686": ("i686-linux-gnu-gcc", "i686-linux-gnu-objdump"),
    "aarch64": ("aarch64-linux-gnu-gcc", "aarch64-linux-gnu-objdump"),
    "armhf": ("arm-linux-gnueabihf-gcc", "arm-linux-gnueabihf-objdump"),
}

# Boost.Context jump_fcontext, counted from its sources (boostorg/context src/asm/
# jump_<abi>_elf_gas.S, transfer_t API): what each one saves, for the note column.
BOOST_FROM_SOURCE = {
    "x86_64": (24, "6 GPRs by mov, MXCSR + x87 CW; ends in jmp *%r8"),
    "i686": (22, "4 GPRs by mov, MXCSR + x87 CW, transfer_t by hidden pointer; ret $4"),
    "aarch64": (28, "x19-x30 and d8-d15 by stp/ldp; no FPCR; ends in ret x4"),
    "armhf": (13, "push/pop r4-r11, lr, vstmia/vldmia d8-d15; no FPSCR; ends in pop {pc}"),
}

BOOST_LIB = Path("/usr/lib/x86_64-linux-gnu/libboost_context.so.1.74.0")

_INSN = re.compile(r"^\s*[0-9a-f]+:\s+(\S.*)$")
_COND_BRANCH = re.compile(r"^(b\.\w+|b(eq|ne|cs|cc|hi|ls|ge|lt|gt|le|mi|pl)\b|j(?!mp)\w+|cb?n?z)\s")


@dataclass
class Count:
    arch: str
    ours_executed: int | None  # fiber_asm_switch
    ours_static: int | None
    ours_fp_executed: int | None  # fiber_asm_switch_fp
    ours_fp_static: int | None
    boost: int | None
    boost_source: str
    note: str = ""


def _disassemble(objdump: str, path: Path, symbol: str) -> list[str]:
    out = subprocess.run(
        [objdump, "-d", "--no-show-raw-insn", f"--disassemble={symbol}", str(path)],
        check=True,
        text=True,
        stdout=subprocess.PIPE,
    ).stdout
    lines, inside = [], False
    for line in out.splitlines():
        if re.match(rf"^[0-9a-f]+ <{re.escape(symbol)}(@@\S+)?>:", line):
            inside = True
            continue
        if inside:
            m = _INSN.match(line)
            if not m:
                if lines:
                    break
                continue
            lines.append(m.group(1).split("//")[0].split("@")[0].strip())
    while lines and lines[-1].startswith(("nop", "xchg   %ax,%ax")):
        lines.pop()
    return lines


def _executed(insns: list[str]) -> int:
    """Instructions run in the common case: a forward conditional branch that skips a write of
    an unchanged FP control register is taken (it skips one instruction)."""
    skipped = sum(1 for text in insns if _COND_BRANCH.match(text + " "))
    return len(insns) - skipped


def count(arch: str, work: Path) -> Count:
    cc, objdump = TOOLS[arch]
    if arch == host_arch():
        cc, objdump = "gcc", "objdump"
    note = ""
    ours: dict[str, tuple[int, int] | tuple[None, None]] = {
        "fiber_asm_switch": (None, None),
        "fiber_asm_switch_fp": (None, None),
    }
    if shutil.which(cc) and shutil.which(objdump):
        obj = work / f"switch_{arch}.o"
        compile_native(
            Toolchain(cc=(cc,), arch=arch), [ASM_DIR / ASM_FILES[arch]], obj, extra_flags=("-c",)
        )
        for routine in ours:
            insns = _disassemble(objdump, obj, routine)
            ours[routine] = (_executed(insns), len(insns))
    else:
        note = f"{cc} or {objdump} missing"
    boost, source = BOOST_FROM_SOURCE[arch][0], "Boost.Context source (not measured)"
    if arch == host_arch() and BOOST_LIB.exists():
        insns = _disassemble("objdump", BOOST_LIB, "jump_fcontext")
        if insns:
            boost, source = len(insns), f"objdump of {BOOST_LIB.name}"
    return Count(
        arch,
        *ours["fiber_asm_switch"],
        *ours["fiber_asm_switch_fp"],
        boost,
        f"{source}: {BOOST_FROM_SOURCE[arch][1]}",
        note,
    )


def count_all() -> list[Count]:
    with tempfile.TemporaryDirectory(prefix="fiber-insns-") as tmp:
        return [count(arch, Path(tmp)) for arch in TOOLS]


if __name__ == "__main__":
    for c in count_all():
        print(c)
