"""The macOS (Mach-O) stack-switch objects, assembled and unwind-checked on Linux.

This machine cannot run macOS, so the Mach-O files are checked as far as the LLVM tools allow:
asm/switch.S is assembled by clang for arm64-apple-macos11 and x86_64-apple-macos10.15, the way
a macOS build compiles it, and the object is read back with llvm-nm, llvm-objdump and
llvm-dwarfdump. The routine bodies are the ELF files' (the Mach-O files include them), which the
C conformance cases run on Linux; what is checked here is what only Mach-O has: the symbol
spelling and visibility, that fiber_asm_start's unwind info says what the ELF objects say
(tests/core/test_unwind_info.py), and that Apple's compact unwind does not override it. Running
the suite on macOS is for hosted macOS runners.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass

import pytest

from fiber import _build

# Drives the host's clang and LLVM tools.
pytestmark = pytest.mark.native_only

ROUTINES = ("_fiber_asm_init", "_fiber_asm_switch", "_fiber_asm_switch_fp", "_fiber_asm_start")


@dataclass(frozen=True)
class MachO:
    name: str
    target: str  # clang -target
    asm_file: str  # what asm/switch.S must pick
    cfa: str  # fiber_asm_start's CFA expression, as llvm-dwarfdump prints it
    ra_rule: str  # the resumer's return address, as llvm-dwarfdump prints it
    dwarf_mode: int  # the compact-unwind mode that means "see the DWARF FDE"


TARGETS = [
    MachO(
        "arm64",
        "arm64-apple-macos11",
        "switch_arm64_aapcs_macho_gas.S",
        r"DW_OP_breg31 WSP\+0, DW_OP_deref, DW_OP_plus_uconst 0xb0$",
        r"DW_CFA_offset: W30 -168$",
        0x03000000,
    ),
    MachO(
        "x86_64",
        "x86_64-apple-macos10.15",
        "switch_x86_64_sysv_macho_gas.S",
        r"DW_OP_breg7 RSP\+0, DW_OP_deref, DW_OP_plus_uconst 0x40$",
        r"DW_CFA_offset: RIP -8$",
        0x04000000,
    ),
]
IDS = [t.name for t in TARGETS]
MODE_MASK = 0x0F000000


def tool(name: str) -> str:
    found = shutil.which(name)
    if not found:
        pytest.skip(
            f"{name} is not installed (Debian: clang and llvm); the Mach-O files can "
            "only be checked with LLVM's tools here"
        )
    return found


def run(*cmd: str) -> str:
    return subprocess.run(cmd, check=True, capture_output=True, text=True).stdout


@pytest.fixture(scope="module")
def objects(tmp_path_factory) -> dict[str, str]:
    """asm/switch.S assembled for each Apple target, by name."""
    clang = tool("clang")
    out = tmp_path_factory.mktemp("macho")
    objs = {}
    for t in TARGETS:
        obj = out / f"switch-{t.name}.o"
        subprocess.run(
            [
                clang,
                "-target",
                t.target,
                "-c",
                f"-I{_build.ASM_DIR}",
                str(_build.SWITCH_S),
                "-o",
                str(obj),
            ],
            check=True,
            capture_output=True,
            text=True,
        )
        objs[t.name] = str(obj)
    return objs


@pytest.mark.parametrize("t", TARGETS, ids=IDS)
def test_switch_s_picks_the_macho_file_for_the_apple_target(t):
    deps = run(
        tool("clang"), "-target", t.target, "-MM", f"-I{_build.ASM_DIR}", str(_build.SWITCH_S)
    )
    included = set(re.findall(r"switch_\w+_gas\.S", deps))
    assert t.asm_file in included, deps
    # ... and nothing of another architecture.
    arch = t.asm_file.split("_")[1]
    assert all(f.split("_")[1] == arch for f in included), deps


@pytest.mark.parametrize("t", TARGETS, ids=IDS)
def test_the_routines_are_private_externs_with_a_leading_underscore(t, objects):
    symbols = run(tool("llvm-nm"), "-m", objects[t.name])
    for name in ROUTINES:
        assert re.search(rf"\(__TEXT,__text\) private external {name}$", symbols, re.M), symbols
    # Nothing is exported from the image, and no ELF-only section came along.
    assert not re.search(r"\) external ", symbols), symbols
    sections = run(tool("llvm-objdump"), "-h", objects[t.name])
    assert "note" not in sections.lower(), sections


def eh_frame_entries(obj: str) -> list[str]:
    text = run(tool("llvm-dwarfdump"), "--eh-frame", obj)
    return [e for e in re.split(r"\n\s*\n", text) if re.match(r"^[0-9a-f]{8} ", e.strip())]


@pytest.mark.parametrize("t", TARGETS, ids=IDS)
def test_start_has_a_cfa_expression_reading_the_link_slot(t, objects):
    entries = eh_frame_entries(objects[t.name])
    fdes = [e for e in entries if "DW_CFA_def_cfa_expression" in e]
    assert len(fdes) == 1, "\n\n".join(entries)  # fiber_asm_start's, and no other routine's
    fde = fdes[0]
    rule = next(ln.strip() for ln in fde.splitlines() if "DW_CFA_def_cfa_expression" in ln)
    assert re.search(t.cfa, rule), rule
    assert any(re.search(t.ra_rule, ln.strip()) for ln in fde.splitlines()), fde
    cie_offset = re.search(r"FDE cie=([0-9a-f]+)", fde).group(1)
    cie = next(e for e in entries if e.strip().startswith(cie_offset) and " CIE" in e)
    augmentation = re.search(r'Augmentation:\s+"([^"]*)"', cie).group(1)
    assert "S" in augmentation, (
        f"fiber_asm_start is not marked a signal frame (asm/macros.h): {cie}"
    )


def compact_unwind(obj: str) -> dict[str, int]:
    """The object's __compact_unwind entries: routine -> encoding."""
    text = run(tool("llvm-objdump"), "--unwind-info", obj)
    entries = {}
    for m in re.finditer(
        r"start:\s+0x[0-9a-f]+ (\S+)\s+length:\s+0x[0-9a-f]+\s+"
        r"compact encoding:\s+0x([0-9a-f]+)",
        text,
    ):
        entries[m.group(1)] = int(m.group(2), 16)
    return entries


