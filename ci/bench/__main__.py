"""``python -m ci.bench``: run the benchmarks (see ci/bench/runner.py)."""

import sys

from ci.bench.runner import main

sys.exit(main(sys.argv[1:]))
