"""Resolve dl_containers' spec: per-user workspaces, stable ports, GPU shares, checks.

Runs on the control machine (filters do). Pure functions, unit-tested in
tests/unit/test_dl_containers_spec.py.
"""

from __future__ import annotations

import ipaddress

GPU_WORDS = ("all", "none", "auto")


def allocate(users, allocations):
    """Keep every user's slot; give new users the lowest free ones. Returns a new dict."""
    result = {u: int(i) for u, i in (allocations or {}).items() if u in users}
    taken = set(result.values())
    for user in users:
        if user not in result:
            slot = 0
            while slot in taken:
                slot += 1
            result[user] = slot
            taken.add(slot)
    return result


def _gpu_ids(value, gpu_count):
    """None (no GPUs), "all", or a list of device IDs; raises ValueError with the reason."""
    value = str(value).strip()
    if value in ("none", "0", ""):
        return None
    if value == "all":
        return "all"
    if value.isdigit():
        count = int(value)
        if count > gpu_count:
            raise ValueError(f"asks for {count} GPUs, the host has {gpu_count}")
        return [str(i) for i in range(count)]
    ids = [part.strip() for part in value.split(",") if part.strip()]
    if not all(i.isdigit() for i in ids):
        raise ValueError(f"gpus must be all, none, a count or device IDs like 0,1; got {value!r}")
    missing = [i for i in ids if int(i) >= gpu_count]
    if missing:
        raise ValueError(f"asks for GPU {','.join(missing)}, the host has {gpu_count}")
    return ids


def resolve(explicit, users, allocations, settings, accounts, gpu_count, toolkit):
    """The full list of containers, the port allocations to keep, and every error found.

    settings: the role's dl_containers_* values without the prefix; accounts: getent passwd of
    the host ({name: [password, uid, gid, ...]}); toolkit: whether the NVIDIA runtime is
    registered with the engine.
    """
    errors = []
    try:
        ipaddress.ip_address(str(settings.get("bind_address", "127.0.0.1")))
    except ValueError:
        errors.append(
            "dl_containers_bind_address must be an IP address (127.0.0.1: SSH tunnels only; "
            f"0.0.0.0: every interface), got {settings.get('bind_address')!r}"
        )
    slots = allocate(list(users or []), allocations)
    specs = [dict(c) for c in explicit or []]
    for user in users or []:
        slot = slots[user]
        spec = {
            "name": f"dl-{user}",
            "user": user,
            "jupyter_port": int(settings["jupyter_base_port"]) + slot,
            "tensorboard_port": int(settings["tensorboard_base_port"]) + slot,
            "shared_folder": f"{settings['shared_root'].rstrip('/')}/{user}",
        }
        if settings.get("partition_gpus") and gpu_count and toolkit:
            share = [str(g) for g in range(gpu_count) if g % len(users) == slot % len(users)]
            spec["gpus"] = ",".join(share) or "none"
        specs.append(spec)

    out, names, ports = [], {}, {}
    for index, spec in enumerate(specs):
        name = spec.get("name") or ""
        where = f"container {name or '#' + str(index)}"
        if not name:
            errors.append(f"{where}: every entry of dl_containers_list needs a name")
            continue
        if name in names:
            errors.append(f"{where}: name used twice (dl_containers_list / dl_containers_users)")
        names[name] = True
        user = spec.get("user")
        if user:
            if user not in accounts:
                errors.append(
                    f"{where}: user {user!r} does not exist on this host (create the account first)"
                )
                uid, gid = None, None
            else:
                uid, gid = int(accounts[user][1]), int(accounts[user][2])
        else:
            uid, gid = spec.get("uid", 1000), spec.get("gid", spec.get("uid", 1000))
        if uid is not None and int(uid) == 0:
            errors.append(f"{where}: runs as root (uid 0); containers run as a user")
        jp = int(spec.get("jupyter_port", settings["jupyter_base_port"]))
        tb = int(spec.get("tensorboard_port", settings["tensorboard_base_port"]))
        for label, port in (("jupyter_port", jp), ("tensorboard_port", tb)):
            if not 1 <= port <= 65535:
                errors.append(f"{where}: {label} {port} is not a port")
            if port in ports:
                errors.append(f"{where}: {label} {port} is already used by {ports[port]}")
            ports[port] = f"{name} ({label})"
        folder = spec.get("shared_folder") or f"{settings['shared_root'].rstrip('/')}/{name}"
        if not str(folder).startswith("/"):
            errors.append(f"{where}: shared_folder must be an absolute host path, got {folder!r}")
        gpus_value = spec.get("gpus", settings["gpus"])
        if str(gpus_value) == "auto":
            gpus_value = "all" if gpu_count and toolkit else "none"
        try:
            gpus = _gpu_ids(gpus_value, gpu_count)
        except ValueError as exc:
            errors.append(f"{where}: gpus {exc}")
            gpus = None
        if gpus and not toolkit:
            errors.append(
                f"{where}: gpus={gpus_value!r} but the NVIDIA container toolkit is not "
                "installed on this host (run the nvidia_container_toolkit role, or set gpus: none)"
            )
        state = spec.get("state", settings["state"])
        if state not in ("started", "stopped", "absent"):
            errors.append(f"{where}: state must be started, stopped or absent, got {state!r}")
        out.append(
            {
                "name": name,
                "user": user or "",
                "uid": uid,
                "gid": gid,
                "jupyter_port": jp,
                "tensorboard_port": tb,
                "shared_folder": folder,
                "gpus": gpus,
                "gpus_label": "none" if not gpus else gpus if gpus == "all" else ",".join(gpus),
                "shm_size": spec.get("shm_size", settings["shm_size"]),
                "memory": spec.get("memory", settings["memory"]),
                "cpus": spec.get("cpus", settings["cpus"]),
                "env": dict(settings.get("env") or {}, **(spec.get("env") or {})),
                "labels": dict(settings.get("labels") or {}, **(spec.get("labels") or {})),
                "state": state,
            }
        )
    return {"containers": out, "allocations": slots, "errors": errors}


class FilterModule:
    def filters(self):
        return {"dl_containers_resolve": resolve}
