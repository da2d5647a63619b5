"""Resolve dl_containers' spec: per-user workspaces, stable ports, GPU shares, checks.

Runs on the control machine (filters do). Pure functions, unit-tested in
tests/unit/test_dl_containers_spec.py.
"""

from __future__ import annotations

import ipaddress
import re
import shlex

GPU_WORDS = ("all", "none", "auto")
# Docker's container names; also file names under the role's folders, so never a path
NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$")
# Docker's sizes: a number with an optional unit (b, k, m, g), e.g. 8g, 512m, 1073741824
SIZE = re.compile(r"^[0-9]+(\.[0-9]+)?[bkmgBKMG]?$")
# jupyter_server.auth.passwd's output: ALGORITHM:... (argon2:$argon2id$..., sha1:SALT:HEX)
PASSWORD_HASH = re.compile(
    r"^(argon2:\$argon2(id|i|d)\$\S+|(sha1|sha256|sha512):[0-9a-f]+:[0-9a-f]+)$"
)


def _password_hashes(containers, setting, own, errors):
    """{container name: hash} for the containers that use a password instead of a token.

    setting is dl_containers_jupyter_password_hash: empty, one hash (allowed only where one
    workspace runs: a hash shared by several users opens each one's workspace to all), or
    a mapping {container name or user: hash}. own: {container name: the hash its entry of
    dl_containers_list carries}, which wins.
    """
    hashes = {}
    running = [c for c in containers if c["state"] != "absent"]
    if isinstance(setting, dict):
        known = {c["name"] for c in containers} | {c["user"] for c in containers if c["user"]}
        unknown = sorted(str(k) for k in setting if k not in known)
        if unknown:
            errors.append(
                "dl_containers_jupyter_password_hash names no declared container or user: "
                + ", ".join(unknown)
            )
        for c in running:
            value = setting.get(c["name"], setting.get(c["user"]) if c["user"] else None)
            if value:
                hashes[c["name"]] = value
    elif setting:
        if not isinstance(setting, str):
            errors.append(
                "dl_containers_jupyter_password_hash must be a hash or a mapping "
                "{container or user: hash}"
            )
        elif len(running) > 1:
            errors.append(
                "dl_containers_jupyter_password_hash is one password for "
                f"{len(running)} workspaces ({', '.join(c['name'] for c in running)}): anyone "
                "who knows it opens every one of them. Give each its own, as a mapping "
                "{container or user: hash}, or leave it empty for a token per container"
            )
        else:
            hashes.update({c["name"]: setting for c in running})
    for c in running:
        if own.get(c["name"]):
            hashes[c["name"]] = own[c["name"]]
    for name, value in sorted(hashes.items()):
        if not isinstance(value, str) or not PASSWORD_HASH.match(value):
            errors.append(
                f"container {name}: the Jupyter password hash must be the output of "
                "jupyter_server.auth.passwd (argon2:$argon2id$... or sha1:SALT:HEX); "
                "never the password itself"
            )
    return hashes


def _int(value, what, errors):
    """value as an int, or None with an error naming what it is."""
    try:
        return int(value)
    except (TypeError, ValueError):
        errors.append(f"{what} must be a number, got {value!r}")
        return None


def _settings_errors(where, spec, settings, errors):
    """Checks of the values Docker would only refuse once folders and tokens exist."""
    for key in ("shm_size", "memory"):
        value = spec.get(key, settings.get(key, ""))
        if str(value) != "" and not SIZE.match(str(value)):
            errors.append(
                f"{where}: {key} must be a size like 8g, 512m or a number of bytes "
                f"(dl_containers_{key} or the entry's {key}), got {value!r}"
            )
    cpus = spec.get("cpus", settings.get("cpus", 0))
    try:
        if float(cpus) < 0:
            raise ValueError
    except (TypeError, ValueError):
        errors.append(f"{where}: cpus must be a number of CPUs such as 4 or 0.5, got {cpus!r}")
    for key in ("env", "labels"):
        value = spec.get(key)
        if value is not None and not isinstance(value, dict):
            errors.append(f"{where}: {key} must be a mapping of NAME: value, got {value!r}")


