"""The runbook's pre-deployment checklist as code: ``inv preflight --service S`` and the
``preflight`` playbook module, the first step of ``playbooks/deploy.yaml``.

Each check returns one line: OK, a skip with why, or the problem and its fix. The deploy
playbook stops before touching a replica when one fails; checks it lists as ``advisory``
are reported and do not stop it (see ``playbooks/deploy.yaml`` for which and why).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict

from runner.errors import ToolkitError
from runner.operations.registry_facts import existing_versions
from runner.operations.workspace import Env
from runner.playbook.modules import Module, ModuleContext
from runner.playbook.result import Result

MIN_FREE_BYTES = 512 * 1024 * 1024  # models, prediction logs and Prometheus data grow here
PROJECT_TESTS_TIMEOUT_S = 600


@dataclass(frozen=True)
class Check:
    name: str
    status: str  # ok | fail | skip | warn (a failed advisory check)
    msg: str
    fix: str = ""

    def line(self) -> str:
        mark = {"ok": "OK  ", "fail": "FAIL", "skip": "skip", "warn": "WARN"}[self.status]
        fix = f" -> fix: {self.fix}" if self.fix and self.status in ("fail", "warn") else ""
        return f"{mark} {self.name:<15} {self.msg}{fix}"


def _ok(name: str, msg: str) -> Check:
    return Check(name, "ok", msg)


def _fail(name: str, msg: str, fix: str) -> Check:
    return Check(name, "fail", msg, fix)


def project_tests(env: Env, service: str) -> Check:
    tests = env.root / env.platform.service(service).project / "tests"
    if not any(tests.rglob("test_*.py")) if tests.is_dir() else True:
        return Check("project_tests", "skip", f"no tests in {tests.relative_to(env.root)}")
    proc = subprocess.run(  # noqa: S603 - argv list
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tests)],
        cwd=env.root, capture_output=True, text=True, timeout=PROJECT_TESTS_TIMEOUT_S,
        check=False)
    last = (proc.stdout.strip().splitlines() or ["no output"])[-1]
    if proc.returncode != 0:
        return _fail("project_tests", f"{tests.relative_to(env.root)}: {last}",
                     f"pytest {tests.relative_to(env.root)}")
    return _ok("project_tests", last)


def specs(env: Env, service: str) -> Check:
    from runner.spec import load_platform

    try:
        load_platform(env.root, env.environment)  # fresh: not the cached copy
    except ToolkitError as exc:
        first = exc.one_line().splitlines()[0]
        return _fail("specs", first, f"inv validate --env {env.environment}")
    return _ok("specs", f"specs valid ({env.environment})")


def generated(env: Env, service: str) -> Check:
    from runner.render.render_command import check_generated

    try:
        result = check_generated(env.root, env.environment)
    except ToolkitError as exc:
        return _fail("generated", exc.one_line().splitlines()[0], "inv validate")
    if result.ok:
        return _ok("generated", f"generated/{env.environment} is fresh")
    stale = result.changed + result.missing + result.extra
    return _fail("generated", f"{len(stale)} stale file(s), e.g. {stale[0]}",
                 f"inv render --env {env.environment} and commit")


def registry(env: Env, service: str) -> Check:
    model = env.platform.service(service).model
    if not existing_versions(env.tracking_uri, {(model.name, model.version)}):
        return _fail("registry", f"{model.name} v{model.version} is not in the registry",
                     f"pin a registered version in specs/services/{service}.yaml, or "
                     f"inv train --service {service}")
    return _ok("registry", f"{model.name} v{model.version} is registered")


def signature(env: Env, service: str) -> Check:
    model = env.platform.service(service).model
    if not existing_versions(env.tracking_uri, {(model.name, model.version)}):
        return Check("signature", "skip", "no such version to read (see registry)")
    try:
        import mlflow
        from mlflow.models import get_model_info

        mlflow.set_tracking_uri(env.tracking_uri)
        mlflow.set_registry_uri(env.tracking_uri)
        info = get_model_info(f"models:/{model.name}/{model.version}")
    except Exception as exc:  # noqa: BLE001 - any registry failure is this check's answer
        return _fail("signature", f"cannot read {model.name} v{model.version}: "
                     f"{type(exc).__name__}", "inv health (is the registry reachable?)")
    if info.signature is None:
        return _fail("signature", f"{model.name} v{model.version} has no signature",
                     "register it with a signature (runner.ml.registry.register does)")
    return _ok("signature", f"signature: {len(info.signature.inputs.inputs)} inputs")


def image(env: Env, service: str) -> Check:
    runtime = env.platform.platform.runtime
    if runtime == "local":
        return Check("image", "skip", "local runtime: replicas are processes, no image")
    name = env.platform.service(service).image
    docker = shutil.which("docker")
    if docker is None:
        return _fail("image", "docker is not installed", "apt-get install docker.io")
    proc = subprocess.run([docker, "image", "inspect", "--format", "{{.Id}}", name],  # noqa: S603
                          capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        return _fail("image", f"image {name} does not exist", f"build {name}")
    return _ok("image", f"image {name} ({proc.stdout.strip()[:19]})")


def freeze(env: Env, service: str) -> Check:
    from runner.schedule.windows import now_utc, open_now

    window = open_now(env.platform.platform.maintenance, "freeze", now_utc())
    if window:
        return _fail("freeze", f"inside {window.describe()}",
                     "wait for it to end, or deploy with --force --reason (audited)")
    return _ok("freeze", "no freeze window now")


def rollback_target(env: Env, service: str) -> Check:
    current = env.store.current(service)
    if current is None:
        return _ok("rollback_target", "first deploy: nothing to roll back to")
    return _ok("rollback_target", f"revision {current.number} (model v{current.model_version})")


def disk(env: Env, service: str) -> Check:
    free = shutil.disk_usage(env.state).free
    msg = f"{free / 2**30:.1f} GiB free under {env.state}"
    if free < MIN_FREE_BYTES:
        return _fail("disk", msg, "free space (old Prometheus data, prediction logs)")
    return _ok("disk", msg)


CHECKS: dict[str, Callable[[Env, str], Check]] = {
    "project_tests": project_tests, "specs": specs, "generated": generated,
    "registry": registry, "signature": signature, "image": image, "freeze": freeze,
    "rollback_target": rollback_target, "disk": disk,
}


def preflight(env: Env, service: str, *, advisory: frozenset[str] = frozenset(),
              skip: frozenset[str] = frozenset()) -> list[Check]:
    """Every check for ``service``; an ``advisory`` check that fails is a warning."""
    from runner.errors import PermanentError

    if service not in env.platform.services:
        names = ", ".join(env.platform.services)
        raise PermanentError(f"{service} is not in the specs ({names})")
    out = []
    for name, check in CHECKS.items():
        if name in skip:
            out.append(Check(name, "skip", "skipped on request"))
            continue
        result = check(env, service)
        if result.status == "fail" and name in advisory:
            result = Check(name, "warn", result.msg, result.fix)
        out.append(result)
    return out


def failed(checks: list[Check]) -> list[Check]:
    return [c for c in checks if c.status == "fail"]


class PreflightArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")
    service: str
    advisory: list[str] = []
    skip: list[str] = []


class PreflightModule(Module):
    """The pre-deployment checklist; fails (naming each check) before anything changes."""

    Args = PreflightArgs

    def run(self, args: PreflightArgs, ctx: ModuleContext) -> Result:
        from runner.operations.module_env import env_for

        checks = preflight(env_for(ctx), args.service, advisory=frozenset(args.advisory),
                           skip=frozenset(args.skip))
        bad = failed(checks)
        data: dict[str, Any] = {"checks": [c.__dict__ for c in checks]}
        if bad:
            return Result(failed=True, data=data, msg="preflight failed: " + "; ".join(
                f"{c.name}: {c.msg}" for c in bad))
        warned = [c.name for c in checks if c.status == "warn"]
        return Result(data=data, msg=f"preflight ok ({len(checks)} checks"
                      + (f"; warnings: {', '.join(warned)}" if warned else "") + ")")
