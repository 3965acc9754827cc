"""Typed desired state: the pydantic models behind every file under ``specs/``.

Unknown keys are rejected everywhere (``extra="forbid"``) so a typo is an error, not a
silently ignored setting. Cross-field rules that span several files (duplicate ports,
project paths) live in ``runner.spec.checks``; rules inside one object live here.
"""

from __future__ import annotations

import os
from typing import Annotated, Literal

# The toolkit uses no pydantic plugins; looking them up scans the entry points of every
# installed distribution (~200 here), about a tenth of `inv validate`'s start-up.
# setdefault: an explicit PYDANTIC_DISABLE_PLUGINS from the user still wins.
os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

NAME_PATTERN = r"^[a-z][a-z0-9-]{0,40}$"
Name = Annotated[str, Field(pattern=NAME_PATTERN)]
IMAGE_PATTERN = r"^[a-z0-9][a-z0-9._/-]*(:[A-Za-z0-9._-]+)?$"
Port = Annotated[int, Field(ge=1024, le=65535)]
Ratio = Annotated[float, Field(ge=0.0, le=1.0)]
# Hosts reach rendered files (compose commands, Prometheus targets): a name or an address,
# nothing that could end a YAML scalar or start a new key (a newline, a quote, a colon
# followed by a space). IPv6 literals are plain hex and colons.
HOST_PATTERN = r"^(?:[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?|[0-9A-Fa-f:.]{2,45})$"
Host = Annotated[str, Field(pattern=HOST_PATTERN)]
# Free text that reaches files or commands: one printable line.
LINE_PATTERN = r"^[^\x00-\x1f\x7f]+$"
Line = Annotated[str, Field(pattern=LINE_PATTERN, max_length=500)]
METRIC_PATTERN = r"^[A-Za-z0-9_.:-]{1,100}$"
MetricName = Annotated[str, Field(pattern=METRIC_PATTERN)]
URL_PATH_PATTERN = r"^/[A-Za-z0-9._~/-]{0,200}$"


class FieldValueError(ValueError):
    """A ValueError from a model validator that belongs to one field of that model.

    pydantic locates model-level validator errors at the model; the spec loader moves
    the error to ``field`` so the message points at the line the user must change.
    """

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


ALERT_KINDS = ("error_rate", "latency_p99_s", "cpu", "memory", "drift_share")


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SecretRef(StrictModel):
    """A secret by reference only: an environment variable or a file, never a value."""

    env: str | None = Field(default=None, pattern=r"^[A-Z_][A-Z0-9_]*$")
    file: Line | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> SecretRef:
        if (self.env is None) == (self.file is None):
            raise ValueError("give exactly one of env or file")
        return self


# ----------------------------------------------------------------- platform.yaml


class MlflowSpec(StrictModel):
    host: Host = "127.0.0.1"
    port: Port = 5000
    backend: Literal["sqlite"] = "sqlite"
    workers: int = Field(default=1, ge=1, le=8)


class ListenerSpec(StrictModel):
    host: Host = "127.0.0.1"
    port: Port


class GrafanaSpec(ListenerSpec):
    admin_password: SecretRef


class MonitoringSpec(StrictModel):
    scrape_interval_s: int = Field(default=15, ge=1, le=300)
    evaluation_interval_s: int = Field(default=15, ge=1, le=300)
    prometheus: ListenerSpec = ListenerSpec(port=9090)
    alertmanager: ListenerSpec = ListenerSpec(port=9093)
    exporter: ListenerSpec = ListenerSpec(port=9108)  # runner exporter + /alerts webhook
    grafana: GrafanaSpec


