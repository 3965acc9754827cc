"""Real replicas (``python -m runner.serving.launch``) serving real registered models.

One registry (temporary MLflow sqlite) holds a model per project. All replicas of the
module start together (model loading is the slow part; it then runs in parallel): one per
project, a second telecom replica on the first one's public port (SO_REUSEPORT), and one
asking for a model version the registry lacks. The lifecycle tests run last.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from serving_support import (
    ROOT,
    SERVICES,
    Registry,
    Replica,
    build_registry,
    fixture,
    metric_samples,
    start_replica,
)

from runner import contract

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Registry:
    return build_registry(tmp_path_factory)


@pytest.fixture(scope="module")
def replicas(registry: Registry) -> Iterator[dict[str, Replica]]:
    """The module's replicas by role; the healthy ones are checked healthy before any test."""
    fault = {"MLGITOPS_FAULT_ENABLE": "1"}
    started = {name: start_replica(registry, name) for name in ("bankchurn", "carvision")}
    started["telecom"] = start_replica(registry, "telecom", env=fault)
    port = started["telecom"].port
    # The second telecom replica names its model by registry alias instead of version.
    # It also serves through the pipeline (MLGITOPS_FASTPATH=0), the others the fast path.
    alias = {"MODEL_URI": "models:/telecom-model@production", "MLGITOPS_FASTPATH": "0"}
    started["telecom-b"] = start_replica(registry, "telecom", port=port, tag="-b", env=alias)
    started["missing"] = start_replica(registry, "telecom", version="999", tag="-missing")
    try:
        for name, replica in started.items():
            resp = replica.wait_settled()
            expected = 503 if name == "missing" else 200
            assert resp.status_code == expected, f"{name}: {resp.text}\n{replica.log_tail()}"
        yield started
    finally:
        for replica in started.values():
            replica.stop()


# --------------------------------------------------------------------- healthy replicas


@pytest.mark.parametrize("service", SERVICES)
def test_health_names_the_model(
    replicas: dict[str, Replica], registry: Registry, service: str
) -> None:
    replica = replicas[service]
    for base in (replica.admin, replica.url):  # same app on the admin and the public port
        body = httpx.get(f"{base}/health").json()
        assert body["status"] == "healthy"
        assert body["model_name"] == f"{service}-model"
        assert body["model_version"] == registry.versions[service]


@pytest.mark.parametrize("service", SERVICES)
def test_predict_one_record(replicas: dict[str, Replica], registry: Registry, service: str) -> None:
    resp = httpx.post(f"{replicas[service].url}/predict", json=fixture(service))
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["model_version"] == registry.versions[service]
    if service == "carvision":
        assert isinstance(body["prediction"], float)
    else:
        assert body["prediction"] in (0, 1)
        assert 0.0 <= body["probability"] <= 1.0
    if service == "bankchurn":
        p = body["probability"]
        expected = "HIGH" if p >= 0.7 else "MEDIUM" if p >= 0.3 else "LOW"
        assert body["risk_level"] == expected


@pytest.mark.parametrize("service", SERVICES)
def test_predict_batch_matches_single(replicas: dict[str, Replica], service: str) -> None:
    batch = fixture(service, "sample_batch.json")
    resp = httpx.post(f"{replicas[service].url}/predict_batch", json=batch)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["count"] == len(batch["records"]) == len(body["predictions"])
    single = httpx.post(f"{replicas[service].url}/predict", json=batch["records"][0]).json()
    assert body["predictions"][0]["prediction"] == pytest.approx(single["prediction"])


def test_batch_over_limit_is_422(replicas: dict[str, Replica]) -> None:
    record = fixture("telecom")
    url = f"{replicas['telecom'].url}/predict_batch"
    assert httpx.post(url, json={"records": [record] * 1000}, timeout=30).status_code == 200
    resp = httpx.post(url, json={"records": [record] * 1001}, timeout=30)
    assert resp.status_code == 422
    assert resp.json()["detail"][0]["loc"] == ["body", "records"]
    assert httpx.post(url, json={"records": []}).status_code == 422


