"""Prometheus targets of swarm tasks (runner.runtime.swarm_targets): written only when the
running tasks differ from those listed, each task at the admin port its container wrote
down. The swarm runtime wrote none before; inv verify on a real swarm found it
(tests/integration/test_swarm_stack.py reads the real file)."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import pytest

from runner.runtime import swarm_targets
from runner.runtime.base import ReplicaFact


def _task(replica: str, *, running: bool = True, container: str = "") -> ReplicaFact:
    return ReplicaFact(service="bankchurn", replica=replica, pid=0, port=8001, admin_port=8001,
                       spec_hash="h", model_name="m", model_version=1, started_at=0.0,
                       running=running, log=container or f"c-{replica}")


PORTS = {"c-bankchurn.1.aaa": 41001, "c-bankchurn.1.bbb": 41002}


def _read(container: str) -> int | None:
    return PORTS.get(container)


def _file(tmp_path: Path) -> list[dict]:
    return json.loads((tmp_path / "bankchurn.json").read_text())


def test_each_running_task_is_listed_at_its_own_admin_port(tmp_path: Path) -> None:
    tasks = [_task("bankchurn.1.aaa"), _task("bankchurn.1.bbb"),
             _task("bankchurn.1.old", running=False)]
    assert swarm_targets.sync(tmp_path, "bankchurn", tasks, _read) is True
    assert _file(tmp_path) == [
        {"targets": ["127.0.0.1:41001"],
         "labels": {"service": "bankchurn", "replica": "bankchurn.1.aaa"}},
        {"targets": ["127.0.0.1:41002"],
         "labels": {"service": "bankchurn", "replica": "bankchurn.1.bbb"}},
    ]
    assert list(tmp_path.iterdir()) == [tmp_path / "bankchurn.json"]  # no temporary left


def test_unchanged_tasks_do_not_rewrite_and_a_replaced_task_does(tmp_path: Path) -> None:
    calls: list[str] = []

    def counting(container: str) -> int | None:
        calls.append(container)
        return _read(container)

    swarm_targets.sync(tmp_path, "bankchurn", [_task("bankchurn.1.aaa")], counting)
    assert swarm_targets.sync(tmp_path, "bankchurn", [_task("bankchurn.1.aaa")], counting) is False
    assert calls == ["c-bankchurn.1.aaa"]  # the second read looked at the file only
    # The swarm replaced the task on its own: the file follows.
    assert swarm_targets.sync(tmp_path, "bankchurn", [_task("bankchurn.1.bbb")], counting)
    assert [g["labels"]["replica"] for g in _file(tmp_path)] == ["bankchurn.1.bbb"]


def test_a_task_whose_port_is_unknown_is_left_out_and_retried(tmp_path: Path) -> None:
    tasks = [_task("bankchurn.1.aaa"), _task("bankchurn.1.new", container="elsewhere")]
    assert swarm_targets.sync(tmp_path, "bankchurn", tasks, _read)
    assert [g["labels"]["replica"] for g in _file(tmp_path)] == ["bankchurn.1.aaa"]
    PORTS["elsewhere"] = 41003  # it bound its admin port since
    try:
        assert swarm_targets.sync(tmp_path, "bankchurn", tasks, _read)
        assert len(_file(tmp_path)) == 2
    finally:
        del PORTS["elsewhere"]


def test_no_task_left_empties_the_file_and_no_file_is_made_for_nothing(tmp_path: Path) -> None:
    assert swarm_targets.sync(tmp_path, "bankchurn", [], _read) is False
    assert not (tmp_path / "bankchurn.json").exists()
    swarm_targets.sync(tmp_path, "bankchurn", [_task("bankchurn.1.aaa")], _read)
    assert swarm_targets.sync(tmp_path, "bankchurn", [], _read) is True
    assert _file(tmp_path) == []


def _tar(name: str, data: bytes) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo(name)
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


@pytest.mark.parametrize(("content", "port"), [(b"41001\n", 41001), (b"", None),
                                                (b"nope", None), (b"70000", None)])
def test_admin_port_reads_the_file_out_of_the_engine_archive(monkeypatch, content, port):
    class Api:
        def get_archive(self, container: str, path: str) -> tuple[list[bytes], dict]:
            assert path == swarm_targets.ADMIN_PORT_FILE
            data = _tar("mlgitops-admin-port", content)
            return [data[:100], data[100:]], {}  # the SDK streams it in chunks

    class Client:
        api = Api()

    monkeypatch.setattr(swarm_targets, "client", Client)
    assert swarm_targets.admin_port("c1") == port


def test_the_file_is_the_one_the_replica_writes() -> None:
    from runner.serving.healthcheck import admin_port_file

    assert Path(swarm_targets.ADMIN_PORT_FILE).name == admin_port_file().name
