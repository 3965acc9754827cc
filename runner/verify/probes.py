"""The comparisons behind the verify checks, as functions that return the problems found.

Each returns a list of one-line problems ([] = fine), so a check in ``tests/infra/`` is
``assert not problems, "; ".join(problems)`` and the summary table names what is wrong.
Kept free of testinfra so they are unit-tested on plain data.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

# The addresses a replica must NOT listen on (a check, not a bind).
ALL_INTERFACES = frozenset({"0.0.0.0", "::", "*", "[::]"})  # noqa: S104  # nosec B104


def process_user(user: str | None, expected: str, non_root: bool) -> list[str]:
    """The owner of a replica process against the spec's expectation."""
    if user is None:
        return ["process not running"]
    problems = []
    if user != expected:
        problems.append(f"runs as {user}, expected {expected}")
    if non_root and user == "root":
        problems.append("runs as root (verify.non_root is set)")
    return problems


def listen_addresses(sockets: Iterable[str], port: int, listen: str) -> list[str]:
    """``tcp://addr:port`` listening sockets of ``port`` against the expected address."""
    found = []
    for sock in sockets:
        m = re.match(r"^tcp://(?P<addr>.*):(?P<port>\d+)$", sock)
        if m and int(m["port"]) == port:
            found.append(m["addr"])
    if not found:
        return [f"nothing listens on port {port}"]
    problems = []
    for addr in sorted(set(found)):
        if addr in ALL_INTERFACES and listen not in ALL_INTERFACES:
            problems.append(f"port {port} listens on {addr} (all interfaces), expected {listen}")
        elif addr not in ALL_INTERFACES and addr != listen:
            problems.append(f"port {port} listens on {addr}, expected {listen}")
    return problems


def model_version(info: Any, pinned: int) -> list[str]:
    from runner.runtime.health import reported_version

    got = reported_version(info)
    return [] if got == pinned else [f"/model_info reports model version {got}, pinned {pinned}"]


def metric_names(text: str, wanted: Iterable[str]) -> list[str]:
    """Contract names missing from a /metrics exposition (histograms: their base name)."""
    present = set()
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            present.add(line.split()[2])
        elif line and not line.startswith("#"):
            present.add(re.split(r"[{ ]", line, maxsplit=1)[0])
    missing = [n for n in wanted if n not in present]
    return [f"/metrics lacks {', '.join(missing)}"] if missing else []


def target_up(targets: Mapping[str, Any], service: str, replica: str) -> list[str]:
    """Prometheus' ``/api/v1/targets`` answer: the replica's target exists and is up."""
    for target in targets.get("data", {}).get("activeTargets", []):
        labels = target.get("labels", {})
        if labels.get("service") == service and labels.get("replica") == replica:
            if target.get("health") == "up":
                return []
            return [f"Prometheus target {replica} is {target.get('health')}: "
                    f"{target.get('lastError') or 'no error given'}"]
    return [f"Prometheus has no target for {replica}"]


def file_digests(directory: Path) -> dict[str, str]:
    """sha256 of every ``*.yml`` in ``directory`` by file name ({} when missing)."""
    if not directory.is_dir():
        return {}
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(directory.glob("*.yml"))}


def same_files(rendered: Mapping[str, str], staged: Mapping[str, str], what: str) -> list[str]:
    """Digests of the rendered rule files against the staged ones."""
    problems = [f"{name}: {what} differs from generated/ (edited by hand?)"
                for name in sorted(rendered.keys() & staged.keys())
                if rendered[name] != staged[name]]
    problems += [f"{name}: not staged" for name in sorted(rendered.keys() - staged.keys())]
    problems += [f"{name}: staged, but nothing renders it"
                 for name in sorted(staged.keys() - rendered.keys())]
    return problems


def _seconds(value: Any) -> float:
    """A Prometheus duration ('1m', '90s', '1h30m') or a number of seconds."""
    if isinstance(value, int | float):
        return float(value)
    total = 0.0
    for amount, unit in re.findall(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w|y)", str(value)):
        total += float(amount) * {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400,
                                  "w": 604800, "y": 31536000}[unit]
    return total


def _threshold(expr: str) -> str:
    from runner.runtime.monitoring_config import _threshold as threshold

    return threshold(expr)


def canonical_rules(groups: Iterable[Mapping[str, Any]]) -> list[tuple[Any, ...]]:
    """Alerting rules as comparable tuples: group, name, for, threshold, labels, annotations.

    Both sides go through this: the groups of rendered rule files (``alert``, ``expr``,
    ``for``) and of Prometheus' ``/api/v1/rules`` (``name``, ``query``, ``duration``).
    The expression is compared by its threshold: Prometheus re-prints PromQL in its own
    spelling, so the text itself never matches."""
    out = []
    for group in groups:
        for rule in group.get("rules", []):
            name = rule.get("alert", rule.get("name"))
            if name is None or rule.get("record") or rule.get("type") == "recording":
                continue
            expr = str(rule.get("expr", rule.get("query", "")))
            duration = rule.get("for", rule.get("duration", 0))
            out.append((
                str(group.get("name")), str(name), _seconds(duration), _threshold(expr),
                tuple(sorted((str(k), str(v)) for k, v in (rule.get("labels") or {}).items())),
                tuple(sorted((str(k), str(v))
                             for k, v in (rule.get("annotations") or {}).items())),
            ))
    return sorted(out)


def checksum(rules: list[tuple[Any, ...]]) -> str:
    return hashlib.sha256(json.dumps(rules).encode()).hexdigest()[:16]


def rendered_groups(directory: Path) -> list[dict[str, Any]]:
    """The rule groups of every rendered ``*.yml`` file in ``directory``."""
    import yaml

    groups: list[dict[str, Any]] = []
    for path in sorted(directory.glob("*.yml")):
        groups += (yaml.safe_load(path.read_text()) or {}).get("groups", [])
    return groups


def loaded_rules(rendered: list[dict[str, Any]], live: Mapping[str, Any]) -> list[str]:
    """Prometheus' ``/api/v1/rules`` answer against the rendered groups, by checksum."""
    want = canonical_rules(rendered)
    got = canonical_rules(live.get("data", {}).get("groups", []))
    if want == got:
        return []
    differ = sorted({r[1] for r in set(want) ^ set(got)})
    return [f"Prometheus serves rules {checksum(got)}, rendered {checksum(want)} "
            f"(differ: {', '.join(differ[:3])}{' ...' if len(differ) > 3 else ''})"]


def lock_pins(text: str) -> dict[str, str]:
    """``name==version`` lines of a requirements file, names normalised (PEP 503)."""
    pins = {}
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if "==" in line:
            name, _, version = line.partition("==")
            pins[normalise(name)] = version.strip()
    return pins


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def packages_match(pins: Mapping[str, str], installed: Mapping[str, str]) -> list[str]:
    """Installed versions (normalised name -> version) against the lock's pins."""
    problems = []
    for name, version in sorted(pins.items()):
        have = installed.get(name)
        if have is None:
            problems.append(f"{name} not installed (lock: {version})")
        elif have != version:
            problems.append(f"{name} {have} installed, lock pins {version}")
    return problems


def private_mode(mode: int, path: str, *, directory: bool) -> list[str]:
    """A state path must give others (and the group) nothing: 0700 / 0600."""
    if mode & 0o077:
        want = "0700" if directory else "0600"
        return [f"{path} is {oct(mode & 0o777)}, readable by others (want {want})"]
    return []
