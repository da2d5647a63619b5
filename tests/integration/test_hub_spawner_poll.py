"""The hub's spawner asks a server's own engine whether it still runs (against this machine's
engine): running is running, a stopped container is said so, a removed one is gone, and an
engine that does not answer means "still running" (a host away for a moment never makes the
hub forget a server, or hand its GPUs out again). Its state keeps the host and GPUs while it
runs and where the user's home is after it stopped."""

from __future__ import annotations

import asyncio
import json
from types import SimpleNamespace

import docker
import pytest

from dlfleet import plugins
from tests.conftest import import_empty_image

spawner = plugins.role_file("dl_hub", "dl_hub_spawner")


@pytest.fixture
def table(tmp_path):
    path = tmp_path / "engines.json"
    path.write_text(json.dumps({
        "here": {"url": "tcp://127.0.0.1:2376", "tls_hostname": "here", "gpus": ["0"], "image": "x"},
        "away": {"url": "tcp://127.0.0.1:9", "tls_hostname": "away", "gpus": ["0"], "image": "x"},
    }))  # fmt: skip
    return path


@pytest.fixture
def local_engine(docker_client, monkeypatch):
    def connect(engine):
        if engine.name == "away":
            return docker.DockerClient(base_url="tcp://127.0.0.1:9", timeout=2)
        return docker.DockerClient(base_url="unix:///var/run/docker.sock", timeout=10)

    monkeypatch.setattr(spawner.FleetSpawner, "_connect", staticmethod(connect))
    monkeypatch.setattr(spawner.FleetSpawner, "_fleets", {})
    yield docker_client


def a_spawner(table, host, name):
    user = SimpleNamespace(name="alice", escaped_name="alice", url="/user/alice/", id=1)
    s = spawner.FleetSpawner(user=user, engines_file=str(table), cert_dir=str(table.parent),
                             engine_deadline=3)  # fmt: skip
    s.load_state({"dlfleet_host": host, "dlfleet_gpus": ["0"], "dlfleet_home": host,
                  "object_id": "", "object_name": name})  # fmt: skip
    return s


def test_poll_asks_the_servers_own_engine(table, local_engine):
    image = import_empty_image(local_engine, "dlfleet-test/hub-poll:1")
    made = local_engine.containers.create(image, ["/none"], name="dlfleet-test-hub-poll")
    try:
        s = a_spawner(table, "here", "dlfleet-test-hub-poll")
        status = asyncio.run(s.poll())
        assert isinstance(status, str) and "ExitCode=" in status  # created, never started
        made.remove()
        assert asyncio.run(s.poll()) == 0  # gone
    finally:
        local_engine.api.remove_container(
            "dlfleet-test-hub-poll", force=True
        ) if local_engine.containers.list(
            all=True, filters={"name": "dlfleet-test-hub-poll"}
        ) else None
        local_engine.images.remove(image, force=True)


def test_an_engine_that_does_not_answer_means_still_running(table, local_engine):
    s = a_spawner(table, "away", "dlfleet-hub-alice")
    assert asyncio.run(s.poll()) is None


def test_state_keeps_the_host_and_gpus_and_after_a_stop_the_home(table, local_engine):
    s = a_spawner(table, "here", "dlfleet-hub-alice")
    s.object_id = "abc"
    state = s.get_state()
    assert (state["dlfleet_host"], state["dlfleet_gpus"], state["dlfleet_home"]) == (
        "here",
        ["0"],
        "here",
    )
    asyncio.run(s.stop())  # the container is not there: nothing to stop, the state is cleared
    after = s.get_state()
    assert "dlfleet_host" not in after and "dlfleet_gpus" not in after
    assert after["dlfleet_home"] == "here"
