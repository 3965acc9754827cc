"""``inv drift``: training data (reference) vs the service's logged prediction inputs (current).

The decision (exit 0 below the spec's critical drift share, 3 at or above it, 4 when the
current window has fewer rows than ``retrain.min_rows``: inconclusive, never a pass) comes
from ``runner.lifecycle.stattests``, the same per-column tests Evidently's
DataDriftPreset runs by default, in numpy/scipy: 1M rows in seconds instead of minutes.
Evidently still writes the HTML report, on a seeded sample of at most ``html_rows`` rows
per side; its share on that sample is stored beside ours in the JSON summary as a
cross-check. Both files land in ``<state>/reports/``; the share goes to the drift gauge
the runner exporter serves (``runner.monitor.drift_gauge``).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runner.errors import PermanentError
from runner.lifecycle.common import (
    ServiceContext,
    feature_frame,
    reference_path,
    service_context,
)

if TYPE_CHECKING:
    import pandas as pd

EXIT_OK, EXIT_DRIFT, EXIT_INCONCLUSIVE = 0, 3, 4
HTML_ROWS = 20_000


def read_current(ctx: ServiceContext, path: Path | None) -> tuple[pd.DataFrame, str]:
    """The given CSV, else every prediction log of the service (rotated files included)."""
    import pandas as pd

    if path is not None:
        from runner.ml.data_validation import read_csv

        return read_csv(path), str(path)
    log = ctx.state / "predictions" / f"{ctx.name}.jsonl"
    files = sorted(log.parent.glob(f"{log.name}.*[0-9]"), reverse=True) + [log]
    records: list[dict[str, Any]] = []
    for path in files:
        for line in _read_locked(path, log.with_name(log.name + ".lock")).splitlines():
            try:
                records.append(json.loads(line))
            except ValueError:
                continue  # a line cut by a crash: skip it, not the whole window
    if not records:
        return pd.DataFrame(columns=ctx.schema.feature_names), str(log)
    return pd.DataFrame.from_records(records), str(log)


def _read_locked(path: Path, lock: Path) -> str:
    """The file's text under the replicas' writer lock (runner.serving.predlog), so a
    flush or a rotation in progress is never read half-way."""
    import fcntl

    if not path.is_file():
        return ""
    with open(lock, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_SH)
        try:
            return path.read_text() if path.is_file() else ""
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def evidently_share(reference: pd.DataFrame, current: pd.DataFrame, html: Path,
                    rows: int = HTML_ROWS) -> dict[str, Any]:
    """Evidently's DataDriftPreset on a seeded sample: writes the HTML, returns its verdict."""
    from evidently import Report
    from evidently.presets import DataDriftPreset

    ref = reference.sample(rows, random_state=0) if len(reference) > rows else reference
    cur = current.sample(rows, random_state=0) if len(current) > rows else current
    snapshot = Report([DataDriftPreset()]).run(cur, ref)
    html.parent.mkdir(parents=True, exist_ok=True)
    snapshot.save_html(str(html))
    out: dict[str, Any] = {"rows": {"reference": len(ref), "current": len(cur)}, "columns": {}}
    for metric in snapshot.dict()["metrics"]:
        config = metric.get("config", {})
        kind = str(config.get("type", ""))
        if kind.endswith("DriftedColumnsCount"):
            out["share"] = float(metric["value"]["share"])
            out["count"] = int(metric["value"]["count"])
        elif kind.endswith("ValueDrift"):
            out["columns"][config["column"]] = {"method": config.get("method"),
                                                "score": float(metric["value"])}
    return out


