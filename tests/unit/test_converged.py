"""`invoke provision --fast`: what counts as a change of inputs, which hosts run, and the runs
it refuses."""

import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest
from invoke import Program

from dlfleet import app, converged, paths
from dlfleet.errors import DlfleetError
from dlfleet.settings import Settings

SITE = paths.PLAYBOOKS / "site.yml"
FLEET = {"noble-1": {"ansible_host": "10.0.0.5", "docker_version": ""}, "xenial-1": {}}


def test_the_inputs_digest_follows_what_a_run_asks():
    base = converged.inputs_digest(FLEET, {"dl_containers_prune": True}, SITE)
    assert base == converged.inputs_digest(
        dict(reversed(FLEET.items())), {"dl_containers_prune": True}, SITE
    )
    # what names a run is not what it asks of the hosts
    run = {"dlfleet_run_id": "x", "dlfleet_run_holder": "y", converged.INPUTS_VAR: "z"}
    assert base == converged.inputs_digest(FLEET, {"dl_containers_prune": True, **run}, SITE)
    # any host's variable, an extra variable, the playbook: another digest
    moved = {**FLEET, "noble-1": {**FLEET["noble-1"], "docker_version": "27.5.1"}}
    assert base != converged.inputs_digest(moved, {"dl_containers_prune": True}, SITE)
    assert base != converged.inputs_digest(
        {**FLEET, "bookworm-1": {}}, {"dl_containers_prune": True}, SITE
    )
    assert base != converged.inputs_digest(FLEET, {}, SITE)
    assert base != converged.inputs_digest(FLEET, {"dl_containers_prune": True}, Path("other.yml"))


def test_the_tree_digest_follows_roles_and_plugins_not_scenarios(tmp_path):
    root = tmp_path / "tree"
    for name in (
        "roles/docker/tasks",
        "roles/docker/molecule/default",
        "plugins/filter",
        "playbooks",
    ):
        (root / name).mkdir(parents=True)
    (root / "roles/docker/tasks/main.yml").write_text("- name: a\n")
    (root / "roles/docker/molecule/default/verify.yml").write_text("- name: v\n")
    (root / "plugins/filter/f.py").write_text("x = 1\n")
    (root / "ansible.cfg").write_text("[defaults]\n")
    first = converged.tree_digest(root)
    (root / "roles/docker/molecule/default/verify.yml").write_text("- name: changed\n")
    assert converged.tree_digest(root) == first
    (root / "roles/docker/tasks/main.yml").write_text("- name: b\n")
    assert converged.tree_digest(root) != first
    shutil.rmtree(root / "plugins")
    assert converged.tree_digest(root) != first


def test_hosts_that_differ_or_did_not_answer_run():
    differs = {"noble-1": [], "xenial-1": ["docker"], "jammy-1": ["record"]}
    ready, behind = converged.split(differs, ["bookworm-1", "jammy-1", "noble-1", "xenial-1"])
    assert ready == ["noble-1"]
    assert behind == ["bookworm-1", "jammy-1", "xenial-1"]
    assert converged.reasons(differs, behind) == (
        "bookworm-1 (no answer), jammy-1 (no record), xenial-1 (docker)"
    )


@pytest.mark.parametrize(
    "kwargs",
    [
        {"tags": ["docker"]},
        {"check": True},
        {"retry_failed": True},
        {"playbook": "playbooks/report.yml"},
    ],
)
def test_fast_is_for_a_whole_site_run(tmp_path, kwargs):
    settings = Settings(state_dir=str(tmp_path), inventory=str(tmp_path / "none.yml"))
    with pytest.raises(DlfleetError, match="--fast"):
        app.provision(settings, fast=True, **kwargs)


@pytest.mark.parametrize(
    ("argv", "env", "fast"),
    [
        # a whole site run reads the hosts first by default; --full, any narrower or other
        # run, and the setting turned off run every task
        (["provision"], {}, True),
        (["provision", "--fast"], {}, True),
        (["provision", "--full"], {}, False),
        (["provision"], {"INVOKE_DLFLEET_FAST": "0"}, False),
        (["provision", "--fast"], {"INVOKE_DLFLEET_FAST": "0"}, True),
        (["provision", "--tags", "docker"], {}, False),
        (["provision", "--check"], {}, False),
        (["provision", "--retry-failed"], {}, False),
        (["provision", "--playbook", "playbooks/report.yml"], {}, False),
        (["provision", "--playbook", "playbooks/site.yml", "--limit", "noble-1"], {}, True),
    ],
)
def test_the_flag_and_the_setting_reach_the_run(monkeypatch, argv, env, fast):
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    seen = {}

    def provision(settings, **kwargs):
        seen.update(kwargs)
        return SimpleNamespace(ok=True)

    monkeypatch.setattr(app, "provision", provision)
    # tasks.py and invoke.yaml found the way `invoke` finds them, from the checkout
    Program(name="invoke").run(["invoke", "--search-root", str(paths.ROOT), *argv], exit=False)
    assert seen["fast"] is fast


def test_fast_and_full_together_are_refused(monkeypatch, capsys):
    monkeypatch.setattr(app, "provision", lambda *a, **k: pytest.fail("ran"))
    with pytest.raises(SystemExit) as exc:
        Program(name="invoke").run(
            ["invoke", "--search-root", str(paths.ROOT), "provision", "--fast", "--full"]
        )
    assert exc.value.code == 2
    assert "--fast and --full: choose one" in capsys.readouterr().err


def test_the_fast_run_asks_with_the_digest_and_narrows_to_the_hosts_that_differ(
    tmp_path, monkeypatch
):
    inv = tmp_path / "hosts.yml"
    # the inventory as ansible-inventory reads it (unit tests run no Ansible command)
    monkeypatch.setattr(
        converged.inventory,
        "hostvars",
        lambda path: dict.fromkeys(["noble-1", "noble-2", "noble-3"], {}),
    )
    asked = []

    def run_playbook(request, **kwargs):
        asked.append(request)
        differs = {"noble-1": [], "noble-2": ["docker"]}  # noble-3 did not answer
        return SimpleNamespace(
            data={"converged": differs}, hosts=dict.fromkeys(["noble-1", "noble-2", "noble-3"])
        )

    monkeypatch.setattr(app, "run_playbook", run_playbook)
    settings = Settings(state_dir=str(tmp_path / "state"))

    def request(extravars):
        return app.RunRequest(playbook=SITE, inventory=inv, extravars=extravars)

    site, probe = app._fast_request(settings, request({"a": 1}))
    assert probe is None and asked[-1].playbook == converged.PLAYBOOK
    digest = asked[-1].extravars[converged.INPUTS_VAR]
    assert site.playbook == SITE and site.extravars[converged.INPUTS_VAR] == digest
    assert site.limit.startswith("@")
    assert Path(site.limit[1:]).read_text().split() == ["noble-2", "noble-3"]
    # another extra variable: another digest, asked of the hosts and recorded by the site run
    app._fast_request(settings, request({"a": 2}))
    assert asked[-1].extravars[converged.INPUTS_VAR] != digest
