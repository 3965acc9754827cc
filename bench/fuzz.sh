#!/usr/bin/env bash
# The full fuzz run (issue 13): 10,000 cases per target with fresh random inputs, and
# hypothesis' statistics (cases, time, status codes seen) for each target.
#   bash bench/fuzz.sh [pytest args]            # MLGITOPS_FUZZ=full (10,000 per target)
#   MLGITOPS_FUZZ=2000 bash bench/fuzz.sh -k monitor
# The normal suite runs the same tests with a few hundred cases (tests/fuzz/fuzz_support.py).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH" PYTHONPATH="$PWD" MLGITOPS_FUZZ="${MLGITOPS_FUZZ:-full}"
uptime
time pytest tests/fuzz -q -p no:cacheprovider --hypothesis-show-statistics \
    --basetemp="$(mktemp -d)/pytest" "$@"
uptime
