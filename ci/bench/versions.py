"""The CPython versions the Python-level rows run under, each made ready to run them.

Issue 13 asks for the Python and aio rows on x86_64 for every supported version, with the
peers installed for that interpreter. The versions are the host ABI's pairs of ci/targets.py
(x86_64-linux-py3.11, -py3.13, -py3.14, -py3.15):

- the pair on the host's own Python (3.11) runs in the bench session's interpreter, as
  before: `nox -s bench` installs the peers there with pip and builds fiber in place;
- every other pair runs the interpreter of its Debian sysroot natively, through the sysroot's
  dynamic loader (the "loader" runner kind, ci/runners/loader.py), after three steps: the
  sysroot is found in the cache or built (``prepare``), the extension is built for it in place
  (ci/build.py ``build_target``: fiber/_native.cpython-3XX-x86_64-linux-gnu.so beside the
  host's), and the peers are installed for that version from PyPI's binary wheels
  (``ensure_peers``) into a cache folder that goes on PYTHONPATH after the repository.

A version whose step fails is not measured: :class:`Interpreter` then carries the reason,
and its rows say so instead of showing a figure (ci/bench/pyrows.py).
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ci import paths, pip_wheels
from ci.targets import TARGETS, Target, host_target

# The peers and everything they import, listed whole: pip runs with --no-deps, since it would
# evaluate the dependencies' environment markers against the host's Python, not the target's
# (docs: NOTES.md, "pip evaluates environment markers against the host").
PEERS = (
    "greenlet",
    "greenback",
    "sqlalchemy",
    "sniffio",
    "outcome",
    "attrs",
    "typing_extensions",
)
# manylinux tags the x86_64 wheels of these projects carry (any one that pip accepts).
PLATFORMS = ("manylinux_2_17", "manylinux2014", "manylinux_2_28", "manylinux_2_34")
MARKER = ".fiber-bench-peers.json"

# Run by each interpreter before its rows: imports what the rows need and says what it is.
PROBE = (
    "import json, platform, fiber, greenlet, greenback, sqlalchemy\n"
    "print(json.dumps({'python': platform.python_version(),"
    " 'greenlet': greenlet.__version__, 'greenback': greenback.__version__,"
    " 'sqlalchemy': sqlalchemy.__version__}))\n"
)

Log = Callable[[str], None]


@dataclass(frozen=True)
class Interpreter:
    """One version's interpreter as the bench runs it, or why it cannot.

    version   major.minor ("3.14"): the label of its rows
    command   the argv prefix that starts it; empty when not measured
    env       variables set on top of the bench's environment
    unset     variables removed from it (the host Python's own, for a sysroot's Python)
    reason    why its rows are not measured; "" when it is ready
    where     how the report names it ("host", "sysroot sid amd64 via its loader")
    """

    version: str
    command: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)
    unset: tuple[str, ...] = ()
    reason: str = ""
    where: str = ""

    @property
    def ready(self) -> bool:
        return not self.reason and bool(self.command)

    def environ(self, base: dict[str, str] | None = None) -> dict[str, str]:
        env = {k: v for k, v in (os.environ if base is None else base).items()}
        for name in self.unset:
            env.pop(name, None)
        env.update(self.env)
        return env


def not_measured(version: str, reason: str, where: str = "") -> Interpreter:
    return Interpreter(version, reason=reason, where=where)


def short_reason(exc: BaseException, limit: int = 240) -> str:
    """One line for the report: the exception's type and its first line of text."""
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    text = f"{type(exc).__name__}: {lines[0] if lines else '(no message)'}"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def bench_targets() -> list[Target]:
    """The host ABI's pairs, oldest Python first (x86_64-linux-py3.11 ... -py3.15 here)."""
    host = host_target()
    if host is None:
        return []
    return [t for t in TARGETS if t.abi.name == host.abi.name and t.python is not None]


def pythonpath(*folders: Path | str) -> str:
    return os.pathsep.join(str(f) for f in folders)


def host(root: Path = paths.ROOT) -> Interpreter:
    """The bench session's own Python (its peers are the session's, fiber built in place)."""
    version = f"{sys.version_info[0]}.{sys.version_info[1]}"
    path = pythonpath(root, *filter(None, [os.environ.get("PYTHONPATH")]))
    return Interpreter(version, (sys.executable,), {"PYTHONPATH": path}, where="host")


