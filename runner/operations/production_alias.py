"""The registry alias ``production`` follows the spec: moved after a successful deploy."""

from __future__ import annotations

from runner.operations.registry_facts import alias_version


def set_production_alias(tracking_uri: str, model: str, version: int) -> str:
    """Point ``production`` at ``version``; the sentence that says what happened.

    Never raises: the deploy already succeeded, so a registry problem is reported, not undone.
    """
    if alias_version(tracking_uri, model, "production") == version:
        return f"production -> v{version} (unchanged)"
    try:
        from runner.ml.registry import client_for  # heavy: only when the alias must move

        client_for(tracking_uri, set_globals=False).set_registered_model_alias(
            model, "production", str(version))
    except Exception as exc:  # noqa: BLE001 - see the docstring
        return f"production alias not set: {type(exc).__name__}: {str(exc)[:200]}"
    return f"production -> v{version}"