@pytest.mark.parametrize("t", TARGETS, ids=IDS)
def test_compact_unwind_leaves_start_to_its_dwarf_fde(t, objects):
    """Apple's unwinder tries compact unwind first. Its encodings cannot express start's CFA
    expression: start's entry must say 'DWARF mode' (or be absent, in which case the linker
    derives __unwind_info from __eh_frame, where the expression is), never a frame layout."""
    entries = compact_unwind(objects[t.name])
    if "_fiber_asm_start" in entries:
        mode = entries["_fiber_asm_start"] & MODE_MASK
        assert mode == t.dwarf_mode, f"{entries['_fiber_asm_start']:#010x}"
    else:
        assert not entries or t.name == "x86_64", entries
    if t.name == "arm64":
        # clang emits the arm64 table: start and both switches (whose CFI is exact on every
        # instruction, while a compact encoding only describes the body) are in DWARF mode.
        for name in ("_fiber_asm_start", "_fiber_asm_switch", "_fiber_asm_switch_fp"):
            assert entries[name] & MODE_MASK == t.dwarf_mode, entries


def test_arm64_never_touches_x18(objects):
    """Apple reserves x18 for the platform: no instruction may read or write it."""
    disassembly = run(tool("llvm-objdump"), "-d", "--no-show-raw-insn", objects["arm64"])
    insns = [ln for ln in disassembly.splitlines() if re.match(r"^\s+[0-9a-f]+:", ln)]
    assert len(insns) > 40, disassembly
    assert not [ln for ln in insns if re.search(r"\b[xw]18\b", ln)], disassembly
