"""`python -m ci COMMAND ...`: the harness's command line (noxfile.py calls these).

  matrix [--targets a,b] [--jobs N] [-- PYTEST ARGS]   build and test targets, report
  provision [TARGET...]                              host tools, sysroots, Wine prefix
  build (--host | TARGET)                            build the extension and C programs
  targets                                            list the targets
  workflow (--write | --check | --print)             ci/github-workflow.yml from the table
  readme (--write | --check)                         README.md's target table
  summary [--label L] [XML...]                       closing line over reports/
"""

from __future__ import annotations

import sys

from ci.cli import dispatch


def _targets(argv: list[str]) -> int:
    from ci.targets import TARGETS

    for t in TARGETS:
        print(f"{t.name:16} {t.compiler:26} {t.debian_arch or '(none)':8} {t.runner}")
    return 0


def main(argv: list[str]) -> int:
    return dispatch(argv, __doc__, {
        "matrix": "ci.matrix",
        "provision": "ci.provision",
        "build": "ci.build",
        "targets": _targets,
        "workflow": "ci.workflow",
        "readme": "ci.readme",
        "summary": "ci.reports",
    })


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
