"""The runner wrapper, with real ansible-runner runs of small playbooks on localhost
(a local connection: any machine with Python runs them)."""

import json
import sys
import textwrap
from pathlib import Path

import pytest

from dlfleet.errors import DlfleetError
from dlfleet.runner import (
    RunRequest,
    load_last_summary,
    run_playbook,
)


@pytest.fixture
def inventory(tmp_path):
    path = tmp_path / "inventory.yml"
    path.write_text(
        textwrap.dedent(
            f"""\
            all:
              hosts:
                alpha:
                  ansible_connection: local
                  ansible_python_interpreter: {sys.executable}
                beta:
                  ansible_connection: local
                  ansible_python_interpreter: {sys.executable}
            """
        )
    )
    return path


def playbook(tmp_path, body: str) -> Path:
    path = tmp_path / "play.yml"
    path.write_text(textwrap.dedent(body))
    return path


def test_real_run_counts_per_host_and_writes_summary(tmp_path, inventory):
    target = tmp_path / "out"
    book = playbook(
        tmp_path,
        f"""\
        - hosts: all
          gather_facts: false
          tasks:
            - name: Write a file per host
              ansible.builtin.copy:
                dest: "{target}-{{{{ inventory_hostname }}}}"
                content: hello
                mode: "0644"
            - name: Skipped everywhere
              ansible.builtin.debug:
                msg: never
              when: false
        """,
    )
    state = tmp_path / "state"
    result = run_playbook(RunRequest(playbook=book, inventory=inventory), state=state)

    assert result.ok and result.rc == 0 and result.status == "successful"
    assert set(result.hosts) == {"alpha", "beta"}
    for host in ("alpha", "beta"):
        assert result.hosts[host]["changed"] == 1
        assert result.hosts[host]["skipped"] == 1
        assert result.hosts[host]["failed"] == 0
        assert Path(f"{target}-{host}").read_text() == "hello"
    # the modules each host ran (the skipped task ran nothing)
    assert result.actions == {h: {"ansible.builtin.copy": 1} for h in ("alpha", "beta")}
    summary = json.loads((result.run_dir / "summary.json").read_text())
    assert summary["hosts"] == result.hosts
    assert summary["actions"] == result.actions
    assert summary["failed_hosts"] == [] and summary["ok"] is True
    assert load_last_summary(state) == summary
    # the run's artifacts (job events) are kept under the run folder
    assert list(result.run_dir.glob("artifacts/*/job_events/*.json"))

    second = run_playbook(RunRequest(playbook=book, inventory=inventory), state=state)
    assert second.changed_total == 0
    assert second.run_dir != result.run_dir

    # older run folders go beyond keep_runs: the newest stay
    third = run_playbook(RunRequest(playbook=book, inventory=inventory), state=state, keep_runs=2)
    kept = sorted(p for p in (state / "runs").iterdir() if p.is_dir())
    assert kept == sorted([second.run_dir, third.run_dir])
    assert load_last_summary(state) == json.loads(json.dumps(third.summary()))


def test_failure_is_reported_per_host_with_its_message(tmp_path, inventory):
    book = playbook(
        tmp_path,
        """\
        - hosts: all
          gather_facts: false
          tasks:
            - name: Fail on beta only
              ansible.builtin.fail:
                msg: beta is broken
              when: inventory_hostname == 'beta'
            - name: Ignored failure does not count
              ansible.builtin.fail:
                msg: ignore me
              ignore_errors: true
        """,
    )
    result = run_playbook(RunRequest(playbook=book, inventory=inventory), state=tmp_path / "s")
    assert not result.ok
    assert result.failed_hosts == ["beta"]
    assert [(f.host, f.task, f.msg) for f in result.failures] == [
        ("beta", "Fail on beta only", "beta is broken")
    ]
    assert result.hosts["alpha"]["ignored"] == 1
    assert result.hosts["beta"]["failed"] == 1


def test_check_mode_does_not_leak_into_the_next_run(tmp_path, inventory):
    target = tmp_path / "made"
    book = playbook(
        tmp_path,
        f"""\
        - hosts: alpha
          gather_facts: false
          tasks:
            - ansible.builtin.copy:
                dest: "{target}"
                content: x
                mode: "0644"
        """,
    )
    state = tmp_path / "s"
    checked = run_playbook(RunRequest(playbook=book, inventory=inventory, check=True), state=state)
    assert checked.ok and checked.hosts["alpha"]["changed"] == 1
    assert not target.exists(), "--check changed the host"
    real = run_playbook(RunRequest(playbook=book, inventory=inventory), state=state)
    assert real.ok and target.read_text() == "x"


