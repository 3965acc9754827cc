"""Random JSON into the monitor's ``POST /alerts``: accepted, or a one-line 4xx; never a 5xx.

The real monitor server on a free port with the real specs and state store, reached the
way Alertmanager reaches it (bearer token, JSON). The repository root is a temporary
folder without playbooks, so alerts that match an alert action are recorded as
"requested" and no procedure starts. Inputs: Alertmanager-shaped payloads with any field
replaced by any JSON value (labels, annotations, fingerprints, times, statuses), random
JSON, near-JSON bytes, and wrong tokens or content types.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fuzz_support import fuzz_settings, json_values, raw_bodies, watch_logs
from hypothesis import event, given
from hypothesis import strategies as st

from runner.monitor.dispatcher import MAX_ALERTS_PER_PAYLOAD, Context
from runner.monitor.server import make_server, serve_in_thread
from runner.monitor.webhook_token import read_token
from runner.spec import load_platform

ROOT = Path(__file__).resolve().parents[2]
NAMES = ["MlServiceErrorRateCritical", "MlServiceLatencyP99Critical", "DriftShareCritical",
         "CpuWarning", "MemoryWarning", "x", ""]
SERVICES = ["bankchurn", "carvision", "telecom", "nope", ""]


@pytest.fixture(scope="module")
def monitor(tmp_path_factory: pytest.TempPathFactory
            ) -> Iterator[tuple[httpx.Client, Context]]:
    tmp = tmp_path_factory.mktemp("monitorfuzz")
    (tmp / "playbooks").mkdir()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLGITOPS_STATE_DIR", str(tmp / "state"))
        patch.delenv("MLGITOPS_WEBHOOK_URL", raising=False)  # nothing leaves the machine
        platform = load_platform(ROOT, "dev").model_copy(update={"root": str(tmp)})
        ctx = Context(platform, tmp / "state")
        server = make_server(ctx, "127.0.0.1", 0)
        serve_in_thread(server)
        # One client for the run: a new one per request costs an SSL context (~20 ms).
        client = httpx.Client(base_url=f"http://127.0.0.1:{server.server_address[1]}",
                              timeout=10)
        try:
            yield client, ctx
        finally:
            client.close()
            server.shutdown()
            server.server_close()


def _maybe(draw: st.DrawFn, good: st.SearchStrategy[Any]) -> Any:
    """Mostly a well-formed value, sometimes (one in eight) any JSON value at all."""
    return draw(json_values(4)) if draw(st.integers(0, 7)) == 0 else draw(good)


@st.composite
def alert(draw: st.DrawFn) -> Any:
    labels = _maybe(draw, st.fixed_dictionaries(
        {"alertname": st.sampled_from(NAMES), "service": st.sampled_from(SERVICES),
         "severity": st.sampled_from(["critical", "warning", "info", "page", ""])},
        optional={"kind": st.sampled_from(["error_rate", "drift_share", "latency_p99_s", "x"]),
                  "extra": json_values(2)}))
    item: dict[str, Any] = {
        "status": _maybe(draw, st.sampled_from(["firing", "resolved"])),
        "labels": labels,
        "annotations": _maybe(draw, st.dictionaries(
            st.sampled_from(["summary", "description", "runbook_url", "runbook", "x"]),
            st.text(max_size=40), max_size=3)),
        "startsAt": _maybe(draw, st.sampled_from(["2026-01-01T00:00:00Z", "", "yesterday"])),
        "endsAt": _maybe(draw, st.just("0001-01-01T00:00:00Z")),
        "fingerprint": _maybe(draw, st.text("0123456789abcdef", min_size=1, max_size=16)),
    }
    for key in draw(st.lists(st.sampled_from(sorted(item)), max_size=2, unique=True)):
        del item[key]
    return item if draw(st.integers(0, 9)) else draw(json_values(4))


@st.composite
def payload(draw: st.DrawFn) -> Any:
    body: dict[str, Any] = {
        "version": _maybe(draw, st.sampled_from(["4", "4", 4, "3"])),
        "status": _maybe(draw, st.sampled_from(["firing", "resolved"])),
        "receiver": "runner", "groupKey": "{}",
        "alerts": _maybe(draw, st.lists(alert(), max_size=4)),
    }
    if draw(st.integers(0, 30)) == 0:
        body["alerts"] = [draw(alert())] * (MAX_ALERTS_PER_PAYLOAD + 1)
    return body


@st.composite
def requests(draw: st.DrawFn, token: str) -> tuple[str, dict[str, Any]]:
    kind = draw(st.sampled_from(["payload", "payload", "payload", "json", "raw", "headers"]))
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    import json

    if kind == "payload":
        body = json.dumps(draw(payload()), ensure_ascii=False).encode("utf-8", "surrogatepass")
    elif kind == "json":
        body = json.dumps(draw(json_values(10)), ensure_ascii=False).encode(
            "utf-8", "surrogatepass")
    else:
        body = draw(raw_bodies())
    if kind == "headers":
        headers["Authorization"] = draw(st.sampled_from(
            ["", "Bearer", "Bearer x", f"bearer {token}", f"Basic {token}", f"Bearer {token}x",
             f"Bearer  {token}"]))
        headers["Content-Type"] = draw(st.sampled_from(
            ["application/json", "text/plain", "", "application/json; charset=utf-8"]))
        body = json.dumps(draw(payload())).encode()
    path = draw(st.sampled_from(["/alerts"] * 6 + ["/alerts?x=1", "/alert", "/"]))
    return path, {"content": body, "headers": headers}


@given(case=st.data())
@fuzz_settings(scale=0.67)
def test_random_posts_get_accepted_or_a_4xx(monitor: tuple[httpx.Client, Context],
                                            case: st.DataObject) -> None:
    client, ctx = monitor
    path, kwargs = case.draw(requests(read_token(ctx.state)), label="request")
    with watch_logs() as logs:
        reply = client.post(path, **kwargs)
    event(f"{path.split('?')[0]} -> {reply.status_code}")
    assert reply.status_code < 500, f"{reply.status_code}: {reply.text[:300]}"
    assert "Traceback" not in reply.text
    assert "\n" not in reply.text.strip(), f"more than one line: {reply.text[:300]!r}"
    if reply.status_code == 200:
        body = reply.json()
        assert body["status"] == "accepted" and isinstance(body["alerts"], int)
        assert set(body) == {"status", "alerts"}  # nothing about deploys or decisions
    assert not logs.bad, logs.describe()


@pytest.mark.parametrize("annotations", [["summary"], "summary", 7])
def test_annotations_that_are_not_an_object_are_a_400(monitor: tuple[httpx.Client, Context],
                                                      annotations: Any) -> None:
    """Found by this fuzzer: a list here was a 500 and a traceback in the monitor's log."""
    client, ctx = monitor
    body = {"version": "4", "status": "firing", "alerts": [
        {"status": "firing", "labels": {"alertname": "x", "service": "telecom"},
         "annotations": annotations}]}
    with watch_logs() as logs:
        reply = client.post("/alerts", json=body,
                            headers={"Authorization": f"Bearer {read_token(ctx.state)}"})
    assert reply.status_code == 400
    assert reply.json() == {"error": "alert annotations must be an object"}
    assert not logs.bad, logs.describe()
