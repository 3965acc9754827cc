"""Registers reconcile's playbook modules with the engine (imported lazily by the engine)."""

from runner.playbook.modules import register

register("service", "runner.reconcile.modules:ServiceModule")
register("rollback", "runner.reconcile.modules:RollbackModule")
register("watch", "runner.reconcile.modules:WatchModule")
