"""Replica logs (issue 14 item 1): written rotated by the replica's handler, read back merged
in time order with each line's replica, filtered by --since/--tail/--grep, followed."""

from __future__ import annotations

import logging
import os
import threading
import time
from pathlib import Path

import pytest

from runner.commands.logs import matching, parse_since
from runner.errors import PermanentError
from runner.runtime import logfiles
from runner.runtime.local import LocalRuntime
from runner.serving.logfile import LINE_FORMAT, IsoFormatter, ReplicaLogHandler


def _logger(path: Path, name: str, **kw: object) -> tuple[logging.Logger, ReplicaLogHandler]:
    handler = ReplicaLogHandler(path, **kw)  # type: ignore[arg-type]
    handler.setFormatter(IsoFormatter(LINE_FORMAT))
    log = logging.getLogger(f"test.{name}")
    log.propagate = False
    log.handlers = [handler]
    log.setLevel(logging.INFO)
    return log, handler


def test_lines_of_every_replica_merge_in_time_order_with_their_names(tmp_path: Path) -> None:
    folder = tmp_path / "run" / "services" / "bankchurn"
    a, ha = _logger(folder / "bankchurn-v1-aaaa-01.log", "a")
    b, hb = _logger(folder / "bankchurn-v1-aaaa-02.log", "b")
    a.info('127.0.0.1:1 - "POST /predict HTTP/1.1" 200')
    time.sleep(0.01)
    b.info('127.0.0.1:2 - "POST /predict HTTP/1.1" 200')
    time.sleep(0.01)
    a.info("GET /health 200")
    for h in (ha, hb):
        h.close()
    (folder / "bankchurn-v1-aaaa-02.out").write_text("Traceback (most recent call last):\n")
    runtime = LocalRuntime(tmp_path, tmp_path)
    lines = list(runtime.logs("bankchurn"))
    assert [line.replica for line in lines if "predict" in line.text] == [
        "bankchurn-v1-aaaa-01", "bankchurn-v1-aaaa-02"]
    assert [line.at for line in lines] == sorted(line.at for line in lines)
    assert any(line.text.startswith("Traceback") for line in lines)  # crash output too
    grepped = list(matching(runtime.logs("bankchurn"), "predict"))
    assert len(grepped) == 2
    assert [line.text for line in runtime.logs("bankchurn", tail=1)] == [lines[-1].text]
    assert list(runtime.logs("bankchurn", tail=0)) == []


def test_since_keeps_recent_lines_and_continuations_follow_their_line(tmp_path: Path) -> None:
    path = tmp_path / "svc-v1-x-01.log"
    old = "2020-01-01T00:00:00.000+00:00 INFO x old line"
    new = time.strftime("%Y-%m-%dT%H:%M:%S.000%z")
    new = f"{new[:-2]}:{new[-2:]} ERROR x new line"
    path.write_text(f"{old}\n  old continuation\n{new}\n  new continuation\n")
    lines = logfiles.read(tmp_path, since=time.time() - 60)
    assert [line.text for line in lines] == [new, "  new continuation"]
    assert {line.replica for line in lines} == {"svc-v1-x-01"}


def test_handler_rotates_by_size_and_drops_rotated_files_past_the_age(tmp_path: Path) -> None:
    path = tmp_path / "svc-v1-x-01.log"
    log, handler = _logger(path, "rot", max_bytes=400, backups=3)
    stale = tmp_path / "svc-v1-x-01.log.3"
    stale.write_text("ancient\n")
    month_ago = time.time() - 31 * 86400
    os.utime(stale, (month_ago, month_ago))
    for i in range(40):
        log.info("line %d %s", i, "x" * 40)
    handler.close()
    rotated = sorted(p.name for p in tmp_path.glob("svc-v1-x-01.log.*"))
    assert rotated and len(rotated) <= 3
    assert all(p.stat().st_size <= 400 + 100 for p in tmp_path.glob("svc-v1-x-01.log*"))
    assert all("ancient" not in p.read_text() for p in tmp_path.glob("*.log*"))
    assert (path.stat().st_mode & 0o777) == 0o600
    # Read back across rotations: the newest line is last, no line twice.
    texts = [line.text.split(" INFO ")[1] for line in logfiles.read(tmp_path)]
    assert texts[-1].startswith("test.rot line 39 ")
    assert len(texts) == len(set(texts))


def test_prune_deletes_logs_of_replicas_gone_longer_than_30_days(tmp_path: Path) -> None:
    gone = tmp_path / "svc-v1-old-01.log"
    gone.write_text("x\n")
    kept = tmp_path / "svc-v1-new-01.log"
    kept.write_text("y\n")
    month_ago = time.time() - 31 * 86400
    os.utime(gone, (month_ago, month_ago))
    assert logfiles.prune(tmp_path) == [gone]
    assert kept.exists()


