"""The CI workflow file (GitHub Actions), generated from the target table.

``python -m ci workflow --write`` writes ci/github-workflow.yml; ``--check`` exits 1 when the
committed file differs from what the table gives (tests/harness/test_generated.py checks too).
To use it on GitHub, copy it to .github/workflows/.

Jobs: one Linux job per target (in a Debian bookworm container with CPython 3.11, root, the
same kind of machine as this project's), each running that target's nox session, which
provisions the tools and the sysroot itself; one job running the harness's own tests; one
running the checks (``nox -s lint``); and a
Windows job that runs the suite natively on a Windows runner (the x86_64-windows target runs
only the C programs under Wine; its Python tests need a real Windows Python).

Packages (docs/packaging.md): an sdist job (``nox -s wheels -- --sdist-only``), one job per
Linux target building and testing its manylinux wheel (``nox -s wheels -- --targets T
--no-sdist-test``), and the Windows job's last steps build and test the Windows wheel
(``python -m ci wheels --host``); every one of them keeps dist/ as an artifact.
"""

from __future__ import annotations

import json
import re
import sys

from ci import paths
from ci.targets import PYTHON_DEPS, TARGETS

WORKFLOW = paths.ROOT / "ci" / "github-workflow.yml"
CONTAINER = "python:3.11-bookworm"
PYTHON = "3.11"

HEADER = """\
# Generated from ci/targets.py by `python -m ci workflow --write`: do not edit by hand.
# tests/harness/test_generated.py fails when this file and the table disagree.
# To run it on GitHub, copy it to .github/workflows/matrix.yml.
"""

_PLAIN = re.compile(r"^[A-Za-z0-9_./${}()\[\]-][A-Za-z0-9_ ./${}()\[\]'=,+-]*$")


_NUMBER = re.compile(r"^[-+.0-9][-+.0-9eE_:]*$")


