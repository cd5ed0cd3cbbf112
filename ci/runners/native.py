"""The native runner kind: the host's Python runs pytest and the target's programs run as they
are. Nothing to prepare, nothing cached. The host's Python must be the pair's version (the
nox session's venv is made from the host's python3)."""

from __future__ import annotations

import platform
from pathlib import Path

from ci.runners import Environment, Log, Prepared
from ci.targets import Target
from ci.tools import SetupError

TEST_TIMEOUT_SCALE = 1.0
RUN_TIMEOUT = 20 * 60.0
# Two workers on this 2-core machine: measured faster than one (docs/harness.md).
WORKERS = 2


def host_needs(target: Target) -> tuple[tuple[str, str], ...]:
    return ()


def cache_entry(target: Target) -> str | None:
    return None


def find(target: Target, cache: Path | None = None) -> Prepared:
    return Prepared(python=platform.python_version())


def prepare(target: Target, log: Log = print) -> Prepared:
    host = ".".join(platform.python_version_tuple()[:2])
    if target.version and host != target.version:
        raise SetupError(
            f"{target.name} runs on the host's own Python, which is {platform.python_version()} "
            f"here, not {target.version}: run the harness with a Python {target.version} "
            f"(python{target.version} -m nox ...)"
        )
    return find(target)


def prefix(target: Target, prepared: Prepared) -> list[str]:
    return []


def interpreter(target: Target, prepared: Prepared, host_python: str) -> list[str]:
    return [host_python]


def environment(target: Target, prepared: Prepared) -> Environment:
    return Environment()
