"""Suite-wide: the longest test files start first under ``pytest -n 3 --dist loadfile
--no-loadscope-reorder`` (scripts/test.sh; without that flag xdist sends the files with the
most tests first, whatever the order here).

xdist hands each worker a file and, whenever the worker has two tests or fewer pending,
another one. A worker that starts a long file of few tests late keeps the files queued
behind it waiting while the other workers go idle: in one CI run the suite ended 13 minutes
after two of its three workers had nothing left. Started first, the long files run beside
each other and the short ones fill in around them.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator

import pytest

# mlflow.set_tracking_uri/set_registry_uri export these to os.environ (for child processes)
# and keep module globals. Code under test that opens MLflow in-process (a module fixture
# training the projects, say) would otherwise point every later test of the same xdist
# worker at its registry: the doctor test saw three models "registered" that way in CI.
# Module fixtures are covered too: monkeypatch.delenv of a variable that is not set
# records nothing to undo, so the one mlflow sets afterwards outlived its module.
MLFLOW_URI_VARS = ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")
MLFLOW_URI_GLOBALS = (("mlflow.tracking._tracking_service.utils", "_tracking_uri"),
                      ("mlflow.tracking._model_registry.utils", "_registry_uri"))


def _keep_mlflow_uris() -> Iterator[None]:
    saved = {name: os.environ.get(name) for name in MLFLOW_URI_VARS}
    yield
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    for module, attribute in MLFLOW_URI_GLOBALS:
        loaded = sys.modules.get(module)  # never import mlflow just to reset it
        if loaded is not None:
            setattr(loaded, attribute, None)


@pytest.fixture(autouse=True, scope="module")
def mlflow_uris_stay_in_their_module() -> Iterator[None]:
    # Autouse: set up before the module's own module fixtures, torn down after them.
    yield from _keep_mlflow_uris()


@pytest.fixture(autouse=True)
def mlflow_uris_stay_in_their_test() -> Iterator[None]:
    yield from _keep_mlflow_uris()


# Longest first, from CI's --durations (setup + calls of each file, 2 loaded cores).
LONGEST_FIRST = (
    "tests/integration/test_faults_kill.py",
    "tests/integration/test_faults_kill_retrain.py",
    "tests/integration/test_pipelines.py",
    "tests/integration/test_swarm_stack.py",
    "tests/integration/test_verify_platform.py",
    "tests/integration/test_lifecycle.py",
    "tests/integration/test_docker_runtime.py",
    "tests/integration/test_oncall.py",
    "tests/integration/test_ci_local.py",
    "tests/integration/test_faults_crashloop.py",
    "tests/integration/test_monitoring_live.py",
    "tests/integration/test_secret_canary.py",
)


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config,
                                  items: list[pytest.Item]) -> None:
    rank = {path: index for index, path in enumerate(LONGEST_FIRST)}
    # A stable sort: within a file, and among the files not listed, the order stays.
    items.sort(key=lambda item: rank.get(item.nodeid.split("::", 1)[0], len(rank)))
