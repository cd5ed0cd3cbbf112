"""The CI workflow file (GitHub Actions), generated from the target table.

``python -m ci workflow --write`` writes ci/github-workflow.yml; ``--check`` exits 1 when the
committed file differs from what the table gives (tests/harness/test_generated.py checks too).
To use it on GitHub, copy it to .github/workflows/.

Jobs:

- one Linux job per ABI (in a Debian bookworm container with CPython 3.11, root, the same kind
  of machine as this project's), running that ABI's nox session: every CPython pair of the
  ABI in one matrix run, which provisions the tools and the sysroots itself. Per ABI rather
  than per pair: an ABI's pairs share its host tools, and sid's 3.14 and 3.15 share one
  sysroot, so a job per pair would install and download the same things up to four times;
  and a matrix run does the ABI's Python-independent work (the C conformance program) once,
  which one job per pair would repeat in every job;
- a job running the harness's own tests, and one running the checks (``nox -s lint``);
- the whole suite natively on hosted runners, once per CPython version of the table: Windows
  (the x86_64-windows target here runs only the C programs under Wine, its Python tests need a
  real Windows Python) and macOS on arm64 and on x86_64 (this machine can only assemble the
  Mach-O files and check their unwind info): ``python -m ci build --host``, then pytest on
  tests/core and tests/python (tests/README.md).

Packages (docs/packaging.md): an sdist job (``nox -s wheels -- --sdist-only``), one job per
Linux target building and testing its manylinux wheel (``nox -s wheels -- --targets T
--no-sdist-test``), and the Windows jobs' last steps build and test the Windows wheel
(``python -m ci wheels --host``); every one of them keeps dist/ as an artifact.
"""

from __future__ import annotations

import json
import re
import sys

from ci import paths
from ci.suite_tools import BACKPORTS, split
from ci.targets import ABIS, PYTHON_DEPS, TARGETS, VERSIONS, Abi, pairs_of

WORKFLOW = paths.ROOT / "ci" / "github-workflow.yml"
CONTAINER = "python:3.11-bookworm"
# The hosted runners of the native jobs: (job id, title, runs-on).
NATIVE_RUNNERS = (
    ("windows-native", "x86_64-windows", "windows-latest"),
    ("macos-arm64", "arm64-macos", "macos-14"),
    ("macos-x86_64", "x86_64-macos", "macos-13"),
)

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


def needs_chroot(abi: Abi) -> bool:
    """Whether the ABI runs a tool in a chroot of another suite (ci/suite_tools.py), which
    needs a mount namespace: a privileged container."""
    return any((split(pkg) or ("", BACKPORTS))[1] != BACKPORTS for _, pkg in abi.tools)


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

    def native_job(job: str, title: str, runs_on: str) -> dict:
        """The whole suite natively on a hosted runner, once per CPython version."""
        conformance = "build/host/conformance" + (".exe" if "windows" in job else "")
        return {
            "name": title + " (native Python ${{ matrix.python }})",
            "runs-on": runs_on,
            "timeout-minutes": 30,
            "strategy": {"fail-fast": False, "matrix": {"python": list(VERSIONS)}},
            "steps": [
                checkout,
                {
                    "uses": "actions/setup-python@v5",
                    "with": {"python-version": "${{ matrix.python }}", "allow-prereleases": True},
                },
                {
                    "name": "Install test dependencies",
                    "run": "python -m pip install " + " ".join(PYTHON_DEPS),
                },
                {
                    "name": "Build with fiber._build (the runner's compiler)",
                    "run": "python -m ci build --host",
                },
                {
                    "name": "Test",
                    "env": {"FIBER_CONFORMANCE_EXE": conformance},
                    "run": "python -m pytest -p xdist -n 2 --timeout=120 -rfE "
                    f"--junitxml=reports/{job}.xml tests/core tests/python",
                },
                upload(f"reports-{job}-${{{{ matrix.python }}}}"),
                *(windows_wheel_steps() if "windows" in job else []),
            ],
        }

    linux_rows = [
        {
            "abi": a.name,
            "runner": a.emulator or a.runner,
            "pythons": " ".join(t.version for t in pairs_of(a.name) if t.version) or "none",
            "options": "--privileged" if needs_chroot(a) else "",
        }
        for a in ABIS
    ]
    return {
        "name": "matrix",
        "on": {"push": None, "pull_request": None, "workflow_dispatch": None},
        "jobs": {
            "linux": {
                "name": "${{ matrix.abi }} (${{ matrix.runner }}; Python ${{ matrix.pythons }})",
                "runs-on": "ubuntu-latest",
                "container": {"image": CONTAINER, "options": "${{ matrix.options }}"},
                "timeout-minutes": 90,
                "strategy": {"fail-fast": False, "matrix": {"include": linux_rows}},
                "steps": [
                    checkout,
                    install_nox,
                    {
                        "name": "Provision, build and test every pair of ${{ matrix.abi }}",
                        "run": "python3 -m nox -s ${{ matrix.abi }}",
                    },
                    upload("reports-${{ matrix.abi }}"),
                ],
            },
            "harness": nox_job("harness tests", "harness"),
            "lint": nox_job("ruff, mypy, clang-format", "lint"),
            **{job: native_job(job, title, on) for job, title, on in NATIVE_RUNNERS},
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
        upload_packages("wheel-windows-${{ matrix.python }}"),
        {
            "name": "Upload wheel reports",
            "if": "always()",
            "uses": "actions/upload-artifact@v4",
            "with": {
                "name": "reports-wheel-windows-${{ matrix.python }}",
                "path": "reports/wheels/",
            },
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