class WindowSpec(StrictModel):
    """A recurring window: starts at each cron match and lasts ``duration_min``.

    The cron is read in ``timezone`` (UTC unless set); "first Sunday of the month" is
    croniter's ``sun#1`` (``0 2 1-7 * 0`` would mean day 1-7 OR any Sunday)."""

    name: Name
    cron: str
    duration_min: int = Field(ge=1, le=60 * 24 * 31)
    timezone: str = Field(default="UTC", pattern=r"^[A-Za-z][A-Za-z0-9_+/-]{0,60}$")

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone '{value}' (an IANA name: UTC, "
                             "Europe/Berlin)") from None
        return value


class MaintenanceSpec(StrictModel):
    windows: list[WindowSpec] = []
    freeze: list[WindowSpec] = []
    backup_keep: int = Field(default=6, ge=1)
    # The maintenance playbook (inv maintenance): notices go out notice_min before a
    # window opens (inv windows --notify), the post-restart watch lasts watch_s, and
    # clean-up deletes what is older than retention_days, never the last keep_revisions
    # revisions of a service.
    notice_min: int = Field(default=60, ge=0, le=60 * 24 * 14)
    watch_s: int = Field(default=3600, ge=0, le=6 * 3600)
    retention_days: int = Field(default=30, ge=1, le=3650)
    keep_revisions: int = Field(default=5, ge=1, le=1000)


class NotificationSink(StrictModel):
    name: Name
    type: Literal["file", "webhook"]
    path: Line | None = None
    url: SecretRef | None = None  # webhook URLs often embed tokens: by reference
    min_severity: Literal["info", "warning", "critical"] = "info"

    @model_validator(mode="after")
    def _target_matches_type(self) -> NotificationSink:
        if self.type == "file" and not self.path:
            raise FieldValueError("path", "a file sink needs path")
        if self.type == "webhook" and self.url is None:
            raise FieldValueError("url", "a webhook sink needs url (env or file reference)")
        return self


class AlertAction(StrictModel):
    """What the runner does when an alert reaches its webhook (configured, not coded)."""

    alert: Literal["error_rate", "latency_p99_s", "cpu", "memory", "drift_share"]
    severity: Literal["warning", "critical"] = "critical"
    playbook: Name  # retrain, rollback, ...
    within_deploy_window_s: int | None = Field(default=None, ge=1)


class BackupSpec(StrictModel):
    """Where ``inv backup`` writes (a restic repository) and how often (issue 11).

    ``repository``: a path (relative to the repository root) or any restic location
    (``s3:https://host/bucket/path`` for production); env ``MLGITOPS_BACKUP_REPO`` wins.
    ``password``: by reference only; env ``MLGITOPS_BACKUP_PASSWORD_FILE`` wins. A key
    kept under the state directory would be wiped with what it protects: refused.
    """

    repository: Line = ".state/backups/restic"
    password: SecretRef = SecretRef(file="~/.config/mlgitops/backup-password")
    schedule: str = "0 3 * * *"  # cron (UTC); the monitor and CI take it from here
    keep_daily: int = Field(default=7, ge=1, le=366)
    keep_monthly: int = Field(default=6, ge=0, le=120)


Selector = Annotated[str, Field(pattern=r"^[a-z_*]+:[a-z0-9_*-]+$")]


class EscalationLevel(StrictModel):
    """One severity of the runbook (P0-P3): what it covers, how fast, who hears of it."""

    name: Literal["P0", "P1", "P2", "P3"]
    description: Line = ""
    response_min: int = Field(ge=1, le=60 * 24 * 14)
    # Which events are this severity: "<alert severity>:<kind>" ("critical:error_rate",
    # "warning:*"), "procedure:<playbook>" (a failed procedure), "emergency:<kind>".
    # The first level (P0 first) with a matching selector wins.
    match: list[Selector] = []
    routes: list[Name] = []  # notification sinks notified at once
    escalate_to: list[Name] = []  # sinks notified when not acknowledged in response_min


