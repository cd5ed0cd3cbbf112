#!/usr/bin/env bash
# The harness's two commands, runnable on a fresh Debian 12 machine (root, python3 with pip).
#
#   bash ci/bootstrap.sh [-- PYTEST ARGS]        main job: provision and run every target
#                                                (nox -s matrix)
#   bash ci/bootstrap.sh test [-- PYTEST ARGS]   the project's checks and tests: the lint
#                                                session (ruff, mypy, clang-format), the
#                                                harness's own tests, the matrix, the Python
#                                                suite on CPython's debug build, then one
#                                                closing 'test: N passed, N failed, N skipped';
#                                                any lint finding fails the run too
#
# Idempotent: pip installs nox only when missing; the sessions install the Debian
# packages they lack (apt-get, as root) and cache sysroots and the Wine prefix.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PY=${PYTHON:-python3}

# A no-op (no download) when a recent enough nox is already installed.
"$PY" -m pip install --quiet --disable-pip-version-check --root-user-action=ignore \
    'nox>=2025.2.9' || exit 2

mode=matrix
case "${1:-}" in
    matrix|test) mode=$1; shift ;;
esac

if [ "$mode" = matrix ]; then
    exec "$PY" -m nox -s matrix "$@"
fi

rm -f reports/matrix.json reports/harness.xml reports/debug-python.xml
# The checks first (they take seconds); the tests run whatever they find, so one run reports
# both, and a finding still fails it.
"$PY" -m nox -s lint
lint=$?
"$PY" -m nox -s harness matrix debug "$@"
status=$?
if [ "$lint" -ne 0 ]; then
    echo "bootstrap: nox -s lint found problems (above); fix them: nox -s lint -- --fix"
    status=1
fi
"$PY" -m ci summary --label test reports/harness.xml reports/debug-python.xml || status=1
exit "$status"
