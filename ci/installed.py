"""The suite against an installed fiber: a copy of tests/ in a folder with no source tree.

What a package is tested with (the sdist installed in a fresh venv, each wheel installed with
``pip install --target``): tests/ less tests/harness/ is copied into a work folder beside a
``pytest.ini`` carrying pyproject.toml's markers, and pytest runs there with the interpreter
and environment the caller gives (a target's runner kind, a venv's Python). The tests that
need the sources skip with tests/sources.py's reason (every module of tests/core/, by that
folder's conftest.py; the soak of tests/python/). Before pytest, :func:`fiber_location`
asks that same interpreter where ``fiber`` and its extension come from, and the caller checks
it is the installed copy, so a test run can never pass on a checkout's fiber by accident.

The run's working folder is the work folder, never the checkout (``python -m`` puts the
working folder first on sys.path).
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import subprocess
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ci import paths, streamed

Log = Callable[[str], None]

# What the copy leaves out: the harness's own tests need the checkout, and the rest is cache.
IGNORED = ("harness", "__pycache__", ".hypothesis", ".pytest_cache")

WHERE = (
    "import json, fiber, fiber._native\n"
    "print(json.dumps({'fiber': fiber.__file__, 'native': fiber._native.__file__,"
    " 'version': fiber.__version__}))\n"
)


def pytest_ini(pyproject_text: str) -> str:
    """A pytest.ini with pyproject.toml's markers (so the copied tests' marks are known) and
    its report options; nothing that points at the checkout (no pythonpath)."""
    options = tomllib.loads(pyproject_text)["tool"]["pytest"]["ini_options"]
    lines = ["[pytest]", f"addopts = {options.get('addopts', '')}".rstrip(), "markers ="]
    lines += [f"    {m}" for m in options.get("markers", [])]
    return "\n".join(lines) + "\n"


def prepare(work: Path, root: Path = paths.ROOT) -> Path:
    """Copy tests/ (less the harness's) into `work`/tests with a pytest.ini; returns `work`."""
    work.mkdir(parents=True, exist_ok=True)
    dest = work / "tests"
    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(root / "tests", dest, ignore=shutil.ignore_patterns(*IGNORED))
    (work / "pytest.ini").write_text(pytest_ini((root / "pyproject.toml").read_text()))
    return work


@dataclass(frozen=True)
class Run:
    """One pytest run against an installed fiber."""

    python: list[str]  # the interpreter command (a runner kind's, a venv's)
    env: dict[str, str]  # the whole environment of the run
    workers: int
    test_timeout: float  # per test, seconds
    run_timeout: float  # the whole run, seconds


def environment(
    base: dict[str, str],
    *,
    unset: tuple[str, ...] = (),
    set_: dict[str, str] | None = None,
    site: Path | None = None,
) -> dict[str, str]:
    """`base` less `unset` and the harness's per-run variables, plus `set_`; PYTHONPATH is
    `site` (the folder a wheel was installed into) first, then whatever `set_` puts there (a
    runner kind's own folders), and never the caller's."""
    env = {k: v for k, v in base.items() if k not in unset}
    for k in ("PYTHONPATH", "FIBER_CONFORMANCE_EXE", "FIBER_HANG_DIR"):
        env.pop(k, None)
    env.update(set_ or {})
    if site is not None:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(site), env.get("PYTHONPATH")]))
    return env


def fiber_location(run: Run, work: Path) -> dict[str, str]:
    """Where `run`'s interpreter imports fiber and fiber._native from (and fiber's version)."""
    proc = subprocess.run(
        [*run.python, "-c", WHERE],
        cwd=work,
        env=run.env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if proc.returncode != 0:
        raise RuntimeError(
            f"importing the installed fiber failed (exit {proc.returncode}): "
            f"{shlex.join(run.python)}\n{proc.stderr[-3000:]}"
        )
    return json.loads(proc.stdout.strip().splitlines()[-1])


def is_inside(path: str, folder: Path) -> bool:
    return Path(path).resolve().is_relative_to(folder.resolve())


def workers_args(run: Run) -> list[str]:
    """xdist's workers: ``-n N`` for an interpreter that is one native command; else
    ``--tx N*popen//python=CMD`` (a command with a prefix, QEMU's: an emulated Python cannot
    exec its own sys.executable, so the workers are started with the whole command)."""
    if len(run.python) == 1:
        return ["-n", str(run.workers)]
    return ["--dist", "load", "--tx", f"{run.workers}*popen//python={shlex.join(run.python)}"]


def pytest_argv(run: Run, junit: Path, label: str, pytest_args: tuple[str, ...] = ()) -> list[str]:
    # pytest-timeout's signal method needs SIGALRM (not on Windows).
    method = "signal" if hasattr(signal, "SIGALRM") else "thread"
    return [
        *run.python,
        "-m",
        "pytest",
        "-c",
        "pytest.ini",
        "--rootdir",
        ".",
        "-p",
        "no:cacheprovider",
        f"--junitxml={junit}",
        "-o",
        f"junit_suite_name={label}",
        "-o",
        "junit_logging=no",
        f"--timeout={run.test_timeout:g}",
        f"--timeout-method={method}",
        "-p",
        "xdist",
        *workers_args(run),
        "-rfE",
        *pytest_args,
        "tests",
    ]


def run_pytest(
    run: Run,
    work: Path,
    junit: Path,
    logfile: Path,
    label: str,
    *,
    pytest_args: tuple[str, ...] = (),
    log: Log = print,
) -> int | None:
    """Run the copied suite in `work`; its output to `logfile` (and `log`). The exit status, or
    None when the run timeout stopped it."""
    argv = pytest_argv(run, junit, label, pytest_args)
    junit.parent.mkdir(parents=True, exist_ok=True)
    junit.unlink(missing_ok=True)
    log(f"$ (cd {work} && {shlex.join(argv)})")
    return streamed.run(
        argv, cwd=work, env=run.env, logfile=logfile, log=log, timeout=run.run_timeout
    ).returncode
