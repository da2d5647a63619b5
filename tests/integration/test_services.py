"""The lab's services run as labelled containers, published only where lab hosts are."""

from __future__ import annotations

import socket
import ssl
import subprocess
import urllib.error
import urllib.request

import pytest
import yaml
from docker.errors import NotFound

from dlfleet import engine, registry
from dlfleet.errors import DlfleetError
from dlfleet.lab import APT_CACHE_PORT, LABEL
from dlfleet.lab.images import Images
from dlfleet.lab.services import APT_CACHE, SHARED, Services

OWNER = "dlfleet-test-services"


@pytest.fixture
def services(docker_client):
    svc = Services(docker_client, Images(docker_client, lambda _: None), lambda _: None)
    yield svc
    svc.remove(OWNER)


def _lan_addresses() -> list[str]:
    """This machine's IPv4 addresses that are neither loopback nor a Docker bridge."""
    out = subprocess.run(["ip", "-4", "-o", "addr"], capture_output=True, text=True, check=True)
    addrs = []
    for line in out.stdout.splitlines():
        dev, addr = line.split()[1], line.split()[3].split("/")[0]
        if dev != "lo" and not dev.startswith(("docker", "br-")):
            addrs.append(addr)
    return addrs


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_apt_cache_is_a_labelled_container_on_loopback_and_bridges_only(services, docker_client):
    bridge = engine.bridge_gateway(docker_client)
    services.apt_cache()
    container = docker_client.containers.get(APT_CACHE)
    assert container.labels[LABEL] == SHARED
    assert container.labels[f"{LABEL}.kind"] == "service"
    assert set(services.published(APT_CACHE)) == {"127.0.0.1", bridge}
    for addr in ("127.0.0.1", bridge):
        assert engine.port_open(addr, APT_CACHE_PORT), addr
    lan = _lan_addresses()
    if not lan:
        pytest.skip("this machine has no address besides loopback and Docker bridges")
    for addr in lan:
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection((addr, APT_CACHE_PORT), timeout=2).close()


def test_a_lab_network_joins_the_running_apt_cache_and_leaves_it(services, docker_client):
    """A lab coming up (or going) never restarts the cache under someone else's apt: the
    running container joins the lab's network, and a host there fetches through it."""
    services.apt_cache()
    running = docker_client.containers.get(APT_CACHE).id
    net = docker_client.networks.create("dlfleet-test-aptcache", driver="bridge")
    try:
        address = services.apt_cache([net.name])[net.name]
        assert docker_client.containers.get(APT_CACHE).id == running
        assert net.name in services.attached(APT_CACHE)
        assert services.apt_cache([net.name]) == {net.name: address}  # asked again: the same
        # a container on the lab network reaches the cache at that address (the cache image
        # has Python; any HTTP answer from apt-cacher-ng will do)
        probe = docker_client.containers.run(
            docker_client.containers.get(APT_CACHE).image,
            ["python3", "-c", f"import urllib.request as u, urllib.error as e\n"
             f"try: u.urlopen('http://{address}:{APT_CACHE_PORT}/', timeout=5)\n"
             f"except e.HTTPError as err: print('answered', err.code)\n"
             f"else: print('answered 200')"],
            network=net.name, remove=True, cap_drop=["ALL"], user="65534:65534",
        )  # fmt: skip
        assert probe.decode().startswith("answered"), probe
        services.detach(net)
        assert net.name not in services.attached(APT_CACHE)
        assert docker_client.containers.get(APT_CACHE).id == running
    finally:
        services.detach(net)
        net.remove()
    # what it publishes never changed
    assert set(services.published(APT_CACHE)) == {"127.0.0.1", engine.bridge_gateway(docker_client)}


def test_files_are_served_read_only_and_removed_by_owner(services, docker_client, tmp_path):
    (tmp_path / "wheel.txt").write_text("locked\n")
    port = _free_port()
    url = services.files(f"{OWNER}-files", OWNER, tmp_path, "127.0.0.1", port)
    with urllib.request.urlopen(f"{url}wheel.txt", timeout=5) as resp:  # noqa: S310
        assert resp.read() == b"locked\n"
    [row] = services.listed([OWNER])
    assert row == {"name": f"{OWNER}-files", "service": "files", "status": "running",
                   "published": [f"127.0.0.1:{port}"]}  # fmt: skip
    container = docker_client.containers.get(f"{OWNER}-files")
    code, _ = container.exec_run(["touch", str(tmp_path / "new")])
    assert code != 0
    assert not (tmp_path / "new").exists()
    assert services.remove(OWNER) == [f"{OWNER}-files"]
    with pytest.raises(NotFound):
        docker_client.containers.get(f"{OWNER}-files")
    assert not engine.port_open("127.0.0.1", port)
    assert (tmp_path / "wheel.txt").read_text() == "locked\n"  # the data stays


def test_registry_answers_over_verified_tls(services, docker_client, tmp_path):
    port = _free_port()
    reg = services.registry(f"{OWNER}-registry", OWNER, tmp_path, "127.0.0.1", port)
    assert reg.address == f"127.0.0.1:{port}"
    assert "BEGIN CERTIFICATE" in reg.ca_pem
    assert registry.catalog(reg.address, tmp_path / "ca.crt") == []
    # a client that does not trust dlfleet's CA is refused
    with pytest.raises(urllib.error.URLError, match="CERTIFICATE_VERIFY_FAILED"):
        urllib.request.urlopen(  # noqa: S310
            f"https://{reg.address}/v2/", timeout=5, context=ssl.create_default_context()
        )
    running = docker_client.containers.get(f"{OWNER}-registry").id
    assert services.registry(f"{OWNER}-registry", OWNER, tmp_path, "127.0.0.1", port) == reg
    assert docker_client.containers.get(f"{OWNER}-registry").id == running
    config = yaml.safe_load((tmp_path / "config" / f"127.0.0.1-{port}.yml").read_text())
    assert config["http"]["addr"] == f":{port}"
    assert "auth" not in config  # lab networks only: see dlfleet.registry


def test_a_taken_port_is_named(services, tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        with pytest.raises(DlfleetError, match=f"{OWNER}-files could not start.*port {port}"):
            services.files(f"{OWNER}-files", OWNER, tmp_path, "127.0.0.1", port)
