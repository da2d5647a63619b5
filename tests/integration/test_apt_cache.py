"""The control machine's apt cache listens where lab hosts are, never on the LAN."""

from __future__ import annotations

import socket
import subprocess

import pytest

from dlfleet import engine
from dlfleet.lab import APT_CACHE_PORT


def _lan_addresses() -> list[str]:
    """This machine's IPv4 addresses that are neither loopback nor a Docker bridge."""
    out = subprocess.run(["ip", "-4", "-o", "addr"], capture_output=True, text=True, check=True)
    addrs = []
    for line in out.stdout.splitlines():
        dev, addr = line.split()[1], line.split()[3].split("/")[0]
        if dev != "lo" and not dev.startswith(("docker", "br-")):
            addrs.append(addr)
    return addrs


def test_apt_cache_listens_on_loopback_and_bridges_only(docker_client):
    bridge = engine.network_gateway(docker_client.networks.get("bridge"))
    net = docker_client.networks.create("dlfleet-test-aptcache", driver="bridge")
    try:
        net.reload()
        lab_gateway = engine.network_gateway(net)
        assert engine.ensure_apt_cacher(gateways=[bridge])
        assert engine.port_open("127.0.0.1", APT_CACHE_PORT)
        assert engine.port_open(bridge, APT_CACHE_PORT)
        # a lab network made later is added (the cache restarts with the wider list)
        assert engine.ensure_apt_cacher(gateways=[lab_gateway])
        for addr in ("127.0.0.1", bridge, lab_gateway):
            assert engine.port_open(addr, APT_CACHE_PORT), addr
    finally:
        net.remove()
    lan = _lan_addresses()
    if not lan:
        pytest.skip("this machine has no address besides loopback and Docker bridges")
    for addr in lan:
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection((addr, APT_CACHE_PORT), timeout=2).close()