def test_follow_yields_new_lines_new_replicas_and_survives_rotation(tmp_path: Path) -> None:
    first = tmp_path / "svc-v1-x-01.log"
    first.write_text("2026-01-01T00:00:00.000+00:00 INFO x before\n")
    got: list[str] = []
    done = threading.Event()

    def reader() -> None:
        for line in logfiles.follow(tmp_path, stop=done.is_set, poll_s=0.02):
            got.append(f"{line.replica}|{line.text}")

    thread = threading.Thread(target=reader, daemon=True)
    thread.start()
    time.sleep(0.1)
    with first.open("a") as fh:
        fh.write("after one\n")
    (tmp_path / "svc-v1-x-02.log").write_text("second replica\n")
    time.sleep(0.2)
    first.rename(tmp_path / "svc-v1-x-01.log.1")  # rotation: a new file takes the name
    first.write_text("after rotation\n")
    deadline = time.monotonic() + 5
    while len(got) < 3 and time.monotonic() < deadline:
        time.sleep(0.02)
    done.set()
    thread.join(timeout=2)
    assert got == ["svc-v1-x-01|after one", "svc-v1-x-02|second replica",
                   "svc-v1-x-01|after rotation"]


@pytest.mark.parametrize(("text", "ago"), [("30s", 30), ("10m", 600), ("2h", 7200),
                                           ("1d", 86400), ("45", 45)])
def test_since_durations(text: str, ago: float) -> None:
    assert parse_since(text, now=1000000.0) == pytest.approx(1000000.0 - ago)


def test_since_rejects_garbage_in_one_line() -> None:
    with pytest.raises(PermanentError, match="--since 'yesterday'"):
        parse_since("yesterday")
    assert parse_since("") is None


@pytest.mark.parametrize("line, expected", [
    ("2026-11-30T10:00:00.250+00:00 INFO predict", "2026-11-30T10:00:00.250+00:00"),
    ("ts=2026-11-30T10:00:00.250Z caller=main.go:1 level=info", "2026-11-30T10:00:00.250+00:00"),
    ("[2026-11-30 10:00:00 +0000] [42] [INFO] Listening at: http://127.0.0.1:5000",
     "2026-11-30T10:00:00+00:00"),
    ("2026-11-30 10:00:00,250 +0000 INFO mlflow.store", "2026-11-30T10:00:00.250+00:00"),
])
def test_daemon_log_times_are_read_in_each_daemons_format(line: str, expected: str) -> None:
    from datetime import datetime

    assert logfiles.stamp_of(line) == datetime.fromisoformat(expected).timestamp()


def test_a_continuation_line_has_no_time_of_its_own() -> None:
    assert logfiles.stamp_of("INFO:     127.0.0.1:5000 - GET /health") is None
    assert logfiles.stamp_of("  File \"x.py\", line 3, in <module>") is None


def test_a_daemon_log_over_the_limit_is_rotated_before_the_daemon_starts(tmp_path: Path) -> None:
    log = tmp_path / "run" / "mlflow.log"
    log.parent.mkdir()
    log.write_text("x" * 100)
    assert not logfiles.rotate_before_start(log, max_bytes=100, backups=2)  # not over: kept
    for generation in ("a", "b", "c"):
        log.write_text(generation * 101)
        assert logfiles.rotate_before_start(log, max_bytes=100, backups=2)
    assert not log.exists()  # the daemon's spawn creates it afresh
    kept = sorted(p.name for p in log.parent.iterdir())
    assert kept == ["mlflow.log.1", "mlflow.log.2"]  # the oldest generation dropped
    assert (log.parent / "mlflow.log.1").read_text() == "c" * 101
    assert (log.parent / "mlflow.log.2").read_text() == "b" * 101


def test_inv_logs_of_a_daemon_reads_only_its_own_files_in_time_order(tmp_path: Path) -> None:
    from runner.commands.logs import DaemonLogs

    run = tmp_path / "run"
    run.mkdir()
    (run / "prometheus.log.1").write_text("ts=2026-11-30T10:00:00Z level=info msg=old\n")
    (run / "prometheus.log").write_text("ts=2026-11-30T10:05:00Z level=info msg=new\n"
                                        "  a continuation\n")
    (run / "alertmanager.log").write_text("ts=2026-11-30T10:01:00Z level=info msg=other\n")
    lines = list(DaemonLogs(run, "prometheus").logs("prometheus"))
    assert [(line.replica, line.text.split("msg=")[-1]) for line in lines] == [
        ("prometheus", "old"), ("prometheus", "new"), ("prometheus", "  a continuation")]
    since = datetime_ts("2026-11-30T10:02:00+00:00")
    assert [line.text for line in DaemonLogs(run, "prometheus").logs("p", since=since)] == [
        "ts=2026-11-30T10:05:00Z level=info msg=new", "  a continuation"]


def datetime_ts(text: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(text).timestamp()
