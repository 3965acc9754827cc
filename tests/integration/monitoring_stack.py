"""Helpers for the monitoring integration tests: real Prometheus, Alertmanager and monitor.

Configs come from the render engine (``runner.render.artifacts.render_all``) for a platform
whose ports are free ports and whose intervals are short; only Alertmanager's grouping
timers are shortened after rendering so a test sees notifications (and their repeats)
within seconds. Every process runs in its own session and is killed at the end.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
import yaml

from runner.spec import load_platform
from runner.spec.models import Platform

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS = "/usr/bin/prometheus"
ALERTMANAGER = "/usr/bin/prometheus-alertmanager"
T = TypeVar("T")


def have_binaries() -> bool:
    return all(Path(p).is_file() for p in (PROMETHEUS, ALERTMANAGER))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(what: str, probe: Callable[[], T | None], timeout_s: float,
             logs: list[Path] | None = None) -> T:
    """Poll ``probe`` until it returns something truthy; fail naming ``what`` and the logs."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            value = probe()
        except httpx.HTTPError:
            value = None
        if value:
            return value
        time.sleep(0.25)
    tails = "".join(f"\n--- {p.name}\n{p.read_text()[-3000:]}" for p in logs or [] if p.exists())
    raise AssertionError(f"timed out after {timeout_s:.0f}s waiting for {what}{tails}")


def fast_platform(root: Path, *, overrides: dict[str, Any] | None = None,
                  for_s: int = 0, spec_root: Path = ROOT) -> Platform:
    """The specs of ``spec_root`` with free ports, 1 s scrape/evaluation and ``for_s`` on
    every alert, rooted at ``root``."""
    data = load_platform(spec_root, "dev").model_dump()
    mon = data["platform"]["monitoring"]
    mon["scrape_interval_s"] = mon["evaluation_interval_s"] = 1
    for name in ("prometheus", "alertmanager", "exporter"):
        mon[name]["port"] = free_port()
    for svc in data["services"].values():
        for threshold in svc["alerts"].values():
            threshold["for_s"] = for_s
    for key, value in (overrides or {}).items():
        data["platform"][key] = value
    data["root"] = str(root)
    return Platform.model_validate(data)


def fast_alertmanager(text: str) -> str:
    """The rendered Alertmanager config with second-scale grouping timers on every route."""
    config = yaml.safe_load(text)

    def shorten(route: dict[str, Any]) -> None:
        route.update(group_wait="1s", group_interval="1s", repeat_interval="2s")
        for child in route.get("routes", []):
            shorten(child)

    shorten(config["route"])
    return yaml.safe_dump(config, sort_keys=False)