def check(root: Path, service: str, *, current: Path | None = None,
          reference: Path | None = None, env: str = "dev", html: bool = True,
          html_rows: int = HTML_ROWS, set_gauge: bool = True) -> dict[str, Any]:
    """Measure drift, write the reports, set the gauge; return the JSON summary."""
    from runner.lifecycle.stattests import drift_table
    from runner.ml.data_validation import read_csv

    started = time.perf_counter()
    ctx = service_context(root, service, env)
    ref_path = reference or reference_path(ctx)
    ref_df = feature_frame(read_csv(ref_path), ctx.schema)
    raw_cur, cur_source = read_current(ctx, current)
    cur_df = feature_frame(raw_cur, ctx.schema)
    threshold = ctx.spec.alerts.drift_share.critical
    min_rows = ctx.spec.retrain.min_rows
    summary: dict[str, Any] = {
        "service": service, "at": time.time(), "threshold": threshold, "min_rows": min_rows,
        "reference": {"path": str(ref_path), "rows": len(ref_df)},
        "current": {"path": cur_source, "rows": len(cur_df)},
    }
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
    reports = ctx.state / "reports"
    reports.mkdir(parents=True, exist_ok=True)
    if len(cur_df) < min_rows:
        summary.update(decision="inconclusive", share=None, columns=[],
                       reason=f"{len(cur_df)} current row(s), at least {min_rows} needed "
                              "(retrain.min_rows)")
    else:
        table = drift_table(ref_df, cur_df, list(ref_df.columns))
        if not table:
            raise PermanentError(f"{service}: no column could be tested for drift")
        drifted = [c for c in table if c.drifted]
        share = len(drifted) / len(table)
        summary.update(
            decision="drift" if share >= threshold else "no drift", share=share,
            drifted_count=len(drifted), columns_tested=len(table),
            columns=[c.as_dict() for c in table],
        )
        if set_gauge:
            from runner.monitor import drift_gauge

            drift_gauge.set(service, share, state=ctx.state)
        summary["decision_s"] = round(time.perf_counter() - started, 3)
        if html:
            page = reports / f"drift-{service}-{stamp}.html"
            try:
                summary["evidently"] = evidently_share(ref_df, cur_df, page, html_rows)
                summary["html"] = str(page)
            except Exception as exc:  # the report is an extra: the decision stands without it
                summary["evidently_error"] = f"{type(exc).__name__}: {str(exc)[:300]}"
    summary["duration_s"] = round(time.perf_counter() - started, 3)
    text = json.dumps(summary, indent=2, sort_keys=True, default=str)
    (reports / f"drift-{service}-{stamp}.json").write_text(text + "\n")
    (reports / f"drift-{service}-latest.json").write_text(text + "\n")
    summary["json"] = str(reports / f"drift-{service}-{stamp}.json")
    return summary


def exit_code(summary: dict[str, Any]) -> int:
    return {"drift": EXIT_DRIFT, "inconclusive": EXIT_INCONCLUSIVE}.get(summary["decision"],
                                                                       EXIT_OK)


def render(summary: dict[str, Any]) -> str:
    lines = []
    if summary["columns"]:
        lines.append(f"{'COLUMN':<18}{'METHOD':<32}{'SCORE':>10}{'THRESHOLD':>11}  DRIFT")
        for c in summary["columns"]:
            lines.append(f"{c['column']:<18}{c['method']:<32}{c['score']:>10.4f}"
                         f"{c['threshold']:>11g}  {'yes' if c['drifted'] else 'no'}")
    svc, cur = summary["service"], summary["current"]["rows"]
    if summary["decision"] == "inconclusive":
        lines.append(f"{svc}: drift INCONCLUSIVE: {summary['reason']}")
    else:
        above = "at or above" if summary["decision"] == "drift" else "below"
        lines.append(f"{svc}: drift share {summary['share']:.2f} ({summary['drifted_count']}/"
                     f"{summary['columns_tested']} columns) on {cur} current rows, {above} the "
                     f"critical threshold {summary['threshold']:g}")
        if summary.get("evidently_error"):
            lines.append(f"evidently report failed: {summary['evidently_error']}")
        if "evidently" in summary and "share" in summary["evidently"]:
            lines.append(f"evidently (sample of {summary['evidently']['rows']['current']} rows): "
                         f"share {summary['evidently']['share']:.2f}; report {summary['html']}")
    lines.append(f"summary: {summary['json']}")
    return "\n".join(lines)


def drift_command(service: str, current: str = "", reference: str = "", env: str = "dev",
                  html: bool = True, as_json: bool = False, root: Path | None = None) -> int:
    """``inv drift``: print the table and the decision; 0 below, 3 drift, 4 inconclusive."""
    from runner.state.paths import repo_root

    summary = check((root or repo_root()).resolve(), service,
                    current=Path(current) if current else None,
                    reference=Path(reference) if reference else None, env=env, html=html)
    print(json.dumps(summary, indent=2, default=str) if as_json else render(summary))
    return exit_code(summary)
