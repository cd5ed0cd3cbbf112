"""The instruction-count bench reads each routine whole: every ABI of the table, asm/switch.S
assembled by that ABI's compiler, local branch targets inside a routine skipped."""

from __future__ import annotations

from pathlib import Path

from ci import targets
from ci.bench import insns

# objdump -d of riscv64's fiber_asm_switch_fp, shortened: the branch target inside the routine
# is a local symbol (.L1^B1) and gets its own label line.
RISCV_LISTING = """
0000000000000180 <fiber_asm_switch_fp>:
 180:\tadd\tsp,sp,-208
 184:\tfrrm\tt2
 188:\tld\tt1,184(sp)
 18c:\tbeq\tt1,t2,194 <.L1^B1>
 190:\tfsrm\tt1

0000000000000194 <.L1^B1>:
 194:\tld\tra,200(sp)
 198:\tadd\tsp,sp,208
 19c:\tret
 1a0:\tnop
 1a4:\tnop

00000000000001a8 <fiber_asm_start>:
 1a8:\tunimp
"""


def test_a_local_label_inside_a_routine_does_not_cut_it_short():
    by_range = insns.routine(RISCV_LISTING, "fiber_asm_switch_fp", (0x180, 0x1A0 - 0x180))
    by_labels = insns.routine(RISCV_LISTING, "fiber_asm_switch_fp")
    assert by_range == by_labels
    assert by_range[0].startswith("add") and by_range[-1] == "ret"
    assert len(by_range) == 8  # trailing padding nops dropped, nothing of fiber_asm_start
    assert insns._executed(by_range) == 7  # the beq that skips fsrm is taken


def test_conditional_branches_of_every_abi_are_recognised():
    for text in ("beq\tt1,t2,194", "bne\t$t0,$t1,20", "je     1f", "b.eq\t1f", "cbz\tx0, 1f"):
        assert insns._COND_BRANCH.match(text.replace("\t", " ") + " "), text
    for text in ("jmp    *%r8", "j 1f", "jg 1f", "bl foo", "blr", "ret"):
        assert not insns._COND_BRANCH.match(text + " "), text


def test_every_linux_abi_of_the_table_is_counted(monkeypatch):
    seen: list[str] = []

    def count(abi, work: Path):
        seen.append(abi.name)
        return insns.Count(abi.arch, None, None, None, None, None, "")

    monkeypatch.setattr(insns, "count", count)
    insns.count_all()
    assert seen == [a.name for a in targets.ABIS if a.os == "linux"]


def test_the_abis_compiler_and_objdump_come_from_the_table():
    cc, objdump = insns.tools_of(targets.abi("riscv64-linux"))
    assert cc.endswith("riscv64-linux-gnu-gcc") and objdump.endswith("riscv64-linux-gnu-objdump")
    cc, objdump = insns.tools_of(targets.abi("x86_64-linux"))
    assert cc.endswith("gcc") and objdump.endswith("objdump")