@dataclass
class Stack:
    platform: Platform
    base: Path
    state: Path
    files: dict[str, str] = field(default_factory=dict)  # what render_all gave
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    logs: list[Path] = field(default_factory=list)

    @property
    def mon(self) -> Any:
        return self.platform.platform.monitoring

    def url(self, name: str) -> str:
        listener = getattr(self.mon, name)
        return f"http://{listener.host}:{listener.port}"

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(MLGITOPS_ROOT=str(self.platform.root), MLGITOPS_STATE_DIR=str(self.state))
        env.pop("MLGITOPS_WEBHOOK_URL", None)  # tests never notify a real on-call webhook
        return env

    def spawn(self, name: str, argv: list[str]) -> subprocess.Popen[bytes]:
        log = self.base / f"{name}.log"
        self.logs.append(log)
        with open(log, "ab") as out:
            proc = subprocess.Popen(  # noqa: S603
                argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                env=self.env(), cwd=str(self.base), start_new_session=True,
            )
        self.procs.append(proc)
        return proc

    def write_configs(self, files: dict[str, str]) -> None:
        """Stage the rendered configs where the local runtime does (``<state>/<name>/config``).

        Prometheus then reads the file_sd targets the runtime writes next to its config.
        """
        for rel, text in files.items():
            name, _, inner = rel.partition("/")
            if name not in ("prometheus", "alertmanager") or inner.startswith("tests/"):
                continue
            if rel == "alertmanager/alertmanager.yml":
                text = fast_alertmanager(text)
            target = self.state / name / "config" / inner
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
        targets = self.state / "prometheus" / "config" / "targets"
        targets.mkdir(exist_ok=True)
        for svc in self.platform.services:
            if not (targets / f"{svc}.json").exists():
                (targets / f"{svc}.json").write_text("[]")

    def start_monitor(self) -> None:
        port = self.mon.exporter.port
        self.spawn("monitor", [sys.executable, "-m", "runner.monitor.server", "--port", str(port)])
        wait_for("monitor /health", lambda: httpx.get(f"{self.url('exporter')}/health",
                                                      timeout=1).status_code == 200,
                 20, self.logs)

    def start_alertmanager(self) -> None:
        am, base = self.mon.alertmanager, self.state / "alertmanager"
        self.spawn("alertmanager", [
            ALERTMANAGER, f"--config.file={base / 'config' / 'alertmanager.yml'}",
            f"--storage.path={base / 'data'}",
            f"--web.listen-address={am.host}:{am.port}", "--cluster.listen-address=",
        ])
        wait_for("alertmanager ready", lambda: httpx.get(f"{self.url('alertmanager')}/-/ready",
                                                         timeout=1).status_code == 200,
                 30, self.logs)

    def start_prometheus(self) -> None:
        prom, base = self.mon.prometheus, self.state / "prometheus"
        self.spawn("prometheus", [
            PROMETHEUS, f"--config.file={base / 'config' / 'prometheus.yml'}",
            f"--storage.tsdb.path={base / 'data'}",
            f"--web.listen-address={prom.host}:{prom.port}",
        ])
        wait_for("prometheus ready", lambda: httpx.get(f"{self.url('prometheus')}/-/ready",
                                                       timeout=1).status_code == 200,
                 30, self.logs)

    def target_up(self, job: str) -> bool:
        reply = httpx.get(f"{self.url('prometheus')}/api/v1/targets", timeout=2).json()
        return any(t["labels"]["job"] == job and t["health"] == "up"
                   for t in reply["data"]["activeTargets"])

    def received(self, alert: str, status: str, since: float = 0.0) -> list[dict[str, Any]]:
        """The monitor's ``alert.received`` audit events of ``alert`` with ``status``."""
        from runner.monitor import audit_access as store

        return [
            e for e in store.events(store.ALERT_RECEIVED, state=self.state)
            if e["detail"]["alert"] == alert and e["outcome"] == status and e["at"] >= since
        ]

    def query(self, promql: str) -> list[dict[str, Any]]:
        """An instant query; raises AssertionError with Prometheus' message on an error."""
        reply = httpx.get(f"{self.url('prometheus')}/api/v1/query", params={"query": promql},
                          timeout=5).json()
        assert reply["status"] == "success", f"{promql}: {reply.get('error')}"
        return list(reply["data"]["result"])

    def inv_alerts(self) -> dict[str, dict[str, Any]]:
        """``inv alerts --json`` against this stack's Alertmanager, by alert name."""
        listed = subprocess.run(
            [str(ROOT / ".venv" / "bin" / "inv"), "alerts", "--json",
             "--url", self.url("alertmanager")],
            capture_output=True, text=True, timeout=30, cwd=ROOT, env=self.env(), check=True,
        )
        return {a["name"]: a for a in json.loads(listed.stdout)}

    def prom_alerts(self) -> list[dict[str, Any]]:
        reply = httpx.get(f"{self.url('prometheus')}/api/v1/alerts", timeout=2).json()
        return list(reply["data"]["alerts"])

    def am_alerts(self) -> list[dict[str, Any]]:
        return list(httpx.get(f"{self.url('alertmanager')}/api/v2/alerts", timeout=2).json())

    def stop(self) -> None:
        for proc in reversed(self.procs):
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        for proc in self.procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def make_root(base: Path) -> Path:
    """A repository root for the monitor process: the real specs and projects, own playbooks."""
    root = base / "repo"
    root.mkdir()
    for name in ("specs", "projects"):
        (root / name).symlink_to(ROOT / name)
    (root / "playbooks").mkdir()
    return root

