"""The runbook playbooks load and validate with the toolkit catalog (modules known,
arguments valid)."""

from __future__ import annotations

from pathlib import Path

import pytest

from runner.playbook.modules import ModuleSet
from runner.playbook.playbook_loader import load_playbook
from runner.playbook.templating import Templar
from runner.playbook_catalog import toolkit_modules

PLAYBOOKS = Path(__file__).resolve().parents[2] / "playbooks"


@pytest.mark.parametrize("name", ["deploy", "rollback", "health", "retrain"])
def test_playbook_loads(name: str) -> None:
    playbook = load_playbook(PLAYBOOKS / f"{name}.yaml", Templar(), ModuleSet(toolkit_modules()))
    modules = {t.module for play in playbook.plays for t in _walk(play.tasks)}
    assert modules & {"service", "rollback", "watch", "http", "promote"}


def _walk(tasks):  # blocks hold tasks in block/rescue/always
    for t in tasks:
        yield t
        for part in (t.block, t.rescue, t.always):
            yield from _walk(part or [])