BAD_INPUTS = [
    ("bankchurn", {"Geography": "Italy"}, "Geography"),
    ("bankchurn", {"Age": 150}, "Age"),
    ("bankchurn", {"CreditScore": "high"}, "CreditScore"),
    ("bankchurn", {"Surname": "Smith"}, "Surname"),  # unknown fields are refused
    ("carvision", {"date_posted": "2018-13-45"}, "date_posted"),
    ("carvision", {"condition": "shiny"}, "condition"),
    ("carvision", {"model_year": 2011.5}, "model_year"),
    ("telecom", {"mb_used": -1.0}, "mb_used"),
]


@pytest.mark.parametrize(("service", "change", "field"), BAD_INPUTS)
def test_bad_input_is_422_naming_the_field(
    replicas: dict[str, Replica], service: str, change: dict[str, Any], field: str
) -> None:
    record = {**fixture(service), **change}
    resp = httpx.post(f"{replicas[service].url}/predict", json=record)
    assert resp.status_code == 422
    assert [err["loc"] for err in resp.json()["detail"]] == [["body", field]]


@pytest.mark.parametrize("service", SERVICES)
def test_missing_field_is_422(replicas: dict[str, Replica], service: str) -> None:
    record = fixture(service)
    required = {"bankchurn": "CreditScore", "carvision": "model", "telecom": "calls"}[service]
    del record[required]
    resp = httpx.post(f"{replicas[service].url}/predict", json=record)
    assert resp.status_code == 422
    assert resp.json()["detail"][0]["loc"] == ["body", required]
    assert resp.json()["detail"][0]["type"] == "missing"


def original_payloads() -> list[Any]:
    return [
        pytest.param(service, item["body"], id=f"{service}-{i}")
        for service in SERVICES
        for i, item in enumerate(fixture(service, "original_payloads.json")["requests"])
    ]


@pytest.mark.parametrize(("service", "body"), original_payloads())
def test_original_payloads_get_a_prediction(
    replicas: dict[str, Replica], service: str, body: dict[str, Any]
) -> None:
    """The example requests published with the original services get 200 and a prediction.

    Payloads (projects/<name>/tests/fixtures/original_payloads.json, each entry naming its
    file and commit): DuqueOM/ML-MLOps-Portfolio docs/api/rest-apis.md (BankChurn,
    CarVision, TelecomAI examples), CarVision-Market-Intelligence/docs/_per_file/
    fastapi_app.md, and one ten-field CarVision payload reconstructed from that service's
    VehicleFeatures schema (app/fastapi_app.py). The answer carries the original fields.
    """
    resp = httpx.post(f"{replicas[service].url}/predict", json=body)
    assert resp.status_code == 200, resp.text
    answer = resp.json()
    expected = fixture(service, "original_payloads.json")["answer_fields"]
    assert [f for f in expected if f not in answer] == []
    if service == "carvision":
        assert answer["predicted_price"] == answer["prediction"] > 0
    else:
        assert answer["prediction"] in (0, 1) and 0.0 <= answer["probability"] <= 1.0


@pytest.mark.parametrize("service", SERVICES)
def test_original_payload_missing_a_required_field_is_422(
    replicas: dict[str, Replica], service: str
) -> None:
    body = dict(fixture(service, "original_payloads.json")["requests"][0]["body"])
    required = {"bankchurn": "CreditScore", "carvision": "model", "telecom": "calls"}[service]
    del body[required]
    resp = httpx.post(f"{replicas[service].url}/predict", json=body)
    assert resp.status_code == 422
    assert [(e["loc"], e["type"]) for e in resp.json()["detail"]] == [
        (["body", required], "missing")]


def test_nullable_fields_may_be_empty(replicas: dict[str, Replica]) -> None:
    record = {**fixture("carvision"), "model_year": None, "odometer": None, "is_4wd": None}
    del record["paint_color"]  # nullable fields may also be left out
    resp = httpx.post(f"{replicas['carvision'].url}/predict", json=record)
    assert resp.status_code == 200, resp.text


@pytest.mark.parametrize("service", SERVICES)
def test_model_info(replicas: dict[str, Replica], registry: Registry, service: str) -> None:
    info = httpx.get(f"{replicas[service].url}/model_info").json()
    assert info["name"] == f"{service}-model"
    assert info["version"] == registry.versions[service]
    assert len(info["run_id"]) == 32
    assert info["metrics"]  # the training run's metrics
    assert info["trained_at"]
    assert info["data_version"]


