"""A replica's app against hostile clients (issue 13: items 4, 5, 12).

The real app of a real project, driven in process through httpx's ASGI transport (no
model is loaded: validation and the limits act before the handlers, which answer 503).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from runner.serving.app import create_app
from runner.serving.config import ServingConfig
from runner.serving.definition import load_definition
from runner.serving.metrics import ServiceMetrics
from runner.serving.predlog import PredictionLog

ROOT = Path(__file__).resolve().parents[2]
PUBLIC, ADMIN = 8003, 9003


def _config(tmp_path: Path, project: str = "telecom", **extra: str) -> ServingConfig:
    env = {
        "MLGITOPS_SERVICE": project,
        "MLGITOPS_PROJECT_DIR": str(ROOT / "projects" / project),
        "MODEL_VERSION": "1",
        "PORT": str(PUBLIC),
        "MLGITOPS_STATE_DIR": str(tmp_path / "state"),
        **extra,
    }
    return ServingConfig.from_env(env)


def _send(config: ServingConfig, method: str, url: str, **kwargs: Any) -> httpx.Response:
    app = create_app(config, load_definition(config.project_dir))

    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport) as client:
            return await client.request(method, url, **kwargs)

    return asyncio.run(go())


def _sample(project: str) -> dict[str, Any]:
    path = ROOT / "projects" / project / "tests" / "fixtures" / "sample_request.json"
    return dict(json.loads(path.read_text()))


# ------------------------------------------------------------------ size limit


def test_bodies_over_the_limit_are_413_before_being_read(tmp_path: Path) -> None:
    config = _config(tmp_path, MLGITOPS_MAX_BODY_BYTES="2000")
    url = f"http://127.0.0.1:{PUBLIC}/predict"
    big = b'{"calls": ' + b" " * 3000 + b"1}"
    reply = _send(config, "POST", url, content=big,
                  headers={"Content-Type": "application/json"})
    assert reply.status_code == 413
    assert reply.text == "Content Too Large"

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: counted as it streams
        for _ in range(100):
            yield b" " * 100

    reply = _send(config, "POST", url, content=chunks(),
                  headers={"Content-Type": "application/json"})
    assert reply.status_code == 413
    small = _send(config, "POST", url, json=_sample("telecom"))
    assert small.status_code == 503  # through the limit; no model loaded here


@pytest.mark.parametrize("project", ["bankchurn", "carvision", "telecom"])
def test_a_full_batch_fits_the_default_limit(tmp_path: Path, project: str) -> None:
    config = _config(tmp_path, project)
    batch = {"records": [_sample(project)] * 1000}
    reply = _send(config, "POST", f"http://127.0.0.1:{PUBLIC}/predict_batch",
                  content=json.dumps(batch, indent=2),
                  headers={"Content-Type": "application/json"})
    assert reply.status_code == 503, reply.text  # not 413


# ------------------------------------------------------------------ unencodable input


@pytest.mark.parametrize(("field", "raw"), [
    ("mb_used", "NaN"), ("mb_used", "Infinity"), ("mb_used", "-Infinity"),
    ("mb_used", '"\\ud800"'), ("\\ud800", "1"), ("is_ultra", '"\\udfff"'),
])
def test_nan_infinity_and_lone_surrogates_are_422_without_a_traceback(
    tmp_path: Path, field: str, raw: str, caplog: pytest.LogCaptureFixture
) -> None:
    body = json.dumps(_sample("telecom"))[:-1] + f', "{field}": {raw}}}'
    with caplog.at_level(logging.INFO):
        reply = _send(_config(tmp_path), "POST", f"http://127.0.0.1:{PUBLIC}/predict",
                      content=body.encode(), headers={"Content-Type": "application/json"})
    assert reply.status_code == 422, reply.text
    detail = reply.json()["detail"]
    assert detail and all(set(err) == {"loc", "msg", "type"} for err in detail)  # no input
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]


def test_a_lone_surrogate_in_free_text_is_refused(tmp_path: Path) -> None:
    from runner.ml.project import load_project
    from runner.serving.records import record_model

    schema = load_project(Path(__file__).parents[2] / "projects" / "carvision").contract
    text = [c.name for c in schema.features if c.kind == "text"]
    assert text, "carvision has free-text columns"
    model = record_model(schema)
    with pytest.raises(ValueError, match="unicode"):  # pydantic refuses it itself
        model.model_validate({**_sample("carvision"), text[0]: "a\ud800"})


# ------------------------------------------------------------------ fault switch


def test_fault_switch_only_on_the_admin_port(tmp_path: Path) -> None:
    body = {"error_rate": 0.5, "duration_s": 1}
    on = _config(tmp_path, MLGITOPS_FAULT_ENABLE="1", ADMIN_PORT=str(ADMIN))
    assert _send(on, "POST", f"http://127.0.0.1:{ADMIN}/_fault", json=body).status_code == 200
    assert _send(on, "POST", f"http://127.0.0.1:{PUBLIC}/_fault", json=body).status_code == 404
    assert _send(on, "GET", f"http://127.0.0.1:{PUBLIC}/_fault").status_code == 404
    # No admin port: no switch at all, even with the variable inherited.
    no_admin = _config(tmp_path, MLGITOPS_FAULT_ENABLE="1")
    reply = _send(no_admin, "POST", f"http://127.0.0.1:{PUBLIC}/_fault", json=body)
    assert reply.status_code in (404, 405)


# ------------------------------------------------------------------ prediction log


def test_a_batch_the_disk_refuses_is_counted(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")  # the log's folder cannot be created under a file
    metrics = ServiceMetrics((0.5, 1.0))
    plog = PredictionLog(blocker / "svc.jsonl", sample=1.0, max_bytes=10**6, backups=1,
                         on_drop=metrics.count_log_drop)
    plog.record("1", [{"x": 1}, {"x": 2}], [{"prediction": 0}] * 2)
    with pytest.raises(OSError):
        plog.flush()
    plog._flush_safely()  # the writer thread's path: logged, not raised  # noqa: SLF001
    assert plog.dropped == 2
    text = metrics.render().decode()
    assert 'mlservice_prediction_log_dropped_rows_total{reason="write_failed"} 2.0' in text
