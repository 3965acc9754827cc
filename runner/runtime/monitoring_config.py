"""The monitoring configuration the local Prometheus and Alertmanager read, and its reload.

Staged under ``<state>/<daemon>/config/`` (where ``daemons`` points them): Prometheus'
``prometheus.yml`` and ``rules/*.yml``, Alertmanager's ``alertmanager.yml``. The file_sd
``targets/`` beside them belong to the runtime and are never touched here.

Facts: ``staged`` reads what is there; changes: ``stage`` writes a new set (each file
atomically, stale rule files removed) and ``reload`` SIGHUPs the daemons we started and
waits until each proves it runs the new configuration: Alertmanager's
``alertmanager_config_hash`` is the md5 of the exact bytes it loaded, and Prometheus
reports a successful reload after the signal and serves every staged rule with its
threshold on ``/api/v1/rules``.
"""

from __future__ import annotations

import functools
import hashlib
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from runner.runtime import daemons, health
from runner.slo import fmt_num

# Paths relative to generated/<env>/, as render_all names them.
PROMETHEUS_CONFIG = "prometheus/prometheus.yml"
RULES_DIR = "prometheus/rules/"
ALERTMANAGER_CONFIG = "alertmanager/alertmanager.yml"
RELOAD_TIMEOUT_S = 20.0


def managed(rel: str) -> bool:
    """Whether a rendered file is part of the staged monitoring configuration."""
    return rel in (PROMETHEUS_CONFIG, ALERTMANAGER_CONFIG) or (
        rel.startswith(RULES_DIR) and rel.endswith(".yml") and "/" not in rel[len(RULES_DIR):]
    )


def select(files: dict[str, str]) -> dict[str, str]:
    """The managed files of a render (``render_all``'s output), in name order."""
    return {rel: text for rel, text in sorted(files.items()) if managed(rel)}


def _path(state: Path, rel: str) -> Path:
    daemon, _, inner = rel.partition("/")
    return state / daemon / "config" / inner


def staged(state: Path) -> dict[str, str]:
    """What is staged now ({} when monitoring was never set up in this state dir)."""
    found = [PROMETHEUS_CONFIG, ALERTMANAGER_CONFIG]
    rules = _path(state, RULES_DIR + "x").parent
    if rules.is_dir():
        found += [RULES_DIR + p.name for p in rules.glob("*.yml")]
    out = {}
    for rel in sorted(found):
        try:
            out[rel] = _path(state, rel).read_text()
        except FileNotFoundError:
            continue
    return out


def digest(files: dict[str, str]) -> str:
    """Content hash of a set of files (names and bytes)."""
    h = hashlib.sha256()
    for rel in sorted(files):
        data = files[rel].encode()
        h.update(f"{rel}\0{len(data)}\0".encode())
        h.update(data)
    return h.hexdigest()[:16]


def stage(state: Path, files: dict[str, str]) -> None:
    """Make the staged set exactly ``files``: write each (atomically), drop the others."""
    for rel in staged(state).keys() - files.keys():
        _path(state, rel).unlink(missing_ok=True)
    for rel, text in files.items():
        target = _path(state, rel)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.tmp")
        tmp.write_text(text)
        os.replace(tmp, target)


@dataclass(frozen=True)
class Reloaded:
    """What one reload did: per daemon, 'reloaded', 'not running' or why it failed."""

    outcomes: dict[str, str]

    @property
    def ok(self) -> bool:
        return all(v in ("reloaded", "not running") for v in self.outcomes.values())

    def describe(self) -> str:
        return ", ".join(f"{name} {what}" for name, what in self.outcomes.items())


