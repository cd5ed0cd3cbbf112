"""Build hook: compile fiber._native with the project's own build function.

pyproject.toml holds the metadata; this file only routes setuptools' build_ext through
fiber._build.build_extension, the same function the cross-architecture harness uses, so a
`pip install .` and a cross build compile the same sources with the same flags.
"""

import sys
import sysconfig
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fiber import _build  # noqa: E402  (fiber imports without its extension built)


class BuildNative(build_ext):
    def build_extension(self, ext):
        output = Path(self.get_ext_fullpath(ext.name))
        _build.build_extension(
            _build.host_toolchain(), output, Path(sysconfig.get_paths()["include"])
        )


setup(
    ext_modules=[Extension(_build.EXTENSION_NAME, sources=[])],
    cmdclass={"build_ext": BuildNative},
)
