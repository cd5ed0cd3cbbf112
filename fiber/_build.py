"""Build the native parts of fiber: the C core, the per-ABI assembly and the cffi extension.

One function, :func:`compile_native`, runs the compiler for every native artefact (the Python
extension, the C conformance program, benchmarks), for the host and for every cross target,
so the builds cannot drift apart. ``pip install .`` reaches it through ``setup.py``'s
``build_ext``; the harness in ``ci/`` calls it with a cross :class:`Toolchain`.

This module must import with only the standard library and cffi: it runs inside pip's isolated
build environment.
"""

from __future__ import annotations

import os
import platform
import shlex
import subprocess
import sys
import sysconfig
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "fiber"
CORE_DIR = PACKAGE / "core"
GLUE_DIR = PACKAGE / "glue"
ASM_DIR = ROOT / "asm"
CONFORMANCE_C = ROOT / "tests" / "core" / "c" / "conformance.c"

# The stack-switch routines: one file that #includes the per-ABI file for the target the
# compiler builds for (by the compiler's predefined macros, with an #error naming the supported
# ABIs for anything else). So the build never needs to know the target's CPU.
SWITCH_S = ASM_DIR / "switch.S"

# Warnings that catch real bugs in this code base; -Werror is left to the tests' builds.
WARNINGS = ("-Wall", "-Wextra", "-Wno-unused-parameter", "-Wno-missing-field-initializers")


@dataclass(frozen=True)
class Toolchain:
    """What compiles for one target: the C compiler command and the target's OS.

    ``os`` is "linux" or "windows"; ``sysroot`` (optional) holds the target's headers.
    ``arch`` is a label for the harness and reports (x86_64, aarch64, riscv64, ...): the build
    does not read it, since asm/switch.S picks the assembly by the compiler's own target.
    """

    cc: tuple[str, ...]
    arch: str = ""
    os: str = "linux"
    sysroot: Path | None = None
    cflags: tuple[str, ...] = field(default=())
    # A command put before the compiler for each compile (not the link): the harness runs
    # ccache there, so that an unchanged source is not compiled again (ci/compiler_cache.py).
    launcher: tuple[str, ...] = field(default=())

    @property
    def exe_suffix(self) -> str:
        return ".exe" if self.os == "windows" else ""


# platform.machine() spellings -> the harness's labels (64-bit ones; see host_arch()).
_MACHINE_LABELS = {
    "amd64": "x86_64",
    "arm64": "aarch64",
    "ppc64el": "ppc64le",
    "loong64": "loongarch64",
}


def host_arch() -> str:
    """The host's CPU as a label (x86_64, i686, aarch64, armhf, riscv64, s390x, ppc64le, ...).

    Only a label for the harness and reports: the build does not depend on it (a host the
    labels do not know still builds, as long as asm/switch.S has its ABI). A 32-bit Python on a
    64-bit kernel reports the 32-bit label.
    """
    machine = platform.machine().lower()
    machine = _MACHINE_LABELS.get(machine, machine)
    is_64 = sys.maxsize > 2**32
    if machine in ("i386", "i486", "i586", "i686") or (machine == "x86_64" and not is_64):
        return "i686"
    if machine.startswith("arm") or (machine == "aarch64" and not is_64):
        return "armhf"
    return machine


def host_toolchain() -> Toolchain:
    cc = os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc"
    return Toolchain(cc=tuple(shlex.split(cc)), arch=host_arch())


def core_sources(tc: Toolchain) -> list[Path]:
    """The C core and the stack-switch routines for a target (by its OS only: asm/switch.S
    selects the ABI's assembly from the compiler's predefined macros)."""
    if tc.os == "windows":
        return [CORE_DIR / "fiber_windows.c", CORE_DIR / "pool.c"]
    return [CORE_DIR / "fiber_posix.c", CORE_DIR / "pool.c", SWITCH_S]


def _common_flags(tc: Toolchain, optimize: str, shared: bool) -> list[str]:
    """The flags every compile and every link of `tc` gets."""
    flags = [optimize, "-g", *WARNINGS, *tc.cflags]
    if tc.os == "linux":
        # Unwind tables everywhere: backtraces from inside a fiber walk through our C frames
        # (arm32 unwinds through .ARM.exidx, which exists only with -funwind-tables).
        flags += ["-funwind-tables", "-pthread"]
    if shared:
        flags += ["-shared", "-fPIC"] if tc.os == "linux" else ["-shared"]
    return flags


