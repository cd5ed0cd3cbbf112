"""`python -m ci COMMAND ...`: the project's one command line (noxfile.py calls these).

The matrix (every target: provision, build, test, report)
  matrix [--targets a,b] [--pythons 3.14] [--jobs N] [-- PYTEST ARGS]
                                                     build and test targets, report
  provision [TARGET...]                              host tools, sysroots, Wine prefix
  build (--host | TARGET)                            build the extension and C programs
  targets                                            list the targets (ABI x CPython pairs)
  summary [--label L] [XML...]                       closing line over reports/

Packages (docs/packaging.md)
  wheels [--targets a,b] [--no-sdist-test] [--sdist-only] [--host] [-- PYTEST ARGS]
                                                     dist/: the sdist and a tested manylinux
                                                     wheel per Linux target

Generated files (from ci/targets.py)
  workflow (--write | --check | --print)             ci/github-workflow.yml
  readme (--write | --check)                         README.md's target table

Checks
  lint [--fix]                                       ruff, ruff format, mypy, clang-format

Reliability (docs/benchmarks-and-reliability.md)
  sanitize [--cc clang,gcc] [CASE...]                core + C conformance under ASan and UBSan
  valgrind [CASE...]                                 C conformance suite under valgrind memcheck
  soak [--cycles N] [--round-trips N] [--fibers N] [--out DIR]
                                                     a million fiber lives; reports/soak.md
  debug [PYTEST ARGS...]                             the Python suite on CPython's debug build

Benchmarks (docs/benchmarks-and-reliability.md)
  bench [--quick] [--no-callgrind] [--matrix-from-history] [--pythons 3.11,3.14]
                                                     reports/bench.md and BENCHMARKS.md
  bench-peers                                        Debian peers of the bench (as root)
"""

from __future__ import annotations

import sys

from ci.cli import dispatch


def _targets(argv: list[str]) -> int:
    from ci.targets import TARGETS

    for t in TARGETS:
        print(
            f"{t.name:26} {t.compiler:26} {t.debian_arch or '(none)':8} "
            f"{t.suite or '-':9} {t.runner_kind:7} {t.runner}"
        )
    return 0


COMMANDS = {
    "matrix": "ci.matrix",
    "provision": "ci.provision",
    "build": "ci.build",
    "targets": _targets,
    "summary": "ci.reports",
    "workflow": "ci.workflow",
    "readme": "ci.readme",
    "lint": "ci.lint",
    "sanitize": "ci.reliability.sanitize",
    "valgrind": "ci.reliability.valgrind",
    "soak": "ci.reliability.soak",
    "debug": "ci.reliability.debug_python",
    "bench": "ci.bench.runner",
    "bench-peers": "ci.bench.peers",
    "wheels": "ci.wheels",
}


def main(argv: list[str]) -> int:
    return dispatch(argv, __doc__ or "", COMMANDS)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
