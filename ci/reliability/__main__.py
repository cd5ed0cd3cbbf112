"""`python -m ci.reliability COMMAND ...`: the reliability sessions' command line.

  sanitize [--cc clang,gcc] [CASE...]    ASan+UBSan build of the core and the C conformance suite
  valgrind [CASE...]                     the C conformance suite under valgrind memcheck
  soak [--cycles N] [--round-trips N] [--fibers N] [--out DIR]
                                         the soak run; reports/soak.md and reports/soak.json
"""

from __future__ import annotations

import sys


def main(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(__doc__)
        return 0 if argv else 2
    cmd, rest = argv[0], argv[1:]
    if cmd == "sanitize":
        from ci.reliability.sanitize import main as run
    elif cmd == "valgrind":
        from ci.reliability.valgrind import main as run
    elif cmd == "soak":
        from ci.reliability.soak import main as run
    else:
        print(f"unknown command {cmd!r}\n{__doc__}", file=sys.stderr)
        return 2
    return run(rest)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
