"""A usable Docker engine and the control machine's own tools.

The lab and the tests need a Docker engine on the control machine. On a Debian/Ubuntu
machine without one, dlfleet installs Debian's ``docker.io``; where nothing runs the daemon
(no systemd, e.g. in CI containers) it starts ``dockerd`` itself and waits for the socket.
The engine is then used through the Docker SDK for Python, never by parsing CLI output.
"""

from __future__ import annotations

import ipaddress
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import docker
from docker.errors import DockerException

from .errors import DlfleetError

Say = Callable[[str], None]


def _quiet(_: str) -> None:
    pass


def missing_commands(commands: Iterable[str]) -> list[str]:
    return [c for c in commands if not shutil.which(c) and not Path("/usr/sbin", c).exists()]


def apt_install(packages: Iterable[str], say: Say = _quiet) -> None:
    """Install Debian packages on the control machine (only where apt and root are there)."""
    packages = list(packages)
    if not packages:
        return
    if not shutil.which("apt-get"):
        raise DlfleetError(
            f"{', '.join(packages)} missing and this machine has no apt-get: install them yourself"
        )
    if os.geteuid() != 0:
        raise DlfleetError(
            f"{', '.join(packages)} missing: run as root or `sudo apt-get install "
            f"{' '.join(packages)}`"
        )
    say(f"installing {' '.join(packages)} with apt-get")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for args in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", *packages]):
        proc = subprocess.run(args, env=env, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["?"]
            raise DlfleetError(f"`{' '.join(args)}` failed: {tail[0]}")


def ensure_packages(command_to_package: dict[str, str], say: Say = _quiet) -> None:
    """Install the Debian packages whose commands are missing."""
    missing = missing_commands(command_to_package)
    apt_install(sorted({command_to_package[c] for c in missing}), say)


def _client() -> docker.DockerClient | None:
    try:
        client = docker.from_env(timeout=300)
        client.ping()
        return client
    except DockerException:
        return None


def _systemd_is_init() -> bool:
    return Path("/run/systemd/system").is_dir()


def ensure_engine(say: Say = _quiet, *, install: bool = True) -> docker.DockerClient:
    """Return a client for a running Docker engine, installing and starting one if needed."""
    client = _client()
    if client:
        return client
    if missing_commands(["dockerd"]):
        if not install:
            raise DlfleetError("no Docker engine: install docker.io (or Docker CE) first")
        apt_install(["docker.io"], say)
        client = _client()  # a package with a working init system may have started it
        if client:
            return client
    if os.environ.get("DOCKER_HOST", "unix://").startswith(("tcp://", "ssh://")):
        raise DlfleetError(
            f"the Docker engine at DOCKER_HOST={os.environ['DOCKER_HOST']} does not answer"
        )
    if os.geteuid() != 0:
        raise DlfleetError("the Docker daemon is not running and starting it needs root")
    if _systemd_is_init():
        say("starting docker.service")
        subprocess.run(["systemctl", "start", "docker"], check=False, capture_output=True)
    else:
        _start_dockerd(say)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        client = _client()
        if client:
            return client
        time.sleep(1)
    raise DlfleetError("dockerd did not answer within 90s: see /var/log/dlfleet-dockerd.log")


def _start_dockerd(say: Say) -> None:
    """No init system manages dockerd here: start it in its own session, logging to a file."""
    say("starting dockerd (no systemd on this machine)")
    log = open("/var/log/dlfleet-dockerd.log", "ab")  # noqa: SIM115 - handed to the daemon
    subprocess.Popen(  # the daemon outlives us on purpose
        [shutil.which("dockerd") or "/usr/sbin/dockerd"],
        stdout=log,
        stderr=log,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )


def port_open(host: str, port: int, timeout: float = 1.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def network_gateway(network: Any) -> str:
    """The host's address on a Docker network: IPAM's gateway, else the subnet's first address
    (the default bridge lists no gateway)."""
    for config in (network.attrs.get("IPAM") or {}).get("Config") or []:
        if config.get("Gateway"):
            return config["Gateway"]
        if config.get("Subnet"):
            return str(next(ipaddress.ip_network(config["Subnet"]).hosts()))
    raise DlfleetError(f"docker network {network.name} has no gateway address")


def bridge_gateway(client: docker.DockerClient) -> str:
    """This machine's address on Docker's default bridge: what image builds and the Molecule
    scenarios' hosts reach the control machine's services at."""
    return network_gateway(client.networks.get("bridge"))


def has_cap_sys_resource() -> bool:
    """Whether this machine may grant CAP_SYS_RESOURCE (containerd 1.2 on xenial needs it)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("CapBnd:"):
                return bool(int(line.split()[1], 16) & (1 << 24))
    except OSError:
        pass
    return True
