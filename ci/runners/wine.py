"""The wine runner kind: the target's Windows programs run under Wine; pytest runs in the
host's Python with FIBER_TARGET=x86_64-windows, so only the tests marked ``target_program``
apply (tests/conftest.py skips the rest: there is no Windows CPython with headers to run
under Wine here; the CI workflow's Windows job runs the whole suite on a Windows runner).

What it keeps in the cache is one Wine prefix. ``wineboot --init`` creates it (about 8 s the
first time); ``wineserver --wait`` lets it finish writing. Only then does the prefix get its
completeness marker; a prefix folder without one (an interrupted first start) is removed and
created again.
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from ci import paths
from ci.runners import Environment, Log, Prepared
from ci.targets import Target
from ci.tools import SetupError, find_tool

TEST_TIMEOUT_SCALE = 1.5
RUN_TIMEOUT = 20 * 60.0
WORKERS = 1

MARKER = ".fiber-wineprefix-complete"


class WineError(SetupError):
    """The Wine prefix could not be created."""


# ---- the runner kind's interface (ci/runners/__init__.py) ---------------------------------


def host_needs(target: Target) -> tuple[tuple[str, str], ...]:
    return ()


def cache_entry(target: Target) -> str | None:
    return "Wine prefix"  # one for every Windows row


def _prepared(prefix: Path) -> Prepared:
    return Prepared(python=f"host {platform.python_version()}", cached=prefix)


def find(target: Target, cache: Path | None = None) -> Prepared | None:
    prefix = prefix_dir(cache)
    return _prepared(prefix) if is_complete(prefix) else None


def prepare(target: Target, log: Log = print) -> Prepared:
    return _prepared(ensure_prefix(log=log))


def prefix(target: Target, prepared: Prepared) -> list[str]:
    return [wine_command()]


def interpreter(target: Target, prepared: Prepared, host_python: str) -> list[str]:
    return [host_python]


def environment(target: Target, prepared: Prepared) -> Environment:
    return Environment(set=variables(prepared.cached) if prepared.cached else {})


# ---- the prefix -----------------------------------------------------------------------------


def prefix_dir(cache: Path | None = None) -> Path:
    return (cache or paths.cache_root()) / "wine-prefix"


def wine_command() -> str:
    """The command that runs a 64-bit Windows program (wine64; Debian keeps it off PATH)."""
    return find_tool("wine64") or find_tool("wine") or "wine64"


def variables(prefix: Path) -> dict[str, str]:
    """Environment variables every Wine run of the harness gets."""
    return {"WINEPREFIX": str(prefix), "WINEDEBUG": "-all", "WINEDLLOVERRIDES": "mscoree,mshtml="}


def is_complete(prefix: Path) -> bool:
    return (prefix / MARKER).is_file() and (prefix / "system.reg").is_file()


def stop_server(prefix: Path) -> None:
    """End every Wine process of `prefix` (an interrupted wineboot may still be writing)."""
    server = find_tool("wineserver")
    if not server:
        return
    env = dict(os.environ, **variables(prefix))
    for args in (["-k"], ["-w"]):
        try:
            subprocess.run(
                [server, *args],
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                timeout=60,
            )
        except subprocess.TimeoutExpired:
            pass


def remove(prefix: Path) -> None:
    stop_server(prefix)
    for attempt in range(5):
        try:
            shutil.rmtree(prefix)
            return
        except FileNotFoundError:
            return
        except OSError:
            if attempt == 4:
                raise
            time.sleep(1)  # a straggler was still writing: try again


def create(prefix: Path, log: Callable[[str], None]) -> None:
    """wineboot --init into `prefix`, then wait for wineserver to flush the registry."""
    env = dict(os.environ, **variables(prefix))
    env.pop("DISPLAY", None)  # no dialogs: the prefix update runs headless
    wineboot = find_tool("wineboot")
    cmd = [wineboot, "--init"] if wineboot else [wine_command(), "wineboot", "--init"]
    log(f"wine: creating prefix {prefix}")
    try:
        proc = subprocess.run(
            cmd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=300,
        )
    except subprocess.TimeoutExpired:
        stop_server(prefix)
        raise WineError(f"wineboot --init timed out creating {prefix}") from None
    server = find_tool("wineserver") or "wineserver"
    subprocess.run(
        [server, "--wait"],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        timeout=300,
    )
    if proc.returncode != 0 or not (prefix / "system.reg").is_file():
        raise WineError(
            f"wineboot --init failed (exit {proc.returncode}) for {prefix}:\n{proc.stdout[-2000:]}"
        )


def ensure_prefix(
    cache: Path | None = None,
    *,
    creator: Callable[[Path, Callable[[str], None]], None] = create,
    log: Callable[[str], None] = print,
) -> Path:
    """The harness's Wine prefix, created (or re-created when half-built) if needed."""
    prefix = prefix_dir(cache)
    if is_complete(prefix):
        return prefix
    if prefix.exists():
        log(f"wine: {prefix} is incomplete (no marker: an interrupted start); re-creating")
        remove(prefix)
    prefix.parent.mkdir(parents=True, exist_ok=True)
    creator(prefix, log)
    (prefix / MARKER).write_text("complete\n")
    return prefix
