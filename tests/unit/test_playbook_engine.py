"""Playbook engine behaviour: keywords, blocks, handlers, tags, check mode, recap, event log."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path
from typing import Any

import pytest

from runner.errors import PlaybookError
from runner.playbook import RunResult, run_playbook

FIXTURES = Path(__file__).parent / "playbooks"


def run(tmp_path: Path, text: str, extra: dict[str, Any] | None = None,
        **kw: Any) -> tuple[RunResult, str]:
    path = tmp_path / "pb.yaml"
    path.write_text(text)
    out = io.StringIO()
    result = run_playbook(path, extra, output=out, state_dir=tmp_path / "state", root=tmp_path,
                          **kw)
    return result, out.getvalue()


def statuses(result: RunResult) -> list[tuple[str, str]]:
    return [(r.name, r.status) for r in result.records]


# -- idempotence: check changes nothing, apply changes, re-apply reports no change ------
@pytest.mark.parametrize(
    ("fixture", "outputs"),
    [
        ("template.yaml", ["out/a.txt", "out/b.txt", "out/static.txt"]),
        ("command_creates.yaml", ["out/made.txt"]),
    ],
)
def test_check_apply_reapply(fixture: str, outputs: list[str], tmp_path: Path) -> None:
    path = FIXTURES / "idempotence" / fixture
    common = dict(output=None, state_dir=tmp_path / "state", root=tmp_path)
    extra = {"python": sys.executable}

    check = run_playbook(path, extra, check=True, diff=True, **common)
    assert check.ok and check.stats.changed >= 1
    assert not any((tmp_path / o).exists() for o in outputs), "check mode wrote files"

    apply = run_playbook(path, extra, **common)
    assert apply.ok and apply.stats.changed == check.stats.changed
    assert all((tmp_path / o).exists() for o in outputs)

    again = run_playbook(path, extra, **common)
    assert again.ok and again.stats.changed == 0, statuses(again)

    recheck = run_playbook(path, extra, check=True, **common)
    assert recheck.stats.changed == 0


def test_template_content_mode_and_diff(tmp_path: Path) -> None:
    path = FIXTURES / "idempotence" / "template.yaml"
    out = io.StringIO()
    run_playbook(path, output=out, diff=True, state_dir=tmp_path / "s", root=tmp_path)
    text = (tmp_path / "out" / "b.txt").read_text()
    assert text == "hello b from idempotence\nline 0\nline 1\nline 2\n"
    assert (tmp_path / "out" / "b.txt").stat().st_mode & 0o777 == 0o640
    assert "+++ out/b.txt" in out.getvalue() and "+hello b from idempotence" in out.getvalue()
    # A changed source shows a real before/after diff and is written again.
    (tmp_path / "out" / "a.txt").write_text("stale\n")
    out = io.StringIO()
    result = run_playbook(path, output=out, diff=True, state_dir=tmp_path / "s", root=tmp_path)
    assert result.stats.changed == 1
    assert "-stale" in out.getvalue() and "+hello a from idempotence" in out.getvalue()


def test_check_mode_still_sets_facts_and_skips_side_effects(tmp_path: Path) -> None:
    result, out = run(tmp_path, """
- name: check
  tasks:
    - set_fact: {target: "{{ root }}/touched"}
    - command: ["touch", "{{ target }}"]
    - assert: {that: "target.endswith('touched')"}
""", check=True)
    assert result.ok and not (tmp_path / "touched").exists()
    assert "check mode: would run touch" in out
    assert "(check mode)" in out.splitlines()[0]


# -- expressions ------------------------------------------------------------------------
def test_native_values_and_strings(tmp_path: Path) -> None:
    result, _ = run(tmp_path, """
- name: native
  vars:
    nums: [1, 2, 3]
    port: 8001
    url: "http://127.0.0.1:{{ port }}"
  tasks:
    - set_fact:
        as_list: "{{ nums | map('int') | list }}"
        as_int: "{{ port + 1 }}"
        as_text: "port {{ port }}"
        nested: {a: "{{ nums[0] }}", b: ["{{ url }}/health"]}