def allocate(users, allocations, busy=lambda slot: False):
    """Keep every user's slot; give new users the lowest free ones (not taken, not busy: its
    ports are published by a container dlfleet does not run). Returns a new dict."""
    result = {u: int(i) for u, i in (allocations or {}).items() if u in users}
    taken = set(result.values())
    for user in users:
        if user not in result:
            slot = 0
            while slot in taken or busy(slot):
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


def _published(containers):
    """{host port: container name} of what the host's containers publish."""
    out = {}
    for c in containers or []:
        name = (c.get("Names") or ["?"])[0].lstrip("/")
        for port in c.get("Ports") or []:
            if port.get("PublicPort"):
                out[int(port["PublicPort"])] = name
    return out


def resolve(explicit, users, allocations, settings, accounts, gpu_count, toolkit, running=None):
    """The full list of containers, the port allocations to keep, the containers dlfleet
    started once and that are no longer declared, and every error found.

    settings: the role's dl_containers_* values without the prefix; accounts: getent passwd of
    the host ({name: [password, uid, gid, ...]}); toolkit: whether the NVIDIA runtime is
    registered with the engine; running: the engine's containers (docker_host_info).
    """
    errors = []
    try:
        ipaddress.ip_address(str(settings.get("bind_address", "127.0.0.1")))
    except ValueError:
        errors.append(
            "dl_containers_bind_address must be an IP address (127.0.0.1: SSH tunnels only; "
            f"0.0.0.0: every interface), got {settings.get('bind_address')!r}"
        )
    declared = {c.get("name") for c in explicit or []} | {f"dl-{u}" for u in users or []}
    others = [c for c in running or [] if (c.get("Names") or ["?"])[0].lstrip("/") not in declared]
    # with prune, dlfleet's undeclared containers go in this run: their ports come free
    in_use = _published(
        c
        for c in others
        if not (settings.get("prune") and "io.dlfleet.container" in (c.get("Labels") or {}))
    )
    undeclared = sorted(
        (c.get("Names") or ["?"])[0].lstrip("/")
        for c in others
        if "io.dlfleet.container" in (c.get("Labels") or {})
    )
    jbase = int(settings["jupyter_base_port"])
    slots = allocate(list(users or []), allocations, lambda slot: jbase + slot in in_use)
    specs = [dict(c) for c in explicit or []]
    for user in users or []:
        slot = slots[user]
        spec = {
            "name": f"dl-{user}",
            "user": user,
            "jupyter_port": jbase + slot,
            "shared_folder": f"{settings['shared_root'].rstrip('/')}/{user}",
        }
        if settings.get("partition_gpus") and gpu_count and toolkit:
            share = [str(g) for g in range(gpu_count) if g % len(users) == slot % len(users)]
            spec["gpus"] = ",".join(share) or "none"
        specs.append(spec)

    out, names, ports, folders, own_hashes = [], {}, {}, {}, {}
    for index, spec in enumerate(specs):
        name = spec.get("name") or ""
        where = f"container {name or '#' + str(index)}"
        if not name:
            errors.append(f"{where}: every entry of dl_containers_list needs a name")
            continue
        if not NAME.match(str(name)):
            errors.append(
                f"{where}: name must be letters, digits, '_', '.' or '-' (not starting with one of "
                f"the last three), at most 63 characters, got {name!r}"
            )
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
            uid = _int(spec.get("uid", 1000), f"{where}: uid", errors)
            gid = _int(spec.get("gid", spec.get("uid", 1000)), f"{where}: gid", errors)
        if uid is not None and int(uid) == 0:
            errors.append(f"{where}: runs as root (uid 0); containers run as a user")
        jp = _int(
            spec.get("jupyter_port", settings["jupyter_base_port"]),
            f"{where}: jupyter_port",
            errors,
        )
        if "tensorboard_port" in spec:
            errors.append(
                f"{where}: tensorboard_port is not published any more: TensorBoard is served "
                "through Jupyter (JUPYTER_URL/proxy/6006/), behind the workspace's token"
            )
        _settings_errors(where, spec, settings, errors)
        if jp is not None:
            if not 1 <= jp <= 65535:
                errors.append(f"{where}: jupyter_port {jp} is not a port")
            if jp in ports:
                errors.append(f"{where}: jupyter_port {jp} is already used by {ports[jp]}")
            elif jp in in_use:
                errors.append(
                    f"{where}: jupyter_port {jp} is published by container {in_use[jp]}, which is "
                    "not declared (remove it, e.g. with dl_containers_prune, or choose another "
                    "port)"
                )
            ports[jp] = name
        folder = spec.get("shared_folder") or f"{settings['shared_root'].rstrip('/')}/{name}"
        if not str(folder).startswith("/"):
            errors.append(f"{where}: shared_folder must be an absolute host path, got {folder!r}")
        elif str(folder).rstrip("/") == "" or ".." in str(folder).split("/"):
            errors.append(
                f"{where}: shared_folder must be a folder of its own, not / or a path with '..', "
                f"got {folder!r}"
            )
        elif str(folder).rstrip("/") in folders:
            errors.append(
                f"{where}: shared_folder {folder} is already {folders[str(folder).rstrip('/')]}'s;"
                " each container needs its own"
            )
        folders.setdefault(str(folder).rstrip("/"), name)
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
                "shared_folder": folder,
                "gpus": gpus,
                "gpus_label": "none" if not gpus else gpus if gpus == "all" else ",".join(gpus),
                "shm_size": spec.get("shm_size", settings["shm_size"]),
                "memory": spec.get("memory", settings["memory"]),
                "cpus": spec.get("cpus", settings["cpus"]),
                "env": dict(settings.get("env") or {}, **_mapping(spec.get("env"))),
                "labels": dict(settings.get("labels") or {}, **_mapping(spec.get("labels"))),
                "state": state,
            }
        )
        own_hashes[name] = spec.get("jupyter_password_hash") or ""
    hashes = _password_hashes(out, settings.get("jupyter_password_hash") or "", own_hashes, errors)
    for c in out:
        c["auth"] = "password" if c["name"] in hashes else "token"
    return {
        "containers": out,
        "allocations": slots,
        "undeclared": undeclared,
        "errors": errors,
        "password_hashes": hashes,
    }


