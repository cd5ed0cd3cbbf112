"""Everything derived from the target table is in sync with it: nox sessions, the CI
workflow file and the README's table."""

from __future__ import annotations

import importlib.util
import sys
import types

import pytest

from ci import paths, readme, targets, workflow

# ---- the CI workflow -------------------------------------------------------------------


def test_committed_workflow_equals_the_generated_one():
    assert workflow.WORKFLOW.read_text() == workflow.render(), (
        "ci/github-workflow.yml is out of date: run python -m ci workflow --write"
    )


def test_workflow_has_a_linux_job_per_abi_running_every_pair_of_it():
    wf = workflow.workflow()
    linux = wf["jobs"]["linux"]
    include = linux["strategy"]["matrix"]["include"]
    assert [row["abi"] for row in include] == list(targets.ABI_NAMES)
    for row in include:
        pairs = targets.pairs_of(row["abi"])
        assert row["pythons"] == (" ".join(t.version for t in pairs if t.version) or "none")
        # the ABI's nox session runs all of them: every pair of the table has its job
        assert row["runner"] == pairs[0].abi.emulator or row["runner"] == "native"
    assert linux["strategy"]["fail-fast"] is False
    runs = [s.get("run", "") for s in linux["steps"]]
    assert "python3 -m nox -s ${{ matrix.abi }}" in runs
    # The chroot of trixie's loongarch64 compiler needs a mount namespace.
    options = {row["abi"]: row["options"] for row in include}
    assert options["loongarch64-linux"] == "--privileged" and options["aarch64-linux"] == ""


@pytest.mark.parametrize("job", ["windows-native", "macos-arm64", "macos-x86_64"])
def test_workflow_native_jobs_run_the_whole_suite_on_every_version(job):
    spec = workflow.workflow()["jobs"][job]
    assert spec["runs-on"].startswith("windows" if "windows" in job else "macos")
    assert spec["strategy"]["matrix"]["python"] == list(targets.VERSIONS)
    runs = " ; ".join(s.get("run", "") for s in spec["steps"])
    assert "python -m ci build --host" in runs
    assert "pip install " + " ".join(targets.PYTHON_DEPS) in runs
    # the whole suite but the harness's own tests (tests/README.md)
    assert "-m pytest" in runs and "tests/core tests/python" in runs


def test_macos_jobs_run_on_arm64_and_x86_64_runners():
    jobs = workflow.workflow()["jobs"]
    assert jobs["macos-arm64"]["runs-on"] == "macos-14"  # Apple silicon
    assert jobs["macos-x86_64"]["runs-on"] == "macos-13"  # Intel


def test_workflow_is_valid_yaml_of_the_same_structure():
    text = workflow.render()
    try:
        import yaml
    except ImportError:  # the nox venv has no PyYAML: check the emitter's shape instead
        assert "\t" not in text and text.endswith("\n")
        assert "\njobs:\n  linux:\n" in text
        return
    data = yaml.safe_load(text)
    data["on"] = data.pop(True)  # YAML 1.1 reads the key `on` as true; GitHub reads "on"
    assert data == workflow.workflow() | {"on": data["on"]}
    assert set(data["on"]) == {"push", "pull_request", "workflow_dispatch"}


def test_yaml_scalars_are_quoted_when_needed():
    assert workflow.to_yaml({"v": "3.11"}) == ['v: "3.11"']
    assert workflow.to_yaml({"v": "yes"}) == ['v: "yes"']
    assert workflow.to_yaml({"v": "a: b"}) == ['v: "a: b"']
    assert workflow.to_yaml({"v": False, "n": 3}) == ["v: false", "n: 3"]
    assert workflow.to_yaml({"l": [{"a": 1, "b": "x"}]}) == ["l:", "  - a: 1", "    b: x"]


# ---- the README ----------------------------------------------------------------------


def test_readme_target_table_equals_the_generated_one():
    text = readme.README.read_text()
    assert readme.BEGIN in text and readme.END in text
    assert readme.splice(text) == text, (
        "README.md's target table is out of date: run python -m ci readme --write"
    )


def test_readme_table_has_one_row_per_abi_and_a_column_per_python():
    lines = readme.table().splitlines()
    head = [c.strip() for c in lines[0].split("|")[1:-1]]
    assert head[4:-1] == list(targets.VERSIONS)
    rows = [ln for ln in lines[2:] if ln.startswith("|")]
    assert [r.split("|")[1].strip() for r in rows] == list(targets.ABI_NAMES)
    table = readme.table()
    assert (
        "| aarch64-linux | aarch64-linux-gnu-gcc | arm64 | qemu-aarch64 | bookworm | trixie "
        "| sid | sid |" in table
    )
    assert "| x86_64-linux | host gcc | amd64 | native, loader | host | trixie |" in table
    assert (
        "| loongarch64-linux | loongarch64-linux-gnu-gcc | loong64 | qemu-loongarch64 | - |"
        in table
    )
    assert "| x86_64-windows | x86_64-w64-mingw32-gcc | (none) | wine64 | - | - | - | - |" in table
    # every pair is one cell that is not "-"
    cells = sum(
        1 for r in rows for c in r.split("|")[5 : 5 + len(targets.VERSIONS)] if c.strip() != "-"
    )
    assert cells == len([t for t in targets.TARGETS if t.python])
    assert f"{len(targets.TARGETS)} targets." in table