""", {"port": 9000})
    facts = result.facts
    assert facts["as_list"] == [1, 2, 3]
    assert facts["as_int"] == 9001  # -e wins over play vars
    assert facts["as_text"] == "port 9000"
    assert facts["nested"] == {"a": 1, "b": ["http://127.0.0.1:9000/health"]}


@pytest.mark.parametrize(
    "expr",
    [
        "{{ ''.__class__ }}",
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ lipsum.__globals__ }}",
        "{{ nums.__class__.__base__ }}",
    ],
)
def test_sandbox_blocks_internals(expr: str, tmp_path: Path) -> None:
    result, out = run(tmp_path, f"""
- name: sandbox
  vars: {{nums: [1]}}
  tasks:
    - set_fact: {{x: "{expr}"}}
""")
    assert result.exit_code == 1
    assert "unsafe" in result.failures[0].msg, result.failures[0].msg


def test_undefined_variable_fails_the_task(tmp_path: Path) -> None:
    result, out = run(tmp_path, """
- name: strict
  tasks:
    - debug: {msg: "{{ missing_var }}"}
""")
    assert result.exit_code == 1
    assert "'missing_var' is undefined" in out


# -- loops, when, register ----------------------------------------------------------------
def test_loop_when_per_item_and_register(tmp_path: Path) -> None:
    result, out = run(tmp_path, """
- name: loops
  vars:
    services: [{name: a, port: 1}, {name: b, port: 2}, {name: c, port: 3}]
  tasks:
    - name: Port of {{ svc.name }}
      debug: {msg: "{{ svc.name }}={{ svc.port }}"}
      loop: "{{ services }}"
      loop_control: {loop_var: svc, label: "{{ svc.name }}"}
      when: svc.port != 2
      register: seen
    - assert:
        that:
          - seen.results | length == 3
          - seen.results[1].skipped
          - seen.results[2].msg == 'c=3'
          - not seen.changed
""")
    assert result.ok, out
    assert "(item=b) - condition false" in out
    assert result.stats.ok == 2 and result.stats.skipped == 0  # a loop counts once


def test_loop_needs_a_list(tmp_path: Path) -> None:
    result, _ = run(tmp_path, """
- tasks:
    - debug: {msg: x}
      loop: "{{ 5 }}"
""")
    assert result.failures[0].msg == "loop needs a list, got int"


def test_changed_when_failed_when(tmp_path: Path) -> None:
    result, _ = run(tmp_path, """
- tasks:
    - command: ["echo", "nothing to do"]
      register: r
      changed_when: "'nothing' not in r.stdout"
    - command: ["echo", "ERROR"]
      register: r2
      failed_when: "'ERROR' in r2.stdout"
      ignore_errors: true
""")
    assert [r.status for r in result.records] == ["ok", "ignored"]
    assert result.ok and result.stats.ignored == 1 and result.stats.changed == 0


# -- retries / until ----------------------------------------------------------------------
COUNTER = ("import pathlib,sys; p=pathlib.Path(sys.argv[1]); n=int(p.read_text() if p.exists() "
           "else 0)+1; p.write_text(str(n)); print(n); sys.exit(0 if n >= 3 else 1)")


def test_retries_until_succeeds_on_third_attempt(tmp_path: Path) -> None:
    result, out = run(tmp_path, f"""
- tasks:
    - name: flaky
      command: ["{sys.executable}", "-c", "{COUNTER}", "{tmp_path}/n"]
      register: r
      until: r.rc == 0
      retries: 5
      delay: 0
    - assert: {{that: "r.stdout | int == 3"}}
""")
    assert result.ok, out
    assert (tmp_path / "n").read_text() == "3"
    events = [json.loads(x) for x in result.log_path.read_text().splitlines()]  # type: ignore[union-attr]
    assert [e.get("attempts") for e in events if e["event"] == "task"][0] == 3


def test_retries_without_until_gives_up(tmp_path: Path) -> None:
    result, _ = run(tmp_path, """
- tasks:
    - command: ["false"]
      retries: 2
      delay: 0
    - debug: {msg: never}
""")
    assert result.exit_code == 1
    assert result.failures[0].msg.startswith("gave up after 3 attempts: rc=1")
    assert [r.name for r in result.records] == ["command"]  # the play stopped


# -- block / rescue / always --------------------------------------------------------------
def test_block_rescue_always(tmp_path: Path) -> None:
    result, out = run(tmp_path, """
