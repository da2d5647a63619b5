"""Lab hosts: systemd containers with sshd and their own engine state, found by label."""

from __future__ import annotations

import io
import tarfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import engine
from ..errors import DlfleetError
from . import gpu
from .names import CAP_DROP, LABEL


@dataclass
class LabHost:
    name: str
    os: str
    container: str
    status: str
    address: str | None
    image: str
    gpu: int = 0  # simulated GPUs (lab.gpu); 0: none
    hub: bool = False  # the fleet's hub host (inventory group dlfleet_hub)


def from_container(c: Any, network: str) -> LabHost:
    nets = c.attrs.get("NetworkSettings", {}).get("Networks", {})
    return LabHost(
        name=c.labels.get(f"{LABEL}.host", c.name),
        os=c.labels.get(f"{LABEL}.os", "?"),
        container=c.name,
        status=c.status,
        address=(nets.get(network) or {}).get("IPAddress") or None,
        image=(c.image.tags or [c.image.short_id])[0],
        gpu=int(c.labels.get(f"{LABEL}.gpu") or 0),
        hub=c.labels.get(f"{LABEL}.hub") == "1",
    )


def _put_file(container: Any, folder: str, name: str, data: bytes, mode: int) -> None:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo(name)
        info.size, info.mode = len(data), mode
        tar.addfile(info, io.BytesIO(data))
    container.put_archive(folder, buf.getvalue())


def run(
    client: Any,
    *,
    cname: str,
    host: str,
    os_name: str,
    image: str,
    network: str,
    labels: dict[str, str],
    pubkey: bytes,
    gpu_sysfs: Path | None = None,
    hub: bool = False,
) -> None:
    """Start a lab host container (root's SSH key in place; simulated GPUs where asked: one
    per PCI function in gpu_sysfs; hub: the fleet's hub host)."""
    # The engine's state lives on volumes, not on the container's overlay root: overlayfs
    # cannot stack on overlayfs (containerd's image store sits in /var/lib/containerd).
    volumes = {f"{cname}-docker": "/var/lib/docker", f"{cname}-containerd": "/var/lib/containerd"}
    for volume in volumes:
        client.volumes.create(
            volume, labels={**labels, f"{LABEL}.kind": "volume", f"{LABEL}.host": host}
        )
    binds = {name: {"bind": path, "mode": "rw"} for name, path in volumes.items()}
    if gpu_sysfs:  # a simulated NVIDIA GPU on the PCI bus (lab.gpu)
        binds[str(gpu_sysfs)] = {"bind": "/sys/bus/pci/devices", "mode": "ro"}
    container = client.containers.run(
        image,
        name=cname,
        hostname=host,
        detach=True,
        cap_add=["ALL"],
        cap_drop=CAP_DROP,
        security_opt=["seccomp=unconfined", "apparmor=unconfined"],
        cgroupns="host",
        volumes={"/sys/fs/cgroup": {"bind": "/sys/fs/cgroup", "mode": "rw"}, **binds},
        tmpfs={"/run": "", "/run/lock": "", "/tmp": ""},  # noqa: S108 - container paths
        network=network,
        labels={
            **labels,
            f"{LABEL}.kind": "host",
            f"{LABEL}.host": host,
            f"{LABEL}.os": os_name,
            f"{LABEL}.gpu": str(len(list(gpu_sysfs.iterdir())) if gpu_sysfs else 0),
            f"{LABEL}.hub": str(int(hub)),
        },
        restart_policy={"Name": "unless-stopped"},
    )
    _put_file(container, "/root", ".ssh/authorized_keys", pubkey, 0o600)
    if gpu_sysfs:
        _put_file(container, "/", "usr/local/bin/nvidia-smi", gpu.NVIDIA_SMI.read_bytes(), 0o755)


def wait_ssh(hosts: list[LabHost], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    pending = {h.name: h.address for h in hosts if h.status == "running" or h.address}
    while pending and time.monotonic() < deadline:
        for name, addr in list(pending.items()):
            if addr and engine.port_open(addr, 22):
                del pending[name]
        if pending:
            time.sleep(0.5)
    if pending:
        raise DlfleetError(f"lab hosts without SSH after {timeout:.0f}s: {', '.join(pending)}")


def ssh_argv(key: Path, host: LabHost) -> list[str]:
    if not host.address:
        raise DlfleetError(f"lab host {host.name} is {host.status}: start it first")
    return [
        "ssh", "-i", str(key),
        "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
        "-o", "LogLevel=ERROR",
        f"root@{host.address}",
    ]  # fmt: skip
