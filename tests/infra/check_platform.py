"""The platform around the services: its daemons, its rules, its state dir, its packages."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from runner.verify import probes
from runner.verify.backend import http_get


def test_answers(component: Any, host: Any) -> None:
    if not component.required:
        pytest.skip(f"{component.name} is not installed here")
    status, _ = http_get(host, f"{component.url}{component.path}")
    assert status == 200, f"{component.url}{component.path} answered {status or 'nothing'}"


def _prometheus(targets: Any) -> Any:
    prometheus = next(c for c in targets.components if c.name == "prometheus")
    if not prometheus.required:
        pytest.skip("prometheus is not installed here")
    return prometheus


def test_rules_staged(targets: Any) -> None:
    """The rule files Prometheus reads are byte for byte the rendered ones."""
    _prometheus(targets)
    rendered = probes.file_digests(Path(targets.generated_rules))
    assert rendered, f"no rendered rules under {targets.generated_rules}: run inv render"
    problems = probes.same_files(rendered, probes.file_digests(Path(targets.staged_rules)),
                                 "the staged rule file")
    assert not problems, "; ".join(problems)


def test_rules_loaded(targets: Any, host: Any) -> None:
    """The rules Prometheus evaluates have the rendered ones' checksum."""
    _prometheus(targets)
    status, live = http_get(host, f"{targets.prometheus_url}/api/v1/rules?type=alert")
    assert status == 200, f"Prometheus /api/v1/rules answered {status or 'nothing'}"
    problems = probes.loaded_rules(probes.rendered_groups(Path(targets.generated_rules)), live)
    assert not problems, "; ".join(problems)


def test_state_private(targets: Any, host: Any) -> None:
    """Nothing under the state dir is readable by other users (audit log, predictions)."""
    state = host.file(targets.state)
    assert state.is_directory, f"{targets.state} is missing"
    problems = probes.private_mode(state.mode, targets.state, directory=True)
    for entry in sorted(os.listdir(targets.state)) if host.backend.NAME == "local" else []:
        path = os.path.join(targets.state, entry)
        if os.path.isfile(path):
            problems += probes.private_mode(os.stat(path).st_mode, path, directory=False)
    assert not problems, "; ".join(problems)


def test_packages_lock(targets: Any, interpreter: Any) -> None:
    """Each interpreter serving replicas has exactly the lock's pinned versions
    (``runner/serving/requirements.txt``, what a service image installs): the toolkit's
    venv for local replicas, each replica's image for a container runtime."""
    import testinfra

    pins = probes.lock_pins(Path(targets.lock_file).read_text())
    pip = str(Path(interpreter.python).with_name("pip"))
    host = testinfra.get_host(interpreter.host)
    installed = {probes.normalise(name): info["version"]
                 for name, info in host.pip.get_packages(pip_path=pip).items()}
    problems = probes.packages_match(pins, installed)
    assert not problems, "; ".join(problems)
