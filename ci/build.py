"""Build a target's native parts through fiber/_build.py (the project's one build function).

Per target (an ABI x CPython pair):
- the cffi extension ``fiber/_native<EXT_SUFFIX>``, in place: the suffix is the target
  Python's (``.cpython-314-aarch64-linux-gnu.so``, ...), so the builds of every pair sit side
  by side in fiber/ and each Python imports its own. Compiled against the sysroot's headers of
  that version (the host's, natively). The Windows target has no Python under Wine: no
  extension.
- once per ABI (by the pair that does the ABI's once-per-ABI work in a run: ci/matrix.py), the
  C conformance program ``build/<abi>/conformance[.exe]`` from tests/core/c/conformance.c and the
  core (with -rdynamic on Linux, so backtrace() names the core's functions): it does not
  depend on the Python version. Skipped, with a note, while tests/core/c/conformance.c does not
  exist.

``python -m ci build --host`` builds both for the machine it runs on (the CI workflow's
Windows job uses it, with the mingw gcc of the Windows runner).
"""

from __future__ import annotations

import dataclasses
import platform
import shlex
import subprocess
import sys
import sysconfig
from dataclasses import dataclass, field
from pathlib import Path

from ci import compiler_cache, paths
from ci.sysroots import Sysroot
from ci.targets import Target
from ci.tools import find_tool
from fiber import _build


class BuildError(RuntimeError):
    """A compiler run failed; the message carries the command and the compiler's output."""

    def __init__(self, what: str, command: list[str] | str, output: str):
        self.what = what
        self.command = command if isinstance(command, str) else shlex.join(map(str, command))
        self.output = output
        super().__init__(
            f"building {what} failed: {first_error(output)}\n$ {self.command}\n{output.rstrip()}"
        )


def first_error(output: str) -> str:
    """The compiler's first error line (what a summary should show), else its last line."""
    lines = [ln.strip() for ln in output.splitlines() if ln.strip()]
    for ln in lines:
        if "error" in ln.lower() or "undefined reference" in ln:
            return ln
    return lines[-1] if lines else "(no compiler output)"


@dataclass
class Built:
    extension: Path | None = None
    conformance: Path | None = None
    notes: list[str] = field(default_factory=list)


def _run(what: str, fn, *args, **kwargs) -> Path:
    try:
        return fn(*args, **kwargs)
    except subprocess.CalledProcessError as e:
        raise BuildError(what, e.cmd, e.output or e.stderr or "") from None
    except FileNotFoundError as e:  # the compiler itself is missing
        raise BuildError(what, str(e.filename), str(e)) from None


def build_extension(
    tc,
    ext_suffix: str,
    python_include: Path,
    *,
    extra_flags: tuple[str, ...] = (),
    link_flags: tuple[str, ...] = (),
    defines: tuple[str, ...] = (),
    libs: tuple[str, ...] = (),
) -> Path:
    out = _build.PACKAGE / f"_native{ext_suffix}"
    return _run(
        f"the extension {out.name}",
        _build.build_extension,
        tc,
        out,
        python_include,
        defines=defines,
        extra_flags=extra_flags,
        link_flags=link_flags,
        libs=libs,
    )


def build_conformance(tc, out_dir: Path) -> Path | None:
    """The C conformance program, or None while tests/core/c/conformance.c does not exist.

    Built by fiber._build.build_conformance, the one place for the program's flags.
    """
    if not _build.CONFORMANCE_C.is_file():
        return None
    out = out_dir / f"conformance{tc.exe_suffix}"
    return _run("the C conformance program", _build.build_conformance, tc, out)


def build_target(target: Target, sysroot: Sysroot | None = None, *, per_abi: bool = True) -> Built:
    """Build what `target` runs, against `sysroot`'s Python when its runner kind has one; the
    ABI's C conformance program too when `per_abi`."""
    built = Built()
    cc = find_tool(target.cc) if target.cc else None  # the harness's own tools, by full path
    tc = target.toolchain(sysroot.path if sysroot is not None else None, cc)
    tc = dataclasses.replace(tc, launcher=compiler_cache.launcher())
    out_dir = paths.BUILD / target.abi.name
    if target.os == "linux" and target.python is not None:
        if sysroot is not None:
            # The sysroot's pyconfig.h includes <ARCH-TRIPLET/python3.X/pyconfig.h>; searched
            # after the compiler's own headers so its libc headers stay the compiler's.
            built.extension = build_extension(
                tc,
                sysroot.interpreter(target.version).ext_suffix,
                sysroot.python_include(target.version),
                extra_flags=("-idirafter", str(sysroot.path / "usr" / "include")),
            )
        else:
            built.extension = build_extension(
                tc, sysconfig.get_config_var("EXT_SUFFIX"), Path(sysconfig.get_paths()["include"])
            )
    elif target.os != "linux":
        built.notes.append("no extension: there is no Windows Python under Wine")
    if not per_abi:
        return built
    built.conformance = build_conformance(tc, out_dir)
    if built.conformance is None:
        built.notes.append(
            f"no conformance program: {_build.CONFORMANCE_C.relative_to(paths.ROOT)}"
            " does not exist yet"
        )
    return built


def build_host() -> Built:
    """Build for the machine this Python runs on (Linux; macOS, where an extension leaves the
    interpreter's symbols to be found when it is loaded; or Windows with mingw gcc)."""
    built = Built()
    include = Path(sysconfig.get_paths()["include"])
    suffix = sysconfig.get_config_var("EXT_SUFFIX") or ".pyd"
    if sys.platform == "win32":
        tc = _build.Toolchain(cc=("gcc",), arch=_build.host_arch(), os="windows")
        ver = f"{sys.version_info[0]}{sys.version_info[1]}"
        libs = (f"-L{Path(sys.base_prefix) / 'libs'}", f"-lpython{ver}")
        built.extension = build_extension(tc, suffix, include, defines=("MS_WIN64",), libs=libs)
    elif sys.platform == "darwin":
        tc = _build.host_toolchain()
        flags = ("-undefined", "dynamic_lookup")  # what distutils links a macOS extension with
        built.extension = build_extension(tc, suffix, include, link_flags=flags)
    else:
        tc = _build.host_toolchain()
        built.extension = build_extension(tc, suffix, include)
    built.conformance = build_conformance(tc, paths.BUILD / "host")
    return built


def main(argv: list[str]) -> int:
    """`python -m ci build --host` or `python -m ci build TARGET` (the target's runner kind is
    prepared first, as a matrix run does: its sysroot is built if needed)."""
    from ci import runners, targets
    from ci.tools import SetupError

    if argv == ["--host"]:
        try:
            built = build_host()
        except BuildError as e:
            print(e, file=sys.stderr)
            return 1
    elif len(argv) == 1:
        try:
            t = targets.get(argv[0])
        except targets.UnknownTarget as e:
            print(f"build: error: {e}", file=sys.stderr)
            return 2
        try:
            built = build_target(t, runners.kind(t).prepare(t).sysroot)
        except (BuildError, SetupError) as e:
            print(e, file=sys.stderr)
            return 1
    else:
        print("usage: python -m ci build (--host | TARGET)", file=sys.stderr)
        return 2
    for label, p in (("extension", built.extension), ("conformance", built.conformance)):
        if p is not None:
            print(f"{label}: {p}")
    for n in built.notes:
        print(f"note: {n}")
    print(f"built on {platform.machine()} for {'the host' if argv == ['--host'] else argv[0]}")
    return 0