class VerifySpec(StrictModel):
    """What ``inv verify`` expects of the running platform (``runner.verify``)."""

    # testinfra host spec: ``ssh://user@host[:port]`` for a remote host; None: chosen by
    # the runtime (local, or ``docker://<container>`` per replica).
    host: Annotated[str, Field(pattern=r"^ssh://[A-Za-z0-9._@:-]{1,200}$")] | None = None
    # Owner of every process; None: the user running the toolkit (``inv verify``).
    user: Annotated[str, Field(pattern=r"^[a-z_][a-z0-9_-]{0,31}$")] | None = None
    non_root: bool = False  # refuse processes running as root (set where services never are)
    listen: Host = "127.0.0.1"  # the address replicas must bind; 0.0.0.0 only if said here


class RegistrySpec(StrictModel):
    """Where ``inv push`` sends service images. ``local``: the toolkit runs Debian's
    ``docker-registry`` on host:port (storage under the state dir); otherwise one that
    exists already (host:port as image names spell it)."""

    host: Host = "127.0.0.1"
    port: Port = 5001
    local: bool = True

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"


class PlatformSpec(StrictModel):
    environment: Name = "dev"
    runtime: Literal["local", "docker", "swarm", "kubernetes"] = "local"
    state_dir: Line = ".state"
    mlflow: MlflowSpec = MlflowSpec()
    registry: RegistrySpec = RegistrySpec()  # container images (runtime docker/swarm)
    monitoring: MonitoringSpec
    maintenance: MaintenanceSpec = MaintenanceSpec()
    notifications: list[NotificationSink] = []
    alert_actions: list[AlertAction] = []
    post_deploy_watch_s: int = Field(default=30, ge=0, le=3600)
    verify: VerifySpec = VerifySpec()
    backup: BackupSpec = BackupSpec()
    escalation: list[EscalationLevel] = []

    @model_validator(mode="after")
    def _routes_name_sinks(self) -> PlatformSpec:
        known = {s.name for s in self.notifications}
        for level in self.escalation:
            for route in (*level.routes, *level.escalate_to):
                if route not in known:
                    raise FieldValueError("escalation", f"{level.name} routes to '{route}', "
                                          f"which is not a notification sink "
                                          f"({', '.join(sorted(known)) or 'none defined'})")
        return self


# ------------------------------------------------------------ services/<name>.yaml


class ModelRef(StrictModel):
    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,80}$")]
    version: int = Field(ge=1)


class GateSpec(StrictModel):
    """Promotion gate: the primary metric must meet ``min`` and not regress beyond tolerance."""

    metric: MetricName
    min: float
    max_regression: Ratio = 0.01
    greater_is_better: bool = True
    guardrails: list[MetricName] = []  # each may drop at most guardrail_max_drop
    guardrail_max_drop: Ratio = 0.05
    # The gate compares interval bounds (runner.lifecycle.gate): their confidence level,
    # and whether a candidate that is equivalent (not worse, not shown better) replaces
    # the champion.
    confidence: float = Field(default=0.95, gt=0, lt=1)
    promote_when: Literal["not_worse", "better"] = "not_worse"


class HealthSpec(StrictModel):
    path: str = Field(default="/health", pattern=URL_PATH_PATTERN)
    timeout_s: float = Field(default=2.0, gt=0, le=60)
    retries: int = Field(default=20, ge=1, le=1000)
    interval_s: float = Field(default=0.5, gt=0, le=60)
    # How long a starting replica may take to load its model before failed checks count
    # (compose's start_period, a Kubernetes startup probe). Importing mlflow and sklearn
    # takes 5 s on an idle machine and over 40 s on a busy one, more inside a CPU limit. A
    # healthy answer ends the period at once, so it only costs time for a broken replica.
    start_period_s: int = Field(default=150, ge=0, le=3600)


class ResourcesSpec(StrictModel):
    cpu: float = Field(default=1.0, gt=0, le=64)
    memory_mb: int = Field(default=512, ge=64, le=262144)


