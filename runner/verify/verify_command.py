"""``inv verify [--service S] [--json]``: run the testinfra suite, print one table.

The suite (``tests/infra/``) runs in its own pytest process with its own ``pytest.ini``
(only ``check_*.py`` files, never part of the normal ``pytest`` run), against the
platform this repository's specs describe. Exit 0 when every check passed; 1 naming each
failing check and target.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from runner.errors import ToolkitError

SUITE = Path(__file__).resolve().parents[2] / "tests" / "infra"


def run_suite(root: Path, env_name: str, service: str | None, host: str) -> list[dict[str, Any]]:
    """Run the checks; one row per check and target."""
    if not (SUITE / "pytest.ini").is_file():
        raise ToolkitError(f"the verify suite is missing ({SUITE})")
    with tempfile.TemporaryDirectory(prefix="mlgitops-verify-") as tmp:
        report = Path(tmp) / "report.json"
        argv = [sys.executable, "-m", "pytest", "-c", str(SUITE / "pytest.ini"),
                "--rootdir", str(SUITE), str(SUITE), "-q", "--no-header", "-rN",
                "--tb=no", f"--verify-report={report}", f"--hosts={host}",
                f"--mlgitops-env={env_name}"]
        if service:
            argv.append(f"--mlgitops-service={service}")
        proc = subprocess.run(argv, cwd=str(root), capture_output=True, text=True,  # noqa: S603
                              env={**os.environ, "MLGITOPS_ROOT": str(root)}, check=False)
        if not report.is_file():
            tail = (proc.stdout + proc.stderr).strip().splitlines()[-5:]
            raise ToolkitError("the verify suite did not run: " + " | ".join(tail))
        rows: list[dict[str, Any]] = json.loads(report.read_text())
    return rows


def table(rows: list[dict[str, Any]]) -> str:
    width = max([len(r["target"]) for r in rows] + [6]) + 2
    lines = [f"{'CHECK':<18}{'TARGET':<{width}}{'RESULT':<8}DETAIL"]
    for r in rows:
        mark = {"passed": "ok", "failed": "FAIL", "skipped": "skip"}.get(r["outcome"], "?")
        lines.append(f"{r['check']:<18}{r['target']:<{width}}{mark:<8}{r['detail']}")
    failed = [r for r in rows if r["outcome"] == "failed"]
    passed = sum(r["outcome"] == "passed" for r in rows)
    skipped = sum(r["outcome"] == "skipped" for r in rows)
    lines.append("")
    lines.append(f"{passed} passed, {len(failed)} failed, {skipped} skipped")
    lines += hosts_lines(rows)
    lines += [f"FAILED {r['check']} {r['target']}: {r['detail']}" for r in failed]
    return "\n".join(lines)


def hosts_lines(rows: list[dict[str, Any]]) -> list[str]:
    """Where the checks ran, one line per testinfra host: which backend reached which
    targets (``local://``, ``docker://<container>``, ``ssh://...``)."""
    targets: dict[str, list[str]] = {}
    for r in rows:
        if r.get("host"):
            names = targets.setdefault(r["host"], [])
            if r["target"] not in names:
                names.append(r["target"])
    return [f"checked on {host}: {', '.join(names)}" for host, names in targets.items()]


def verify_command(env_name: str = "dev", service: str = "", as_json: bool = False,
                   root: Path | None = None) -> int:
    """Verify the running platform against its specs; 0 all good, 1 a check failed."""
    from runner.operations import open_env
    from runner.verify.backend import platform_host

    env = open_env(root, env_name, quiet=True)  # SpecError before any check runs
    env.store.close()
    rows = run_suite(env.root, env_name, service or None, platform_host(env.platform))
    failed = [r for r in rows if r["outcome"] == "failed"]
    if as_json:
        print(json.dumps({"ok": not failed, "checks": rows}, indent=2))
    else:
        print(table(rows))
    return 1 if failed or not rows else 0
