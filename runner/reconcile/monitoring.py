"""The ``monitoring`` component of a plan: alert rules and config, staged and reloaded.

A threshold edited in a spec and committed changes the rendered rules; ``inv reconcile``
then plans ``~ replace monitoring  rules changed: BankchurnErrorRateCritical 0.05 -> 0.2``,
stages the rendered Prometheus config, rules and Alertmanager config under the state dir,
SIGHUPs the daemons ``inv up`` started and verifies they serve the new configuration
(``runner.runtime.monitoring_config``). Where ``inv up`` never set monitoring up (nothing
staged), the plan has no monitoring line at all. The desired state is a fresh render of the
specs, compared with the staged copy by content hash.

Kept apart from the service plan (``plan.py``, ``apply.py`` call in with one line each):
this component has no replicas, no revision and no playbook.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

from runner.runtime import monitoring_config as config

if TYPE_CHECKING:
    from runner.operations.workspace import Env
    from runner.spec.models import Platform

MONITORING = "monitoring"
SHOWN = 3  # changes named in a plan line before "(+N more)"


class Step(NamedTuple):
    """The fields of the plan's Action for the monitoring component."""

    kind: Literal["replace", "noop"]
    reason: str
    before: dict[str, Any]
    after: dict[str, Any]


def rendered(platform: Platform) -> dict[str, str]:
    """The monitoring files the specs render to now."""
    from runner.render import render_all

    return config.select(render_all(platform))


def plan_monitoring(platform: Platform, state: Path) -> list[Step]:
    """The monitoring step: [] when nothing is staged here, else replace or noop."""
    staged = config.staged(state)
    if not staged:
        return []
    wanted = rendered(platform)
    before = {"digest": config.digest(staged)}
    after = {"digest": config.digest(wanted), "files": len(wanted)}
    if before["digest"] == after["digest"]:
        rules = sum(1 for rel in wanted if rel.startswith(config.RULES_DIR))
        files = f"{rules} rule file{'s' if rules != 1 else ''}"
        return [Step("noop", f"monitoring config is as rendered ({files}, "
                             f"digest {after['digest'][:8]})", before, after)]
    return [Step("replace", describe(staged, wanted), before, after)]


def describe(staged: dict[str, str], wanted: dict[str, str]) -> str:
    """What changed, threshold by threshold: 'rules changed: X 0.05 -> 0.2; ...'."""
    old, new = config.alert_thresholds(staged), config.alert_thresholds(wanted)
    rules = [f"{n} {old[n]} -> {new[n]}" for n in sorted(old.keys() & new.keys())
             if old[n] != new[n]]
    rules += [f"+{n}" for n in sorted(new.keys() - old.keys())]
    rules += [f"-{n}" for n in sorted(old.keys() - new.keys())]
    if not rules:  # same thresholds: another field of a rule (for, labels, summary)
        rules = [rel.removeprefix(config.RULES_DIR) for rel in sorted(staged.keys() | wanted.keys())
                 if rel.startswith(config.RULES_DIR) and staged.get(rel) != wanted.get(rel)]
    parts = [f"rules changed: {_few(rules)}"] if rules else []
    parts += [f"{rel.rpartition('/')[2]} changed"
              for rel in (config.PROMETHEUS_CONFIG, config.ALERTMANAGER_CONFIG)
              if staged.get(rel) != wanted.get(rel)]
    return "; ".join(parts)


def _few(items: list[str]) -> str:
    more = f" (+{len(items) - SHOWN} more)" if len(items) > SHOWN else ""
    return ", ".join(items[:SHOWN]) + more


def apply_monitoring(env: Env, planned: dict[str, Any]) -> tuple[bool, str]:
    """Stage the planned config and reload; on a failed reload restore the previous one.

    ``planned``: the plan's ``after`` (its digest proves this applies what was planned).
    """
    files = rendered(env.platform)
    if config.digest(files) != planned.get("digest"):
        return False, "the rendered monitoring config is not the planned one: plan again"
    previous = config.staged(env.state)
    mon = env.platform.platform.monitoring
    ports = {"prometheus": mon.prometheus.port, "alertmanager": mon.alertmanager.port}
    config.stage(env.state, files)
    result = config.reload(env.state, files, ports)
    if result.ok:
        return True, f"staged {len(files)} files; {result.describe()}"
    # Back to what the daemons still run, so the next plan offers this change again.
    config.stage(env.state, previous)
    config.reload(env.state, previous, ports)
    return False, f"{result.describe()}; previous monitoring config restored"
