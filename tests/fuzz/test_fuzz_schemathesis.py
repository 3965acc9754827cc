"""schemathesis on the three services over a real socket: 0 server errors in every phase.

Each service's real app with a fitted model (service_apps.py) runs under uvicorn on a
free port on 127.0.0.1; ``schemathesis run`` reads its ``/openapi.json`` and runs the
examples, coverage (boundary and negative values per field), fuzzing and stateful phases
in both generation modes (valid and invalid data), checking ``not_a_server_error``. The
server's own log is watched too: a handled traceback is as much a finding as a 500.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from fuzz_support import case_budget, watch_logs
from service_apps import SERVICES, listening, served

PHASES = "examples,coverage,fuzzing,stateful"


@pytest.fixture(params=SERVICES)
def live(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The service under uvicorn in a thread of this process; yields its base URL."""
    with served(request.param, tmp_path / "state") as svc, listening(svc.app) as url:
        yield url


def run_schemathesis(url: str, report: Path, examples: int) -> subprocess.CompletedProcess[str]:
    argv = [
        sys.executable, "-m", "schemathesis.cli", "run", f"{url}/openapi.json",
        "--phases", PHASES, "--mode", "all", "--checks", "not_a_server_error",
        "--max-examples", str(examples), "--workers", "1", "--no-color",
        "--suppress-health-check", "all",
        "--report", "ndjson", "--report-ndjson-path", str(report),
    ]
    if not os.environ.get("MLGITOPS_FUZZ"):
        argv += ["--seed", "1", "--generation-deterministic"]  # a stable CI run
    env = {**os.environ, "SCHEMATHESIS_HOOKS": ""}
    return subprocess.run(argv, capture_output=True, text=True, timeout=1800, env=env,
                          check=False)


def test_no_server_error_in_any_phase(live: str, tmp_path: Path) -> None:
    report = tmp_path / "events.ndjson"
    # A full run (MLGITOPS_FUZZ) spreads the budget over the five operations; CI: a few
    # dozen per operation.
    examples = max(30, case_budget() // 5) if os.environ.get("MLGITOPS_FUZZ") else 30
    with watch_logs() as logs:
        done = run_schemathesis(live, report, examples)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "not_a_server_error" in done.stdout or "passed" in done.stdout.lower(), done.stdout
    assert not logs.bad, logs.describe()
    # The run exercised the prediction endpoints (not only the GETs).
    text = report.read_text()
    assert "/predict" in text and "/predict_batch" in text
    lines = [json.loads(line) for line in text.splitlines() if line.strip()]
    assert lines, "schemathesis wrote no events"
