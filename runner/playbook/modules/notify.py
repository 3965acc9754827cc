"""notify: send a message to a file sink (JSON lines) or a webhook whose URL is in an env var.

The webhook URL is a secret (tokens live in it), so a playbook names only the environment
variable (``webhook_env: MLGITOPS_WEBHOOK_URL``); the URL never appears in results, console
lines or the event log. As a task, the module form is a mapping under ``notify:`` (the
keyword form, a handler name or list, is told apart by type)::

    - name: Tell the on-call channel
      notify: {msg: "rolled back {{ service }}", webhook_env: MLGITOPS_WEBHOOK_URL}
"""

from __future__ import annotations

import json
import os
import time
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from runner.playbook.modules import Module, ModuleContext
from runner.playbook.result import Result


class NotifyArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")
    msg: str
    level: Literal["info", "warning", "critical"] = "info"
    file: str | None = None
    webhook_env: str | None = None
    data: dict[str, Any] = Field(default_factory=dict)
    timeout: float = 5.0

    @model_validator(mode="after")
    def _one_sink(self) -> NotifyArgs:
        if (self.file is None) == (self.webhook_env is None):
            raise ValueError("give exactly one sink: file or webhook_env")
        if self.webhook_env is not None and not self.webhook_env.isidentifier():
            raise ValueError("webhook_env names an environment variable, not a URL")
        return self


class Notify(Module):
    """Deliver one message; changed when sent. Check mode describes and sends nothing."""

    Args = NotifyArgs

    def run(self, args: NotifyArgs, ctx: ModuleContext) -> Result:
        payload = {
            "ts": time.time(),
            "level": args.level,
            "text": args.msg,
            "task": ctx.task_name,
            **({"data": args.data} if args.data else {}),
        }
        sink = f"file {args.file}" if args.file else f"webhook ${args.webhook_env}"
        if ctx.check_mode:
            return Result(changed=True, msg=f"check mode: would notify {sink}")
        if args.file is not None:
            path = ctx.resolve(args.file)
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("a", encoding="utf-8") as fh:
                fh.write(json.dumps(payload, default=str) + "\n")
            return Result(changed=True, msg=f"notified {sink}", data={"sink": sink})
        assert args.webhook_env is not None
        url = os.environ.get(args.webhook_env)
        if not url:
            return Result(failed=True, msg=f"${args.webhook_env} is not set")
        import httpx

        from runner.playbook.modules.net import client

        try:
            resp = client(ctx).post(url, json=payload, timeout=args.timeout)
        except httpx.HTTPError as exc:
            # The exception text may contain the URL: report the type only.
            return Result(failed=True, msg=f"notify {sink}: {type(exc).__name__}")
        if resp.status_code >= 300:
            return Result(failed=True, msg=f"notify {sink}: HTTP {resp.status_code}",
                          data={"status": resp.status_code})
        return Result(changed=True, msg=f"notified {sink}",
                      data={"sink": sink, "status": resp.status_code})
