"""dl_hub's filters: the table of engines the hub's spawner reads, and the profiles no GPU host
of the fleet can serve (refused before any change)."""

from __future__ import annotations

from typing import Any

try:
    from ansible_collections.dlfleet.fleet.plugins.plugin_utils.dl_hub_placement import (
        profile_errors as _profile_errors,
    )
except ImportError:  # dlfleet's own tests load the plugins as plain files
    from dlfleet import plugins

    _profile_errors = plugins.util("dl_hub_placement").profile_errors

# dl_containers' settings that shape a hub server as they shape a workspace on that host
WORKSPACE_KEYS = (
    "shared_root", "home_root", "mount_path", "common_folder", "shm_size", "ulimits",
    "memory", "cpus", "labels", "env",
)  # fmt: skip


def engine_table(names, hostvars, previous=None, container_defaults=None):
    """{engine: {url, tls_hostname, gpus, image, workspace}} for the hub's spawner.

    names: the engines (inventory names); hostvars: Ansible's; previous: the table the hub
    holds now (a run that does not reach a GPU host keeps what the last one learnt of it);
    container_defaults: dl_containers' role defaults (a host's own dl_containers_* win).
    gpus are the device indexes the driver role's detection counted (nvidia_driver_gpu_count),
    image is the host's dl_image_ref (its CUDA line's image): both as this run found them,
    else as the table had them."""
    previous = previous or {}
    defaults = container_defaults or {}
    table = {}
    for name in names:
        if name not in hostvars:  # not a host of the inventory: the role's checks name it
            continue
        host = hostvars[name]
        old = previous.get(name) or {}
        count = host.get("nvidia_driver_gpu_count")
        gpus = (
            [str(i) for i in range(int(count))] if count is not None else list(old.get("gpus", []))
        )
        address = host.get("ansible_host") or name
        table[name] = {
            "url": f"tcp://{address}:{host.get('docker_tls_api_port') or 2376}",
            "tls_hostname": name,
            "gpus": gpus,
            "image": host.get("dl_image_ref") or old.get("image") or "",
            "workspace": {
                key: host.get(f"dl_containers_{key}", defaults.get(f"dl_containers_{key}"))
                for key in WORKSPACE_KEYS
            },
        }
    return table


def profiles(given, table):
    """The profiles the spawn page offers: given (dl_hub_profiles) when not empty; otherwise
    one per GPU count up to the largest GPU host's, then CPU only."""
    if given:
        return list(given)
    most = max((len(e.get("gpus", [])) for e in (table or {}).values()), default=0)
    derived = [
        {
            "slug": f"{n}-gpu{'s' if n > 1 else ''}",
            "display_name": f"{n} GPU{'s' if n > 1 else ''}",
            "gpus": n,
        }
        for n in range(1, most + 1)
    ]
    return derived + [{"slug": "cpu", "display_name": "CPU only", "gpus": 0}]


def profile_errors(profiles, table):
    """What is wrong with dl_hub_profiles on this fleet (each message names the variable):
    every profile must fit on a host it may use."""
    return _profile_errors(profiles, {name: len(e.get("gpus", [])) for name, e in table.items()})


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {
            "dl_hub_engine_table": engine_table,
            "dl_hub_profiles": profiles,
            "dl_hub_profile_errors": profile_errors,
        }
