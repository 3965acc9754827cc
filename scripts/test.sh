#!/usr/bin/env bash
# The test command: set up, lint, type-check, check generated/ is fresh, run the suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PATH="$PWD/.venv/bin:$PATH"
echo "== ruff"; ruff check runner tests tasks.py bench projects
echo "== mypy"; mypy
echo "== import layers"; lint-imports --no-cache
echo "== bandit"; bandit -c pyproject.toml -r runner projects -q -ll
echo "== validate + render --check"; inv validate && inv render --check
# The container tests need an engine: started once (host networking only) and left running,
# so its image and layer cache serve the next run on this machine too.
echo "== dockerd"; bash scripts/dockerd.sh
# A basetemp of our own: pytest prunes old pytest-N dirs of other sessions on the machine.
# Three workers on two cores: the integration tests mostly wait on the processes they
# start (MLflow, replicas, dockerd); a module's tests stay on one worker (module fixtures).
# --no-loadscope-reorder: files go out in tests/conftest.py's order, longest first (xdist's
# own order, most tests first, sent the long few-test files last: a 13-minute tail).
echo "== pytest"; pytest -q -n 3 --dist loadfile --no-loadscope-reorder --durations=25 \
  --basetemp="$(mktemp -d)/pytest" "$@"