class Threshold(StrictModel):
    warning: float = Field(ge=0)
    critical: float = Field(ge=0)
    for_s: int = Field(default=60, ge=0, le=3600)

    @model_validator(mode="after")
    def _warning_below_critical(self) -> Threshold:
        if self.warning > self.critical:
            raise FieldValueError(
                "warning",
                f"warning ({self.warning:g}) must not be above critical ({self.critical:g})",
            )
        return self


class RatioThreshold(Threshold):
    """A threshold on a share (error rate, CPU or memory of its limit, drifted columns):
    above 1 it could never fire, and would still validate."""

    warning: Ratio
    critical: Ratio


class AlertsSpec(StrictModel):
    """The runbook's threshold table."""

    error_rate: RatioThreshold = RatioThreshold(warning=0.01, critical=0.05)
    latency_p99_s: Threshold = Threshold(warning=2, critical=5)
    cpu: RatioThreshold = RatioThreshold(warning=0.70, critical=0.90)
    memory: RatioThreshold = RatioThreshold(warning=0.80, critical=0.95)
    drift_share: RatioThreshold = RatioThreshold(warning=0.30, critical=0.50)


class RetrainSpec(StrictModel):
    schedule: str = "0 0 1 * *"  # cron, checked in runner.spec.checks
    drift_share: Ratio = 0.50
    metric_drop: Ratio = 0.05
    min_rows: int = Field(default=200, ge=1)


class ScalingSpec(StrictModel):
    """Bounds of ``replicas``: a spec outside them is invalid and ``inv scale`` refuses
    a count outside them (what on call may do without a review of the capacity plan)."""

    min: int = Field(default=1, ge=1, le=50)
    max: int = Field(default=50, ge=1, le=50)

    @model_validator(mode="after")
    def _min_below_max(self) -> ScalingSpec:
        if self.min > self.max:
            raise FieldValueError("min", f"min ({self.min}) must not be above max ({self.max})")
        return self


class ServiceSpec(StrictModel):
    name: Name
    project: str  # path relative to the repository root; must exist
    port: Port
    replicas: int = Field(default=1, ge=1, le=50)
    scaling: ScalingSpec = ScalingSpec()
    image: str = Field(pattern=IMAGE_PATTERN)
    task: Literal["classification", "regression"] = "classification"
    model: ModelRef
    gate: GateSpec
    health: HealthSpec = HealthSpec()
    resources: ResourcesSpec = ResourcesSpec()
    alerts: AlertsSpec = AlertsSpec()
    retrain: RetrainSpec = RetrainSpec()
    smoke_request: Line = "tests/fixtures/sample_request.json"  # relative to project

    @field_validator("project")
    @classmethod
    def _relative(cls, value: str) -> str:
        if not inside(value):
            raise ValueError("must be a path inside the repository")
        return value

    @field_validator("smoke_request")
    @classmethod
    def _in_project(cls, value: str) -> str:
        if not inside(value):
            raise ValueError("must be a path inside the project")
        return value

    @model_validator(mode="after")
    def _replicas_in_bounds(self) -> ServiceSpec:
        low, high = self.scaling.min, self.scaling.max
        if not low <= self.replicas <= high:
            raise FieldValueError("replicas", f"{self.replicas} is outside scaling bounds "
                                  f"{low}..{high} (scaling: min/max)")
        return self


def inside(path: str) -> bool:
    """Whether a relative path stays below its base (no absolute path, no ``..``); the
    checks also resolve symbolic links (``runner.spec.checks``)."""
    return bool(path) and not path.startswith(("/", "\\")) and ".." not in path.replace(
        "\\", "/").split("/")


class Platform(StrictModel):
    """Everything desired, after environment overlays: what render and reconcile consume."""

    platform: PlatformSpec
    services: dict[str, ServiceSpec]
    environment: str
    root: str  # repository root the relative paths refer to

    def service(self, name: str) -> ServiceSpec:
        return self.services[name]