def _run_into(cmd: list[str], output: Path) -> Path:
    """Run compiler command `cmd` with its output going to a file beside `output`, then rename
    that over `output`: the linker rewrites an existing file in place, which would change the
    code under a process that has the old extension loaded (the harness imports this package
    while it rebuilds it)."""
    output.parent.mkdir(parents=True, exist_ok=True)
    partial = output.with_name(f".{output.name}.{os.getpid()}.partial")
    cmd = [*cmd, "-o", str(partial)]
    try:
        subprocess.run(
            cmd, check=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT
        )
        os.replace(partial, output)
    finally:
        partial.unlink(missing_ok=True)
    return output


def compile_object(
    tc: Toolchain,
    source: Path,
    output: Path,
    *,
    shared: bool = False,
    include_dirs: tuple[Path, ...] = (),
    defines: tuple[str, ...] = (),
    extra_flags: tuple[str, ...] = (),
    optimize: str = "-O2",
) -> Path:
    """Compile one source for `tc` into the object file `output`, through `tc.launcher`.

    Run from the repository's root, so that a compiler cache sees the same relative paths in
    every checkout. Raises subprocess.CalledProcessError (with the compiler's output) when the
    compile fails.
    """
    cmd = [*tc.launcher, *tc.cc, *_common_flags(tc, optimize, shared)]
    cmd += [f"-I{d}" for d in (CORE_DIR, ASM_DIR, *include_dirs)]
    cmd += [f"-D{d}" for d in defines]
    cmd += [*extra_flags, "-c", str(source)]
    return _run_into(cmd, output)


def compile_native(
    tc: Toolchain,
    sources: list[Path],
    output: Path,
    *,
    shared: bool = False,
    include_dirs: tuple[Path, ...] = (),
    defines: tuple[str, ...] = (),
    extra_flags: tuple[str, ...] = (),
    link_flags: tuple[str, ...] = (),
    libs: tuple[str, ...] = (),
    optimize: str = "-O2",
) -> Path:
    """Compile `sources` for `tc` (each by compile_object) and link them into `output` (a
    program, or a shared object).

    The one place that knows the flags: every native build in the project comes through here.
    `extra_flags` go to every compile and to the link, `link_flags` to the link only, `libs`
    after the objects. Raises subprocess.CalledProcessError (with the compiler's output) when
    the build fails.
    """
    with tempfile.TemporaryDirectory(prefix="fiber-objects-") as tmp:
        objects = [
            compile_object(
                tc,
                src,
                Path(tmp) / f"{i}-{src.name}.o",
                shared=shared,
                include_dirs=include_dirs,
                defines=defines,
                extra_flags=extra_flags,
                optimize=optimize,
            )
            for i, src in enumerate(sources)
        ]
        cmd = [*tc.cc, *_common_flags(tc, optimize, shared), *extra_flags, *link_flags]
        cmd += [*map(str, objects), *libs]
        if tc.os == "linux":
            cmd += ["-ldl"]
        return _run_into(cmd, output)


def build_conformance(tc: Toolchain, output: Path) -> Path:
    """Build the C conformance program (tests/core/c/conformance.c) for toolchain `tc`.

    Warnings are errors here (compile_native leaves -Werror to the tests' builds); -rdynamic
    puts the program's functions in the dynamic symbol table, so that backtrace_symbols() can
    name them; libm holds fesetround() on glibc.
    """
    linux = tc.os == "linux"
    return compile_native(
        tc,
        [CONFORMANCE_C, *core_sources(tc)],
        output,
        extra_flags=("-std=c11", "-Werror"),
        link_flags=("-rdynamic",) if linux else (),
        libs=("-lm",) if linux else (),
    )


# ---------------------------------------------------------------------------------------
# The cffi extension: fiber._native holds the C core, the assembly and the Python glue.
# ---------------------------------------------------------------------------------------

EXTENSION_NAME = "fiber._native"

