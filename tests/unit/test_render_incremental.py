"""Render only what changed: reuse, rewrite nothing unchanged, and agree with a full render."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from runner.render import render_all
from runner.render.generated_files import Change, diff_dir, scan, write_dir
from runner.render.incremental import apply_render, plan_render, service_keys
from runner.render.render_command import SCHEMA_DIR, render_command, write_schemas
from runner.spec import load_platform

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "repo"
    shutil.copytree(ROOT / "specs", root / "specs")
    (root / "projects").symlink_to(ROOT / "projects")
    monkeypatch.setenv("MLGITOPS_STATE_DIR", str(tmp_path / "state"))
    return root


def _inodes(directory: Path) -> dict[str, tuple[int, int]]:
    return {p.relative_to(directory).as_posix(): (p.stat().st_ino, p.stat().st_mtime_ns)
            for p in directory.rglob("*") if p.is_file()}


def _edit(root: Path, old: str, new: str, service: str = "telecom") -> None:
    spec = root / "specs" / "services" / f"{service}.yaml"
    text = spec.read_text()
    assert old in text
    spec.write_text(text.replace(old, new, 1))


def test_one_changed_threshold_rewrites_only_that_services_files(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = repo / "generated" / "dev"
    assert render_command("dev", root=repo) == 0
    before = _inodes(out)
    assert render_command("dev", root=repo) == 0  # nothing changed: nothing written
    assert _inodes(out) == before
    assert capsys.readouterr().out.splitlines()[-1].endswith(": 0 changed")

    _edit(repo, "error_rate:    {warning: 0.01", "error_rate:    {warning: 0.02")
    platform = load_platform(repo, "dev")
    plan = plan_render(platform, out, Path(os.environ["MLGITOPS_STATE_DIR"]) / "cache"
                       / "render-dev.json")
    assert sorted(plan.rendered.services) == ["telecom"]  # the others were reused unrendered
    apply_render(plan)
    after = _inodes(out)
    rewritten = sorted(rel for rel in after if after[rel] != before.get(rel))
    assert rewritten and all("telecom" in rel for rel in rewritten), rewritten
    assert "prometheus/rules/telecom.yml" in rewritten
    assert render_command("dev", check_only=True, root=repo) == 0  # same as a full render


def test_reuse_never_hides_a_hand_edit_a_deletion_or_a_stray_file(repo: Path) -> None:
    out = repo / "generated" / "dev"
    assert render_command("dev", root=repo) == 0
    rules = out / "prometheus" / "rules" / "bankchurn.yml"
    rules.write_text("edited by hand\n")
    (out / "k8s" / "carvision.yaml").unlink()
    (out / "k8s" / "stray.yaml").write_text("x: 1\n")
    assert render_command("dev", root=repo) == 0
    assert render_command("dev", check_only=True, root=repo) == 0
    assert rules.read_text() != "edited by hand\n"
    assert (out / "k8s" / "carvision.yaml").is_file()  # deleted by hand: rendered again
    assert not (out / "k8s" / "stray.yaml").exists()


def test_incremental_output_equals_a_full_render(repo: Path) -> None:
    out = repo / "generated" / "dev"
    assert render_command("dev", root=repo) == 0
    _edit(repo, "replicas: 1", "replicas: 2", "bankchurn")
    (repo / "specs" / "services" / "carvision.yaml").unlink()  # its files must go
    assert render_command("dev", root=repo) == 0
    full = render_all(load_platform(repo, "dev"))
    assert {rel: (out / rel).read_text() for rel in scan(out)} == full
    assert not any("carvision" in rel for rel in full)


def test_keys_change_with_the_spec_and_the_code(repo: Path) -> None:
    platform = load_platform(repo, "dev")
    keys = service_keys(platform, "code-1")
    assert keys == service_keys(platform, "code-1")
    assert service_keys(platform, "code-2")["bankchurn"] != keys["bankchurn"]
    _edit(repo, "replicas: 1", "replicas: 3", "bankchurn")
    changed = service_keys(load_platform(repo, "dev"), "code-1")
    assert changed["bankchurn"] != keys["bankchurn"]
    assert changed["telecom"] == keys["telecom"]


def test_writer_diffs_writes_keeps_and_prunes(tmp_path: Path) -> None:
    folder = tmp_path / "out"
    assert write_dir(folder, {"a.txt": "1\n", "sub/b.txt": "2\n"}) == ["a.txt", "sub/b.txt"]
    mtime = (folder / "a.txt").stat().st_mtime_ns
    assert diff_dir(folder, {"a.txt": "1\n", "sub/b.txt": "3\n", "c.txt": "4\n"}) == [
        Change("create", "c.txt", None, "4\n"),
        Change("update", "sub/b.txt", "2\n", "3\n"),
    ]
    assert diff_dir(folder, {"a.txt": "1\n"}) == [Change("delete", "sub/b.txt", "2\n", None)]
    assert diff_dir(folder, {"a.txt": "1\n"}, keep={"sub/b.txt"}) == []
    assert diff_dir(folder, {"a.txt": "1\n"}, prune=False) == []
    assert write_dir(folder, {"a.txt": "1\n"}) == ["sub/b.txt"]
    assert not (folder / "sub").exists()  # emptied directories go too
    assert (folder / "a.txt").stat().st_mtime_ns == mtime  # unchanged: not rewritten


def test_write_schemas_writes_once(tmp_path: Path) -> None:
    written = write_schemas(tmp_path)
    assert sorted(Path(p).name for p in written) == [
        "environment.schema.json",
        "platform.schema.json",
        "service.schema.json",
    ]
    assert write_schemas(tmp_path) == []
    cache = tmp_path / "cache"
    assert write_schemas(tmp_path, cache) == []
    (tmp_path / SCHEMA_DIR / "service.schema.json").write_text("{}\n")
    assert write_schemas(tmp_path, cache) == ["service.schema.json"]
    assert write_schemas(tmp_path, cache) == []


def test_compiled_templates_cache_survives_its_folder_vanishing(tmp_path: Path) -> None:
    from runner.render.template_env import TEMPLATES_DIR, cache_bytecode, environment

    env = environment(str(TEMPLATES_DIR))
    cache_bytecode(tmp_path / "bc")  # no-op when an earlier render set one already
    assert env.bytecode_cache is not None
    shutil.rmtree(tmp_path / "bc", ignore_errors=True)
    env.cache.clear()  # force loading (and dumping) again
    assert env.get_template("k8s/hpa.yaml.j2") is not None


def test_a_services_files_do_not_depend_on_the_other_services(repo: Path) -> None:
    # What reusing a service's files rests on: its files are the same whoever else exists.
    from runner.render.artifacts import render_parts

    platform = load_platform(repo, "dev")
    full = render_parts(platform)
    alone = platform.model_copy(update={"services": {"telecom": platform.services["telecom"]}})
    assert render_parts(alone).services["telecom"] == full.services["telecom"]
    assert render_parts(platform, skip={"bankchurn"}).services.keys() == {"carvision", "telecom"}