def _scalar(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    s = str(v)
    if (
        _PLAIN.match(s)
        and not s.endswith(" ")
        and not _NUMBER.match(s)
        and s.lower() not in ("yes", "no", "on", "off", "true", "false", "null", "~")
    ):
        return s
    return json.dumps(s)  # a JSON string is a valid YAML double-quoted scalar


def to_yaml(obj, indent: int = 0) -> list[str]:
    """A small YAML emitter for nested dicts, lists and scalars (enough for a workflow)."""
    pad = "  " * indent
    lines: list[str] = []
    if isinstance(obj, dict):
        for k, v in obj.items():
            if isinstance(v, (dict, list)) and v:
                lines.append(f"{pad}{k}:")
                lines += to_yaml(v, indent + 1)
            elif isinstance(v, dict):
                lines.append(f"{pad}{k}: {{}}")
            elif v is None:
                lines.append(f"{pad}{k}:")
            else:
                lines.append(f"{pad}{k}: {_scalar(v)}")
    elif isinstance(obj, list):
        for item in obj:
            if isinstance(item, dict) and item:
                first, *rest = to_yaml(item, indent + 1)
                lines.append(f"{pad}- {first.lstrip()}")
                lines += rest
            else:
                lines.append(f"{pad}- {_scalar(item)}")
    return lines


def workflow() -> dict:
    checkout = {"uses": "actions/checkout@v4"}
    install_nox = {"name": "Install nox", "run": "python3 -m pip install nox"}

    def nox_job(title: str, session: str) -> dict:
        """A Linux job that runs one nox session."""
        return {
            "name": title,
            "runs-on": "ubuntu-latest",
            "container": CONTAINER,
            "timeout-minutes": 15,
            "steps": [
                checkout,
                install_nox,
                {"name": title, "run": f"python3 -m nox -s {session}"},
            ],
        }

    def upload(name: str) -> dict:
        return {
            "name": "Upload reports",
            "if": "always()",
            "uses": "actions/upload-artifact@v4",
            "with": {"name": name, "path": "reports/"},
        }

    return {
        "name": "matrix",
        "on": {"push": None, "pull_request": None, "workflow_dispatch": None},
        "jobs": {
            "linux": {
                "name": "${{ matrix.target }} (${{ matrix.runner }})",
                "runs-on": "ubuntu-latest",
                "container": CONTAINER,
                "timeout-minutes": 60,
                "strategy": {
                    "fail-fast": False,
                    "matrix": {
                        "include": [{"target": t.name, "runner": t.runner} for t in TARGETS]
                    },
                },
                "steps": [
                    checkout,
                    install_nox,
                    {
                        "name": "Provision, build and test ${{ matrix.target }}",
                        "run": "python3 -m nox -s ${{ matrix.target }}",
                    },
                    upload("reports-${{ matrix.target }}"),
                ],
            },
            "harness": nox_job("harness tests", "harness"),
            "lint": nox_job("ruff, mypy, clang-format", "lint"),
            "windows-native": {
                "name": "x86_64-windows (native Python)",
                "runs-on": "windows-latest",
                "timeout-minutes": 30,
                "steps": [
                    checkout,
                    {"uses": "actions/setup-python@v5", "with": {"python-version": PYTHON}},
                    {
                        "name": "Install test dependencies",
                        "run": "python -m pip install " + " ".join(PYTHON_DEPS),
                    },
                    {
                        "name": "Build with fiber._build (mingw gcc of the runner)",
                        "run": "python -m ci build --host",
                    },
                    {
                        "name": "Test",
                        "env": {"FIBER_CONFORMANCE_EXE": "build/host/conformance.exe"},
                        "run": 'python -m pytest -m "not harness" -p xdist -n 2 '
                        "--timeout=120 -rfE --junitxml=reports/windows-native.xml",
                    },
                    upload("reports-windows-native"),
                    *windows_wheel_steps(),
                ],
            },
            **wheel_jobs(checkout, install_nox),
        },
    }


# ---- packages (docs/packaging.md) ----------------------------------------------------------


def upload_packages(name: str) -> dict:
    """Keep dist/ (the sdist, the wheels) as the job's artifact."""
    return {
        "name": "Upload packages",
        "if": "always()",
        "uses": "actions/upload-artifact@v4",
        "with": {"name": name, "path": "dist/", "if-no-files-found": "error"},
    }


def wheel_jobs(checkout: dict, install_nox: dict) -> dict:
    """The sdist job (built, checked, installed and tested) and one job per Linux target that
    builds, retags, installs and tests its manylinux wheel; each keeps dist/ and the reports.
    The targets are the table's Linux rows when the workflow is generated."""
    from ci.wheels import linux_targets

    reports = {
        "name": "Upload reports",
        "if": "always()",
        "uses": "actions/upload-artifact@v4",
        "with": {"name": "", "path": "reports/wheels/"},
    }

    def with_name(step: dict, name: str) -> dict:
        return {**step, "with": {**step["with"], "name": name}}

    return {
        "sdist": {
            "name": "sdist (pip install in a fresh venv, the suite)",
            "runs-on": "ubuntu-latest",
            "container": CONTAINER,
            "timeout-minutes": 30,
            "steps": [
                checkout,
                install_nox,
                {
                    "name": "Build and test the sdist",
                    "run": "python3 -m nox -s wheels -- --sdist-only",
                },
                upload_packages("sdist"),
                with_name(reports, "reports-sdist"),
            ],
        },
        "wheels": {
            "name": "wheel ${{ matrix.target }} (${{ matrix.runner }})",
            "runs-on": "ubuntu-latest",
            "container": CONTAINER,
            "timeout-minutes": 60,
            "strategy": {
                "fail-fast": False,
                "matrix": {
                    "include": [
                        {"target": t.name, "runner": t.runner} for t in linux_targets(list(TARGETS))
                    ]
                },
            },
            "steps": [
                checkout,
                install_nox,
                {
                    "name": "Build, retag, install and test the ${{ matrix.target }} wheel",
                    "run": "python3 -m nox -s wheels -- --targets ${{ matrix.target }} "
                    "--no-sdist-test",
                },
                upload_packages("wheel-${{ matrix.target }}"),
                with_name(reports, "reports-wheel-${{ matrix.target }}"),
            ],
        },
    }


def windows_wheel_steps() -> list[dict]:
    """The Windows job's wheel: built with the runner's mingw gcc through ci/build.py's
    build_host, packed from the sdist (built there too), installed with pip --target and
    tested natively; dist/ kept as an artifact."""
    from ci.wheels import TOOLS

    return [
        {
            "name": "Build and test the Windows wheel",
            "run": f"python -m pip install {' '.join(TOOLS[:1])} && "
            "python -m ci wheels --host --no-sdist-test",
        },
        upload_packages("wheel-windows"),
        {
            "name": "Upload wheel reports",
            "if": "always()",
            "uses": "actions/upload-artifact@v4",
            "with": {"name": "reports-wheel-windows", "path": "reports/wheels/"},
        },
    ]


def render() -> str:
    return HEADER + "\n".join(to_yaml(workflow())) + "\n"


def main(argv: list[str]) -> int:
    mode = argv[0] if argv else "--check"
    text = render()
    if mode == "--write":
        WORKFLOW.write_text(text)
        print(f"wrote {WORKFLOW.relative_to(paths.ROOT)}")
        return 0
    if mode == "--print":
        sys.stdout.write(text)
        return 0
    if mode == "--check":
        current = WORKFLOW.read_text() if WORKFLOW.is_file() else ""
        if current != text:
            print(
                f"{WORKFLOW.relative_to(paths.ROOT)} is out of date with ci/targets.py; "
                "run: python -m ci workflow --write",
                file=sys.stderr,
            )
            return 1
        print(f"{WORKFLOW.relative_to(paths.ROOT)} is up to date")
        return 0
    print("usage: python -m ci workflow [--write | --check | --print]", file=sys.stderr)
    return 2
