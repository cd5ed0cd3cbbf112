"""The dispatcher behind `python -m ci` (ci/__main__.py): a command name
picks a `main(argv) -> int` function, imported only when that command runs (so a command's
dependencies are not loaded by the others)."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable

# A command: "package.module" (whose main is called) or a function.
Command = str | Callable[[list[str]], int]


def dispatch(argv: list[str], usage: str, commands: dict[str, Command]) -> int:
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(usage)
        return 0 if argv else 2
    cmd, rest = argv[0], argv[1:]
    target = commands.get(cmd)
    if target is None:
        print(f"unknown command {cmd!r}\n{usage}", file=sys.stderr)
        return 2
    run = importlib.import_module(target).main if isinstance(target, str) else target
    return run(rest)
