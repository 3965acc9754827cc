"""The bearer token that Alertmanager sends to the monitor's ``POST /alerts``.

An alert can start a rollback or a retrain, so the webhook does not trust "it came from
127.0.0.1": any local process or a browser page could post one. The token is generated
once per state directory into ``<state>/secrets/webhook-token`` (0600, in a 0700 folder)
and read by both sides:

- the monitor compares every request's ``Authorization: Bearer`` header with it in
  constant time (``authorized``);
- Alertmanager reads it per request through ``http_config.authorization.credentials_file``.
  The rendered ``alertmanager.yml`` (committed, machine-independent) names it relative to
  the staged config, ``<state>/alertmanager/config/``: Alertmanager resolves relative
  paths against the config file's folder, so the same text works for any state directory
  (``CREDENTIALS_FILE_FROM_CONFIG``; a test checks the two agree).
"""

from __future__ import annotations

import hmac
import os
import secrets
from pathlib import Path

from runner.state.paths import private_dir

SECRETS_DIR = "secrets"
TOKEN_NAME = "webhook-token"  # noqa: S105 - a file name, not a secret
# The token file as the staged Alertmanager config (<state>/alertmanager/config/) sees it.
CREDENTIALS_FILE_FROM_CONFIG = f"../../{SECRETS_DIR}/{TOKEN_NAME}"
TOKEN_BYTES = 32


def token_path(state: Path) -> Path:
    return state / SECRETS_DIR / TOKEN_NAME


def ensure_token(state: Path) -> Path:
    """The token file, generated (0600) when missing or empty; an existing one is kept."""
    path = token_path(state)
    private_dir(path.parent)
    try:
        if path.read_text().strip():
            return path
    except FileNotFoundError:
        pass
    tmp = path.with_name(f".{TOKEN_NAME}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(secrets.token_urlsafe(TOKEN_BYTES) + "\n")
    try:
        # link, not rename: when two processes race, the first token wins and stays.
        os.link(tmp, path)
    except FileExistsError:
        if not path.read_text().strip():  # an empty file left by hand: replace it
            os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def read_token(state: Path) -> str:
    """The current token (generated if missing), without the trailing newline."""
    return ensure_token(state).read_text().strip()


def authorized(header: str | None, token: str) -> bool:
    """Whether an ``Authorization`` header carries ``token``, compared in constant time."""
    if not header or not token:
        return False
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(value.strip().encode(), token.encode())