def test_limit_tags_and_extravars_reach_ansible(tmp_path, inventory):
    out = tmp_path / "vars"
    book = playbook(
        tmp_path,
        f"""\
        - hosts: all
          gather_facts: false
          tasks:
            - name: Tagged
              ansible.builtin.copy:
                dest: "{out}-{{{{ inventory_hostname }}}}"
                content: "{{{{ greeting }}}}"
                mode: "0644"
              tags: [wanted]
            - name: Not tagged
              ansible.builtin.fail:
                msg: should not run
              tags: [other]
        """,
    )
    result = run_playbook(
        RunRequest(
            playbook=book,
            inventory=inventory,
            limit="beta",
            tags=("wanted",),
            extravars={"greeting": "s3cret-value"},
        ),
        state=tmp_path / "s",
    )
    assert result.ok and list(result.hosts) == ["beta"]
    assert Path(f"{out}-beta").read_text() == "s3cret-value"
    assert not Path(f"{out}-alpha").exists()
    # extra-var values may be secrets: the summary names keys only, and no file of the
    # kept run folder holds the value
    assert result.summary()["extravars"] == ["greeting"]
    leaked = [
        p for p in result.run_dir.rglob("*") if p.is_file() and b"s3cret-value" in p.read_bytes()
    ]
    assert leaked == []


def test_missing_inputs_fail_before_running(tmp_path, inventory):
    with pytest.raises(DlfleetError, match="inventory not found"):
        run_playbook(
            RunRequest(playbook=playbook(tmp_path, "- hosts: all\n"), inventory=tmp_path / "nope"),
            state=tmp_path / "s",
        )
    with pytest.raises(DlfleetError, match="playbook not found"):
        run_playbook(
            RunRequest(playbook=tmp_path / "missing.yml", inventory=inventory), state=tmp_path / "s"
        )
    assert not (tmp_path / "s").exists(), "a refused run left a run folder behind"


def test_mitogen_strategy_runs_a_real_play(tmp_path):
    pytest.importorskip("ansible_mitogen", reason="Mitogen is the `speed` extra (in `dev` too)")
    book = tmp_path / "play.yml"
    book.write_text(
        "- hosts: all\n  gather_facts: false\n  tasks:\n"
        "    - ansible.builtin.command: echo through-mitogen\n"
        "      register: out\n      changed_when: false\n"
        f"    - ansible.builtin.copy: {{content: 'x', dest: '{tmp_path}/made', mode: '0644'}}\n"
        "    - ansible.builtin.assert: {that: out.stdout == 'through-mitogen'}\n"
    )
    inv = tmp_path / "inv.yml"
    inv.write_text(
        "all:\n  hosts:\n    control:\n      ansible_connection: local\n"
        f"      ansible_python_interpreter: {sys.executable}\n"
    )
    # ANSIBLE_STRATEGY=mitogen_linear fails the play outright when the plugin does not load
    result = run_playbook(
        RunRequest(playbook=book, inventory=inv, strategy="mitogen"), state=tmp_path / "state"
    )
    assert result.ok, result.failures
    assert (tmp_path / "made").read_text() == "x"
    assert result.hosts["control"]["changed"] == 1


@pytest.mark.parametrize(
    ("name", "passes"), [("dl-alice", True), ("x" * 64, False), ("a;id", False)]
)
def test_the_logs_playbook_checks_the_name_with_the_roles_rule(tmp_path, inventory, name, passes):
    """playbooks/containers_logs.yml refuses what dl_containers would never name a container
    (the filter's rule), before any command runs."""
    from dlfleet import paths

    result = run_playbook(
        RunRequest(
            playbook=paths.PLAYBOOKS / "containers_logs.yml",
            inventory=inventory,
            limit="alpha",
            extravars={"dlfleet_container": name},
        ),
        state=tmp_path / "state",
        keep=False,
    )
    refused = [f for f in result.failures if f.task == "Check the container name"]
    assert bool(refused) is not passes, result.failures
