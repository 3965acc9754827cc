"""plan_service as a table: facts in, one action with its reason out (no processes)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from runner.operations.specedit import set_model_version, set_top_scalar
from runner.reconcile.plan import Action, Plan, plan_service
from runner.runtime.base import ReplicaFact, ReplicaSpec
from runner.state.state_store import Revision

SPEC = ReplicaSpec(service="svc", spec_hash="a" * 16, model_name="svc-model", model_version=3,
                   port=8001, project_dir=Path("."))


def fact(name: str = "r1", *, version: int = 3, spec_hash: str = "a" * 16, running: bool = True,
         healthy: bool | None = True, pid: int = 100) -> ReplicaFact:
    return ReplicaFact(service="svc", replica=name, pid=pid, port=8001, admin_port=9000,
                       spec_hash=spec_hash, model_name="svc-model", model_version=version,
                       started_at=0.0, running=running, healthy=healthy)


REV = Revision(service="svc", number=7, spec_hash="a" * 16, model_name="svc-model",
               model_version=3, image="", git_commit="", created_at=0.0, actor="t", reason="",
               outcome="success", spec={})

CASES = [
    ("nothing runs", [], 1, "create", "not running; deploy model v3 with 1 replica(s)"),
    ("in sync", [fact()], 1, "noop", "svc is at revision 7, healthy (model v3, 1 replica)"),
    ("new model", [fact(version=2)], 1, "replace", "model version 2 -> 3"),
    ("config", [fact(spec_hash="b" * 16)], 1, "replace",
     "config changed (spec hash bbbbbbbb -> aaaaaaaa)"),
    ("scale up", [fact()], 2, "replace", "replicas 1 -> 2"),
    ("scale down", [fact("r1"), fact("r2")], 1, "replace", "replicas 2 -> 1"),
    ("crashed", [fact(running=False, pid=42)], 1, "restart",
     "replica r1 (pid 42) is not running"),
    ("unhealthy", [fact(healthy=False)], 1, "restart", "replica r1 (pid 100) is unhealthy"),
    ("crashed old", [fact(running=False, version=2)], 1, "replace", "model version 2 -> 3"),
    ("half-way replace", [fact("old", version=2), fact("new")], 1, "replace",
     "model version 2 -> 3; replicas 2 -> 1"),
]


@pytest.mark.parametrize(("why", "facts", "replicas", "kind", "reason"), CASES,
                         ids=[c[0] for c in CASES])
def test_plan_service(why, facts, replicas, kind, reason):
    action = plan_service(SPEC, replicas, facts, REV)
    assert (action.kind, action.reason) == (kind, reason)


@pytest.mark.parametrize("current", [None, replace(REV, number=6, model_version=2)],
                         ids=["no revision", "older revision"])
def test_in_sync_replicas_ahead_of_the_store_do_not_claim_its_revision(current):
    # A runner killed after the switch, before record_revision: the replicas serve v3, the
    # store's newest success is v2 (or nothing). Not "at revision 6": that one is v2.
    action = plan_service(SPEC, 1, [fact()], current)
    assert action.kind == "noop"
    assert action.reason == ("svc is at an unrecorded revision (reconcile records it), healthy "
                             "(model v3, 1 replica)")


def test_plan_render_and_json_summarise_changes():
    plan = Plan("dev", (Action("a", "replace", "model version 1 -> 2"),
                        Action("b", "noop", "b is at revision 1, healthy")))
    text = plan.render()
    assert "~ replace  a" in text and "1 replace, 1 unchanged" in text
    data = plan.as_dict()
    assert data["changes"] == 1 and data["in_sync"] is False
    assert Plan("dev", (Action("b", "noop", "x"),)).render().endswith("in sync, 1 services "
                                                                       "unchanged")


SPEC_TEXT = """\
name: svc
image: org/svc:1   # pinned
model:
  name: svc-model
  # the spec leads, the alias follows
  version: 3
gate: {metric: auc, min: 0.8}
"""


def test_spec_edit_touches_only_the_pinned_values():
    new = set_top_scalar(set_model_version(SPEC_TEXT, 2), "image", "org/svc:0")
    assert new == SPEC_TEXT.replace("version: 3", "version: 2").replace("svc:1", "svc:0")
    flow = "model: {name: m, version: 4}  # pin\n"
    assert set_model_version(flow, 5) == "model: {name: m, version: 5}  # pin\n"
