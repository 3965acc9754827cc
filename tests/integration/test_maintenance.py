"""Windows and maintenance end to end: a temporary git repo with the real specs
(bankchurn only), a real MLflow sqlite registry, real replicas (local runtime).

Outside a maintenance window `inv maintenance` refuses and names the next opening; forced
with a reason it runs the whole playbook (a restic backup first)
under keep-alive load with 0 failed requests, and the audit log shows the override.
Inside a freeze window a deploy is refused and a rollback is not.
"""

from __future__ import annotations

import os
import re
import socket
import time
from collections.abc import Iterator

import pytest
from reconcile_fixtures import (
    Load,
    free_port,
    git,
    make_repo,
    model_version,
    register_models,
    sample_body,
    set_version,
)

from runner.commands.converge import deploy_command, reconcile_command, rollback_command
from runner.commands.maintenance import maintenance_command
from runner.maintenance.dependency_audit import pip_audit_command
from runner.operations import open_env
from runner.schedule.gates import OVERRIDE, WindowClosed

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    tmp = tmp_path_factory.mktemp("maintenance")
    port = free_port()
    root = make_repo(tmp, port=port)
    # A maintenance window that is not open now: yesterday's hour, one minute long.
    hour = (time.gmtime().tm_hour + 12) % 24
    spec = root / "specs" / "platform.yaml"
    spec.write_text(spec.read_text().replace('cron: "0 2 * * sun#1"', f'cron: "0 {hour} * * *"')
                    .replace("duration_min: 120", "duration_min: 1"))
    git(root, "commit", "-qam", "maintenance window away from now")
    state = tmp / "state"
    uri = register_models(state)
    keys = ("MLGITOPS_ROOT", "MLGITOPS_STATE_DIR", "MLFLOW_TRACKING_URI", "HTTPS_PROXY",
            "https_proxy", "MLGITOPS_BACKUP_REPO", "MLGITOPS_BACKUP_PASSWORD_FILE")
    saved = {k: os.environ.get(k) for k in keys}
    # pip-audit's advisory lookups (https) go to a closed local port: the offline path.
    proxy = f"http://127.0.0.1:{_closed_port()}"
    # The backup goes to a restic repository and key outside the state directory, as the
    # backup step insists (a key under .state would be wiped with what it protects).
    os.environ.update(MLGITOPS_ROOT=str(root), MLGITOPS_STATE_DIR=str(state),
                      MLFLOW_TRACKING_URI=uri, HTTPS_PROXY=proxy, https_proxy=proxy,
                      MLGITOPS_BACKUP_REPO=str(tmp / "backups"),
                      MLGITOPS_BACKUP_PASSWORD_FILE=str(tmp / "backup-key"))
    try:
        assert reconcile_command() == 0
        yield {"root": root, "state": state, "port": port, "uri": uri}
    finally:
        env = open_env(root, quiet=True)
        env.runtime.remove("bankchurn")
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _pids(p: dict) -> list[int]:
    env = open_env(p["root"], quiet=True)
    return [f.pid for f in env.runtime.facts(["bankchurn"])["bankchurn"] if f.running]


def test_outside_a_window_maintenance_refuses_and_names_the_next(platform) -> None:
    with pytest.raises(WindowClosed, match=r"outside every maintenance window; the next opens "
                       r"\d{4}-\d\d-\d\d \d\d:00 UTC \('first-sunday'"):
        maintenance_command()


def test_forced_maintenance_end_to_end_under_load(platform, capsys) -> None:
    before = _pids(platform)
    with Load(platform["port"], sample_body(), rate=50, keepalive=True) as load:
        time.sleep(1)
        assert maintenance_command(force=True, reason="CVE patch, INC-7", watch_s=3) == 0
        time.sleep(0.5)
    out = capsys.readouterr()
    assert load.sent > 50 and load.failed == 0, load.errors[:5]
    after = _pids(platform)
    assert len(after) == 1 and not set(after) & set(before)  # restarted, same revision
    assert model_version(platform["port"]) == "1"
    text = out.err
    offline = ("skipped: advisory database unreachable" if pip_audit_command() else
               "skipped: pip-audit is not installed")
    assert offline in text
    assert re.search(r"state\.db: integrity ok, ANALYZE \+ VACUUM", text)
    assert re.search(r"mlflow\.db: integrity ok, ANALYZE \+ VACUUM", text)
    env = open_env(platform["root"], quiet=True)
    events = env.store.events()
    override = [e for e in events if e.action == OVERRIDE]
    assert override and override[-1].detail["reason"] == "CVE patch, INC-7"
    assert override[-1].detail["kind"] == "maintenance"
    assert not [e for e in events if e.action == "maintenance.skip"]  # every step ran
    backup = [e for e in events if e.action == "backup"]
    assert backup and backup[-1].outcome == "ok" and backup[-1].detail["snapshot"]
    done = [e for e in events if e.action == "maintenance"][-1]
    assert done.outcome == "ok" and done.detail["forced"] is True
    restart = [e for e in events if e.action == "restart" and e.service == "bankchurn"][-1]
    assert restart.detail["reason"] == "maintenance: rolling restart"
    notes = (platform["state"] / "notifications.jsonl").read_text()
    assert "maintenance of dev start" in notes and "maintenance of dev done" in notes


# Once in two CI runs the deploy under this "now" freeze went through: the gate saw every
# window closed during the last second before each start (test_windows.py keeps it fixed).
def test_inside_a_freeze_deploy_is_refused_and_rollback_is_not(platform) -> None:
    root = platform["root"]
    set_version(root, 2)
    assert reconcile_command() == 0 and model_version(platform["port"]) == "2"
    dev = root / "specs" / "environments" / "dev.yaml"
    assert "freeze: []" in dev.read_text()  # what the edit below replaces
    dev.write_text(dev.read_text().replace(
        "freeze: []", 'freeze: [{name: now, cron: "* * * * *", duration_min: 5}]'))
    git(root, "commit", "-qam", "freeze now")
    set_version(root, 1)
    with pytest.raises(WindowClosed, match=r"deploy \(replace bankchurn\) refused: inside "
                       r"freeze window 'now'"):
        deploy_command("bankchurn")
    with pytest.raises(WindowClosed, match="inside freeze window 'now'"):
        reconcile_command()
    assert model_version(platform["port"]) == "2"  # nothing changed
    git(root, "revert", "--no-edit", "HEAD")  # the spec pins v2 again
    assert rollback_command("bankchurn", reason="freeze test") == 0
    assert model_version(platform["port"]) == "1"
    env = open_env(root, quiet=True)
    refused = [e for e in env.store.events() if e.action == "window.refused"]
    assert [e.outcome for e in refused][-2:] == ["refused", "refused"]
