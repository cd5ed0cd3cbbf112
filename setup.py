"""Build hook: compile fiber._native with the project's own build function.

pyproject.toml holds the metadata; this file only
- routes setuptools' build_ext through fiber._build.build_extension, the same function the
  cross-architecture harness uses, so a `pip install` and a cross build compile the same
  sources with the same flags; a compiler that fails has its command and its whole output
  printed (pip shows a failed build's output), not only an exit status;
- leaves fiber/_build.py out of the wheel: it builds from folders (asm/, fiber/core/,
  fiber/glue/) that the sdist carries and site-packages does not. MANIFEST.in puts it in the
  sdist.

`from fiber import _build` runs fiber/__init__.py, which imports without its extension built
(the API names then raise an ImportError saying how to build it).
"""

import shlex
import sys
import sysconfig
from pathlib import Path
from subprocess import CalledProcessError

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext
from setuptools.command.build_py import build_py

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fiber import _build  # noqa: E402

# Modules of the package that build it and are not part of what it runs.
BUILD_ONLY_MODULES = {"_build"}


class BuildNative(build_ext):
    def build_extension(self, ext):
        output = Path(self.get_ext_fullpath(ext.name))
        try:
            _build.build_extension(
                _build.host_toolchain(), output, Path(sysconfig.get_paths()["include"])
            )
        except CalledProcessError as exc:
            # To stderr, whole: pip prints a failed build's output, so the compiler's error is
            # what the user reads (setuptools alone would report only the exit status).
            sys.stderr.write(f"\n$ {shlex.join(map(str, exc.cmd))}\n{exc.stdout or ''}\n")
            sys.stderr.flush()
            raise SystemExit(
                f"fiber: compiling the native extension {ext.name} failed (exit "
                f"{exc.returncode}); the compiler's command and output are above"
            ) from None
        except FileNotFoundError as exc:  # no compiler at all
            raise SystemExit(
                f"fiber: the C compiler {exc.filename!r} was not found: install a C compiler "
                "(gcc or clang) or name one in CC"
            ) from None


class BuildPyRuntimeOnly(build_py):
    def find_package_modules(self, package, package_dir):
        modules = super().find_package_modules(package, package_dir)
        return [m for m in modules if not (package == "fiber" and m[1] in BUILD_ONLY_MODULES)]


setup(
    ext_modules=[Extension(_build.EXTENSION_NAME, sources=[])],
    cmdclass={"build_ext": BuildNative, "build_py": BuildPyRuntimeOnly},
)
