"""The unwind rule of each ABI's fiber_asm_start, read back from the built object.

A backtrace from inside a fiber crosses into its resumer only because fiber_asm_start's unwind
info computes the caller's frame from the link slot (a DWARF CFA expression; on arm32 EHABI
opcodes that pop r13 from the slot). The conformance suite checks that backtraces do cross;
this checks, per ABI, that the rule is really in the object, so that a regression names its
cause. Built with each Linux target's compiler (ci/targets.py) on the host.
"""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from ci.targets import TARGETS
from fiber import _build

# Drives the host's cross compilers and readelf.
pytestmark = pytest.mark.native_only

# The compiler of each Linux target's ABI, from the target table.
COMPILERS = {t.arch: t.toolchain().cc for t in TARGETS if t.os == "linux"}


def assemble(arch: str, tmp_path) -> str:
    cc = COMPILERS[arch]
    if not shutil.which(cc[0]) or not shutil.which("readelf"):
        pytest.skip(f"{cc[0]} or readelf is not installed (python -m ci provision installs them)")
    out = tmp_path / f"{arch}.o"
    source = _build.ASM_DIR / _build.ASM_FILES[arch]
    subprocess.run([*cc, "-c", f"-I{_build.ASM_DIR}", str(source), "-o", str(out)], check=True)
    return str(out)


def readelf(*args: str) -> str:
    return subprocess.run(["readelf", *args], check=True, capture_output=True, text=True).stdout


# The form of each ABI's rule: CFA = *(sp + link slot offset) + the resumer's switch frame.
EXPRESSIONS = {
    "x86_64": r"DW_OP_breg7 \(rsp\): 0; DW_OP_deref; DW_OP_plus_uconst: 64",
    "i686": r"DW_OP_breg4 \(esp\): 16; DW_OP_deref; DW_OP_plus_uconst: 28",
    "aarch64": r"DW_OP_breg31 \(sp\): 0; DW_OP_deref; DW_OP_plus_uconst: 176",
    "armhf": r"DW_OP_breg13 \(r13\): 0; DW_OP_deref",
}


def test_every_abi_is_covered():
    """Every Linux target's ABI has an assembly file and an expected rule here."""
    assert set(COMPILERS) == set(_build.ASM_FILES) == set(EXPRESSIONS)


@pytest.mark.parametrize("arch", sorted(COMPILERS))
def test_start_has_a_cfa_expression_reading_the_link_slot(arch, tmp_path):
    expression = EXPRESSIONS[arch]
    obj = assemble(arch, tmp_path)
    frames = readelf("--debug-dump=frames", obj)
    rules = [line for line in frames.splitlines() if "DW_CFA_def_cfa_expression" in line]
    assert len(rules) == 1, frames  # fiber_asm_start's, and no other routine's
    assert re.search(expression, rules[0]), rules[0]


def test_arm32_start_unwinds_through_the_link_slot_at_run_time(tmp_path):
    obj = assemble("armhf", tmp_path)
    table = readelf("-u", obj)
    entry = table.split("<fiber_asm_start>", 1)[1].split("\n\n", 1)[0]
    ops = [ln.split(None, 1)[1] for ln in entry.splitlines() if ln.strip().startswith("0x")]
    # vsp <- the link slot (the resumer's saved sp), then the resumer's switch frame.
    assert ops[0].endswith("pop {r13}"), entry
    assert ops[1].endswith("pop {D8-D15}"), entry
    assert any(op.endswith("pop {r4, r5, r6, r7, r8, r9, r10, r11, r14}") for op in ops), entry
