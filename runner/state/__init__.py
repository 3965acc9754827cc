"""State store: revisions per service, append-only audit log, apply lock (``<state>/state.db``)."""

from runner.state.lock import apply_lock, holder
from runner.state.paths import actor, repo_root, state_dir, tracking_uri
from runner.state.state_store import FAILED, ROLLED_BACK, SUCCESS, Revision, StateStore

__all__ = [
    "FAILED",
    "ROLLED_BACK",
    "SUCCESS",
    "Revision",
    "StateStore",
    "actor",
    "apply_lock",
    "holder",
    "repo_root",
    "state_dir",
    "tracking_uri",
]
