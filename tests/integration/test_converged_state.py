"""dlfleet.fleet.converged_state on this machine, run the way Ansible runs it: a record, then a
change of each kind it watches (a file's content, a mode, a removed file, dlfleet's
containers, the inputs) is seen; nothing of a file's content reaches the output or the
record; a dry run records nothing. Needs root (the record is root's) and the Docker engine
for the container case."""

import contextlib
import json
import os

import pytest
from docker import errors as docker_errors

from dlfleet import engine
from tests.roleruns import run_module

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the record is root's")

SECRET = "jupyter-token-that-must-not-leak"  # noqa: S105 - a stand-in, checked not to leak


def run(args, check=False):
    """The module through ansible's ad-hoc command (local connection); its JSON result."""
    rc, out, err = run_module("converged_state", args, check=check)
    assert rc == 0, out + err
    assert SECRET not in out + err
    # its one line of output (a warning Ansible prints goes to stderr)
    return json.loads(out.split(" => ", 1)[1])


@pytest.fixture
def host(tmp_path):
    """A host's managed files in a folder of their own; the record beside them."""
    etc = tmp_path / "etc"
    (etc / "docker").mkdir(parents=True)
    (etc / "docker" / "daemon.json").write_text('{"log-driver": "json-file"}\n')
    (etc / "jupyter").mkdir(mode=0o700)
    (etc / "jupyter" / "dl-lab.token").write_text(SECRET)
    os.chmod(etc / "jupyter" / "dl-lab.token", 0o600)
    venv = tmp_path / "opt"
    (venv / "hub" / "lib").mkdir(parents=True)
    base = {
        "inputs": "a" * 64,
        "path": str(tmp_path / "state" / "converged.json"),
        "paths": [str(etc)],
        "listings": [str(venv)],
        "units": [],
    }
    return etc, venv, base


def recorded(base):
    run({**base, "record": True})
    again = run(base)
    assert again["converged"] is True and again["differs"] == [], again
    return again


def test_no_record_then_a_record_then_converged(host):
    _, _, base = host
    first = run(base)
    assert first["converged"] is False and first["differs"] == ["record"]
    recorded(base)
    record = base["path"]
    assert os.stat(record).st_mode & 0o777 == 0o600
    with open(record) as fh:
        assert SECRET not in fh.read()


def test_each_kind_of_file_change_is_seen(host):
    etc, venv, base = host
    recorded(base)
    (etc / "docker" / "daemon.json").write_text('{"log-driver": "local"}\n')
    assert run(base)["differs"] == ["files"]

    recorded(base)
    os.chmod(etc / "jupyter" / "dl-lab.token", 0o644)
    assert run(base)["differs"] == ["files"]

    recorded(base)
    (etc / "jupyter" / "dl-lab.token").unlink()
    assert run(base)["differs"] == ["files"]

    recorded(base)
    (venv / "hub" / "lib" / "jupyterhub-5.3.0.dist-info").mkdir()
    assert run(base)["differs"] == ["files"]


def test_other_inputs_are_a_difference(host):
    _, _, base = host
    recorded(base)
    assert run({**base, "inputs": "b" * 64})["differs"] == ["inputs"]


def test_a_dry_run_records_nothing(host):
    _, _, base = host
    result = run({**base, "record": True}, check=True)
    assert result["changed"] is True
    assert not os.path.exists(base["path"])


def test_dlfleet_containers_are_part_of_the_state_the_hubs_servers_are_not(host):
    _, _, base = host
    client = engine.ensure_engine(print)
    images = [t for i in client.images.list() for t in i.tags]
    if not images:
        pytest.skip("no image on this engine to create a container from")
    made = []

    def create(name, labels):
        with contextlib.suppress(docker_errors.NotFound):  # left over by an interrupted run
            client.containers.get(name).remove(force=True)
        made.append(
            client.containers.create(images[0], command=["/nothing"], name=name, labels=labels)
        )
        return made[-1]

    try:
        workspace = create("dlfleet-converged-ws", {"io.dlfleet.container": "ws"})
        server = create(
            "dlfleet-converged-hub", {"io.dlfleet.container": "s", "io.dlfleet.hub": "1"}
        )
        recorded(base)
        server.remove(force=True)  # a user's server stopped through the hub: not a change
        assert run(base)["converged"] is True
        workspace.remove(force=True)  # a workspace removed behind dlfleet's back
        assert run(base)["differs"] == ["docker"]
    finally:
        for container in made:
            with contextlib.suppress(docker_errors.NotFound):  # removed above
                container.remove(force=True)
