"""Instructions per stack switch on every ABI: ours against Boost.Context's jump_fcontext.

Ours: for every Linux ABI of the harness's table (ci/targets.py), asm/switch.S (what the build
compiles: it picks the ABI's file by the compiler's target) is assembled with that ABI's
compiler (through fiber._build.compile_object; the harness's own tools in its cache
count, loongarch64's compiler among them) and both switch routines are read back with that
ABI's objdump: fiber_asm_switch (the default: registers only) and fiber_asm_switch_fp (a fiber
created with FIBER_OWN_FP_CONTROL: also the FP control state, as jump_fcontext does on x86).
A routine is every instruction from its symbol's address to its end (the symbol's size): the
local branch targets that riscv64 and loongarch64 keep as symbols inside a routine do not cut
it short. They are straight-line except where the second skips writing an unchanged FP control
register, so a count is reported as "executed" (common case) and "static" (all of it).

Boost.Context: on the host, jump_fcontext is disassembled from the installed
libboost_context.so. For foreign ABIs the Debian packages of those architectures are not
installable here (no foreign dpkg architecture is configured), so the four ABIs below are taken
from Boost.Context's assembly sources for the same ABI (the transfer_t "v2" routines, in use
since Boost 1.61) and marked as such; the other ABIs have no Boost figure.
"""

from __future__ import annotations

import re
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ci.targets import ABIS, Abi
from ci.tools import find_tool
from fiber._build import SWITCH_S, Toolchain, compile_object, host_arch

# Boost.Context jump_fcontext, counted from its sources (boostorg/context src/asm/
# jump_<abi>_elf_gas.S, transfer_t API): what each one saves, for the note column.
BOOST_FROM_SOURCE = {
    "x86_64": (24, "6 GPRs by mov, MXCSR + x87 CW; ends in jmp *%r8"),
    "i686": (22, "4 GPRs by mov, MXCSR + x87 CW, transfer_t by hidden pointer; ret $4"),
    "aarch64": (28, "x19-x30 and d8-d15 by stp/ldp; no FPCR; ends in ret x4"),
    "armhf": (13, "push/pop r4-r11, lr, vstmia/vldmia d8-d15; no FPSCR; ends in pop {pc}"),
}

BOOST_LIB = Path("/usr/lib/x86_64-linux-gnu/libboost_context.so.1.74.0")

_INSN = re.compile(r"^\s*([0-9a-f]+):\s+(\S.*)$")
_SYMBOL = re.compile(r"^([0-9a-f]+)\s.*\sF\s+\S+\s+([0-9a-f]+)\s+(?:\.hidden\s+)?(\S+)$")
_COND_BRANCH = re.compile(
    r"^(b\.\w+|b(eq|ne|cs|cc|hi|ls|ge|lt|gt|le|mi|pl|geu|ltu)z?\b|j(?!mp|g\b)\w+|cb?n?z)\s"
)


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


def _symbols(objdump: str, path: Path) -> dict[str, tuple[int, int]]:
    """{function symbol: (address, size)} from objdump -t."""
    out = subprocess.run(
        [objdump, "-t", str(path)], check=True, text=True, stdout=subprocess.PIPE
    ).stdout
    found = {}
    for line in out.splitlines():
        m = _SYMBOL.match(line.strip())
        if m:
            found[m.group(3).split("@")[0]] = (int(m.group(1), 16), int(m.group(2), 16))
    return found


def disassemble(objdump: str, path: Path, symbol: str) -> list[str]:
    """The instructions of `symbol`, from its address to its end (its symbol's size), local
    labels inside it skipped; trailing padding nops dropped."""
    where = _symbols(objdump, path).get(symbol)
    out = subprocess.run(
        [objdump, "-d", "--no-show-raw-insn", str(path)],
        check=True,
        text=True,
        stdout=subprocess.PIPE,
    ).stdout
    return routine(out, symbol, where)


def routine(listing: str, symbol: str, where: tuple[int, int] | None = None) -> list[str]:
    """`symbol`'s instructions in an objdump -d listing. With `where` (address, size) the
    range decides; without (a symbol of unknown size), the listing from the symbol's label to
    the next label that is not a local one (.L...)."""
    lines: list[str] = []
    inside = False
    for line in listing.splitlines():
        label = re.match(r"^([0-9a-f]+) <([^>]+)>:", line)
        if label:
            name = label.group(2).split("@")[0]
            if name == symbol:
                inside = True
            elif inside and where is None and not name.startswith((".L", "L0")):
                break
            continue
        m = _INSN.match(line)
        if not m:
            continue
        addr = int(m.group(1), 16)
        if where is not None:
            if not where[0] <= addr < where[0] + where[1]:
                continue
        elif not inside:
            continue
        lines.append(m.group(2).split("//")[0].split("#")[0].split("@")[0].strip())
    while lines and lines[-1].startswith(("nop", "xchg   %ax,%ax", "xchg %ax,%ax")):
        lines.pop()
    return lines


def _executed(insns: list[str]) -> int:
    """Instructions run in the common case: a forward conditional branch that skips a write of
    an unchanged FP control register is taken (it skips one instruction)."""
    skipped = sum(1 for text in insns if _COND_BRANCH.match(text + " "))
    return len(insns) - skipped


def tools_of(abi: Abi) -> tuple[str, str]:
    """The ABI's compiler and objdump, by full path where found."""
    cc = abi.cc or "gcc"
    return find_tool(cc) or cc, find_tool(abi.objdump) or abi.objdump


def count(abi: Abi, work: Path) -> Count:
    cc, objdump = tools_of(abi)
    note = ""
    ours: dict[str, tuple[int, int] | tuple[None, None]] = {
        "fiber_asm_switch": (None, None),
        "fiber_asm_switch_fp": (None, None),
    }
    if find_tool(cc) and find_tool(objdump):
        obj = work / f"switch_{abi.arch}.o"
        compile_object(Toolchain(cc=(cc,), arch=abi.arch), SWITCH_S, obj)
        for name in ours:
            insns = disassemble(objdump, obj, name)
            ours[name] = (_executed(insns), len(insns))
    else:
        note = (
            f"{Path(cc).name} or {Path(objdump).name} missing (python -m ci provision {abi.name})"
        )
    boost, source = BOOST_FROM_SOURCE.get(abi.arch, (None, ""))
    source = "Boost.Context source (not measured)" if boost else "not counted here"
    if abi.arch == host_arch() and BOOST_LIB.exists():
        insns = disassemble("objdump", BOOST_LIB, "jump_fcontext")
        if insns:
            boost, source = len(insns), f"objdump of {BOOST_LIB.name}"
    what = BOOST_FROM_SOURCE.get(abi.arch, (0, ""))[1]
    return Count(
        abi.arch,
        *ours["fiber_asm_switch"],
        *ours["fiber_asm_switch_fp"],
        boost,
        f"{source}: {what}" if what else source,
        note,
    )


def count_all() -> list[Count]:
    with tempfile.TemporaryDirectory(prefix="fiber-insns-") as tmp:
        return [count(abi, Path(tmp)) for abi in ABIS if abi.os == "linux"]


if __name__ == "__main__":
    for c in count_all():
        print(c)
