"""The ML lifecycle end to end on the local runtime (issue 5), through the real `inv` CLI:
a temporary git repo with the real specs, a real MLflow sqlite registry, real replicas on
127.0.0.1, real bankchurn models trained by the retrain play on generated data.

One ordered scenario (each step needs the previous one's state):
1. first model: retrain registers v1 (no champion) and its deploy serves it;
2. simulated drift -> `inv drift` share > 0.5, exit 3;
3. retrain --promote on fresh (shifted) data under load: the gate's paired interval says
   better, spec commit, deploy, /model_info shows v2, no failed request;
4. a label-shuffled candidate is rejected: exit 4, reason printed, spec unchanged;
5. corrupt data stops at validation naming the column, v2 keeps serving;
6. a second promotion (v4, equivalent and fresher) and a rollback: `inv history --at`
   right at every point, and it shows the gate's interval as the reason.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from reconcile_fixtures import (  # noqa: E402
    REPO,
    Load,
    free_port,
    git,
    make_repo,
    model_version,
    sample_body,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]

INV = str(REPO / ".venv" / "bin" / "inv")
PY = str(REPO / ".venv" / "bin" / "python")


class Lab:
    def __init__(self, root: Path, state: Path, data: Path, port: int) -> None:
        self.root, self.state, self.data, self.port = root, state, data, port
        self.env = {**os.environ, "MLGITOPS_ROOT": str(root), "MLGITOPS_STATE_DIR": str(state),
                    "MLGITOPS_ACTOR": "lifecycle-test", "PYTHONPATH": str(REPO),
                    "OMP_NUM_THREADS": "1"}
        self.env.pop("MLFLOW_TRACKING_URI", None)

    def inv(self, *args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
        started = time.monotonic()
        proc = subprocess.run([INV, "--search-root", str(REPO), *args], cwd=self.root,
                              env=self.env, capture_output=True, text=True, timeout=timeout,
                              check=False)
        print(f"inv {' '.join(args[:3])}: {time.monotonic() - started:.1f}s")
        return proc

    def generate(self, name: str, rows: int, seed: int, shift: float) -> Path:
        out = self.data / name
        subprocess.run([PY, "generate.py", "--rows", str(rows), "--seed", str(seed), "--shift",
                        str(shift), "--out", str(out)], cwd=self.root / "projects" / "bankchurn",
                       check=True, capture_output=True, timeout=60)
        return out

    def spec_version(self) -> int:
        text = (self.root / "specs" / "services" / "bankchurn.yaml").read_text()
        found = re.search(r"(?m)^  version: (\d+)", text)
        assert found
        return int(found.group(1))


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    tmp = tmp_path_factory.mktemp("lifecycle")
    port = free_port()
    root = make_repo(tmp, port=port, watch_s=2)
    (tmp / "data").mkdir()
    lab = Lab(root, tmp / "state", tmp / "data", port)
    try:
        yield lab
    finally:
        saved = {k: os.environ.get(k) for k in ("MLGITOPS_ROOT", "MLGITOPS_STATE_DIR")}
        os.environ.update(MLGITOPS_ROOT=str(root), MLGITOPS_STATE_DIR=str(lab.state))
        try:
            from runner.operations.workspace import open_env

            open_env(root, "dev", quiet=True).runtime.remove("bankchurn")
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v


def _ok(proc: subprocess.CompletedProcess[str], code: int = 0) -> str:
    out = proc.stdout + proc.stderr
    assert proc.returncode == code, out[-3000:]
    return out


def test_lifecycle_end_to_end(lab: Lab) -> None:
    marks: dict[str, float] = {"before": time.time()}
    time.sleep(0.05)

    # 1. First model: no champion yet, so only the minimum applies; the spec already pins v1
    #    (nothing to commit) and the promotion's deploy starts the first replica.
    # A small first data set: v1 is a weaker model, so fresh data can show a real gain.
    base = lab.generate("base.csv", 2000, 1, 0.0)
    out = _ok(lab.inv("retrain", "--service", "bankchurn", "--data", str(base)))
    assert "candidate v1" in out and "no champion" in out and "promoted: v1 -> v1" in out, out
    assert model_version(lab.port) == "1"
    marks["v1"] = time.time()

    # 2. Drift: shifted traffic from the generator, logged by the replica, detected.
    _ok(lab.inv("simulate-drift", "--service", "bankchurn", "--requests", "400"))
    time.sleep(1.2)  # the prediction log flushes every 0.5 s
    out = _ok(lab.inv("drift", "--service", "bankchurn", "--no-html", "--json"), code=3)
    summary = json.loads(out[out.index("{"):out.rindex("}") + 1])
    assert summary["decision"] == "drift" and summary["share"] > 0.5, summary
    assert summary["current"]["rows"] >= 400
    gauge = json.loads((lab.state / "monitor" / "drift.json").read_text())
    assert gauge["bankchurn"]["share"] == summary["share"]

    # 3. Retrain on fresh data of the new population, promote under load. The gate compares
    #    paired intervals on 2,000 held-out rows (fewer would leave a 0.01 regression
    #    unresolved): the candidate is better beyond doubt.
    fresh = lab.generate("fresh.csv", 10000, 2, 1.0)
    head = git(lab.root, "rev-parse", "HEAD")
    with Load(lab.port, sample_body(), rate=40) as load:
        proc = lab.inv("retrain", "--service", "bankchurn", "--data", str(fresh),
                       "--reason", "drift 0.6")
        time.sleep(0.5)
    out = _ok(proc)
    assert "gate passed" in out and "promoted: v1 -> v2" in out, out
    assert re.search(r"(?m)^  difference  \+0\.\d{4} \[\+0\.\d{4}, \+0\.\d{4}\] \(candidate - "
                     r"champion, same rows\)$", out), out
    assert re.search(r"(?m)^  verdict     better", out) and "seed 42" in out, out
    assert load.failed == 0 and load.sent > 20, load.errors[:5]
    assert model_version(lab.port) == "2"
    assert lab.spec_version() == 2
    message = git(lab.root, "log", "-1", "--format=%B")
    assert "difference +0." in message, message
    assert git(lab.root, "rev-parse", "HEAD~1") == head
    assert message.startswith("promote bankchurn to model v2 (from v1): roc_auc"), message
    assert "gate passed" in message and "champion:" in message
    marks["v2"] = time.time()

    # 4. A worse candidate: the same rows with shuffled labels.
    import pandas as pd

    frame = pd.read_csv(fresh)
    frame["Exited"] = frame["Exited"].sample(frac=1.0, random_state=0).to_numpy()
    shuffled = lab.data / "shuffled.csv"
    frame.to_csv(shuffled, index=False)
    head = git(lab.root, "rev-parse", "HEAD")
    out = _ok(lab.inv("retrain", "--service", "bankchurn", "--data", str(shuffled)), code=4)
    assert "NOT PROMOTED" in out and "does not meet the minimum 0.85" in out, out
    assert git(lab.root, "rev-parse", "HEAD") == head and lab.spec_version() == 2
    assert git(lab.root, "status", "--porcelain", "specs") == ""
    assert model_version(lab.port) == "2"

    # The metric-drop trigger: the serving v2 on rows like its own is fine (exit 0); on
    # rows whose labels no longer follow the features it dropped: exit 3, retrain named.
    out = _ok(lab.inv("evaluate", "--service", "bankchurn", "--data", str(fresh)))
    assert "bankchurn-model v2 roc_auc" in out, out
    out = _ok(lab.inv("evaluate", "--service", "bankchurn", "--data", str(shuffled)), code=3)
    assert f"inv retrain --service bankchurn --data {shuffled}" in out, out

    # 5. Corrupt data: a text value and out-of-range ages stop it at validation.
    bad = frame.copy().astype({"Age": object})
    bad.loc[:4, "Age"] = "forty"
    bad.loc[5:9, "Age"] = 250
    corrupt = lab.data / "corrupt.csv"
    bad.to_csv(corrupt, index=False)
    out = _ok(lab.inv("retrain", "--service", "bankchurn", "--data", str(corrupt)), code=1)
    assert "Age" in out and "not numbers" in out and "outside [18, 100]" in out, out
    assert "gate" not in out.split("data validation")[-1].lower(), out
    assert git(lab.root, "rev-parse", "HEAD") == head and model_version(lab.port) == "2"
    out = _ok(lab.inv("data-validate", "--service", "bankchurn", "--data", str(corrupt)), code=1)
    assert "Age" in out

    # 6. A second promotion, then a rollback; history answers for every moment. Same
    #    population as v2: the candidate is equivalent (no regression beyond 0.01 at 95%),
    #    and gate.promote_when: not_worse promotes the fresher model.
    more = lab.generate("more.csv", 20000, 3, 1.0)
    out = _ok(lab.inv("retrain", "--service", "bankchurn", "--data", str(more)))
    assert "promoted: v2 -> v4" in out, out
    assert re.search(r"(?m)^  verdict     equivalent", out), out
    assert model_version(lab.port) == "4"
    marks["v4"] = time.time()
    _ok(lab.inv("rollback", "--service", "bankchurn", "--reason", "lifecycle test"))
    assert model_version(lab.port) == "2" and lab.spec_version() == 2
    marks["rollback"] = time.time()

    expected = {"v1": 1, "v2": 2, "v4": 4, "rollback": 2}
    for mark, version in expected.items():
        out = _ok(lab.inv("history", "--service", "bankchurn", "--at", str(marks[mark]),
                          "--json"))
        found = json.loads(out[out.index("{"):out.rindex("}") + 1])
        assert found["model_version"] == version, (mark, found)
        assert found["spec_commit"], found
    out = _ok(lab.inv("history", "--service", "bankchurn", "--at", str(marks["v2"])))
    assert "v2" in out and "promote" in out and "lifecycle-test" in out, out
    assert "retrain" in out and "difference +0." in out, out  # why: the gate's interval
    _ok(lab.inv("history", "--service", "bankchurn", "--at", str(marks["before"])), code=1)
