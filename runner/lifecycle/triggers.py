"""``inv evaluate``: the "metric drop" retrain trigger on recent labelled data.

The serving model (the spec's pinned version) is scored on the given CSV and compared
with the metrics registered with that version. A relative drop of the primary metric
above the spec's ``retrain.metric_drop`` exits 3 and names the retrain command (or,
with ``--retrain``, starts it on that data). The other triggers: drift (``inv drift``
exit 3, or the drift alert starting playbooks/retrain.yaml), the monthly schedule
(``retrain.schedule``, run by a CI workflow calling ``inv retrain``), and by hand.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from runner.errors import PermanentError
from runner.lifecycle.common import service_context
from runner.lifecycle.gate import LOWER_IS_BETTER

EXIT_DROP = 3


def evaluate(root: Path, service: str, data: Path, env: str = "dev") -> dict[str, Any]:
    import mlflow.sklearn

    from runner.ml import registry
    from runner.ml.data_validation import validate_csv
    from runner.ml.evaluate import score

    ctx = service_context(root, service, env)
    frame = validate_csv(data, ctx.schema)
    name, version = ctx.spec.model.name, ctx.spec.model.version
    info = registry.version_info(root, name, version)
    metric = ctx.spec.gate.metric
    if metric not in info["metrics"]:
        raise PermanentError(f"{name} v{version} has no registered {metric} to compare with")
    model = mlflow.sklearn.load_model(f"models:/{name}/{version}")
    now = score(model, ctx.schema, frame)
    before = float(info["metrics"][metric])
    worse = (now[metric] - before) if metric in LOWER_IS_BETTER else (before - now[metric])
    drop = worse / abs(before) if before else 0.0
    return {"service": service, "model": f"{name} v{version}", "metric": metric,
            "registered": before, "measured": now[metric], "drop": drop,
            "limit": ctx.spec.retrain.metric_drop, "rows": len(frame), "metrics": now,
            "triggered": drop > ctx.spec.retrain.metric_drop}


def evaluate_command(service: str, data: str, retrain: bool = False, env: str = "dev",
                     root: Path | None = None) -> int:
    from runner.state.paths import repo_root

    root = (root or repo_root()).resolve()
    out = evaluate(root, service, Path(data), env)
    print(f"{service}: {out['model']} {out['metric']} {out['measured']:.4f} on {out['rows']} "
          f"labelled rows vs {out['registered']:.4f} registered: drop {out['drop']:+.1%} "
          f"(retrain above {out['limit']:.0%})")
    if not out["triggered"]:
        return 0
    if not retrain:
        print(f"retrain suggested: inv retrain --service {service} --data {data}")
        return EXIT_DROP
    from runner.lifecycle.retrain import retrain_command

    retrain_command(service, data=data, env=env, root=root,
                    reason=f"{out['metric']} dropped {out['drop']:.1%} on {Path(data).name}")
    return EXIT_DROP
