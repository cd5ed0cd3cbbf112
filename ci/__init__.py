"""The fiber harness: build and run the one pytest suite on every target.

One job per module:

- targets     the tables of ABIs and CPython versions, and the targets (pairs) derived from
              them (everything else is derived from these); plain data
- tools       host commands (find_tool) and SetupError; a leaf, imported by the rest
- provision   host tools: Debian packages installed when missing (as root) or named
- suite_tools host tools of other Debian suites, made in the cache (a trixie chroot with
              wrappers, bookworm-backports unpacked)
- runners/    one module per runner kind (native, loader, qemu, wine): prepare, command prefix,
              interpreter, environment, timeouts, workers, what it caches; the pytest
              command line of a target's run (runners/__init__.py describes the interface)
- sysroots    Debian Pythons per suite and architecture, built with mmdebstrap, cached,
              bytecode-compiled, smoke-checked
- build       the extension and the C conformance program, through fiber/_build.py
- reports     JUnit parsing, reports/matrix.json and matrix.md, the summary table
- history     the record of a run (wall time, cold/warm cache, full or partial) and
              reports/matrix-history.jsonl, one line per run
- cache_state whether the cache held what the targets need when a run started (cold/warm)
- matrix      the run over all targets; exit status
- hangwatch   pytest plugin: a backstop that ends a worker whose test hangs in native code
- workflow    the generated GitHub Actions workflow (ci/github-workflow.yml)
- readme      the generated target table in README.md
- lint        the checks: ruff, ruff format, mypy, clang-format
- paths       the repository's folders and the cache folder
- packaging   what the sdist and the wheels hold, their names and tags, the wheel writer
- libc_sysroots  Debian bullseye's glibc per architecture, for widely installable wheels
- installed   the suite against an installed fiber, from a folder without the sources
- sdist       the sdist: built, checked, pip-installed in a fresh venv and tested
- wheels      `python -m ci wheels` (nox -s wheels): the sdist and a tested manylinux wheel
              per Linux target (docs/packaging.md)
- reliability/ the sanitizer, valgrind and soak sessions
- bench/      the benchmarks against the peers
- cli         the dispatcher behind ``python -m ci``

``python -m ci --help`` lists every command; noxfile.py is a thin layer over them. The build
module is ``fiber._build``, imported as such (the repository is on sys.path: ``python -m``
runs from its root).
"""
