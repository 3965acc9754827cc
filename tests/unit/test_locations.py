"""One rule for the repository root and the state directory (runner.locations), and every
entry point that used to find them its own way follows it, the spec's state_dir included."""

from __future__ import annotations

from pathlib import Path

import pytest

from runner import locations


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("MLGITOPS_ROOT", raising=False)
    monkeypatch.delenv("MLGITOPS_STATE_DIR", raising=False)
    (tmp_path / "specs").mkdir()
    (tmp_path / "specs" / "platform.yaml").write_text(
        "# platform\nname: demo\nstate_dir: 'var/state'  # runtime files\n")
    (tmp_path / "projects" / "demo").mkdir(parents=True)
    return tmp_path


def test_root_is_found_from_below_and_env_wins(repo: Path, monkeypatch: pytest.MonkeyPatch,
                                               tmp_path_factory: pytest.TempPathFactory) -> None:
    assert locations.repo_root(repo / "projects" / "demo") == repo.resolve()
    monkeypatch.chdir(repo / "projects")
    assert locations.repo_root() == repo.resolve()
    other = tmp_path_factory.mktemp("other")
    monkeypatch.setenv("MLGITOPS_ROOT", str(other))
    assert locations.repo_root(repo) == other.resolve()


def test_a_dvc_checkout_without_specs_is_a_root(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MLGITOPS_ROOT", raising=False)
    (tmp_path / ".dvc").mkdir()
    (tmp_path / "projects" / "x").mkdir(parents=True)
    assert locations.repo_root(tmp_path / "projects" / "x") == tmp_path.resolve()


def test_state_dir_follows_the_spec_then_the_environment(repo: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    assert locations.configured_state_dir(repo) == "var/state"
    assert locations.state_path(repo) == (repo / "var" / "state").resolve()
    assert locations.state_path(repo, configured="/abs/st") == Path("/abs/st")
    monkeypatch.setenv("MLGITOPS_STATE_DIR", str(repo / "elsewhere"))
    assert locations.state_path(repo) == (repo / "elsewhere").resolve()


def test_a_broken_or_missing_spec_falls_back_to_the_default(tmp_path: Path) -> None:
    assert locations.configured_state_dir(tmp_path) == ".state"
    (tmp_path / "specs").mkdir()
    (tmp_path / "specs" / "platform.yaml").write_bytes(b"a: &x [*x]\nstate_dir:\n\xff")
    assert locations.configured_state_dir(tmp_path) == ".state"


def test_every_entry_point_honours_the_spec_state_dir(repo: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    from runner.ml import registry
    from runner.playbook.output import default_state_dir
    from runner.serving.config import ServingConfig
    from runner.state import paths

    want = (repo / "var" / "state").resolve()
    monkeypatch.chdir(repo)
    assert paths.state_dir() == want
    assert registry.state_dir(repo) == want
    assert default_state_dir(repo) == want
    (repo / "projects" / "demo" / "service.py").write_text("")
    config = ServingConfig.from_env({"MLGITOPS_SERVICE": "demo",
                                     "MLGITOPS_PROJECT_DIR": str(repo / "projects" / "demo"),
                                     "PORT": "8000"})
    assert config.state_dir == want
    assert want.stat().st_mode & 0o777 == 0o700  # created private by the state package
