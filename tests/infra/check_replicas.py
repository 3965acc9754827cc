"""Every replica the runtime reports, checked on the host that runs it (testinfra).

Parametrized by ``conftest.py`` from the specs and the runtime's facts.
"""

from __future__ import annotations

import time
from typing import Any

from runner.verify import probes
from runner.verify.backend import http_get, process_owner


def test_process_user(replica: Any, replica_host: Any, targets: Any) -> None:
    # A replica the runtime reports stopped has no process to look at (and a stopped
    # container cannot even be entered: `docker exec` fails).
    user = process_owner(replica_host, replica.pid) if replica.running else None
    problems = probes.process_user(user, targets.user, targets.non_root)
    assert not problems, "; ".join(problems)


def test_listen_address(replica: Any, replica_host: Any, targets: Any) -> None:
    assert replica.running, "process not running"  # as above: nothing to enter
    sockets = replica_host.socket.get_listening_sockets()
    problems = []
    for port in (replica.port, replica.admin_port):
        problems += probes.listen_addresses(sockets, port, targets.listen)
    assert not problems, "; ".join(problems)


def test_health(replica: Any, replica_host: Any, targets: Any) -> None:
    service = next(s for s in targets.services if s.service == replica.service)
    status, body = http_get(replica_host, f"http://127.0.0.1:{replica.admin_port}"
                                          f"{service.health_path}")
    assert status == 200, f"{service.health_path} answered {status or 'nothing'}"


def test_model_version(replica: Any, replica_host: Any) -> None:
    status, info = http_get(replica_host, f"http://127.0.0.1:{replica.admin_port}/model_info")
    assert status == 200, f"/model_info answered {status or 'nothing'}"
    problems = probes.model_version(info, replica.pinned_version)
    assert not problems, "; ".join(problems)


def test_metrics_contract(replica: Any, replica_host: Any, targets: Any) -> None:
    status, text = http_get(replica_host, f"http://127.0.0.1:{replica.admin_port}/metrics")
    assert status == 200, f"/metrics answered {status or 'nothing'}"
    problems = probes.metric_names(str(text), targets.service_metrics)
    assert not problems, "; ".join(problems)


def test_prometheus_target(replica: Any, host: Any, targets: Any) -> None:
    prometheus = next(c for c in targets.components if c.name == "prometheus")
    if not prometheus.required:
        import pytest

        pytest.skip("prometheus is not installed here")
    # A replica started moments ago is discovered (file_sd) and scraped within about two
    # scrape intervals: wait that long while its target is missing or not scraped yet.
    deadline = time.monotonic() + 2 * targets.scrape_interval_s + 5
    while True:
        status, answer = http_get(host, f"{targets.prometheus_url}/api/v1/targets")
        assert status == 200, f"Prometheus /api/v1/targets answered {status or 'nothing'}"
        problems = probes.target_up(answer, replica.service, replica.replica)
        pending = any("no target" in p or " is unknown" in p for p in problems)
        if not pending or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert not problems, "; ".join(problems)