- name: blocks
  tasks:
    - name: deploy
      block:
        - name: step one
          debug: {msg: one}
        - name: smoke
          assert: {that: "1 == 2", fail_msg: smoke prediction failed}
        - name: never
          debug: {msg: skipped by the failure}
      rescue:
        - name: roll back
          set_fact: {rolled_back_because: "{{ failed_task.name }}: {{ failed_task.msg }}"}
      always:
        - name: cleanup
          set_fact: {cleaned: true}
    - name: after
      debug: {msg: continues}
""")
    assert result.ok and result.exit_code == 0
    assert result.facts["rolled_back_because"] == "smoke: smoke prediction failed"
    assert result.facts["cleaned"] is True
    assert result.stats.rescued == 1 and result.stats.failed == 0
    names = [r.name for r in result.records]
    assert "never" not in names and names[-1] == "after"
    assert "rescued  deploy" in out
    assert "RECAP pb: ok=4 changed=0 failed=0 skipped=0 rescued=1 ignored=0" in out


def test_failed_rescue_fails_the_run_but_always_runs(tmp_path: Path) -> None:
    result, _ = run(tmp_path, """
- tasks:
    - block:
        - command: ["false"]
      rescue:
        - assert: {that: false, fail_msg: rollback failed too}
      always:
        - set_fact: {always_ran: true}
    - debug: {msg: not reached}
""")
    assert result.exit_code == 1 and result.facts["always_ran"] is True
    assert result.failures[-1].msg == "rollback failed too"
    assert result.stats.rescued == 0


# -- handlers -------------------------------------------------------------------------------
def test_handlers_run_once_at_end_of_play(tmp_path: Path) -> None:
    result, out = run(tmp_path, """
- name: handlers
  tasks:
    - copy: {content: "1", dest: a}
      notify: restart
    - copy: {content: "2", dest: b}
      notify: [restart, reload]
    - debug: {msg: ok tasks do not notify}
      notify: never
    - name: last task
      debug: {msg: before handlers}
  handlers:
    - name: restart
      command: ["{{ python }}", "-c", "open('restarts', 'a').write('x')"]
    - name: never
      debug: {msg: not notified}
    - name: reload handler
      listen: reload
      debug: {msg: reloaded}
""", {"python": sys.executable})
    assert result.ok
    assert (tmp_path / "restarts").read_text() == "x"
    names = [r.name for r in result.records]
    assert names[-3:] == ["last task", "restart", "reload handler"]
    assert "never" not in names
    again, _ = run(tmp_path, (tmp_path / "pb.yaml").read_text(), {"python": sys.executable})
    assert (tmp_path / "restarts").read_text() == "x", "no change, no handler"


def test_handlers_do_not_run_after_a_failure(tmp_path: Path) -> None:
    result, _ = run(tmp_path, """
- tasks:
    - copy: {content: "1", dest: a}
      notify: restart
    - command: ["false"]
  handlers:
    - name: restart
      copy: {content: "1", dest: restarted}
""")
    assert result.exit_code == 1 and not (tmp_path / "restarted").exists()


# -- tags -----------------------------------------------------------------------------------
TAGGED = """
- name: tagged
  tasks:
    - {name: build, debug: {msg: b}, tags: [build]}
    - {name: deploy, debug: {msg: d}, tags: deploy}
    - {name: always, debug: {msg: a}, tags: [always]}
    - name: grouped
      tags: [deploy]
      block:
        - {name: inner, debug: {msg: i}}
    - {name: untagged, debug: {msg: u}}
    - {name: opt-in, debug: {msg: n}, tags: [never, debugging]}
"""


@pytest.mark.parametrize(
    ("tags", "expected"),
    [
        (None, ["build", "deploy", "always", "inner", "untagged"]),
        (["deploy"], ["deploy", "always", "inner"]),
        (["build", "debugging"], ["build", "always", "opt-in"]),
        (["all"], ["build", "deploy", "always", "inner", "untagged"]),
        (["all", "debugging"], ["build", "deploy", "always", "inner", "untagged", "opt-in"]),
    ],
)
def test_tags_select_tasks(tags: list[str] | None, expected: list[str], tmp_path: Path) -> None:
    result, _ = run(tmp_path, TAGGED, tags=tags)
    assert [r.name for r in result.records] == expected


# -- output, recap, event log -------------------------------------------------------------
def test_lines_recap_and_event_log(tmp_path: Path) -> None:
    result, out = run(tmp_path, """
