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


def _targets(argv: list[str]) -> int:
    from ci.targets import TARGETS

    for t in TARGETS:
        print(f"{t.name:16} {t.compiler:26} {t.debian_arch or '(none)':8} {t.runner}")
    return 0


def main(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(__doc__)
        return 0 if argv else 2
    cmd, rest = argv[0], argv[1:]
    if cmd == "matrix":
        from ci.matrix import main as run
    elif cmd == "provision":
        from ci.provision import main as run
    elif cmd == "build":
        from ci.build import main as run
    elif cmd == "targets":
        run = _targets
    elif cmd == "workflow":
        from ci.workflow import main as run
    elif cmd == "readme":
        from ci.readme import main as run
    elif cmd == "summary":
        from ci.reports import main as run
    else:
        print(f"unknown command {cmd!r}\n{__doc__}", file=sys.stderr)
        return 2
    return run(rest)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
