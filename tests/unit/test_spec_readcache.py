"""The spec cache under the state directory: parsed files and cron verdicts, by content.

A cached answer must be exactly what the work would give, and a doubt must mean doing the
work again: a changed file, another croniter, a cache file others could write.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from runner.errors import SpecError
from runner.spec import load_platform
from runner.spec.checks import cron_problem
from runner.spec.readcache import CronVerdicts, SpecReadCache

REPO = Path(__file__).resolve().parents[2]


def _repo(tmp_path: Path) -> tuple[Path, Path]:
    """A checkout with the real specs (projects linked in), and a cache directory."""
    root = tmp_path / "repo"
    shutil.copytree(REPO / "specs", root / "specs")
    (root / "projects").symlink_to(REPO / "projects")
    return root, tmp_path / "cache"


def test_cron_verdicts_are_remembered_across_loads(tmp_path: Path) -> None:
    calls: list[str] = []

    def judge(expr: str) -> str | None:
        calls.append(expr)
        return cron_problem(expr)

    cache = SpecReadCache(tmp_path)
    verdicts = CronVerdicts(cache, judge)
    assert verdicts.check("0 3 * * *") is None
    assert verdicts.check("61 * * * *") == "invalid cron expression '61 * * * *'"
    cache.save()

    def refuse(expr: str) -> str | None:
        raise AssertionError(f"judged again: {expr}")

    again = CronVerdicts(SpecReadCache(tmp_path), refuse)
    assert again.check("0 3 * * *") is None
    assert again.check("61 * * * *") == "invalid cron expression '61 * * * *'"
    assert calls == ["0 3 * * *", "61 * * * *"]


def test_a_verdict_of_another_croniter_is_not_trusted(tmp_path: Path) -> None:
    cache = SpecReadCache(tmp_path)
    CronVerdicts(cache, lambda expr: None).check("61 * * * *")  # a wrong verdict, cached
    cache.save()
    text = (tmp_path / "specs.jsonl").read_text()
    (tmp_path / "specs.jsonl").write_text(text.replace("\tcroniter ", "\tcroniter 1", 1))
    fresh = CronVerdicts(SpecReadCache(tmp_path), cron_problem)
    assert fresh.check("61 * * * *") == "invalid cron expression '61 * * * *'"


def test_a_cache_others_can_write_is_ignored(tmp_path: Path) -> None:
    cache = SpecReadCache(tmp_path)
    CronVerdicts(cache, lambda expr: None).check("61 * * * *")
    cache.save()
    (tmp_path / "specs.jsonl").chmod(0o666)
    assert CronVerdicts(SpecReadCache(tmp_path), cron_problem).check("61 * * * *")


def test_a_bad_schedule_is_refused_with_the_cache_warm(tmp_path: Path) -> None:
    root, cache = _repo(tmp_path)
    load_platform(root, "dev", cache_dir=cache)  # fills the cache with the valid schedules
    spec = root / "specs" / "services" / "bankchurn.yaml"
    spec.write_text(spec.read_text().replace('schedule: "0 3 1 * *"', 'schedule: "0 3 1 * 9"'))
    with pytest.raises(SpecError, match=r"retrain\.schedule: invalid cron expression"):
        load_platform(root, "dev", cache_dir=cache)
    with pytest.raises(SpecError, match=r"retrain\.schedule: invalid cron expression"):
        load_platform(root, "dev", cache_dir=cache)  # and again, from the cached verdict


def _count_reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    reads: list[str] = []
    original = Path.read_bytes

    def read_bytes(self: Path) -> bytes:
        reads.append(self.name)
        return original(self)

    monkeypatch.setattr(Path, "read_bytes", read_bytes)
    return reads


def test_settled_unchanged_files_are_not_read_again(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import runner.spec.readcache as readcache

    root, cache = _repo(tmp_path)
    monkeypatch.setattr(readcache, "SETTLED_NS", 0)  # every file counts as settled
    load_platform(root, "dev", cache_dir=cache)
    reads = _count_reads(monkeypatch)
    load_platform(root, "dev", cache_dir=cache)
    assert reads == ["dev.yaml"]  # only the overlay, whose key positions are always checked
    spec = root / "specs" / "services" / "telecom.yaml"
    spec.write_text(spec.read_text().replace("warning: 0.01,", "warning: 0.02,", 1))
    platform = load_platform(root, "dev", cache_dir=cache)
    assert reads == ["dev.yaml", "dev.yaml", "telecom.yaml"]
    assert platform.services["telecom"].alerts.error_rate.warning == 0.02


def test_a_file_changed_just_now_is_always_read(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Within the clock's granularity an edit may keep size and mtime: no stat vouches for it.
    root, cache = _repo(tmp_path)
    load_platform(root, "dev", cache_dir=cache)
    reads = _count_reads(monkeypatch)
    load_platform(root, "dev", cache_dir=cache)
    assert "telecom.yaml" in reads  # copied a moment ago: read, then parsed from the cache


def _validated_from_dicts(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Names of the services validated from a dict (not from their cached JSON text)."""
    from runner.spec.models import ServiceSpec

    seen: list[str] = []
    original = ServiceSpec.model_validate.__func__  # type: ignore[attr-defined]

    def model_validate(cls: type[ServiceSpec], data: object, **kw: object) -> ServiceSpec:
        seen.append(data.get("name", "?") if isinstance(data, dict) else "?")
        return original(cls, data, **kw)  # type: ignore[no-any-return]

    monkeypatch.setattr(ServiceSpec, "model_validate", classmethod(model_validate))
    return seen


