"""One facts/actions interface for every runtime (local processes now; docker, swarm later).

Facts read what runs: each replica's revision (spec hash + model version), port, pid and
health. Actions change it: start one replica (health-gated), stop one, and ``converge``,
the rolling, health-gated replace every runtime shares: a new replica must pass its
checks on its private admin port before an old one is stopped, so the public port never
goes without a healthy listener.

Warm standby (blue/green's previous color): a runtime that can *park* a replica (public
listener closed, model still loaded) keeps the replaced revision parked instead of
stopping it, so a rollback to it only reopens a listener (well under a second) instead of
a cold start (imports + model load, 5-40 s). Parked replicas are not facts: they serve
nothing, so plan and status do not count them.
"""

from __future__ import annotations

import abc
import os
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from runner.errors import HealthCheckFailed, NotInstalled

STANDBY_TTL_S = 900.0  # how long a parked replica is kept (it exits by itself after this)

@dataclass(frozen=True)
class ReplicaSpec:
    """A desired replica: everything a runtime needs to start and verify one."""

    service: str
    spec_hash: str
    model_name: str
    model_version: int
    port: int
    project_dir: Path
    image: str = ""
    health_path: str = "/health"
    health_timeout_s: float = 2.0
    health_retries: int = 20
    health_interval_s: float = 0.5
    health_start_period_s: float = 150.0
    smoke_request: Path | None = None
    tracking_uri: str = ""
    extra_env: dict[str, str] = field(default_factory=dict)

    @property
    def revision(self) -> tuple[str, int]:
        return (self.spec_hash, self.model_version)

    @property
    def start_budget_s(self) -> float:
        """How long a replica may take to become healthy: the spec's start period (model
        loading: importing mlflow and sklearn takes 5 s on an idle machine and over 40 s on
        a busy one) plus retries x interval, as a container's health check counts it. A
        replica whose model *failed* to load is given up on at once (local runtime), so the
        allowance only costs time when it is needed."""
        return self.health_start_period_s + self.health_retries * self.health_interval_s


@dataclass(frozen=True)
class ReplicaFact:
    """What a runtime reports about one replica it knows of."""

    service: str
    replica: str
    pid: int
    port: int
    admin_port: int
    spec_hash: str
    model_name: str
    model_version: int
    started_at: float
    running: bool
    healthy: bool | None = None  # None: not checked (or not running)
    log: str = ""
    parked_at: float = 0.0  # when it became a warm standby (0: serving)

    @property
    def revision(self) -> tuple[str, int]:
        return (self.spec_hash, self.model_version)

    @property
    def ok(self) -> bool:
        return self.running and self.healthy is not False

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class LogLine:
    """One line of a replica's log: which replica, when (epoch seconds), the text."""

    replica: str
    at: float
    text: str


@dataclass
class ConvergeResult:
    """What ``converge`` did, for the module result and the audit log."""

    started: list[str] = field(default_factory=list)
    stopped: list[str] = field(default_factory=list)
    cleaned: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    parked: list[str] = field(default_factory=list)
    unparked: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.started or self.stopped or self.cleaned or self.parked
                    or self.unparked)


Progress = Callable[[str], None]


