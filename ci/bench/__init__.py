"""Benchmarks of fiber against its peers, all measured in one run on one machine.

``nox -s bench`` (or ``python -m ci bench`` in an environment that has the peers) builds the
C benchmark programs through fiber._build.compile_native, runs every benchmark with warm-up and
repetitions, and writes the table of medians and ratios (ours / peer):

- ``reports/bench.md`` and ``reports/bench.json`` (one object per row and peer: benchmark,
  unit, ours, peer, peer_value, ratio, goal, plus goal_met);
- ``BENCHMARKS.md`` at the repository root (date, machine, commit, the table, instruction
  counts per architecture, the soak figures when their report exists, the matrix wall times).

One module per job:

- ``timing``: warm-up, repetitions, interleaving of contenders, medians;
- ``results``: rows, goals and their evaluation;
- ``c_bench`` (+ ``c/``): the C programs (our core, Boost.Context fcontext, ucontext);
- ``python_bench``: Python round trip, create-run-finish (fiber, greenlet, generator);
- ``memory``: memory per suspended fiber, in fresh interpreters;
- ``aio_bench``: fiber.aio against SQLAlchemy's greenlet bridge, greenback, plain await;
- ``scaling``: the round trip suspended 1, 50 and 800 frames deep, and round-robin resumes
  over 10 to 30,000 live fibers, against greenlet;
- ``versions``: the CPython versions those Python-level rows run under (the host's, and each
  Debian sysroot's interpreter through its loader), each with fiber built for it and the
  peers installed for it;
- ``pyrows``: runs the four modules above under one interpreter and makes its rows (each
  row says which Python it ran on; "not measured" and why when it could not run);
- ``cachegrind``: cache misses per resume over N live fibers (deterministic, valgrind);
- ``insns``: instructions per switch for every ABI, ours and Boost.Context's;
- ``callgrind``: instructions executed per round trip (deterministic, valgrind);
- ``matrix_wall``: the full harness matrix's wall time, cold cache and warm, measured in the
  run (or quoted from reports/matrix-history.jsonl with ``--matrix-from-history``);
- ``machine``: date, CPU, cores, commit, load;
- ``report``: the printed table, goals per Python version, reports/bench.{md,json},
  BENCHMARKS.md;
- ``runner``: runs everything in order (``python -m ci bench --help``).

Timings are medians of repetitions, with the contenders of a row interleaved repetition by
repetition so that a burst of load elsewhere on the machine hits all of them alike. Tests never
assert timings; nothing here is imported by the test suite except for its own unit tests.
"""
