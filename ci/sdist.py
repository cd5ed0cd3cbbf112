"""The sdist: built with ``python -m build --sdist``, checked, and installed as a user would.

- :func:`build` runs the standard frontend (``build``, from PyPI) into dist/ and returns the
  tarball; :func:`check` compares its members with ci/packaging.py's rule (every source the
  build needs, nothing else).
- :func:`install_test` makes a fresh venv, runs ``pip install SDIST`` there (pip builds the
  extension through setup.py in an isolated environment), checks that the installed files are
  the runtime only (the installed RECORD: no fiber/_build.py, no C sources) and runs the suite
  against that installed copy from a folder without the sources (ci/installed.py).
- :func:`compiler_error_test` installs the same sdist with a C compiler that fails, and
  checks that pip's output shows the compiler's command and its whole output (setup.py
  prints both; pip shows a failed build's output), not only an exit status.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import venv
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ci import installed, packaging, paths, reports, runners, targets
from ci.tools import SetupError

Log = Callable[[str], None]

# The marker a deliberately failing compiler prints (compiler_error_test).
COMPILER_SAYS = "fiber-sdist-check: this compiler fails on purpose"


class SdistError(SetupError):
    """The sdist could not be built, or is not what it must be."""


@dataclass
class Result:
    """The sdist's row of the packages' summary."""

    path: Path | None = None
    size: int = 0
    passed: int = 0
    failed: int = 0
    skipped: int = 0
    seconds: float = 0.0
    problems: list[str] = field(default_factory=list)
    failures: list[tuple[str, str]] = field(default_factory=list)
    tested: bool = False


def build(out_dir: Path = paths.ROOT / "dist", log: Log = print) -> Path:
    """``python -m build --sdist --outdir OUT`` from the checkout; the tarball's path."""
    try:
        import build as _frontend  # noqa: F401  (the frontend must be installed)
    except ImportError:
        raise SdistError(
            "the `build` frontend is not installed: pip install build (nox -s wheels does)"
        ) from None
    name = packaging.normalized_dist(packaging.project_name())
    expected = out_dir / f"{name}-{packaging.version()}.tar.gz"
    expected.unlink(missing_ok=True)
    cmd = [sys.executable, "-m", "build", "--sdist", "--outdir", str(out_dir), str(paths.ROOT)]
    log(f"sdist: $ {' '.join(cmd)}")
    proc = subprocess.run(
        cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    if proc.returncode != 0 or not expected.is_file():
        raise SdistError(f"python -m build --sdist failed (exit {proc.returncode}):\n{proc.stdout}")
    return expected


def members(tarball: Path) -> list[str]:
    """The sdist's files (not its folders), without the top folder."""
    with tarfile.open(tarball) as tf:
        return packaging.sdist_members([m.name for m in tf.getmembers() if m.isfile()])


def check(tarball: Path) -> list[str]:
    return packaging.check_sdist(members(tarball), packaging.checkout_tree_files())


def unpack(tarball: Path, dest: Path) -> Path:
    """Unpack the sdist into `dest`; returns its top folder (``name-version``)."""
    with tarfile.open(tarball) as tf:
        tf.extractall(dest, filter="data")
    (top,) = [p for p in dest.iterdir() if p.is_dir()]
    return top


def _venv(where: Path) -> Path:
    """A fresh venv with pip; its Python."""
    venv.EnvBuilder(with_pip=True, clear=True).create(where)
    return where / ("Scripts/python.exe" if sys.platform == "win32" else "bin/python")


def _pip(
    python: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(python), "-m", "pip", "--disable-pip-version-check", *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )


def installed_record(python: Path, dist: str, version: str) -> list[str]:
    """The files pip installed for the distribution, from its RECORD, without what pip itself
    adds (bytecode, INSTALLER, REQUESTED, direct_url.json)."""
    out = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['platlib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    dist_info = Path(out) / f"{packaging.normalized_dist(dist)}-{version}.dist-info"
    names = []
    for line in (dist_info / "RECORD").read_text().splitlines():
        name = line.rsplit(",", 2)[0]
        if "__pycache__/" in name or name.rsplit("/", 1)[-1] in packaging.PIP_ADDS:
            continue
        names.append(name)
    return names


def install_test(
    tarball: Path,
    *,
    reports_dir: Path,
    pytest_args: tuple[str, ...] = (),
    log: Log = print,
) -> Result:
    """A fresh venv, ``pip install SDIST``, the installed files checked, the suite run against
    the installed copy from a folder without the sources."""
    started = time.monotonic()
    result = Result(tarball, tarball.stat().st_size, tested=True)
    dist, version = packaging.project_name(), packaging.version()
    work = Path(tempfile.mkdtemp(prefix="fiber-sdist-test-"))
    try:
        python = _venv(work / "venv")
        log(f"sdist: pip install {tarball.name} into a fresh venv ({work / 'venv'})")
        proc = _pip(python, "install", str(tarball))
        if proc.returncode != 0:
            result.problems.append(f"pip install {tarball.name} failed:\n{proc.stdout[-6000:]}")
            return result
        dist_info = f"{packaging.normalized_dist(dist)}-{version}.dist-info"
        result.problems += [
            f"installed: {p}"
            for p in packaging.check_wheel(installed_record(python, dist, version), dist_info)
        ]
        proc = _pip(python, "install", "-q", *targets.PYTHON_DEPS)
        if proc.returncode != 0:
            result.problems.append(f"installing the test dependencies failed:\n{proc.stdout}")
            return result
        installed.prepare(work)
        host = targets.host_target()
        run = installed.Run(
            python=[str(python)],
            env=installed.environment(dict(os.environ)),
            workers=runners.workers(host) if host else 2,
            test_timeout=runners.test_timeout(host) if host else runners.BASE_TEST_TIMEOUT,
            run_timeout=runners.run_timeout(host) if host else 20 * 60.0,
        )
        where = installed.fiber_location(run, work)
        if not installed.is_inside(where["native"], work / "venv"):
            result.problems.append(f"the tests would import another fiber: {where}")
            return result
        log(f"sdist: fiber {where['version']} from {where['fiber']}")
        junit = reports_dir / "sdist.xml"
        rc = installed.run_pytest(
            run,
            work,
            junit,
            reports_dir / "sdist.log",
            "sdist",
            pytest_args=pytest_args,
            log=log,
        )
        _count(result, junit, rc)
        return result
    finally:
        result.seconds = time.monotonic() - started
        shutil.rmtree(work, ignore_errors=True)


def _count(result: Result, junit: Path, rc: int | None) -> None:
    if rc is None:
        result.problems.append("the test run was stopped by its timeout")
    if not junit.is_file():
        result.problems.append(f"pytest exited {rc} without a report")
        return
    counts = reports.parse_junit(junit)
    result.passed, result.failed, result.skipped = counts.passed, counts.failed, counts.skipped
    result.failures = counts.failures
    if rc not in (0, 1, None):
        result.problems.append(f"pytest exited {rc}")


def compiler_error_test(tarball: Path, log: Log = print) -> list[str]:
    """Install the sdist with a C compiler that prints a line and fails; [] when pip's output
    shows that line and the command, else what is missing."""
    work = Path(tempfile.mkdtemp(prefix="fiber-sdist-cc-"))
    try:
        python = _venv(work / "venv")
        failing = f"sh -c 'echo \"{COMPILER_SAYS}\" >&2; exit 1'"
        env = dict(os.environ, CC=failing)
        log(f"sdist: pip install {tarball.name} with a compiler that fails (CC={failing})")
        proc = _pip(python, "install", "--no-cache-dir", str(tarball), env=env)
        problems = []
        if proc.returncode == 0:
            problems.append("pip install succeeded with a failing compiler")
        if COMPILER_SAYS not in proc.stdout:
            problems.append("pip's output does not show the compiler's own output")
        if "$ sh -c" not in proc.stdout:
            problems.append("pip's output does not show the compiler's command")
        if problems:
            problems.append(f"pip's output:\n{proc.stdout[-4000:]}")
        return problems
    finally:
        shutil.rmtree(work, ignore_errors=True)