@pytest.mark.parametrize("service", SERVICES)
def test_model_info_names_the_serving_path(replicas: dict[str, Replica], service: str) -> None:
    info = httpx.get(f"{replicas[service].admin}/model_info").json()
    assert info["serving_path"] == "fast", info["fast_path"]
    assert "identical on" in info["fast_path"]


def test_pipeline_path_when_switched_off_answers_the_same(replicas: dict[str, Replica]) -> None:
    fast, pipeline = replicas["telecom"], replicas["telecom-b"]
    info = httpx.get(f"{pipeline.admin}/model_info").json()
    assert info["serving_path"] == "pipeline" and "MLGITOPS_FASTPATH=0" in info["fast_path"]
    for record in fixture("telecom", "sample_batch.json")["records"]:
        a = httpx.post(f"{fast.admin}/predict", json=record).json()
        b = httpx.post(f"{pipeline.admin}/predict", json=record).json()
        assert a == b  # the same JSON floats: bitwise the same predictions


@pytest.mark.parametrize("service", SERVICES)
def test_metrics_export_the_contract(
    replicas: dict[str, Replica], registry: Registry, service: str
) -> None:
    replica = replicas[service]
    # The admin port: telecom's public port is shared with telecom-b.
    httpx.post(f"{replica.admin}/predict", json=fixture(service)).raise_for_status()
    samples = metric_samples(httpx.get(f"{replica.admin}/metrics").text)
    names = set(samples) | {n.removesuffix("_bucket") for n in samples}
    missing = [name for name in contract.SERVICE_METRICS if name not in names]
    assert not missing, f"/metrics lacks {missing}"
    assert samples[contract.MODEL_LOADED] == [({}, 1.0)]
    ((labels, value),) = samples[contract.MODEL_INFO]
    assert labels["model_version"] == registry.versions[service] and value == 1.0
    predict_ok = [
        v
        for lab, v in samples[contract.REQUESTS_TOTAL]
        if lab == {"endpoint": "/predict", "method": "POST", "status": "200"}
    ]
    assert predict_ok and predict_ok[0] >= 1


