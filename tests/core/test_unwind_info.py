"""The unwind rule of each ABI's fiber_asm_start, read back from the built object.

A backtrace from inside a fiber crosses into its resumer only because fiber_asm_start's unwind
info computes the caller's frame from the link slot (a DWARF CFA expression; on arm32 EHABI
opcodes that pop r13 from the slot). The conformance suite checks that backtraces do cross;
this checks, per ABI, that the rule is really in the object, so that a regression names its
cause. Each ABI's object is what the build compiles: asm/switch.S, assembled by that target's
cross compiler, which also shows that switch.S picks the ABI's file by the compiler's target.

Compilers: each ABI's compiler of the harness's table (ci/targets.py), found on PATH or among
the tools the harness provides in its cache (bookworm has no loongarch64 cross compiler:
`python -m ci provision loongarch64-linux` makes a wrapper that runs trixie's in a chroot).
One can be replaced by setting FIBER_CC_<ABI> (a command, shell-split). The objects are read
with the target's own readelf when it is there (FIBER_READELF_<ABI> or <triple>-readelf; the
host's binutils cannot apply every target's relocations inside .eh_frame, loongarch64's among
them), else with the host's readelf.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
from dataclasses import dataclass

import pytest

from ci.targets import ABIS as TABLE
from ci.tools import find_tool
from fiber import _build

# Drives the host's cross compilers and readelf.
pytestmark = pytest.mark.native_only


@dataclass(frozen=True)
class Abi:
    name: str  # the arch of the ABI's row in ci/targets.py
    triple: str  # for <triple>-readelf
    asm_file: str  # the per-ABI file asm/switch.S must pick for this compiler
    sp: int  # DWARF number of the stack pointer,
    slot: int  # the link slot's offset from it while fiber_asm_start runs,
    frame: int  # and the switch frame's size: CFA = *(sp + slot) + frame
    ra: int  # DWARF number of the return-address column,
    ra_offset: str  # and where the resumer's return address lies from the CFA

    @property
    def cfa(self) -> str:
        """fiber_asm_start's CFA expression as readelf prints it (register names differ between
        binutils versions: `(sp)`, `(r3)`, `($sp)`)."""
        return (
            rf"DW_OP_breg{self.sp} \([^)]*\): {self.slot}; DW_OP_deref; "
            rf"DW_OP_plus_uconst: {self.frame}\)"
        )

    @property
    def ra_rule(self) -> str:
        return rf"^DW_CFA_offset\w*: r{self.ra}( \([^)]*\))? at cfa{re.escape(self.ra_offset)}$"


ABIS = [
    Abi(
        "x86_64",
        "x86_64-linux-gnu",
        "switch_x86_64_sysv_elf_gas.S",
        7,
        0,
        64,
        16,
        "-8",
    ),
    Abi(
        "i686",
        "i686-linux-gnu",
        "switch_i386_sysv_elf_gas.S",
        4,
        16,
        28,
        8,
        "-4",
    ),
    Abi(
        "aarch64",
        "aarch64-linux-gnu",
        "switch_arm64_aapcs_elf_gas.S",
        31,
        0,
        176,
        30,
        "-168",
    ),
    Abi(
        "armhf",
        "arm-linux-gnueabihf",
        "switch_arm_aapcs_elf_gas.S",
        13,
        0,
        104,
        14,
        "-4",
    ),
    Abi(
        "riscv64",
        "riscv64-linux-gnu",
        "switch_riscv64_lp64d_elf_gas.S",
        2,
        0,
        208,
        1,
        "-8",
    ),
    Abi(
        "s390x",
        "s390x-linux-gnu",
        "switch_s390x_sysv_elf_gas.S",
        15,
        160,
        232,
        14,
        "-48",
    ),
    Abi(
        "ppc64le",
        "powerpc64le-linux-gnu",
        "switch_ppc64le_elfv2_elf_gas.S",
        1,
        32,
        528,
        65,
        "+16",
    ),
    Abi(
        "loongarch64",
        "loongarch64-linux-gnu",
        "switch_loongarch64_lp64d_elf_gas.S",
        3,
        0,
        160,
        1,
        "-8",
    ),
]
BY_NAME = {a.name: a for a in ABIS}


def table_row(abi: Abi):
    """The ABI's row of the harness's table (ci/targets.py)."""
    return next(a for a in TABLE if a.arch == abi.name and a.os == "linux")


def compiler(abi: Abi) -> list[str]:
    """The compiler command for `abi`, or a skip that says how to get one."""
    override = os.environ.get(f"FIBER_CC_{abi.name.upper()}", "")
    if override:
        cmd = shlex.split(override)
        found = shutil.which(cmd[0])
    else:
        cc = table_row(abi).cc or "gcc"
        found = find_tool(cc)
        cmd = [found or cc]
    if not found:
        row = table_row(abi)
        pytest.skip(
            f"{cmd[0]} is not installed (python -m ci provision {row.name}, or set "
            f"FIBER_CC_{abi.name.upper()})"
        )
    return cmd


def readelf_for(abi: Abi) -> list[str]:
    env = os.environ.get(f"FIBER_READELF_{abi.name.upper()}", "")
    if env:
        return shlex.split(env)
    for cmd in (f"{abi.triple}-readelf", "readelf"):
        found = find_tool(cmd)
        if found:
            return [found]
    pytest.skip("readelf is not installed (Debian: binutils)")


def assemble(abi: Abi, tmp_path) -> str:
    """asm/switch.S assembled by the ABI's compiler, the way the build compiles it."""
    out = tmp_path / f"{abi.name}.o"
    _build.compile_object(
        _build.Toolchain(cc=tuple(compiler(abi)), arch=abi.name), _build.SWITCH_S, out
    )
    return str(out)


