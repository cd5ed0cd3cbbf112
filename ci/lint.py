"""`python -m ci lint [--fix]` (``nox -s lint``): the checks every change must pass.

- ``ruff check``: pycodestyle, pyflakes, import order, bugbear, pyupgrade (pyproject.toml);
- ``ruff format --check``: the Python formatting;
- ``mypy``: the ``fiber`` package, strict (pyproject.toml): the public API fully typed;
- ``clang-format --dry-run --Werror``: the C of fiber/core, fiber/glue, tests/core/c and
  ci/bench/c (.clang-format).

The tools read their own configuration, so a hand run (``ruff check .``), this command and the
pre-commit hooks (.pre-commit-config.yaml, same pinned versions: tests/harness/test_lint.py
compares them) check the same files the same way.

With ``--fix``, ruff fixes what it can and both formatters rewrite the files instead.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from ci import paths

# The tools, pinned: the nox session installs exactly these (and the pre-commit hooks name
# the same versions). mypy also needs the packages fiber imports that have types (trio).
TOOLS = ("ruff==0.17.6", "mypy==2.4.1", "clang-format==18.1.8")
MYPY_NEEDS = ("trio",)

# Where the C lives; asm/ is assembly (clang-format does not apply).
C_DIRS = ("fiber/core", "fiber/glue", "tests/core/c", "ci/bench/c")
C_SUFFIXES = (".c", ".h", ".cpp")


def c_files(root: Path = paths.ROOT) -> list[str]:
    return sorted(
        str(p.relative_to(root))
        for d in C_DIRS
        for p in (root / d).glob("*")
        if p.suffix in C_SUFFIXES
    )


def clang_format() -> str:
    """The pinned clang-format installed beside this Python (pip's wheel), else PATH's."""
    beside = Path(sys.executable).parent / "clang-format"
    return str(beside) if beside.is_file() else "clang-format"


def commands(fix: bool, root: Path = paths.ROOT) -> list[list[str]]:
    """The check (or, with `fix`, fix) commands, run from the repository's root."""
    py = [sys.executable, "-m"]
    if fix:
        return [
            [*py, "ruff", "check", "--fix", "."],
            [*py, "ruff", "format", "."],
            [*py, "mypy"],
            [clang_format(), "-i", *c_files(root)],
        ]
    return [
        [*py, "ruff", "check", "."],
        [*py, "ruff", "format", "--check", "."],
        [*py, "mypy"],
        [clang_format(), "--dry-run", "--Werror", *c_files(root)],
    ]


def main(argv: list[str]) -> int:
    if argv not in ([], ["--fix"]):
        print("usage: python -m ci lint [--fix]", file=sys.stderr)
        return 2
    failed = []
    for cmd in commands(fix=argv == ["--fix"]):
        name = " ".join(cmd[2:4]) if cmd[0] == sys.executable else Path(cmd[0]).name
        print(f"lint: {name}", flush=True)
        try:
            rc = subprocess.run(cmd, cwd=paths.ROOT).returncode
        except FileNotFoundError:
            print(f"lint: {cmd[0]} is not installed: pip install {' '.join(TOOLS)}")
            rc = 127
        if rc != 0:
            failed.append(name)
    if failed:
        print(f"lint: failed: {', '.join(failed)}")
        return 1
    print("lint: clean")
    return 0
