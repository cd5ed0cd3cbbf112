"""The checks: one set of pinned tools for `nox -s lint` and the pre-commit hooks, and a
lint command that runs each of them over the whole tree."""

from __future__ import annotations

import re
import sys

from ci import lint, paths

PRE_COMMIT = paths.ROOT / ".pre-commit-config.yaml"


def test_pre_commit_hooks_pin_the_same_tools_as_the_lint_session():
    text = PRE_COMMIT.read_text()
    pinned = set(re.findall(r'"([A-Za-z0-9_.-]+==[^"]+)"', text))
    assert pinned == set(lint.TOOLS)
    for need in lint.MYPY_NEEDS:
        assert f'"{need}"' in text


def test_lint_checks_by_default_and_fixes_only_when_asked():
    check = lint.commands(fix=False)
    fix = lint.commands(fix=True)
    assert [c[2:4] for c in check[:3]] == [["ruff", "check"], ["ruff", "format"], ["mypy"]]
    assert "--check" in check[1] and "--fix" not in check[0]
    assert check[3][1:3] == ["--dry-run", "--Werror"]
    assert "--fix" in fix[0] and "--check" not in fix[1] and "-i" in fix[3]
    assert all(c[0] == sys.executable for c in check[:3])


def test_every_c_file_of_the_project_is_formatted_by_it():
    files = set(lint.c_files())
    everywhere = {
        str(p.relative_to(paths.ROOT))
        for p in paths.ROOT.rglob("*")
        if p.suffix in lint.C_SUFFIXES and not {".git", ".nox", "build"} & set(p.parts)
    }
    assert "fiber/core/fiber.h" in files and "tests/core/c/conformance.c" in files
    assert files == everywhere - {"asm/macros.h"}  # asm/: assembly macros, not C


def test_unknown_arguments_are_refused(capsys):
    assert lint.main(["--frobnicate"]) == 2
    assert "usage" in capsys.readouterr().err


def test_ci_runs_the_checks_before_the_tests():
    """.ci/run is bootstrap's test mode, which runs the lint session and lets its status
    fail the run."""
    assert "bash ci/bootstrap.sh test" in (paths.ROOT / ".ci" / "run").read_text()
    script = (paths.ROOT / "ci" / "bootstrap.sh").read_text()
    test_mode = script[script.index('if [ "$mode" = matrix ]') :]
    assert test_mode.index("-m nox -s lint") < test_mode.index("-m nox -s harness matrix")
    assert 'if [ "$lint" -ne 0 ]' in test_mode and "status=1" in test_mode
