"""``inv doctor [--service S] [--json]``: the runbook's troubleshooting, as checks.

Each check is one line: ``ok``, ``warn`` or ``FAIL``, what it looked at, what it found,
and for a problem the command (or edit) that fixes it. Checks only read: no check starts,
stops or changes anything. Exit 1 when a check fails (warnings do not).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import json
import math
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from runner import slo
from runner.commands.port_owners import taken_ports
from runner.errors import PermanentError, ToolkitError
from runner.operations import Env, open_env
from runner.operations.registry_facts import existing_versions
from runner.operations.specedit import git
from runner.runtime import health

MIN_FREE_BYTES = 1024**3  # below 1 GiB free, MLflow artifacts and logs start failing
MIN_FREE_SHARE = 0.05
MAX_CLOCK_AHEAD_S = 300.0


@dataclass(frozen=True)
class Check:
    check: str
    target: str
    status: str  # ok, warn, fail
    detail: str
    fix: str = ""

    def line(self) -> str:
        mark = {"ok": "ok  ", "warn": "warn", "fail": "FAIL"}[self.status]
        text = f"{mark} {self.check:<10} {self.target:<14} {self.detail}"
        return f"{text}\n     fix: {self.fix}" if self.fix and self.status != "ok" else text


def check_ports(env: Env, services: list[str] | None) -> list[Check]:
    from runner.commands.port_owners import needed_ports

    taken = {need.port: (need, who) for need, who in taken_ports(env, services)}
    out = []
    for need in needed_ports(env, services):
        if need.port in taken:
            _, who = taken[need.port]
            out.append(Check("port", need.owner, "fail", need.taken_line(who), need.fix(who)))
        else:
            out.append(Check("port", need.owner, "ok", f"{need.port} free or ours"))
    return out


BINARIES = (
    ("prometheus", ("prometheus",), "apt-get install prometheus", "monitoring"),
    ("alertmanager", ("prometheus-alertmanager", "alertmanager"),
     "apt-get install prometheus-alertmanager", "monitoring"),
    ("dockerd", ("dockerd",), "apt-get install docker.io (then start dockerd)", "docker"),
)


def check_binaries(env: Env) -> list[Check]:
    out = []
    runtime = env.platform.platform.runtime
    for name, candidates, install, needed_by in BINARIES:
        path = next((p for p in map(shutil.which, candidates) if p), None)
        if path:
            out.append(Check("binary", name, "ok", path))
            continue
        # dockerd matters only to the container runtimes; monitoring is optional locally.
        required = needed_by == "docker" and runtime != "local"
        why = ("the platform's runtime needs it" if required
               else f"optional here ({needed_by} is skipped without it)")
        out.append(Check("binary", name, "fail" if required else "warn",
                         f"not installed: {why}", install))
    return out


def check_mlflow(env: Env) -> Check:
    port = env.platform.platform.mlflow.port
    status, _ = health.request(port, "/health", timeout_s=2.0)
    if status == 200:
        return Check("mlflow", "mlflow", "ok", f"answers on 127.0.0.1:{port}")
    why = f"status {status}" if status else "no answer"
    return Check("mlflow", "mlflow", "fail", f"unreachable on 127.0.0.1:{port} ({why})",
                 "inv up (starts MLflow); its log: .state/run/mlflow.log")


def check_registry(env: Env, names: list[str]) -> list[Check]:
    wanted = {(env.platform.service(n).model.name, env.platform.service(n).model.version): n
              for n in names}
    have = existing_versions(env.tracking_uri, set(wanted))
    out = []
    for (model, version), name in sorted(wanted.items(), key=lambda kv: kv[1]):
        if (model, version) in have:
            out.append(Check("registry", name, "ok", f"{model} v{version} registered"))
        else:
            out.append(Check(
                "registry", name, "fail", f"{model} v{version} is not in the registry",
                f"inv retrain --service {name} (train, register and pin a new version), or "
                f"pin a registered version in specs/services/{name}.yaml"))
    return out


def check_lock(env: Env) -> Check:
    from runner.state.lock import holder

    held = holder(env.store)
    if held is None:
        return Check("lock", "apply", "ok", "free")
    if held.is_live(time.time()):
        return Check("lock", "apply", "warn", f"held by {held.describe()}",
                     "wait for it; `inv status` shows what it changes")
    return Check("lock", "apply", "fail",
                 f"stale: held by {held.describe()}, {held.gone_because()}",
                 "inv reconcile (the next apply takes a dead holder's lock over, audited)")


def check_disk(env: Env) -> Check:
    usage = shutil.disk_usage(env.state)
    free, share = usage.free, usage.free / usage.total if usage.total else 0.0
    detail = f"{free / 1024**3:.1f} GiB free ({share:.0%}) under {env.state}"
    if free < MIN_FREE_BYTES or share < MIN_FREE_SHARE:
        return Check("disk", ".state", "fail", detail,
                     "free space: old replica logs (.state/run/services/*/*.log.*), "
                     "reports (.state/reports/), or move state_dir")
    return Check("disk", ".state", "ok", detail)


def check_memory(env: Env, names: list[str]) -> list[Check]:
    import psutil

    facts = env.runtime.facts(names, check_health=False)
    out = []
    for name in names:
        svc = env.platform.service(name)
        limit = svc.resources.memory_mb * 1024 * 1024
        warn = slo.threshold(svc, "memory", "warning")
        for fact in (f for f in facts.get(name, []) if f.running):
            try:
                proc = psutil.Process(fact.pid)
                rss = proc.memory_info().rss + sum(c.memory_info().rss
                                                   for c in proc.children(recursive=True))
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
            share = rss / limit
            detail = (f"{fact.replica}: {rss / 1024**2:.0f} MiB of {svc.resources.memory_mb} MiB "
                      f"({share:.0%}; warning at {warn:.0%})")
            if slo.breached(share, warn):
                out.append(Check("memory", name, "fail", detail,
                                 f"a steady climb is a leak: inv restart --service {name}; a "
                                 f"larger model: raise resources.memory_mb in "
                                 f"specs/services/{name}.yaml"))
            else:
                out.append(Check("memory", name, "ok", detail))
    return out


def check_latency(env: Env, names: list[str]) -> list[Check]:
    from runner.operations.watch import scrape

    facts = env.runtime.facts(names, check_health=False)
    out = []
    for name in names:
        svc = env.platform.service(name)
        live = [f for f in facts.get(name, []) if f.running]
        if not live:
            continue
        now = slo.merge(scrape(f.admin_port) for f in live)
        p99 = slo.latency_p99(slo.Scrape(), now, 1.0)  # since the replicas started
        limit = slo.threshold(svc, "latency_p99_s", "warning")
        if math.isnan(p99):
            out.append(Check("p99", name, "ok", "no predictions yet"))
            continue
        detail = f"{p99:.3f}s since the replicas started (warning at {limit:g}s)"
        if slo.breached(p99, limit):
            out.append(Check("p99", name, "fail", detail,
                             f"sustained load: inv scale --service {name} --replicas "
                             f"{svc.replicas + 1} --reason 'p99'; a slower new model: "
                             f"inv rollback --service {name}"))
        else:
            out.append(Check("p99", name, "ok", detail))
    return out


def clock_synchronised() -> bool | None:
    """The kernel's NTP state (adjtimex): True synced, False not, None unknown."""
    class Timex(ctypes.Structure):
        # struct timex is 208 bytes on 64-bit Linux; modes 0 only reads.
        _fields_ = [("modes", ctypes.c_uint), ("pad", ctypes.c_byte * 256)]

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        state = libc.adjtimex(ctypes.byref(Timex()))
    except (OSError, AttributeError):
        return None
    if state < 0:
        return None
    return state != 5  # TIME_ERROR: the clock is not synchronised


