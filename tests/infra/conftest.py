"""The verify suite's fixtures: targets from the specs and the runtime, testinfra hosts.

Run by ``inv verify`` (``runner.verify.verify_command``) with this directory as its own rootdir
and ``pytest.ini``; the normal ``pytest`` run of ``tests/`` never collects these checks
(their files are ``check_*.py``, which only this ini collects).

Every check is parametrized by ``runner.verify.targets.gather``: the specs' services, the
replicas the runtime reports, the platform's components. A new service is verified by
the same checks without a line of test code.
"""

from __future__ import annotations

from typing import Any

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("mlgitops")
    group.addoption("--mlgitops-env", default="dev", help="environment to verify")
    group.addoption("--mlgitops-service", default="", help="verify one service only")


def _targets(config: pytest.Config) -> Any:
    cached = getattr(config, "_mlgitops_targets", None)
    if cached is None:
        from runner.operations import open_env
        from runner.verify.targets import gather

        env = open_env(None, config.getoption("--mlgitops-env"), quiet=True)
        try:
            cached = gather(env, config.getoption("--mlgitops-service") or None)
        finally:
            env.store.close()
        config._mlgitops_targets = cached  # type: ignore[attr-defined]
    return cached


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    targets = _targets(metafunc.config)
    if "replica" in metafunc.fixturenames:
        # No replica at all is a failure of its own (check "replicas"), not zero checks.
        metafunc.parametrize("replica", targets.replicas, ids=[r.id for r in targets.replicas])
    if "service" in metafunc.fixturenames:
        metafunc.parametrize("service", targets.services,
                             ids=[s.service for s in targets.services])
    if "interpreter" in metafunc.fixturenames:
        metafunc.parametrize("interpreter", targets.interpreters,
                             ids=[i.name for i in targets.interpreters])
    if "component" in metafunc.fixturenames:
        metafunc.parametrize("component", targets.components,
                             ids=[c.name for c in targets.components])


@pytest.fixture(scope="session")
def targets(request: pytest.FixtureRequest) -> Any:
    return _targets(request.config)


@pytest.fixture
def replica_host(replica: Any) -> Any:
    """The testinfra host that reaches this replica (local, ssh or its container)."""
    import testinfra

    return testinfra.get_host(replica.host)
