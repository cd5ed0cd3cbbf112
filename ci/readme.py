"""The README's target table, generated from ci/targets.py.

``python -m ci readme --write`` rewrites the lines between the markers below in README.md;
``--check`` exits 1 when they differ from the table (tests/harness/test_generated.py too).
"""

from __future__ import annotations

import sys

from ci import paths
from ci.provision import packages
from ci.targets import TARGETS

README = paths.ROOT / "README.md"
BEGIN = "<!-- targets:begin -->"
END = "<!-- targets:end -->"


def table() -> str:
    lines = [
        "| target | compiler | Debian arch | runs under | host packages | one target |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for t in TARGETS:
        lines.append(
            f"| {t.name} | {t.compiler} | {t.debian_arch or '(none)'} | {t.runner} "
            f"| {', '.join(packages(t))} | `nox -s {t.name}` |"
        )
    return "\n".join(lines)


def splice(text: str) -> str:
    """`text` with the table between the markers replaced; ValueError without the markers."""
    try:
        head, rest = text.split(BEGIN, 1)
        _, tail = rest.split(END, 1)
    except ValueError:
        raise ValueError(f"README.md has no {BEGIN} ... {END} markers") from None
    return f"{head}{BEGIN}\n{table()}\n{END}{tail}"


def main(argv: list[str]) -> int:
    mode = argv[0] if argv else "--check"
    text = README.read_text()
    try:
        new = splice(text)
    except ValueError as e:
        print(e, file=sys.stderr)
        return 1
    if mode == "--write":
        if new != text:
            README.write_text(new)
        print("README.md target table written")
        return 0
    if mode == "--check":
        if new != text:
            print(
                "README.md's target table is out of date with ci/targets.py; "
                "run: python -m ci readme --write",
                file=sys.stderr,
            )
            return 1
        print("README.md's target table is up to date")
        return 0
    print("usage: python -m ci readme [--write | --check]", file=sys.stderr)
    return 2
