"""Launch configuration, the prediction log, metric names and the shared-port socket."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path

import pytest

from runner import contract
from runner.errors import PermanentError, TemporaryError
from runner.serving.config import ServingConfig
from runner.serving.launch import bind_socket
from runner.serving.metrics import ServiceMetrics
from runner.serving.predlog import PredictionLog

ROOT = Path(__file__).resolve().parents[2]


def env(**extra: str) -> dict[str, str]:
    base = {
        "MLGITOPS_SERVICE": "telecom",
        "MLGITOPS_PROJECT_DIR": str(ROOT / "projects" / "telecom"),
        "MODEL_VERSION": "3",
        "PORT": "8003",
        "MLGITOPS_STATE_DIR": "/srv/mlgitops-state",
    }
    return {**base, **extra}


def test_config_reads_the_launch_contract() -> None:
    config = ServingConfig.from_env(env(ADMIN_PORT="9003"))
    assert config.model_name == "telecom-model"
    assert config.resolved_model_uri == "models:/telecom-model/3"
    assert (config.host, config.port, config.admin_port) == ("127.0.0.1", 8003, 9003)
    assert config.prediction_log == Path("/srv/mlgitops-state/predictions/telecom.jsonl")
    assert not config.fault_enabled  # off unless asked for
    uri = ServingConfig.from_env(env(MODEL_URI="models:/telecom-model@production"))
    assert uri.resolved_model_uri == "models:/telecom-model@production"


def test_config_without_a_version_still_starts() -> None:
    config = ServingConfig.from_env({k: v for k, v in env().items() if k != "MODEL_VERSION"})
    assert config.resolved_model_uri is None  # the replica answers 503, it does not crash


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"PORT": ""}, "PORT is not set"),
        ({"PORT": "http"}, "PORT='http' is not a port number"),
        ({"ADMIN_PORT": "70000"}, "ADMIN_PORT=70000 is out of range"),
        ({"MLGITOPS_PROJECT_DIR": "/nonexistent"}, "no service.py there"),
        ({"MLGITOPS_PREDICTION_SAMPLE": "2"}, "must be between 0 and 1"),
    ],
)
def test_config_errors_name_the_variable(change: dict[str, str], message: str) -> None:
    with pytest.raises(PermanentError, match=message):
        ServingConfig.from_env(env(**change))


def test_metric_names_are_the_contract() -> None:
    metrics = ServiceMetrics((0.5, 1.0))
    metrics.requests.labels(endpoint="/predict", method="POST", status="200").inc()
    metrics.latency.labels(endpoint="/predict").observe(0.01)
    metrics.observe_predictions(["1", "0", "1"], [0.9, 0.1, 0.8])
    metrics.set_model("telecom-model", "3", "abc")
    text = metrics.render().decode()
    for name in contract.SERVICE_METRICS:
        assert f"\n{name}" in text or text.startswith(name), name
    assert 'mlservice_predictions_total{outcome="1"} 2.0' in text
    assert "_created" not in text


def read_lines(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_prediction_log_writes_rotates_and_bounds(tmp_path: Path) -> None:
    path = tmp_path / "predictions" / "svc.jsonl"
    plog = PredictionLog(path, sample=1.0, max_bytes=400, backups=2)
    row = {"calls": 1.0, "minutes": 2.0}
    for _ in range(3):
        plog.record("7", [row] * 3, [{"prediction": 1, "probability": 0.9}] * 3)
        plog.flush()
    assert path.with_name("svc.jsonl.1").exists()
    first = read_lines(path.with_name("svc.jsonl.1"))[0]
    assert first["calls"] == 1.0 and first["_model_version"] == "7"
    assert first["_prediction"] == 1 and first["_probability"] == 0.9
    for _ in range(10):
        plog.record("7", [row] * 3, [{"prediction": 1}] * 3)
        plog.flush()
    assert not path.with_name("svc.jsonl.3").exists()  # two backups, the oldest fell off
    total = sum(p.stat().st_size for p in path.parent.glob("svc.jsonl*"))
    assert total < 3 * 400 + 400


def test_prediction_log_samples_and_drops_beyond_the_bound(tmp_path: Path) -> None:
    import runner.serving.predlog as predlog

    never = PredictionLog(tmp_path / "a.jsonl", sample=0.0, max_bytes=10**6, backups=1)
    never.record("1", [{"x": 1}], [{"prediction": 0}])
    never.flush()
    assert not (tmp_path / "a.jsonl").exists()
    full = PredictionLog(tmp_path / "b.jsonl", sample=1.0, max_bytes=10**6, backups=1)
    rows = [{"x": i} for i in range(predlog.MAX_PENDING_ROWS)]
    full.record("1", rows, [{"prediction": 0}] * len(rows))
    full.record("1", [{"x": -1}], [{"prediction": 0}])
    assert full.dropped == 1


def test_prediction_log_thread_flushes_on_close(tmp_path: Path) -> None:
    plog = PredictionLog(tmp_path / "c.jsonl", sample=1.0, max_bytes=10**6, backups=1)
    plog.start()
    plog.record("1", [{"x": 1}], [{"prediction": 0}])
    start = time.monotonic()
    plog.close()
    assert time.monotonic() - start < 2
    assert read_lines(tmp_path / "c.jsonl")[0]["x"] == 1


def test_public_socket_is_shareable_admin_socket_is_not() -> None:
    public = bind_socket("127.0.0.1", 0, reuse_port=True)
    port = public.getsockname()[1]
    try:
        second = bind_socket("127.0.0.1", port, reuse_port=True)  # the rolling switch
        second.close()
        assert public.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT) == 1
        public.listen()
        with pytest.raises(TemporaryError, match=f"cannot bind 127.0.0.1:{port}"):
            bind_socket("127.0.0.1", port, reuse_port=False)
    finally:
        public.close()


def test_prediction_timestamp_is_utc_now_to_the_second() -> None:
    import datetime as dt

    from runner.serving.records import prediction_timestamp

    fmt = "%Y-%m-%dT%H:%M:%SZ"
    for _ in range(3):  # formatted once per second: each call still says the current one
        before = dt.datetime.now(dt.UTC).replace(microsecond=0)
        stamp = dt.datetime.strptime(prediction_timestamp(), fmt).replace(tzinfo=dt.UTC)
        after = dt.datetime.now(dt.UTC)
        assert before <= stamp <= after, (before, stamp, after)
        time.sleep(0.6)


def test_responses_are_compact_json_and_never_nan() -> None:
    from runner.serving.app import _json

    body = {"predictions": [{"prediction": 1, "probability": 0.25}], "count": 1, "x": "é"}
    response = _json(body)
    assert response.body == json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
    assert json.loads(_json({"value": float("nan")}).body) == {"value": None}  # valid JSON