# --- the peers of one version, from PyPI ----------------------------------------------------


def peers_key(version: str, machine: str) -> str:
    blob = json.dumps({"version": version, "machine": machine, "peers": sorted(PEERS)})
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


def peers_dir(version: str, machine: str | None = None, cache: Path | None = None) -> Path:
    """<cache>/bench-peers/cp314-x86_64-<key>: one folder per version, machine and list."""
    tag = version.replace(".", "")
    machine = machine or platform.machine()
    root = cache or paths.cache_root()
    return root / "bench-peers" / f"cp{tag}-{machine}-{peers_key(version, machine)}"


def pip_command(version: str, dest: Path, machine: str | None = None) -> list[str]:
    """pip install --target of PEERS as binary wheels for CPython `version` on `machine`
    (this one's by default)."""
    machine = machine or platform.machine()
    platforms = [f"{p}_{machine}" for p in PLATFORMS]
    return pip_wheels.install_command(dest, version, platforms, PEERS, no_deps=True)


def ensure_peers(version: str, log: Log = print, cache: Path | None = None) -> Path:
    """The peers' folder for `version`, installed when the cache lacks it (into a .partial
    folder renamed at the end, so an interrupted install is never used)."""
    dest = peers_dir(version, cache=cache)
    if (dest / MARKER).is_file():
        return dest
    partial = dest.with_name(dest.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.parent.mkdir(parents=True, exist_ok=True)
    cmd = pip_command(version, partial)
    log(f"bench: peers for Python {version}: {' '.join(cmd[3:])}")
    proc = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True)
    if proc.returncode != 0:
        errors = [ln for ln in proc.stderr.splitlines() if "ERROR" in ln] or [proc.stderr]
        raise RuntimeError(f"pip could not install the peers for {version}: {errors[0][:300]}")
    (partial / MARKER).write_text(json.dumps({"version": version, "peers": PEERS}) + "\n")
    shutil.rmtree(dest, ignore_errors=True)
    os.rename(partial, dest)
    return dest


# --- a sysroot's interpreter ---------------------------------------------------------------


def prepare(target: Target, log: Log = print, root: Path = paths.ROOT) -> Interpreter:
    """`target`'s interpreter, ready to run the bench modules, or why it is not."""
    from ci import build, runners  # the harness proper: only the host side needs it

    version = target.version
    if target.runner_kind == "native":
        return host(root)
    kind = runners.kind(target)
    where = f"{kind.cache_entry(target) or target.runner_kind}, {target.runner_kind} runner"
    try:
        prepared = kind.prepare(target, log)
        build.build_target(target, prepared.sysroot, per_abi=False)
        peers = ensure_peers(version, log)
        command = kind.interpreter(target, prepared, sys.executable)
        environment = kind.environment(target, prepared)
    except Exception as exc:  # noqa: BLE001 - any failure: the version is not measured
        return not_measured(version, short_reason(exc), where)
    return Interpreter(
        version,
        tuple(command),
        {**environment.set, "PYTHONPATH": pythonpath(root, peers)},
        tuple(environment.unset),
        where=where,
    )


def probe(interp: Interpreter, root: Path = paths.ROOT) -> tuple[Interpreter, dict[str, str]]:
    """Run PROBE under `interp`: its full version and the peers' versions; an interpreter that
    cannot import them comes back not measured, with the error."""
    if not interp.ready:
        return interp, {}
    proc = subprocess.run(
        [*interp.command, "-c", PROBE],
        cwd=root,
        env=interp.environ(),
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
    )
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["(no output)"])[-1]
        return not_measured(interp.version, f"its Python fails: {last}", interp.where), {}
    return interp, json.loads(proc.stdout.strip().splitlines()[-1])


def all_interpreters(log: Log = print, only: list[str] | None = None) -> list[Interpreter]:
    """Every version's interpreter (or those of `only`), oldest first as in ci/targets.py;
    made ready before any is measured, so that no build runs beside a timing."""
    chosen = [t for t in bench_targets() if not only or t.version in only]
    out = [prepare(t, log) for t in chosen]
    if not bench_targets():  # not a host ABI of the table: the session's own Python only
        out = [host()]
    return out
