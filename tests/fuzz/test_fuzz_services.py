"""Random JSON into the three services' APIs: a prediction or a one-line 4xx, never a 5xx.

Each service's real app with a real fitted model (service_apps.py), driven in process
through httpx's ASGI transport, so thousands of cases fit in seconds: mutated records
(fields dropped, replaced by any JSON value, edge values, unknown fields), random JSON
documents, near-JSON bytes (NaN, lone surrogates, deep nesting, truncation), batches of
all of these, odd content types and methods, unknown paths. Every reply must be a 2xx
with a usable prediction or a 4xx with a one-line body, and nothing may log an error or
a traceback. ``test_random_requests_over_a_real_socket`` repeats a smaller run through
uvicorn on 127.0.0.1 (HTTP parsing, keep-alive, connection handling included).
"""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fuzz_support import (
    fuzz_settings,
    json_values,
    mutated_record,
    raw_bodies,
    valid_record,
    watch_logs,
)
from hypothesis import event, given
from hypothesis import strategies as st
from service_apps import PUBLIC_PORT, SERVICES, Served, listening, served

from runner.ml.project import load_project

REPO_ROOT = Path(__file__).resolve().parents[2]

BASE = f"http://127.0.0.1:{PUBLIC_PORT}"
PATHS = ["/predict", "/predict_batch", "/health", "/model_info", "/metrics", "/_fault",
         "/predict/", "/docs", "/openapi.json", "/nope", "/predict?x=1", "/%ff", "/..%2f"]
CONTENT_TYPES = ["application/json", "application/json; charset=utf-8", "text/plain",
                 "application/x-www-form-urlencoded", "multipart/form-data", "", "*/*",
                 "application/json; charset=latin-1"]


class Client:
    """One event loop and one ASGI client for a whole hypothesis run."""

    def __init__(self, app: Any) -> None:
        self.runner = asyncio.Runner()
        self.client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE)

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return self.runner.run(self.client.request(method, path, **kwargs))

    def close(self) -> None:
        self.runner.run(self.client.aclose())
        self.runner.close()


@pytest.fixture(scope="module", params=SERVICES)
def service(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
            ) -> Iterator[tuple[Served, Client]]:
    with served(request.param, tmp_path_factory.mktemp(f"fuzz-{request.param}")) as svc:
        client = Client(svc.app)
        try:
            yield svc, client
        finally:
            client.close()


def check_reply(svc: Served, path: str, reply: httpx.Response) -> None:
    """A usable prediction, another 2xx, or a one-line 4xx: never a 5xx."""
    assert reply.status_code < 500, f"{reply.status_code} for {path}: {reply.text[:300]}"
    if reply.status_code >= 400:
        assert "\n" not in reply.text.strip(), f"more than one line: {reply.text[:300]!r}"
        assert "Traceback" not in reply.text
        if reply.status_code == 422:
            detail = reply.json()["detail"]
            assert isinstance(detail, list) and detail
            assert all(set(err) == {"loc", "msg", "type"} for err in detail)
        return
    if reply.status_code != 200 or not path.startswith("/predict"):
        return
    body = reply.json()
    items = body["predictions"] if path.startswith("/predict_batch") else [body]
    if path.startswith("/predict_batch"):
        assert body["count"] == len(items) >= 1 and body["model_version"] == "1"
    for item in items:
        assert "prediction" in item
        if svc.definition.task == "classification":
            assert 0.0 <= item["probability"] <= 1.0
        else:
            assert isinstance(item["prediction"], float) and math.isfinite(item["prediction"])