def test_prediction_inputs_are_logged(replicas: dict[str, Replica]) -> None:
    replica = replicas["bankchurn"]
    record = {**fixture("bankchurn"), "CreditScore": 777}
    httpx.post(f"{replica.url}/predict", json=record).raise_for_status()
    path = replica.state_dir / "predictions" / "bankchurn.jsonl"
    deadline = time.monotonic() + 5
    lines: list[dict[str, Any]] = []
    while time.monotonic() < deadline and not any(r.get("CreditScore") == 777 for r in lines):
        time.sleep(0.2)
        lines = [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []
    logged = [r for r in lines if r.get("CreditScore") == 777]
    assert logged, f"no logged row in {path}"
    assert set(fixture("bankchurn")) <= set(logged[0])
    assert logged[0]["_model_version"] and "_prediction" in logged[0]


def test_fault_switch_forces_errors_then_clears(replicas: dict[str, Replica]) -> None:
    replica = replicas["telecom"]
    url = f"{replica.admin}/predict"  # the public port is shared with telecom-b
    assert (
        httpx.post(
            f"{replica.admin}/_fault", json={"error_rate": 1, "duration_s": 7200}
        ).status_code
        == 422
    )
    resp = httpx.post(f"{replica.admin}/_fault", json={"error_rate": 1.0, "duration_s": 30})
    assert resp.status_code == 200
    try:
        assert [httpx.post(url, json=fixture("telecom")).status_code for _ in range(3)] == [500] * 3
        assert httpx.get(f"{replica.admin}/health").status_code == 200  # health is unaffected
    finally:
        httpx.post(f"{replica.admin}/_fault", json={"error_rate": 0.0, "duration_s": 1})
    assert httpx.post(url, json=fixture("telecom")).status_code == 200
    samples = metric_samples(httpx.get(f"{replica.admin}/metrics").text)
    errors = [v for lab, v in samples[contract.REQUESTS_TOTAL] if lab["status"] == "500"]
    assert errors == [3.0]


def test_fault_switch_absent_unless_enabled(replicas: dict[str, Replica]) -> None:
    resp = httpx.post(
        f"{replicas['bankchurn'].admin}/_fault", json={"error_rate": 1, "duration_s": 5}
    )
    assert resp.status_code == 404


# --------------------------------------------------------------------- lifecycle


def refused(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) != 0


def test_missing_model_version_answers_503(replicas: dict[str, Replica]) -> None:
    """A version the registry lacks: health and predict 503, public port closed, process up."""
    replica = replicas["missing"]
    body = httpx.get(f"{replica.admin}/health").json()
    assert body["status"] == "unhealthy" and body["state"] == "failed"
    assert "999" in body["reason"]
    assert httpx.post(f"{replica.admin}/predict", json=fixture("telecom")).status_code == 503
    assert httpx.get(f"{replica.admin}/model_info").status_code == 503
    samples = metric_samples(httpx.get(f"{replica.admin}/metrics").text)
    assert samples[contract.MODEL_LOADED] == [({}, 0.0)]
    assert contract.MODEL_INFO not in samples
    assert replica.proc.poll() is None  # still running: the runtime sees it unhealthy
    # With an admin port, an unhealthy replica never listens on its public port.
    assert refused(replica.port)


def test_container_healthcheck_command(replicas: dict[str, Replica]) -> None:
    """The images' HEALTHCHECK: exit 0 for a healthy replica, 1 for one without a model."""

    def check(replica: Replica) -> int:
        env = {**os.environ, "PORT": str(replica.port), "ADMIN_PORT": str(replica.admin_port)}
        argv = [sys.executable, "-m", "runner.serving.healthcheck"]
        return subprocess.run(argv, env=env, cwd=ROOT, capture_output=True, timeout=30).returncode

    assert check(replicas["carvision"]) == 0
    assert check(replicas["missing"]) == 1


def test_two_replicas_share_the_public_port(
    replicas: dict[str, Replica], registry: Registry
) -> None:
    """Both telecom replicas listen on one port; the kernel spreads connections over them."""
    pair = (replicas["telecom"], replicas["telecom-b"])
    assert pair[0].port == pair[1].port
    by_alias = httpx.get(f"{pair[1].admin}/health").json()  # MODEL_URI with @production
    assert by_alias["model_version"] == registry.versions["telecom"]

    def served(replica: Replica) -> float:
        samples = metric_samples(httpx.get(f"{replica.admin}/metrics").text)
        rows = samples.get(contract.REQUESTS_TOTAL, [])
        return sum(v for lab, v in rows if lab["endpoint"] == "/predict")

    before = [served(r) for r in pair]
    for _ in range(40):  # a fresh connection per request
        with httpx.Client() as client:
            resp = client.post(f"{pair[0].url}/predict", json=fixture("telecom"))
            assert resp.status_code == 200
    gained = [served(r) - b for r, b in zip(pair, before, strict=True)]
    assert sum(gained) == 40 and all(g > 0 for g in gained), gained


def test_sigterm_finishes_an_in_flight_request(replicas: dict[str, Replica]) -> None:
    """A request still receiving its body when SIGTERM lands is answered, then the exit;
    the other replica on the port keeps serving."""
    replica, other = replicas["telecom-b"], replicas["telecom"]
    body = json.dumps(fixture("telecom")).encode()
    head = (
        "POST /predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()
    # The admin port: the public one might hand this connection to the other replica.
    with socket.create_connection(("127.0.0.1", replica.admin_port or 0), timeout=10) as sock:
        sock.sendall(head + body[:5])
        time.sleep(0.3)  # the server has the headers: the request is in flight
        replica.proc.send_signal(signal.SIGTERM)
        time.sleep(0.5)
        assert replica.proc.poll() is None  # waiting for the request, not gone
        sock.sendall(body[5:])
        answer = b""
        while not answer.rstrip().endswith(b"}"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 200"), answer[:200]
    replica.proc.wait(timeout=20)
    assert "Finished server process" in replica.log_tail()
    for _ in range(10):
        with httpx.Client() as client:
            assert client.post(f"{other.url}/predict", json=fixture("telecom")).status_code == 200
