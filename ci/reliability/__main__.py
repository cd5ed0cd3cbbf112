"""`python -m ci.reliability COMMAND ...`: the reliability sessions' command line.

  sanitize [--cc clang,gcc] [CASE...]    ASan+UBSan build of the core and the C conformance suite
  valgrind [CASE...]                     the C conformance suite under valgrind memcheck
  soak [--cycles N] [--round-trips N] [--fibers N] [--out DIR]
                                         the soak run; reports/soak.md and reports/soak.json
  debug [PYTEST ARGS...]                 the Python suite on CPython's debug build (python3.11-dbg)
"""

from __future__ import annotations

import sys

from ci.cli import dispatch


def main(argv: list[str]) -> int:
    return dispatch(argv, __doc__, {
        "sanitize": "ci.reliability.sanitize",
        "valgrind": "ci.reliability.valgrind",
        "soak": "ci.reliability.soak",
        "debug": "ci.reliability.debug_python",
    })


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