def frame_entries(abi: Abi, obj: str) -> list[str]:
    """readelf's --debug-dump=frames output, one string per CIE/FDE."""
    proc = subprocess.run(
        [*readelf_for(abi), "--debug-dump=frames", obj], check=True, capture_output=True, text=True
    )
    return [e for e in re.split(r"\n\s*\n", proc.stdout) if re.match(r"^[0-9a-f]+ ", e.strip())]


def start_fde(abi: Abi, obj: str) -> tuple[str, dict[str, str]]:
    """The one FDE with a CFA expression (fiber_asm_start's), and the CIEs by offset."""
    entries = frame_entries(abi, obj)
    cies = {e.split()[0]: e for e in entries if e.split()[3] == "CIE"}
    fdes = [e for e in entries if "DW_CFA_def_cfa_expression" in e]
    assert len(fdes) == 1, "\n\n".join(entries)  # fiber_asm_start's, and no other routine's
    return fdes[0], cies


def test_every_elf_file_in_asm_is_an_abi_here():
    """A new asm/*_elf_gas.S needs its row above, and every row names an existing file."""
    on_disk = {p.name for p in _build.ASM_DIR.glob("switch_*_elf_gas.S")}
    assert on_disk == {a.asm_file for a in ABIS}


def test_every_linux_abi_of_the_table_is_checked_here():
    """A new Linux ABI of ci/targets.py needs its expected unwind rule above."""
    assert {a.arch for a in TABLE if a.os == "linux"} == {a.name for a in ABIS}


@pytest.mark.parametrize("abi", ABIS, ids=[a.name for a in ABIS])
def test_switch_s_picks_the_abi_file_by_the_compilers_target(abi):
    cmd = compiler(abi)
    deps = subprocess.run(
        [*cmd, "-MM", f"-I{_build.ASM_DIR}", str(_build.SWITCH_S)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    picked = sorted(set(re.findall(r"switch_\w+_gas\.S", deps)))
    assert picked == [abi.asm_file], deps


def test_switch_s_names_the_supported_abis_for_any_other_target():
    """With no target macros at all (-undef), switch.S stops with a message, not an empty
    object that would fail at link time."""
    if not shutil.which("gcc"):
        pytest.skip("gcc is not installed")
    proc = subprocess.run(
        ["gcc", "-undef", "-E", f"-I{_build.ASM_DIR}", str(_build.SWITCH_S)],
        capture_output=True,
        text=True,
    )
    assert proc.returncode != 0
    assert "no stack-switch assembly for this target" in proc.stderr, proc.stderr
    for abi in ("riscv64 LP64D", "s390x", "ppc64le ELFv2", "loongarch64 LP64D", "macOS"):
        assert abi in proc.stderr, proc.stderr


@pytest.mark.parametrize("abi", ABIS, ids=[a.name for a in ABIS])
def test_start_has_a_cfa_expression_reading_the_link_slot(abi, tmp_path):
    fde, cies = start_fde(abi, assemble(abi, tmp_path))
    rule = next(ln for ln in fde.splitlines() if "DW_CFA_def_cfa_expression" in ln)
    assert re.search(abi.cfa, rule), rule
    # The resumer's return address comes from its switch frame, at a fixed offset from it.
    assert any(re.search(abi.ra_rule, ln.strip()) for ln in fde.splitlines()), fde
    cie = cies[re.search(r"cie=([0-9a-f]+)", fde).group(1)]
    augmentation = re.search(r'Augmentation:\s+"([^"]*)"', cie).group(1)
    assert "S" in augmentation, (
        f"fiber_asm_start is not marked a signal frame (asm/macros.h): {cie}"
    )


def test_arm32_start_unwinds_through_the_link_slot_at_run_time(tmp_path):
    abi = BY_NAME["armhf"]
    obj = assemble(abi, tmp_path)
    table = subprocess.run(
        [*readelf_for(abi), "-u", obj], check=True, capture_output=True, text=True
    ).stdout
    entry = table.split("<fiber_asm_start>", 1)[1].split("\n\n", 1)[0]
    ops = [ln.split(None, 1)[1] for ln in entry.splitlines() if ln.strip().startswith("0x")]
    # vsp <- the link slot (the resumer's saved sp), then the resumer's switch frame.
    assert ops[0].endswith("pop {r13}"), entry
    assert ops[1].endswith("pop {D8-D15}"), entry
    assert any(op.endswith("pop {r4, r5, r6, r7, r8, r9, r10, r11, r14}") for op in ops), entry