def test_splice_needs_the_markers():
    with pytest.raises(ValueError, match="markers"):
        readme.splice("# no markers here\n")
    assert readme.splice(f"a\n{readme.BEGIN}\nold\n{readme.END}\nb\n") == (
        f"a\n{readme.BEGIN}\n{readme.table()}\n{readme.END}\nb\n"
    )


def test_readme_puts_pip_install_first_and_the_harness_two_commands_first_in_it():
    text = readme.README.read_text()
    assert text.index("\n## Install\n") < text.index("\n## Harness\n")
    install = text[text.index("\n## Install\n") :]
    first = next(ln for ln in install.splitlines() if ln.startswith(("pip ", "bash ", "nox ")))
    assert first == "pip install stackful-fiber"
    harness = text.index("\n## Harness\n")
    quick = text.index("### Quick start", harness)
    section = text[quick : text.index("\n## ", quick)]
    commands = [ln.split("#")[0].strip() for ln in section.splitlines() if ln.startswith("bash ")]
    assert commands[:2] == ["bash ci/bootstrap.sh", "bash ci/bootstrap.sh test"]
    assert "bash ci/bootstrap.sh test" in (paths.ROOT / ".ci" / "run").read_text()


# ---- the nox sessions ------------------------------------------------------------------


class FakeNox(types.ModuleType):
    """Enough of nox to import noxfile.py and see what it registers."""

    def __init__(self):
        super().__init__("nox")
        self.options = types.SimpleNamespace()
        self.registered: dict[str, tuple] = {}
        self.Session = object

    def session(self, func=None, **kw):
        if func is None:
            return lambda f: self.session(f, **kw)
        self.registered[kw.get("name") or func.__name__] = (func, kw)
        return func


class FakeSession:
    def __init__(self, posargs=()):
        self.posargs = list(posargs)
        self.runs: list[tuple] = []
        self.installs: list[tuple] = []

    def run(self, *args, **kw):
        self.runs.append(args)

    def install(self, *args, **kw):
        self.installs.append(args)


@pytest.fixture
def noxfile(monkeypatch):
    fake = FakeNox()
    monkeypatch.setitem(sys.modules, "nox", fake)
    spec = importlib.util.spec_from_file_location("_noxfile_under_test", paths.ROOT / "noxfile.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return fake


def test_nox_lists_one_session_per_target_and_per_abi_and_the_matrix(noxfile):
    names = set(noxfile.registered)
    assert set(targets.NAMES) <= names
    assert set(targets.ABI_NAMES) <= names
    assert {"matrix", "provision", "harness"} <= names
    assert noxfile.options.sessions == ["matrix"]
    for name in (*targets.NAMES, *targets.ABI_NAMES):
        func, kw = noxfile.registered[name]
        assert kw.get("default") is False
        assert name in (func.__doc__ or "")
    func, _ = noxfile.registered["aarch64-linux"]
    for t in targets.pairs_of("aarch64-linux"):
        assert t.name in func.__doc__


def test_target_session_runs_that_target_with_pytest_args(noxfile):
    for name in ("armhf-linux-py3.14", "armhf-linux"):
        func, _ = noxfile.registered[name]
        s = FakeSession(posargs=["-k", "registers"])
        func(s)
        assert s.runs == [
            ("python", "-m", "ci", "matrix", "--targets", name, "--", "-k", "registers")
        ]
        assert set(targets.PYTHON_DEPS) <= set(s.installs[0])


def test_matrix_session_runs_what_the_environment_selects(noxfile):
    """No --targets: the matrix command takes FIBER_TARGETS and FIBER_PYTHONS, else all."""
    func, _ = noxfile.registered["matrix"]
    s = FakeSession()
    func(s)
    (run,) = s.runs
    assert run == ("python", "-m", "ci", "matrix", "--")


def test_readme_is_a_front_door_linking_every_docs_page():
    text = readme.README.read_text()
    assert len(text.splitlines()) <= 250
    pages = sorted(p.name for p in (paths.ROOT / "docs").glob("*.md"))
    assert pages, "docs/ has no pages"
    for page in pages:
        assert f"](docs/{page})" in text, f"README.md does not link docs/{page}"