- name: Deploy {{ service }}
  tasks:
    - name: Write for {{ service }}
      copy: {content: "x", dest: f}
    - debug: {msg: hi}
      when: false
    - command: ["false"]
      ignore_errors: true
""", {"service": "bankchurn", "api_token": "s3cr3t-value"})
    lines = out.splitlines()
    assert lines[0] == "PLAY [Deploy bankchurn]"
    assert lines[1] == "changed  Write for bankchurn - created f"
    assert lines[2] == "skipped  debug - condition false"
    assert lines[3] == "failed   command - rc=1 (ignored)"
    assert lines[-1].startswith(
        "RECAP pb: ok=1 changed=1 failed=0 skipped=1 rescued=0 ignored=1 in ")
    log = result.log_path
    assert log is not None and log.parent == tmp_path / "state" / "runs"
    assert log.name.endswith("-pb.jsonl")
    text = log.read_text()
    assert "s3cr3t-value" not in text
    events = [json.loads(x) for x in text.splitlines()]
    assert [e["event"] for e in events] == ["run_start", "play_start", "task", "task", "task",
                                            "run_end"]
    assert events[0]["extra_vars"] == ["api_token", "service"]
    assert events[2]["where"].endswith("pb.yaml:4:7") and events[2]["status"] == "changed"
    assert events[-1]["stats"]["ignored"] == 1 and events[-1]["exit_code"] == 0


def test_no_log_hides_messages(tmp_path: Path) -> None:
    result, out = run(tmp_path, """
- tasks:
    - debug: {msg: "token={{ token }}"}
      no_log: true
""", {"token": "hunter2"})
    assert "hunter2" not in out and "hunter2" not in result.log_path.read_text()  # type: ignore[union-attr]


# -- include and registration ---------------------------------------------------------------
def test_include_runs_another_playbook_with_vars(tmp_path: Path) -> None:
    (tmp_path / "child.yaml").write_text("""
- name: child
  vars: {greeting: default}
  tasks:
    - copy: {content: "{{ greeting }} {{ who }}", dest: "{{ who }}.txt"}
      register: written
""")
    result, out = run(tmp_path, """
- name: parent
  tasks:
    - include: {file: child.yaml, vars: {who: alice, greeting: hi}}
    - include: {file: "{{ 'child' }}.yaml", vars: {who: bob}}
    - assert: {that: "written.changed"}
""")
    assert result.ok, out
    assert (tmp_path / "alice.txt").read_text() == "hi alice"
    assert (tmp_path / "bob.txt").read_text() == "default bob"
    assert "INCLUDE" in out
    assert result.stats.changed == 2  # the included tasks, not the include lines


def test_a_caller_hands_in_its_modules(tmp_path: Path) -> None:
    from pydantic import BaseModel, ConfigDict

    from runner.playbook import Module, ModuleContext, Result

    class EchoArgs(BaseModel):
        model_config = ConfigDict(extra="forbid")
        value: int

    class Echo(Module):
        Args = EchoArgs

        def run(self, args: EchoArgs, ctx: ModuleContext) -> Result:
            return Result(changed=not ctx.check_mode, msg=f"value {args.value}",
                          data={"double": args.value * 2, "lent": ctx.resources.get("lent")})

    text = """
- tasks:
    - echo_test: {value: "{{ 20 + 1 }}"}
      register: e
    - assert: {that: "e.double == 42 and e.lent == 'yes'"}