def reload(state: Path, files: dict[str, str], ports: dict[str, int]) -> Reloaded:
    """SIGHUP Prometheus and Alertmanager (those we started) and verify they run ``files``.

    ``ports``: daemon name -> port. A daemon not running, or not started by us, reads the
    staged files when it starts: nothing to verify.
    """
    outcomes: dict[str, str] = {}
    for name, port in ports.items():
        daemon = daemons.Daemon(name, [], port, "/-/healthy")
        since = time.time()
        if not daemons.reload(state, daemon):
            outcomes[name] = "not running"
            continue
        check = _prometheus_check if name == "prometheus" else _alertmanager_check
        outcomes[name] = _wait(functools.partial(check, port, files, since))
    return Reloaded(outcomes)


def _wait(check: Callable[[], str | None]) -> str:
    """Poll ``check`` (None: not yet; else the outcome) until it answers or time runs out."""
    deadline = time.monotonic() + RELOAD_TIMEOUT_S
    while time.monotonic() < deadline:
        outcome = check()
        if outcome is not None:
            return outcome
        time.sleep(0.2)
    return f"did not confirm the reload within {RELOAD_TIMEOUT_S:.0f}s"


def _metrics(port: int) -> dict[str, float]:
    status, text = health.request(port, "/metrics", timeout_s=2.0)
    out: dict[str, float] = {}
    if status != 200 or not isinstance(text, str):
        return out
    for line in text.splitlines():
        if line and not line.startswith("#") and "{" not in line:
            name, _, value = line.partition(" ")
            try:
                out[name] = float(value)
            except ValueError:
                continue
    return out


def _reload_result(metrics: dict[str, float], prefix: str, since: float) -> str | None:
    if metrics.get(f"{prefix}_config_last_reload_successful") == 0.0:
        return "rejected the new configuration (kept the old one; see its log)"
    if metrics.get(f"{prefix}_config_last_reload_success_timestamp_seconds", 0.0) >= since:
        return "reloaded"
    return None


def config_hash(text: str) -> float:
    """Alertmanager's ``alertmanager_config_hash`` of a config file: the first six bytes of
    its md5, little-endian, as a float."""
    md5 = hashlib.md5(text.encode(), usedforsecurity=False)
    return float(int.from_bytes(md5.digest()[:6], "little"))


def _alertmanager_check(port: int, files: dict[str, str], since: float) -> str | None:
    metrics = _metrics(port)
    result = _reload_result(metrics, "alertmanager", since)
    if result != "reloaded":
        return result
    wanted = config_hash(files.get(ALERTMANAGER_CONFIG, ""))
    got = metrics.get("alertmanager_config_hash")
    return "reloaded" if got == wanted else f"runs another configuration (hash {got})"


def alert_thresholds(files: dict[str, str]) -> dict[str, str]:
    """Alert name -> the threshold its condition compares with (``<expr> >= <n>``), as text
    that both Prometheus' and our spelling of a number normalise to."""
    import yaml

    out = {}
    for rel, text in files.items():
        if rel.startswith(RULES_DIR):
            for group in (yaml.safe_load(text) or {}).get("groups", []):
                for rule in group.get("rules", []):
                    if "alert" in rule:
                        out[str(rule["alert"])] = _threshold(str(rule["expr"]))
    return out


def _threshold(expr: str) -> str:
    tail = expr.rsplit(">=", 1)[-1].strip()
    try:
        return fmt_num(float(tail))
    except ValueError:
        return tail


def _prometheus_check(port: int, files: dict[str, str], since: float) -> str | None:
    result = _reload_result(_metrics(port), "prometheus", since)
    if result != "reloaded":
        return result
    status, body = health.request(port, "/api/v1/rules?type=alert", timeout_s=5.0)
    if status != 200 or not isinstance(body, dict):
        return None
    live = {str(r["name"]): _threshold(str(r["query"]))
            for g in body["data"]["groups"] for r in g["rules"]}
    wanted = alert_thresholds(files)
    if live != wanted:
        differ = sorted(n for n in wanted.keys() | live.keys() if live.get(n) != wanted.get(n))
        return f"serves other rules than staged ({', '.join(differ[:3])})"
    return "reloaded"
