"""`inv ci` on a clone of the committed tree: every pull-request step passes (setup and the
test suite skipped with --skip: this test runs inside that suite, and setup would install
into the clone); a stale generated/ stops it at the render step, naming it."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = [pytest.mark.integration]
REPO = Path(__file__).resolve().parents[2]
INV = str(REPO / ".venv" / "bin" / "inv")

# One small registered model per service at the pinned version, so `inv plan` (the last
# step) has a registry to plan against, as on the platform's runner.
REGISTER = r"""
import sys, mlflow, mlflow.sklearn, numpy as np
from sklearn.dummy import DummyClassifier
mlflow.set_tracking_uri(sys.argv[1])
mlflow.set_registry_uri(sys.argv[1])  # an inherited MLFLOW_REGISTRY_URI must not win
for name in sys.argv[2:]:
    model = DummyClassifier().fit(np.zeros((4, 1)), [0, 1, 0, 1])
    with mlflow.start_run():
        mlflow.sklearn.log_model(model, name="model", registered_model_name=name,
                                 pip_requirements=["scikit-learn"])
"""


def test_inv_ci_passes_on_the_committed_tree_and_stops_at_render_when_stale(
        tmp_path: Path) -> None:
    clone = tmp_path / "clone"
    head = subprocess.run(["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True,
                          text=True, check=True).stdout.strip()
    subprocess.run(["git", "clone", "-q", "--no-checkout", str(REPO), str(clone)], check=True)
    subprocess.run(["git", "-C", str(clone), "checkout", "-q", head], check=True)
    state = tmp_path / "state"
    (state / "mlflow").mkdir(parents=True)
    uri = f"sqlite:///{state / 'mlflow' / 'mlflow.db'}"
    subprocess.run([sys.executable, "-c", REGISTER, uri, "bankchurn-model", "carvision-model",
                    "telecom-model"], check=True, cwd=state, capture_output=True, timeout=300)
    env = {**os.environ, "MLGITOPS_ROOT": str(clone), "MLGITOPS_STATE_DIR": str(state),
           "MLFLOW_TRACKING_URI": uri, "MLFLOW_REGISTRY_URI": uri}

    started = time.monotonic()
    ok = subprocess.run([INV, "ci", "--skip", "setup,tests"], cwd=clone, env=env,
                        capture_output=True, text=True, timeout=900, check=False)
    took = time.monotonic() - started
    assert ok.returncode == 0, ok.stdout[-3000:] + ok.stderr[-3000:]
    for step in ("validate", "render", "lint", "types", "plan"):
        assert f"== {step}: ok" in ok.stdout
    assert "ci: every pull-request step passed" in ok.stdout
    print(f"inv ci --skip setup,tests: {took:.1f}s")

    spec = clone / "specs" / "services" / "bankchurn.yaml"
    spec.write_text(spec.read_text().replace("critical: 0.05}", "critical: 0.2}"))
    stale = subprocess.run([INV, "ci", "--skip", "setup,tests"], cwd=clone, env=env,
                           capture_output=True, text=True, timeout=900, check=False)
    assert stale.returncode == 1
    assert "== validate: ok" in stale.stdout
    assert "ci: step 'render' failed" in stale.stderr
    assert "== lint" not in stale.stdout  # stopped at the first failure
