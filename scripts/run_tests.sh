#!/usr/bin/env bash
# The test command: makes sure dependencies and the Brown shards exist,
# builds everything, runs every test. Ends with "N passed, N failed".
# Usage: scripts/run_tests.sh [pattern]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install_deps.sh
scripts/prepare_data.sh
make -j2 tests >/dev/null
exec test/run_tests.sh "$@"