@st.composite
def requests(draw: st.DrawFn, sample: dict[str, Any], schema: Any
             ) -> tuple[str, str, dict[str, Any]]:
    """(method, path, httpx keyword arguments) of one hostile or ordinary request."""
    kind = draw(st.sampled_from(["valid", "valid", "record", "record", "batch", "batch", "json",
                                 "raw", "other"]))
    if kind in ("valid", "record"):
        record = draw(valid_record(schema) if kind == "valid" else mutated_record(sample))
        return "POST", "/predict", {"content": _dump(record),
                                    "headers": {"Content-Type": "application/json"}}
    if kind == "batch":
        records = draw(st.one_of(
            st.lists(valid_record(schema), min_size=1, max_size=6),  # reaches the model
            st.lists(st.one_of(valid_record(schema), mutated_record(sample), json_values(3)),
                     max_size=6)))
        outer = draw(st.sampled_from(["records", "records", "records", "rows", ""]))
        body: Any = {outer: records} if outer else records
        return "POST", "/predict_batch", {"content": _dump(body),
                                          "headers": {"Content-Type": "application/json"}}
    if kind == "json":
        path = draw(st.sampled_from(["/predict", "/predict_batch"]))
        return "POST", path, {"content": _dump(draw(json_values(12))),
                              "headers": {"Content-Type": "application/json"}}
    if kind == "raw":
        path = draw(st.sampled_from(["/predict", "/predict_batch"]))
        ctype = draw(st.sampled_from(CONTENT_TYPES))
        return "POST", path, {"content": draw(raw_bodies()), "headers": {"Content-Type": ctype}}
    method = draw(st.sampled_from(["GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS", "PATCH"]))
    path = draw(st.sampled_from(PATHS))
    content = draw(st.one_of(st.none(), raw_bodies()))
    return method, path, {"content": content} if content is not None else {}


def _dump(value: Any) -> bytes:
    """JSON as a lax client would send it: NaN and Infinity allowed, surrogates passed on."""
    return json.dumps(value, ensure_ascii=False).encode("utf-8", "surrogatepass")


@given(case=st.data())
@fuzz_settings(scale=0.67)
def test_random_requests_get_a_prediction_or_a_4xx(service: tuple[Served, Client],
                                                   case: st.DataObject) -> None:
    svc, client = service
    contract = load_project(REPO_ROOT / "projects" / svc.name).contract
    method, path, kwargs = case.draw(requests(svc.sample, contract), label="request")
    with watch_logs() as logs:
        reply = client.request(method, path, **kwargs)
    event(f"{path.split('?')[0]} -> {reply.status_code}")
    check_reply(svc, path, reply)
    assert not logs.bad, logs.describe()


def test_the_seed_record_predicts(service: tuple[Served, Client], tmp_path: Path) -> None:
    """The baseline: the unmutated sample is a 200 with a prediction (else every case
    would only exercise the 422 path)."""
    svc, client = service
    reply = client.request("POST", "/predict", json=svc.sample)
    assert reply.status_code == 200, reply.text
    check_reply(svc, "/predict", reply)
    reply = client.request("POST", "/predict_batch", json={"records": [svc.sample] * 3})
    assert reply.status_code == 200 and reply.json()["count"] == 3


@pytest.fixture(scope="module", params=SERVICES)
def live(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
         ) -> Iterator[tuple[Served, httpx.Client]]:
    with served(request.param, tmp_path_factory.mktemp(f"live-{request.param}")) as svc, \
            listening(svc.app) as url, httpx.Client(base_url=url, timeout=30) as client:
        yield svc, client


@given(case=st.data())
@fuzz_settings(scale=0.2, full_scale=0.2)
def test_random_requests_over_a_real_socket(live: tuple[Served, httpx.Client],
                                           case: st.DataObject) -> None:
    svc, client = live
    contract = load_project(REPO_ROOT / "projects" / svc.name).contract
    method, path, kwargs = case.draw(requests(svc.sample, contract), label="request")
    with watch_logs() as logs:
        reply = client.request(method, path, **kwargs)
    event(f"{path.split('?')[0]} -> {reply.status_code}")
    check_reply(svc, path, reply)
    assert not logs.bad, logs.describe()
