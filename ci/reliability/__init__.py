"""Reliability sessions of fiber: sanitizers, valgrind and the soak run.

One module per session, each with a ``main(argv) -> int`` that noxfile.py reaches through
``python -m ci COMMAND``:

- sanitize   the core and the C conformance suite built with -fsanitize=address,undefined
             (clang and gcc, whichever are installed), every case run on its own, clean
- valgrind   the C conformance suite built with -DFIBER_VALGRIND, every case under memcheck
             with --leak-check=full; no errors, no leaks, no unregistered stack switches
- soak       a million create/run/finish cycles and a million suspend/resume round trips
             over 1,000 fibers; RSS and live-object figures in reports/soak.md and .json

Every native build goes through fiber/_build.py (``build_conformance``, with the tool's flags
in the Toolchain's cflags).
"""