def check_clock(env: Env) -> Check:
    """Maintenance windows are cron times on this clock: a clock off by minutes opens them
    at the wrong time. Evidence: the kernel's NTP state, and a HEAD commit from the future."""
    try:
        committed = float(git(env.root, "log", "-1", "--format=%ct"))
    except (ToolkitError, OSError, ValueError):  # not a git checkout: no evidence
        committed = 0.0
    ahead = committed - time.time()
    if ahead > MAX_CLOCK_AHEAD_S:
        return Check("clock", "system", "fail",
                     f"the last commit is {ahead / 60:.0f} min in this clock's future",
                     "set the clock (timedatectl set-ntp true, or systemd-timesyncd)")
    synced = clock_synchronised()
    tz = time.strftime("%Z (UTC%z)")
    if synced is False:
        return Check("clock", "system", "warn",
                     f"not synchronised by NTP; windows run on local time {tz}",
                     "timedatectl set-ntp true (apt-get install systemd-timesyncd)")
    state = "NTP synchronised" if synced else "NTP state unknown"
    return Check("clock", "system", "ok", f"{state}; windows run on local time {tz}")


def run_checks(env: Env, service: str | None = None) -> list[Check]:
    names = [service] if service else sorted(env.platform.services)
    checks = check_ports(env, [service] if service else None)
    if service is None:
        checks += check_binaries(env)
        checks.append(check_mlflow(env))
    checks += check_registry(env, names)
    checks.append(check_lock(env))
    checks.append(check_disk(env))
    checks += check_memory(env, names)
    checks += check_latency(env, names)
    checks.append(check_clock(env))
    return checks


def doctor_command(env_name: str = "dev", service: str = "", as_json: bool = False,
                   root: Path | None = None) -> int:
    """Print every check; exit 1 when one fails."""
    env = open_env(root, env_name, quiet=True)
    if service and service not in env.platform.services:
        raise PermanentError(f"{service} is not in the specs "
                             f"({', '.join(sorted(env.platform.services))})")
    checks = run_checks(env, service or None)
    failed = [c for c in checks if c.status == "fail"]
    if as_json:
        print(json.dumps({"ok": not failed, "checks": [asdict(c) for c in checks]}, indent=2))
    else:
        for c in checks:
            print(c.line())
        warned = sum(1 for c in checks if c.status == "warn")
        print(f"{len(failed)} problem(s), {warned} warning(s)" if failed or warned
              else "all checks ok")
    return 1 if failed else 0