class Runtime(abc.ABC):
    """Facts and actions of one runtime. Subclasses implement the four primitives."""

    name = "abstract"
    # A dry runtime (kubernetes without a cluster) changes nothing: a deploy prints the
    # commands ``would_run`` returns and records no revision.
    dry_run = False

    def would_run(self, spec: ReplicaSpec, replicas: int) -> list[str]:
        """The command lines a converge of ``spec`` runs (dry runtimes)."""
        return []

    @abc.abstractmethod
    def facts(
        self, services: Iterable[str] | None = None, *, check_health: bool = True
    ) -> dict[str, list[ReplicaFact]]:
        """Replicas per service (all known services when ``services`` is None)."""

    @abc.abstractmethod
    def start(self, spec: ReplicaSpec) -> ReplicaFact:
        """Start one replica and return once it passed its checks; raise HealthCheckFailed
        (after stopping the candidate) when it does not."""

    @abc.abstractmethod
    def stop(self, fact: ReplicaFact) -> None:
        """Stop one replica gracefully (in-flight requests finish) and forget it."""

    @abc.abstractmethod
    def forget(self, fact: ReplicaFact) -> None:
        """Drop the record of a replica that is no longer running."""

    def host_pids(self) -> set[int]:
        """Pids on this machine the replicas' processes descend from, beyond their facts'
        own ``pid`` (``inv up`` and ``inv doctor`` tell our listeners from another
        program's by them). Empty for a runtime whose facts carry host pids."""
        return set()

    # Warm standby: optional. A runtime that cannot park stops replaced replicas instead.

    def standby(self, service: str) -> list[ReplicaFact]:
        """Parked replicas of ``service`` (not serving, model loaded)."""
        return []

    def park(self, fact: ReplicaFact) -> bool:
        """Stop ``fact`` serving but keep it warm; False when it could not be parked."""
        return False

    def unpark(self, fact: ReplicaFact, spec: ReplicaSpec) -> ReplicaFact:
        """Make a parked replica serve again once it passed the same checks as a new one;
        raise HealthCheckFailed (after stopping it) when it does not."""
        raise NotImplementedError

    # Logs: optional; every runtime that runs replicas should implement it.

    def logs(self, service: str, *, since: float | None = None, tail: int | None = None,
             follow: bool = False) -> Iterator[LogLine]:
        """Log lines of every replica of ``service`` (serving, parked, and those already
        stopped while their logs are kept), oldest first: lines at or after ``since``
        (epoch seconds), the last ``tail`` of them; ``follow`` then keeps yielding new
        lines until the caller stops iterating. Filtering by text is the caller's."""
        raise NotInstalled(f"the {self.name} runtime cannot show logs")

    # ------------------------------------------------------------ shared behaviour

    def _retire(self, gone: ReplicaFact, spec: ReplicaSpec, result: ConvergeResult,
                say: Progress) -> None:
        """A replaced replica: parked when it is a healthy previous revision, else stopped."""
        if gone.revision != spec.revision and gone.healthy and self.park(gone):
            result.parked.append(gone.replica)
            say(f"parked {gone.replica} (pid {gone.pid}) as warm standby")
            return
        self.stop(gone)
        result.stopped.append(gone.replica)
        say(f"stopped {gone.replica} (pid {gone.pid})")

    def _usable_standby(self, spec: ReplicaSpec, say: Progress) -> list[ReplicaFact]:
        """Parked replicas at ``spec``'s revision; dead and nearly expired ones are dropped."""
        ttl = float(os.environ.get("MLGITOPS_STANDBY_TTL_S", STANDBY_TTL_S))
        usable = []
        for fact in self.standby(spec.service):
            if not fact.running:
                self.forget(fact)
            elif time.time() - fact.parked_at > ttl - 10:  # it may exit any moment
                self.stop(fact)
                say(f"stopped expired standby {fact.replica}")
            elif fact.revision == spec.revision:
                usable.append(fact)
        return usable

    def _trim_standby(self, service: str, result: ConvergeResult, say: Progress) -> None:
        """One previous revision per service: standbys of any other revision stop."""
        keep = {f.revision for f in self.standby(service) if f.replica in result.parked}
        if not keep:  # nothing parked now: the previous standby stays the previous revision
            return
        for fact in self.standby(service):
            if fact.revision not in keep:
                self.stop(fact)
                result.stopped.append(fact.replica)
                say(f"stopped older standby {fact.replica}")


    def converge(
        self, spec: ReplicaSpec, replicas: int, progress: Progress | None = None,
        current: list[ReplicaFact] | None = None,
    ) -> ConvergeResult:
        """Bring ``spec.service`` to ``replicas`` healthy replicas at ``spec``'s revision.

        Rolling and health-gated: for each old replica a new one is started and verified
        first, then the old one stops. Idempotent and safe to re-run after a crash: dead
        records are cleaned, healthy replicas already at the revision are kept.
        ``current``: the facts the caller decided on (a plan's), acted on as seen; None:
        read them now.
        """
        say = progress or (lambda _msg: None)
        result = ConvergeResult()
        if current is None:
            current = self.facts([spec.service]).get(spec.service, [])
        for dead in [f for f in current if not f.running]:
            self.forget(dead)
            result.cleaned.append(dead.replica)
            say(f"cleaned dead replica {dead.replica} (pid {dead.pid})")
        live = [f for f in current if f.running]
        keep = [f for f in live if f.revision == spec.revision and f.healthy][:replicas]
        old = [f for f in live if f not in keep]
        # Unhealthy replicas at the right revision go first: they serve nothing useful.
        old.sort(key=lambda f: (f.healthy is not False, f.revision == spec.revision))
        result.kept = [f.replica for f in keep]
        missing = replicas - len(keep)
        warm = self._usable_standby(spec, say) if missing else []
        for _ in range(missing):
            new = None
            while warm and new is None:  # a warm standby at this revision: no cold start
                try:
                    new = self.unpark(warm.pop(0), spec)
                    result.unparked.append(new.replica)
                    say(f"unparked standby {new.replica} (pid {new.pid}), healthy")
                except HealthCheckFailed as exc:
                    say(f"standby not usable, starting a new replica: {exc.one_line()}")
            if new is None:
                new = self.start(spec)  # raises HealthCheckFailed: old replicas untouched
                result.started.append(new.replica)
                say(f"started {new.replica} (pid {new.pid}, admin port {new.admin_port}), "
                    "healthy")
            if old:
                self._retire(old.pop(0), spec, result, say)
        self._trim_standby(spec.service, result, say)
        for gone in old:  # scale down, or leftovers of an interrupted replace
            self.stop(gone)
            result.stopped.append(gone.replica)
            say(f"stopped {gone.replica} (pid {gone.pid})")
        return result

    def restart(self, spec: ReplicaSpec, progress: Progress | None = None) -> ConvergeResult:
        """Rolling restart at ``spec``'s revision: for each running replica a fresh one is
        started and verified first, then the old one stops (drained, not parked: it is
        the same revision). A candidate that fails its checks raises HealthCheckFailed
        with the old replicas still serving."""
        say = progress or (lambda _msg: None)
        result = ConvergeResult()
        current = self.facts([spec.service], check_health=False).get(spec.service, [])
        for dead in [f for f in current if not f.running]:
            self.forget(dead)
            result.cleaned.append(dead.replica)
        for old in [f for f in current if f.running]:
            new = self.start(spec)
            result.started.append(new.replica)
            say(f"started {new.replica} (pid {new.pid}), healthy")
            self.stop(old)
            result.stopped.append(old.replica)
            say(f"stopped {old.replica} (pid {old.pid})")
        return result

    def remove(self, service: str, progress: Progress | None = None) -> list[str]:
        """Stop every replica of ``service`` (prune)."""
        say = progress or (lambda _msg: None)
        gone = []
        for fact in self.facts([service], check_health=False).get(service, []):
            if fact.running:
                self.stop(fact)
                say(f"stopped {fact.replica} (pid {fact.pid})")
            else:
                self.forget(fact)
            gone.append(fact.replica)
        for fact in self.standby(service):
            if fact.running:
                self.stop(fact)
                say(f"stopped standby {fact.replica} (pid {fact.pid})")
            else:
                self.forget(fact)
            gone.append(fact.replica)
        return gone
