"""Registers the lifecycle's playbook modules with the engine (imported lazily by it)."""

from runner.playbook.modules import register

register("retrain_data", "runner.lifecycle.modules:RetrainData")
register("retrain_train", "runner.lifecycle.modules:RetrainTrain")
register("retrain_gate", "runner.lifecycle.modules:RetrainGate")
register("promote", "runner.lifecycle.modules:Promote")