@pytest.mark.parametrize("env", ["dev", "staging", "prod"])
def test_a_warm_load_builds_the_same_platform_as_a_cold_one(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, env: str) -> None:
    import runner.spec.readcache as readcache

    root, cache = _repo(tmp_path)
    monkeypatch.setattr(readcache, "SETTLED_NS", 0)
    cold = load_platform(root, env)  # no cache at all
    load_platform(root, env, cache_dir=cache)
    from_dicts = _validated_from_dicts(monkeypatch)
    warm = load_platform(root, env, cache_dir=cache)
    assert warm == cold
    # Services the overlay changes are validated from the merged dict; the others from the
    # JSON text they were cached as (the fast path this test holds to the cold result).
    assert sorted(from_dicts) == ([] if env == "dev" else sorted(cold.services))
    if env != "dev":
        assert {s.replicas for s in warm.services.values()} == {2 if env == "staging" else 3}


def test_a_cached_spec_that_fails_validation_reports_the_same_problems(tmp_path: Path) -> None:
    root, cache = _repo(tmp_path)
    spec = root / "specs" / "services" / "bankchurn.yaml"
    text = spec.read_text().replace("replicas: 1", "replicas: many\nreplicaz: 2", 1)
    assert text != spec.read_text()
    spec.write_text(text)
    problems = []
    for cache_dir in (None, cache, cache):  # cold, then twice from the cache
        with pytest.raises(SpecError) as err:
            load_platform(root, "dev", cache_dir=cache_dir)
        problems.append(str(err.value))
    assert "replicas" in problems[0] and "replicaz" in problems[0]
    assert problems[1] == problems[0] and problems[2] == problems[0]


@pytest.mark.parametrize("damage", ["project gone", "smoke request gone", "bad value"])
def test_settled_cached_specs_report_the_same_problems_as_a_cold_load(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, damage: str) -> None:
    import runner.spec.readcache as readcache

    root, cache = _repo(tmp_path)
    monkeypatch.setattr(readcache, "SETTLED_NS", 0)
    projects = root / "projects"
    projects.unlink()
    shutil.copytree(REPO / "projects" / "telecom" / "tests", projects / "telecom" / "tests")
    for name in ("bankchurn", "carvision"):
        shutil.copytree(REPO / "projects" / name / "tests", projects / name / "tests")
    spec = root / "specs" / "services" / "telecom.yaml"
    if damage == "bad value":
        spec.write_text(spec.read_text().replace("replicas: 1", "replicas: many", 1))
    else:
        load_platform(root, "dev", cache_dir=cache)  # cached while valid
    if damage == "project gone":
        shutil.rmtree(projects / "telecom")
    elif damage == "smoke request gone":
        (projects / "telecom" / "tests" / "fixtures" / "sample_request.json").unlink()
    problems = []
    for cache_dir in (None, cache, cache):  # cold, then twice from the settled cache
        with pytest.raises(SpecError) as err:
            load_platform(root, "dev", cache_dir=cache_dir)
        problems.append(str(err.value))
    assert "telecom.yaml:" in problems[0], problems[0]
    assert problems[1] == problems[0] and problems[2] == problems[0]
