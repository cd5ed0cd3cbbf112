"""The fiber harness: build and run the one pytest suite on every target.

One job per module:

- targets    the one table of targets (everything else is derived from it)
- provision  host tools: Debian packages installed when missing (as root) or named
- sysroots   foreign Debian Pythons built with mmdebstrap, cached, smoke-checked
- wine       the Wine prefix of the Windows target
- build      the extension and the C conformance program, through fiber/_build.py
- runners    the pytest command line and environment per runner (native, QEMU, Wine)
- reports    JUnit parsing, reports/matrix.json and matrix.md, the summary table
- history    the record of a run (wall time, cold/warm cache, full or partial) and
             reports/matrix-history.jsonl, one line per run
- cache_state whether the cache held what the targets need when a run started (cold/warm)
- matrix     the run over all targets; exit status
- hangwatch  pytest plugin: a backstop that ends a worker whose test hangs in native code
- workflow   the generated GitHub Actions workflow (ci/github-workflow.yml)
- readme     the generated target table in README.md
- fiberbuild loads fiber/_build.py (the project's one build function) without the package
- paths      the repository's folders and the cache folder

``python -m ci --help`` lists the commands; noxfile.py is a thin layer over them.
"""