"""
    path = tmp_path / "pb.yaml"
    path.write_text(text)
    out = io.StringIO()
    result = run_playbook(path, output=out, state_dir=tmp_path / "state", root=tmp_path,
                          modules={"echo_test": Echo}, resources={"lent": "yes"})
    assert result.ok, out.getvalue()
    assert "changed  echo_test - value 21" in out.getvalue()
    # The same file without the module: unknown at load time, not served from the parse
    # cache validated with it.
    with pytest.raises(PlaybookError, match="unknown module 'echo_test'"):
        run_playbook(path, output=None, state_dir=tmp_path / "state", root=tmp_path)
    with pytest.raises(PlaybookError, match="'debug' is built in"):
        run_playbook(path, output=None, state_dir=tmp_path / "state", root=tmp_path,
                     modules={"debug": Echo})


# -- command line ---------------------------------------------------------------------------
def test_playbook_command_resolves_name_and_returns_exit_code(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from runner.playbook import playbook_command

    (tmp_path / "playbooks").mkdir()
    (tmp_path / "playbooks" / "hello.yaml").write_text("""
- name: hello
  tasks:
    - {name: greet, debug: {msg: "hi {{ who }}"}, tags: [greet]}
    - {name: fail when asked, assert: {that: "not fail"}}
""")
    monkeypatch.setenv("MLGITOPS_ROOT", str(tmp_path))
    monkeypatch.setenv("MLGITOPS_STATE_DIR", str(tmp_path / "state"))
    assert playbook_command("hello", ["who=you", "fail=false"]) == 0
    assert "ok       greet - hi you" in capsys.readouterr().out
    assert playbook_command("hello", ["who=you", "fail=true"]) == 1
    assert playbook_command("hello", ["fail=true"], tags="greet") == 1  # who is undefined
    assert len(list((tmp_path / "state" / "runs").glob("*-hello.jsonl"))) == 3


def test_module_entry_point_exit_codes(tmp_path: Path) -> None:
    import subprocess

    good = tmp_path / "good.yaml"
    good.write_text("- tasks:\n    - debug: {msg: fine}\n")
    bad = tmp_path / "bad.yaml"
    bad.write_text("- tasks:\n    - debug: {mesage: fine}\n")
    env = {"MLGITOPS_STATE_DIR": str(tmp_path / "state"), "PATH": "/usr/bin:/bin"}
    ok = subprocess.run([sys.executable, "-m", "runner.playbook", str(good), "-q"], env=env,
                        capture_output=True, text=True, cwd=tmp_path)
    assert ok.returncode == 0 and ok.stdout.startswith("RECAP good: ok=1 changed=0")
    err = subprocess.run([sys.executable, "-m", "runner.playbook", str(bad)], env=env,
                         capture_output=True, text=True, cwd=tmp_path)
    assert err.returncode == 1 and err.stdout == ""
    assert err.stderr.strip() == ("bad.yaml:2:15 tasks[0].debug.mesage: unknown argument "
                                  "(did you mean 'msg'?)")


def test_parse_cache_follows_every_file_it_read(tmp_path: Path) -> None:
    child = tmp_path / "child.yaml"
    child.write_text("- tasks:\n    - set_fact: {who: first}\n")
    text = "- tasks:\n    - include: child.yaml\n"
    result, _ = run(tmp_path, text)
    assert result.facts["who"] == "first"
    assert list((tmp_path / "state" / "cache" / "playbooks").glob("pb-*.pickle"))
    again, _ = run(tmp_path, text)  # served from the cache
    assert again.facts["who"] == "first"
    child.write_text("- tasks:\n    - set_fact: {who: second}\n")
    changed, _ = run(tmp_path, text)
    assert changed.facts["who"] == "second"
    child.write_text("- tasks:\n    - set_fakt: {who: third}\n")
    from runner.errors import PlaybookError

    with pytest.raises(PlaybookError, match="child.yaml:2:7 tasks\\[0\\].set_fakt: unknown"):
        run(tmp_path, text)


def test_loop_failures_inside_a_rescued_block(tmp_path: Path) -> None:
    result, out = run(tmp_path, """
- tasks:
    - block:
        - name: check each
          assert: {that: "item < 2", fail_msg: "{{ item }} too big"}
          loop: [1, 2, 3]
      rescue:
        - set_fact: {why: "{{ failed_task.msg }}"}
""")
    assert result.ok and result.failures == []
    assert result.stats.failed == 0 and result.stats.rescued == 1
    assert result.facts["why"] == "3 too big"  # the last failing item
    assert [r.status for r in result.records][:3] == ["ok", "failed", "failed"]
