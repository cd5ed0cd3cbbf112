"""The suite's folders say what they cover (tests/README.md), and its markers mean what they say."""

from __future__ import annotations

import ast

from ci import paths

FOLDERS = ("core", "python", "harness")


def test_every_test_module_is_in_one_of_the_three_folders():
    misplaced = [
        str(p.relative_to(paths.TESTS))
        for p in paths.TESTS.rglob("test_*.py")
        if p.relative_to(paths.TESTS).parts[0] not in FOLDERS
    ]
    assert misplaced == [], "tests/README.md says which folder each belongs in"


def test_the_readme_names_every_folder():
    text = (paths.TESTS / "README.md").read_text()
    assert all(f"`{f}/`" in text for f in FOLDERS)


def _marks(path) -> set[str]:
    """The names of the ``pytest.mark.NAME`` attributes a module mentions."""
    return {
        node.attr
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Attribute)
        and node.value.attr == "mark"
    }


def test_only_the_harness_folder_is_marked_harness():
    """``harness`` is everything under tests/harness/ (its conftest.py adds it), nothing else:
    a reader's ``-m "not harness"`` relies on that."""
    elsewhere = [
        str(p.relative_to(paths.TESTS))
        for p in paths.TESTS.rglob("*.py")
        if p.relative_to(paths.TESTS).parts[0] != "harness" and "harness" in _marks(p)
    ]
    assert elsewhere == []
