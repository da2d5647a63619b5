"""The hub's view of the fleet's engines (plugins/plugin_utils/dl_hub_engines.py) against this
machine's real engine: the survey lists dlfleet's containers in every state, an engine that
refuses or does not answer within the deadline is named while the others answer, and the
table the dl_hub role writes is read with its errors named."""

from __future__ import annotations

import json
import threading
from types import SimpleNamespace

import docker
import pytest

from dlfleet import plugins
from tests.conftest import import_empty_image

engines = plugins.util("dl_hub_engines")
placement = plugins.util("dl_hub_placement")


@pytest.fixture(scope="module")
def image(docker_client):
    """An empty imported image: containers are created from it, never started."""
    import_empty_image(docker_client, "dlfleet-test/hub-engines:1")
    yield "dlfleet-test/hub-engines:1"
    docker_client.images.remove("dlfleet-test/hub-engines:1", force=True)


@pytest.fixture
def servers(docker_client, image):
    """Two dlfleet containers (one holding GPU 1) and one that is not dlfleet's."""
    made = [
        docker_client.containers.create(
            image, ["/none"], name="dlfleet-test-ws-alice",
            labels={"io.dlfleet.container": "ws-alice", "io.dlfleet.user": "alice",
                    "io.dlfleet.gpus": "1"},
        ),
        docker_client.containers.create(
            image, ["/none"], name="dlfleet-test-ws-bob",
            labels={"io.dlfleet.container": "ws-bob", "io.dlfleet.user": "bob",
                    "io.dlfleet.gpus": "none"},
        ),
        docker_client.containers.create(image, ["/none"], name="dlfleet-test-not-ours"),
    ]  # fmt: skip
    yield made
    for container in made:
        container.remove(force=True)


def local(engine):
    return docker.DockerClient(base_url="unix:///var/run/docker.sock", timeout=10)


def test_the_survey_lists_dlfleets_containers_and_names_engines_that_do_not_answer(servers):
    held = threading.Event()

    def connect(engine):
        if engine.name == "slow":
            held.wait(30)  # a host that takes its time: nobody waits for it past the deadline
        if engine.name == "refusing":
            return docker.DockerClient(base_url="tcp://127.0.0.1:9", timeout=2)
        return local(engine)

    table = [
        engines.Engine("gpu1", "tcp://gpu1:2376"),
        engines.Engine("refusing", "tcp://127.0.0.1:9"),
        engines.Engine("slow", "tcp://slow:2376"),
    ]
    fleet = engines.Fleet(table, connect=connect, deadline=3)
    try:
        found, silent = fleet.survey()
    finally:
        held.set()
        fleet.close()
    names = sorted(c["Labels"]["io.dlfleet.container"] for c in found["gpu1"])
    assert "ws-alice" in names and "ws-bob" in names
    assert not [c for c in found["gpu1"] if "io.dlfleet.container" not in c["Labels"]]
    assert found["refusing"] is None and found["slow"] is None
    assert set(silent) == {"refusing", "slow"}
    assert "within 3 s" in silent["slow"]
    # what placement reads: created (not running) containers hold no GPU, a silent host
    # is skipped and named
    hosts = [placement.Host(name, ["0", "1"], found[name]) for name in sorted(found)]
    chosen = placement.place("carol", placement.Profile("one", "1 GPU", gpus=2), hosts)
    assert chosen.host == "gpu1" and chosen.gpus == ("0", "1")
    assert chosen.skipped == ("refusing", "slow")


def test_each_engine_has_its_own_worker():
    """A call stuck on one engine leaves the other engines' calls free to run."""
    stuck, release = threading.Event(), threading.Event()

    def block(client):
        stuck.set()
        release.wait(30)
        return "done"

    fleet = engines.Fleet(
        [engines.Engine("a", "tcp://a:2376"), engines.Engine("b", "tcp://b:2376")],
        connect=lambda engine: SimpleNamespace(name=engine.name, close=lambda: None),
    )
    try:
        first = fleet.submit("a", block)
        assert stuck.wait(10)
        assert (
            fleet.submit("b", lambda client: f"{client.name} answered").result(10) == "b answered"
        )
        assert not first.done()
        release.set()
        assert first.result(10) == "done"
        with pytest.raises(KeyError, match="not an engine of this hub"):
            fleet.submit("c", block)
    finally:
        release.set()
        fleet.close()


def test_the_roles_table_is_read_and_its_errors_named(tmp_path):
    table = tmp_path / "engines.json"
    table.write_text(
        json.dumps(
            {
                "gpu2": {"url": "tcp://10.0.0.12:2376", "tls_hostname": "gpu2"},
                "gpu1": {"url": "tcp://10.0.0.11:2376", "tls_hostname": "gpu1"},
            }
        )
    )
    assert engines.read_table(table) == [
        engines.Engine("gpu1", "tcp://10.0.0.11:2376", "gpu1"),
        engines.Engine("gpu2", "tcp://10.0.0.12:2376", "gpu2"),
    ]
    table.write_text(json.dumps({"gpu1": {"url": "unix:///var/run/docker.sock"}}))
    with pytest.raises(ValueError, match="gpu1 needs a url tcp://ADDRESS:PORT"):
        engines.read_table(table)
    table.write_text("[]")
    with pytest.raises(ValueError, match="expected a mapping"):
        engines.read_table(table)
