"""Shared serving code for the model services: one FastAPI app per replica.

Layers, outer to inner:
``launch`` (process entry: sockets, uvicorn, signals) -> ``app`` (routes, fault switch)
-> ``middleware`` (request metrics) / ``model`` (registry loading, self-test, model info)
/ ``predlog`` (sampled prediction log) / ``metrics`` (the contract's names)
-> ``definition`` (what a project's ``service.py`` supplies) and ``config`` (environment).

Nothing here imports mlflow, pandas or sklearn at module import time.
"""
