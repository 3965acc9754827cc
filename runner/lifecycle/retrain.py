"""``inv retrain``: run ``playbooks/retrain.yaml`` through the playbook engine, then say
what happened in one paragraph (promoted, registered only, rejected and why).

Exit codes: 0 the candidate passed the gate (and was promoted and deployed when asked)
or was held (equivalent to the champion under ``gate.promote_when: better``: registered,
the champion keeps serving), 4 the gate rejected it (registered, not promoted: the
champion keeps serving), 1 any failure (bad data stops at validation with the column
named; a failed deploy was rolled back by the deploy playbook).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

EXIT_REJECTED = 4
PLAYBOOK = "playbooks/retrain.yaml"


def retrain(root: Path, service: str, *, data: str = "", promote: bool = True,
            reason: str = "", env: str = "dev", quiet: bool = False,
            force: bool = False) -> dict[str, Any]:
    """Run the retrain play; return the comparison (and promotion) of this run."""
    import sys

    from runner.lifecycle.common import service_context
    from runner.lifecycle.retrain_modules import retrain_modules
    from runner.playbook import run_playbook

    ctx = service_context(root, service, env)  # a SpecError or unknown service before any work
    data_arg = str(Path(data).resolve()) if data else ""
    result = run_playbook(
        root / PLAYBOOK,
        {"service": service, "data": data_arg, "promote": promote,
         "reason": reason or "manual retrain", "environment": env, "force": force},
        root=root, state_dir=ctx.state, output=None if quiet else sys.stderr,
        modules=retrain_modules(),
    )
    out: dict[str, Any] = {"ok": result.ok, "duration_s": round(result.duration_s, 2)}
    failure = result.failures[-1].msg if result.failures else ""
    if failure:
        out["error"] = failure
    run_dir = next((r.result.data.get("run_dir") for r in result.records
                    if r.result is not None and r.result.data.get("run_dir")), None)
    if run_dir:
        for name in ("comparison", "promotion"):
            path = Path(run_dir) / f"{name}.json"
            if path.is_file():
                out[name] = json.loads(path.read_text())
    return out


def render(out: dict[str, Any], promote: bool) -> str:
    comp = out.get("comparison")
    if comp is None:
        return f"retrain failed: {out.get('error', 'see the play output')}"
    lines = [f"candidate v{comp['candidate_version']} vs champion "
             f"v{comp['champion_version']} on {comp['holdout_rows']} held-out rows"]
    lines.append(comp.get("block") or f"  candidate: {comp['candidate']}\n"
                                      f"  champion:  {comp['champion']}")
    lines.append(comp["summary"])
    promo = out.get("promotion")
    outcome = comp.get("outcome", "promote" if comp["passed"] else "reject")
    if outcome == "hold":
        lines.append(f"HELD: v{comp['candidate_version']} is equivalent to the champion, not "
                     f"better; v{comp['champion_version']} keeps serving (gate.promote_when: "
                     f"better); v{comp['candidate_version']} is registered (alias challenger)")
    elif not comp["passed"]:
        lines.append(f"NOT PROMOTED: the champion v{comp['champion_version']} keeps serving; "
                     f"v{comp['candidate_version']} is registered (alias challenger)")
    elif promo:
        state = "promoted" if promo["ok"] else "promotion FAILED (deploy rolled back)"
        lines.append(f"{state}: v{promo['from_version']} -> v{promo['to_version']}, spec commit "
                     f"{promo['commit'][:12] or '-'}; {promo['msg']}")
    elif not promote:
        lines.append(f"passed, not promoted (--no-promote): v{comp['candidate_version']} is "
                     "registered with alias challenger")
    if out.get("error") and comp["passed"]:
        lines.append(f"error: {out['error']}")
    lines.append(f"({out['duration_s']}s)")
    return "\n".join(lines)


def retrain_command(service: str, data: str = "", promote: bool = True, reason: str = "",
                    env: str = "dev", as_json: bool = False, root: Path | None = None,
                    force: bool = False) -> int:
    from runner.errors import PermanentError
    from runner.state.paths import repo_root

    if force and not reason.strip():  # the default reason would hide why a freeze was forced
        raise PermanentError("--force needs --reason TEXT (it goes to the audit log)")
    out = retrain((root or repo_root()).resolve(), service, data=data, promote=promote,
                  reason=reason, env=env, quiet=as_json, force=force)
    if as_json:
        print(json.dumps(out, indent=2, default=str))
    else:
        print(render(out, promote))
    comp = out.get("comparison")
    if comp is None:
        raise PermanentError(f"retrain {service}: {out.get('error', 'failed')}")
    if comp.get("outcome") == "hold":
        return 0  # nothing wrong and nothing gained: the champion keeps serving
    if not comp["passed"]:
        return EXIT_REJECTED
    return 0 if out["ok"] else 1
