"""The lab's Ansible inventory: hosts grouped by OS, the lab's own variables, and the policy
for machines without CAP_SYS_RESOURCE (nested engines) written down as data."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from .names import APT_CACHE_PORT

# Machines without CAP_SYS_RESOURCE: containerd 1.2 (xenial's docker.io) cannot start
# containers, so xenial lab hosts load the image but run none; docker.io 29 (noble-updates,
# jammy-updates) cannot network nested containers, so noble and jammy keep their release's
# own engine; and no container may raise its memlock limit.
SANDBOX_GROUP_VARS: dict[str, dict[str, Any]] = {
    "xenial": {"dl_image_smoke": False, "dl_containers_list": []},
    "noble": {"docker_version": "24.0.7"},
    "jammy": {"docker_version": "20.10.12"},
}
SANDBOX_LAB_VARS: dict[str, Any] = {"dl_containers_ulimits": ["stack:67108864:67108864"]}

# What every lab host gets, whatever the machine.
LAB_VARS: dict[str, Any] = {
    "ansible_user": "root",
    "ansible_ssh_common_args": (
        "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR"
    ),
    "dlfleet_lab": True,
    # Docker's and NVIDIA's repositories cannot be reached from a lab: distro sources
    "docker_install_source": "distro",
    # one workspace per lab host, as the image's own user
    "dl_containers_list": [{"name": "dl-lab", "uid": 1000, "gid": 1000}],
}
HEADER = "# Written by `invoke lab.up`; regenerated on every run.\n"


def apt_proxy_url(apt_cache: str) -> str:
    """The apt cache at its address on the lab network, as a proxy URL."""
    return f"http://{apt_cache}:{APT_CACHE_PORT}"


def build(
    hosts: list[Any],
    *,
    key: Path,
    gateway: str | None,
    apt_cache: str | None,
    sandboxed: bool,
    extra: dict[str, Any] | None = None,
    gpu_vars: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The inventory as data. apt_cache: the shared apt cache's address on the lab network
    when hosts use it, else None; gateway: then the lab network's address of this machine,
    where the lab's own servers are (reached without the cache). sandboxed: this machine
    lacks CAP_SYS_RESOURCE."""
    groups: dict[str, dict[str, Any]] = {}
    for h in hosts:
        groups.setdefault(h.os, {"hosts": {}})["hosts"][h.name] = {"ansible_host": h.address}
    hub_hosts = [h.name for h in hosts if h.hub]
    if hub_hosts:  # the fleet's front door (dl_hub): its servers go to every other host
        groups["dlfleet_hub"] = {"hosts": dict.fromkeys(hub_hosts)}
    gpu_hosts = [h.name for h in hosts if h.gpu]
    if gpu_hosts and gpu_vars:  # simulated GPU hosts (lab.gpu)
        groups["lab_gpu"] = {"hosts": dict.fromkeys(gpu_hosts), "vars": gpu_vars}
    if sandboxed:
        for os_name, os_vars in SANDBOX_GROUP_VARS.items():
            if os_name in groups:
                groups[os_name]["vars"] = dict(os_vars)
    lab_vars = {
        **LAB_VARS,
        "ansible_ssh_private_key_file": str(key),
        **(extra or {}),
        **(SANDBOX_LAB_VARS if sandboxed else {}),
    }
    if hub_hosts:  # the hub hands the GPUs out: the hosts' own workspace runs beside, CPU only
        lab_vars["dl_containers_list"] = [
            {**w, "gpus": "none"} for w in LAB_VARS["dl_containers_list"]
        ]
    builders = [h.name for h in hosts if h.os != "xenial" and not h.hub]
    if extra and builders:
        lab_vars["dl_image_build_host"] = builders[0]
    if apt_cache:
        lab_vars["apt_proxy_url"] = apt_proxy_url(apt_cache)
        if extra and "dl_image_profile" in extra:  # image builds fetch through it too
            lab_vars["dl_image_apt_proxy"] = lab_vars["apt_proxy_url"]
        if gpu_hosts:  # the stand-in repositories are on this machine: no proxy for them
            lab_vars["apt_proxy_direct_hosts"] = [gateway]
    return {"all": {"children": {"lab": {"children": groups, "vars": lab_vars}}}}


def write(path: Path, inventory: dict[str, Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(HEADER + yaml.safe_dump(inventory, sort_keys=True))
    return path
