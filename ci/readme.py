"""The README's target table, generated from ci/targets.py: one row per ABI, one column per
CPython version, a cell per pair (the Debian suite its Python comes from).

``python -m ci readme --write`` rewrites the lines between the markers below in README.md;
``--check`` exits 1 when they differ from the table (tests/harness/test_generated.py too).
"""

from __future__ import annotations

import sys

from ci import paths
from ci.provision import packages
from ci.targets import ABIS, TARGETS, VERSIONS

README = paths.ROOT / "README.md"
BEGIN = "<!-- targets:begin -->"
END = "<!-- targets:end -->"


def _cell(abi: str, version: str) -> str:
    for t in TARGETS:
        if t.abi.name == abi and t.version == version:
            return "host" if t.runner_kind == "native" else t.suite
    return "-"


def table() -> str:
    versions = list(VERSIONS)
    lines = [
        "| ABI | compiler | Debian arch | runs under | "
        + " | ".join(versions)
        + " | host packages |",
        "| --- | --- | --- | --- | " + "--- | " * len(versions) + "--- |",
    ]
    for a in ABIS:
        runners = list(dict.fromkeys(t.runner for t in TARGETS if t.abi == a))
        pkgs = list(dict.fromkeys(p for t in TARGETS if t.abi == a for p in packages(t)))
        lines.append(
            f"| {a.name} | {a.compiler} | {a.debian_arch or '(none)'} | {', '.join(runners)} | "
            + " | ".join(_cell(a.name, v) for v in versions)
            + f" | {', '.join(pkgs)} |"
        )
    lines += [
        "",
        f"{len(TARGETS)} targets. A cell is one target, the pair `ABI-pyX.Y`, and names the "
        "Debian suite its Python comes from (`host`: the host's own Python; `-`: no pair, the "
        "suite of that version has no Python for that ABI): `nox -s aarch64-linux-py3.14` "
        "runs one, `nox -s aarch64-linux` a row, `nox -s matrix` all. x86_64-windows runs "
        "its C programs under Wine (the Python suite runs on the CI workflow's Windows "
        "runner). A package written `PACKAGE/SUITE` is taken from that suite into the "
        "harness's cache, not installed on the host.",
    ]
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
