#!/usr/bin/env bash
# The test command: set up, lint, type-check, check generated/ is fresh, run the suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PATH="$PWD/.venv/bin:$PATH"
echo "== ruff"; ruff check runner tests tasks.py bench projects
echo "== mypy"; mypy
echo "== bandit"; bandit -c pyproject.toml -r runner projects -q -ll
echo "== validate + render --check"; inv validate && inv render --check
# A basetemp of our own: pytest prunes old pytest-N dirs of other sessions on the machine.
echo "== pytest"; pytest -q --durations=12 --basetemp="$(mktemp -d)/pytest" "$@"
