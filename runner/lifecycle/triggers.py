"""``inv evaluate``: the "metric drop" retrain trigger on recent labelled data.

The serving model (the spec's pinned version) is scored on the given CSV and compared
with the metrics registered with that version. The measured metric carries a bootstrap
interval (``runner.lifecycle.paired``, at ``gate.confidence``); a relative drop of the
primary metric whose whole interval is above the spec's ``retrain.metric_drop`` exits 3
and names the retrain command (or, with ``--retrain``, starts it on that data). The other
triggers: drift (``inv drift`` exit 3, or the drift alert starting playbooks/retrain.yaml),
the monthly schedule (``retrain.schedule``, run by a CI workflow calling ``inv retrain``),
and by hand.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from runner.errors import PermanentError
from runner.lifecycle.common import service_context
from runner.lifecycle.gate import LOWER_IS_BETTER

EXIT_DROP = 3


def evaluate(root: Path, service: str, data: Path, env: str = "dev") -> dict[str, Any]:
    """The serving model on ``data``: the measured metric with its bootstrap interval (the
    gate's method and level) and the relative drop from the registered value with its
    interval. Triggered only when the whole drop interval is above ``retrain.metric_drop``,
    so a retrain is not started by the noise of a small labelled sample."""
    import mlflow.sklearn

    from runner.lifecycle.paired import compare
    from runner.lifecycle.steps import gate_seed
    from runner.ml import registry
    from runner.ml.data_validation import validate_csv
    from runner.ml.evaluate import predict
    from runner.ml.stages import load_params

    ctx = service_context(root, service, env)
    frame = validate_csv(data, ctx.schema)
    name, version = ctx.spec.model.name, ctx.spec.model.version
    info = registry.version_info(root, name, version)
    metric = ctx.spec.gate.metric
    if metric not in info["metrics"]:
        raise PermanentError(f"{name} v{version} has no registered {metric} to compare with")
    model = mlflow.sklearn.load_model(f"models:/{name}/{version}")
    level = ctx.spec.gate.confidence
    seed = gate_seed(load_params(ctx.project_dir))
    measured = compare(ctx.schema.task, frame[ctx.schema.target.name].to_numpy(),
                       predict(model, ctx.schema, frame), None, level=level, seed=seed)
    now = measured.candidate[metric]
    before = float(info["metrics"][metric])
    lower_better = metric in LOWER_IS_BETTER

    def drop_of(value: float) -> float:
        worse = (value - before) if lower_better else (before - value)
        return worse / abs(before) if before else 0.0

    bounds = sorted((drop_of(now.low), drop_of(now.high)))
    limit = ctx.spec.retrain.metric_drop
    return {"service": service, "model": f"{name} v{version}", "metric": metric,
            "registered": before, "measured": now.value,
            "measured_interval": [now.low, now.high], "drop": drop_of(now.value),
            "drop_interval": bounds, "level": level, "seed": seed,
            "resamples": measured.resamples, "method": measured.method,
            "limit": limit, "rows": len(frame), "metrics": measured.points(),
            "triggered": bounds[0] > limit}


def report(out: dict[str, Any]) -> str:
    """What ``inv evaluate`` prints: the drop with its interval, and whether it triggers."""
    lo, hi = out["measured_interval"]
    dlo, dhi = out["drop_interval"]
    pct = f"{out['level'] * 100:g}%"
    head = (f"{out['service']}: {out['model']} {out['metric']} {out['measured']:.4f} "
            f"[{lo:.4f}, {hi:.4f}] ({pct}) on {out['rows']} labelled rows vs "
            f"{out['registered']:.4f} registered: drop {out['drop']:+.1%} "
            f"[{dlo:+.1%}, {dhi:+.1%}] (retrain when the whole interval is above "
            f"{out['limit']:.0%}; {out['method']}, {out['resamples']} resamples, "
            f"seed {out['seed']})")
    if out["triggered"]:
        return head
    if out["drop"] > out["limit"]:
        return head + (f"\nnot triggered: the drop's interval reaches {dlo:+.1%}, so a drop "
                       f"of {out['limit']:.0%} or less is not ruled out (more labelled rows "
                       "would narrow it)")
    return head


def evaluate_command(service: str, data: str, retrain: bool = False, env: str = "dev",
                     root: Path | None = None) -> int:
    from runner.state.paths import repo_root

    root = (root or repo_root()).resolve()
    out = evaluate(root, service, Path(data), env)
    print(report(out))
    if not out["triggered"]:
        return 0
    if not retrain:
        print(f"retrain suggested: inv retrain --service {service} --data {data}")
        return EXIT_DROP
    from runner.lifecycle.retrain import retrain_command

    retrain_command(service, data=data, env=env, root=root,
                    reason=f"{out['metric']} dropped {out['drop']:.1%} "
                           f"[{out['drop_interval'][0]:.1%}, {out['drop_interval'][1]:.1%}] "
                           f"on {Path(data).name}")
    return EXIT_DROP
