"""A pytest plugin for the verify suite: one result row per check and target, as JSON.

``inv verify`` runs ``tests/infra`` with ``-p runner.verify.verify_report --verify-report FILE``
and prints its summary table from FILE. A row's check is the test function's name
without ``test_``; its target is the parameter id (service, replica or component).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--verify-report", default="", help="write check results (JSON) here")


class Collector:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.rows: dict[str, dict[str, Any]] = {}

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.outcome == "skipped" and "empty parameter set" in _detail(report):
            return  # no replica to check: the "replicas" check reports that
        if report.when == "call" or report.outcome != "passed":
            row = self.rows.setdefault(report.nodeid, _row(report))
            if row["outcome"] == "passed" or report.when == "call":
                row["outcome"] = report.outcome
                row["detail"] = _detail(report)

    def pytest_sessionfinish(self) -> None:
        self.path.write_text(json.dumps(list(self.rows.values()), indent=1))


def _row(report: pytest.TestReport) -> dict[str, Any]:
    func = report.nodeid.rpartition("::")[2].partition("[")[0]
    props = dict(report.user_properties)
    return {"check": func.removeprefix("test_"), "target": props.get("target", "-"),
            "host": props.get("host", ""), "outcome": "passed", "detail": ""}


def target_of(item: pytest.Item) -> str:
    """What a check runs against: its replica, service or component parameter."""
    params = getattr(getattr(item, "callspec", None), "params", {})
    for key, attr in (("replica", "id"), ("service", "service"), ("component", "name"),
                      ("interpreter", "name")):
        if key in params:
            return str(getattr(params[key], attr, params[key]))
    return "platform"


def host_of(item: pytest.Item) -> str:
    """The testinfra host a check runs its commands on: its replica's or interpreter's
    (a container, for a container runtime), else the platform's (``--hosts``)."""
    params: dict[str, Any] = getattr(getattr(item, "callspec", None), "params", {})
    for key in ("replica", "interpreter"):
        host = getattr(params.get(key), "host", None)
        if host:
            return str(host)
    return str(getattr(item.config.option, "hosts", "") or "")  # testinfra's option


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    item.user_properties.append(("target", target_of(item)))
    item.user_properties.append(("host", host_of(item)))


def _detail(report: pytest.TestReport) -> str:
    if report.outcome == "skipped" and isinstance(report.longrepr, tuple):
        return str(report.longrepr[2]).removeprefix("Skipped: ")
    if report.outcome != "failed":
        return ""
    crash = getattr(report.longrepr, "reprcrash", None)
    text = crash.message if crash is not None else str(report.longrepr)
    first = text.splitlines()[0] if text else "failed"
    return first.removeprefix("AssertionError: ").removeprefix("Failed: ")


@pytest.hookimpl(trylast=True)
def pytest_configure(config: pytest.Config) -> None:
    path = config.getoption("--verify-report")
    if path:
        config.pluginmanager.register(Collector(Path(path)), "verify-report-collector")
