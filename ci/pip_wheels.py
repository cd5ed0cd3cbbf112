"""The pip command that installs binary wheels for another interpreter into a folder.

The running pip is the host's; the wheels are for CPython `version` on `machine` (a sysroot's
Python, the bench's per-version interpreters), so pip is told the platform, version and ABI
and takes only wheels. A leaf: it imports nothing of the harness.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from pathlib import Path


def install_command(
    dest: Path,
    version: str,
    platforms: Iterable[str],
    requirements: Iterable[str],
    *,
    no_deps: bool = False,
) -> list[str]:
    """pip install --target `dest` of `requirements` as wheels for CPython `version` on any
    of `platforms` (full tags: manylinux_2_17_x86_64). `no_deps`: pip evaluates dependency
    markers against the host, so a caller that lists every dependency itself says so."""
    tag = version.replace(".", "")
    return [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--disable-pip-version-check",
        "--quiet",
        *(["--no-deps"] if no_deps else []),
        "--only-binary=:all:",
        "--target",
        str(dest),
        *(a for p in platforms for a in ("--platform", p)),
        "--python-version",
        version,
        "--implementation",
        "cp",
        "--abi",
        f"cp{tag}",
        *requirements,
    ]