# The C API as cffi sees it (fiber.h minus comments), plus the glue's installer.
CDEF = """
typedef struct fiber fiber_t;
typedef void *(*fiber_entry_fn)(void *arg, void *first);
const char *fiber_strerror(int status);
size_t fiber_default_stack_size(void);
size_t fiber_min_stack_size(void);
int fiber_create(fiber_t **out, size_t stack_size, fiber_entry_fn entry, void *arg);
enum fiber_flags { FIBER_OWN_FP_CONTROL = 1 };
int fiber_create_ex(fiber_t **out, size_t stack_size, size_t user_size, unsigned flags,
                    fiber_entry_fn entry, void *arg);
void *fiber_user_area(const fiber_t *f);
int fiber_resume(fiber_t *f, void *value, void **out);
int fiber_suspend(void *value, void **in);
fiber_t *fiber_current(void);
int fiber_done(const fiber_t *f);
int fiber_running(const fiber_t *f);
int fiber_destroy(fiber_t *f);
void fiber_stack_bounds(const fiber_t *f, void **low, void **high);
void fiber_pool_trim(void);
size_t fiber_pool_size(void);
int fiber_install_overflow_handler(void);
int fiber_glue_install(void);
"""


def glue_sources() -> list[Path]:
    # compat.c includes the one compat_3XX.c for the Python being built against.
    return [GLUE_DIR / "glue.c", GLUE_DIR / "bridge.c", GLUE_DIR / "compat.c"]


def make_ffibuilder() -> Any:  # a cffi.FFI (cffi publishes no types)
    """The cffi builder of fiber._native (sources are compiled by compile_native, not here)."""
    import cffi

    ffi = cffi.FFI()
    ffi.cdef(CDEF)
    ffi.set_source(
        EXTENSION_NAME,
        '#include "fiber.h"\nint fiber_glue_install(void);\n',
        # The glue needs the full C API (thread states), which Py_LIMITED_API would hide.
        define_macros=[("_CFFI_NO_LIMITED_API", None)],
    )
    return ffi


def build_extension(
    tc: Toolchain,
    output: Path,
    python_include: Path,
    *,
    defines: tuple[str, ...] = (),
    extra_flags: tuple[str, ...] = (),
    link_flags: tuple[str, ...] = (),
    libs: tuple[str, ...] = (),
) -> Path:
    """Build fiber._native for `tc` against the Python headers in `python_include`.

    `libs` go after the objects (a Windows extension links the Python DLL's import library).
    """
    sources = [module_source(), *core_sources(tc), *glue_sources()]
    return compile_native(
        tc,
        sources,
        output,
        shared=True,
        include_dirs=(python_include, GLUE_DIR),
        defines=("_CFFI_NO_LIMITED_API", *defines),
        extra_flags=extra_flags,
        link_flags=link_flags,
        libs=libs,
    )


def module_source() -> Path:
    """cffi's C source of fiber._native, at build/cffi/_native.c under the root.

    The same for every target, and rewritten only when its contents change: a compiler cache
    keys on the source's path as well as its contents, so a file of the same name, contents
    and age in every checkout is what lets a fresh clone reuse the cache.
    """
    out = ROOT / "build" / "cffi" / "_native.c"
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="fiber-cffi-", dir=out.parent) as tmp:
        fresh = Path(tmp) / out.name
        make_ffibuilder().emit_c_code(str(fresh))
        if not out.is_file() or out.read_bytes() != fresh.read_bytes():
            os.replace(fresh, out)  # atomic: two builds at once may both get here
    return out


def host_extension_path(package_dir: Path = PACKAGE) -> Path:
    """Where the host's fiber._native goes inside a package directory."""
    return package_dir / ("_native" + sysconfig.get_config_var("EXT_SUFFIX"))


def build_host_extension(output: Path | None = None) -> Path:
    """Build fiber._native for the running interpreter (in place by default)."""
    return build_extension(
        host_toolchain(),
        output or host_extension_path(),
        Path(sysconfig.get_paths()["include"]),
    )


if __name__ == "__main__":
    # `python -m fiber._build`: build the extension in place, for a checkout used directly.
    try:
        print(build_host_extension())
    except subprocess.CalledProcessError as exc:
        sys.stderr.write(exc.stdout or "")
        sys.exit(f"fiber: building the native extension failed: {' '.join(exc.cmd)}")