def _mapping(value):
    return value if isinstance(value, dict) else {}


def info(containers, bind_address, ssh):
    """dl_containers_info: per container its name, user, state, GPUs, Jupyter and TensorBoard
    addresses and the SSH tunnel to reach a loopback-bound Jupyter. ssh: the host's
    connection (user, host, and where the inventory sets them port, key, args)."""
    target = f"{ssh.get('user') or 'root'}@{ssh['host']}"
    out = []
    for c in containers or []:
        port = c["jupyter_port"]
        tunnel = ["ssh", "-N", "-L", f"{port}:127.0.0.1:{port}"]
        if ssh.get("port"):
            tunnel += ["-p", str(ssh["port"])]
        if ssh.get("key"):
            tunnel += ["-i", shlex.quote(ssh["key"])]
        if ssh.get("args"):
            tunnel.append(ssh["args"])
        out.append({
            "name": c["name"], "user": c["user"], "state": c["state"], "gpus": c["gpus_label"],
            "jupyter": f"{bind_address}:{port}",
            "tensorboard": f"{bind_address}:{port}/proxy/6006/",
            "tunnel": " ".join([*tunnel, target]),
        })  # fmt: skip
    return out


class FilterModule:
    def filters(self):
        return {"dl_containers_resolve": resolve, "dl_containers_info": info}
