"""Resolve dl_containers' spec: per-user workspaces, stable ports, GPU shares, checks.

Runs on the control machine (filters do). Pure functions, unit-tested in
tests/unit/test_dl_containers_spec.py.
"""

from __future__ import annotations

import contextlib
import hashlib
import ipaddress
import json
import re
import shlex

GPU_WORDS = ("all", "none", "auto")
# Docker's container names; also file names under the role's folders, so never a path
NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$")
# Docker's sizes: a number with an optional unit (b, k, m, g), e.g. 8g, 512m, 1073741824
SIZE = re.compile(r"^[0-9]+(\.[0-9]+)?[bkmgBKMG]?$")
# The host's own folders: a shared folder may be none of these nor inside one (it would hand
# the system to a user); a folder may sit under the others (/home/alice/data, /srv/data).
SYSTEM_TREES = (
    "/bin", "/boot", "/dev", "/etc", "/lib", "/lib32", "/lib64", "/libx32", "/proc", "/root",
    "/run", "/sbin", "/sys", "/usr", "/var/lib", "/var/run", "/var/log", "/var/cache",
    "/var/spool", "/var/backups", "/var/mail", "/snap",
)  # fmt: skip
SYSTEM_FOLDERS = (
    # paths refused, never written
    "/", "/home", "/srv", "/opt", "/var", "/tmp", "/var/tmp", "/mnt", "/media", "/data",  # noqa: S108
)  # fmt: skip
# The label of the hub's servers (dl_hub's spawner): they are the hub's, not this role's
HUB_LABEL = "io.dlfleet.hub"
# Environment keys dlfleet sets itself: the GPUs a workspace sees follow its gpus setting
RESERVED_ENV = ("NVIDIA_VISIBLE_DEVICES", "HOME")
# Where each workspace's persistent home is mounted (HOME inside the container)
HOME_MOUNT = "/home/dlfleet"
ENV_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
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
    value = spec.get("labels")
    if value is not None and not isinstance(value, dict):
        errors.append(f"{where}: labels must be a mapping of NAME: value, got {value!r}")


def env_errors(where, env, errors):
    """Checks of an env mapping that never quote a value: values are often secrets (API
    tokens), and errors reach the console and the run folders."""
    if env is None:
        return
    if not isinstance(env, dict):
        errors.append(f"{where}: env must be a mapping of NAME: value (values not shown)")
        return
    for key, value in env.items():
        if not isinstance(key, str) or not ENV_KEY.match(key):
            errors.append(
                f"{where}: env has a key that is not a variable name (letters, digits, '_'); "
                "values not shown"
            )
        elif key in RESERVED_ENV:
            errors.append(
                f"{where}: env sets {key}, which dlfleet sets itself "
                "(GPUs: the gpus setting; HOME: the workspace's persistent home)"
            )
        elif value is not None and not isinstance(value, (str, int, float, bool)):
            errors.append(
                f"{where}: env {key} must be a string or a number (its value is not shown)"
            )


def _norm(path):
    return "/" + "/".join(p for p in str(path).split("/") if p not in ("", "."))


def _inside(path, folder):
    """Whether path is folder or under it (both normalized)."""
    return path == folder or folder == "/" or path.startswith(folder.rstrip("/") + "/")


def folder_errors(where, folder, settings):
    """Why a shared folder cannot be handed to a workspace, or None. settings gives
    dlfleet's own folders: shared_root, home_root, secrets_dir."""
    raw = str(folder)
    if not raw.startswith("/"):
        return f"{where}: shared_folder must be an absolute host path, got {folder!r}"
    if raw.rstrip("/") == "" or ".." in raw.split("/"):
        return (
            f"{where}: shared_folder must be a folder of its own, not / or a path with '..', "
            f"got {folder!r}"
        )
    path = _norm(raw)
    if path in SYSTEM_FOLDERS or any(_inside(path, t) for t in SYSTEM_TREES):
        return (
            f"{where}: shared_folder {path} is a system folder or inside one; give the "
            "workspace a folder of its own (under dl_containers_shared_root, or e.g. /data/NAME)"
        )
    own = {
        "dl_containers_shared_root": settings.get("shared_root"),
        "dl_containers_home_root": settings.get("home_root"),
        "dl_containers_secrets_dir": settings.get("secrets_dir"),
    }
    for variable, value in own.items():
        if not value:
            continue
        mine = _norm(value)
        if path == mine or _inside(mine, path):
            return (
                f"{where}: shared_folder {path} is or holds dlfleet's own folder {mine} "
                f"({variable}); each workspace gets a folder of its own"
            )
        if variable != "dl_containers_shared_root" and _inside(path, mine):
            return (
                f"{where}: shared_folder {path} is inside dlfleet's own folder {mine} ({variable})"
            )
    return None


def _overlaps(folders, common):
    """Errors for shared folders that are one inside the other, or hold the common folder."""
    errors = []
    items = sorted(folders.items())
    for i, (path, name) in enumerate(items):
        for other, other_name in items[i + 1 :]:
            if _inside(other, path) or _inside(path, other):
                errors.append(
                    f"container {other_name}: shared_folder {other} overlaps container "
                    f"{name}'s {path}; each container needs a folder of its own"
                )
        if common and (_inside(path, _norm(common)) or _inside(_norm(common), path)):
            errors.append(
                f"container {name}: shared_folder {path} overlaps the common folder "
                f"{_norm(common)} (dl_containers_common_folder)"
            )
    return errors


def _id(spec, key, default, where, errors):
    """A uid or gid from the entry: a number of 1 or more."""
    value = _int(spec.get(key, default), f"{where}: {key}", errors)
    if value is not None and value < 1:
        errors.append(
            f"{where}: {key} must be 1 or more, got {value} (containers run as a user, never "
            "root's uid or group)"
        )
        return None
    return value


def _owner(where, spec, accounts, errors):
    """(user, uid, gid) of an entry: its host account, or its uid/gid; never a default."""
    user = spec.get("user")
    if user:
        if user not in accounts:
            errors.append(
                f"{where}: user {user!r} does not exist on this host (create the account first)"
            )
            return user, None, None
        uid, gid = int(accounts[user][1]), int(accounts[user][2])
        if uid == 0:
            errors.append(f"{where}: runs as root (uid 0); containers run as a user")
        elif gid == 0:
            errors.append(
                f"{where}: user {user!r} has root's group (gid 0); containers run as a user"
            )
        return user, uid, gid
    if "uid" not in spec:
        errors.append(
            f"{where}: says neither user nor uid; every workspace names whose it is (a host "
            "account as user, or uid and gid)"
        )
        return "", None, None
    uid = _int(spec.get("uid"), f"{where}: uid", errors)
    if uid is not None and uid == 0:
        errors.append(f"{where}: runs as root (uid 0); containers run as a user")
        return "", None, None
    if uid is not None and uid < 0:
        errors.append(f"{where}: uid must be 1 or more, got {uid}")
        return "", None, None
    gid = _id(spec, "gid", uid if uid is not None else 1, where, errors)
    return "", uid, gid


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
    """None (no GPUs), "all", or a list of device IDs; raises ValueError with the reason.
    A list is device IDs, never a count (the hub's placement gives ["1"] for GPU 1)."""
    if isinstance(value, (list, tuple)):
        ids = [str(part).strip() for part in value if str(part).strip()]
        if not ids:
            return None
    else:
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


def _name(container):
    return (container.get("Names") or ["?"])[0].lstrip("/")


def _ports_in_use(containers):
    """{host port: container name} of what the host's containers publish, and of dlfleet's
    containers, running or not (a stopped container lists no ports; its label keeps it)."""
    out = {}
    for c in containers or []:
        for port in c.get("Ports") or []:
            if port.get("PublicPort"):
                out[int(port["PublicPort"])] = _name(c)
        label = (c.get("Labels") or {}).get("io.dlfleet.jupyter_port")
        if label and str(label).isdigit():
            out.setdefault(int(label), _name(c))
    return out


def _gpu_env(gpus):
    """NVIDIA_VISIBLE_DEVICES for the GPUs given: what the NVIDIA runtime attaches on every
    engine (before 19.03 it is the only way to say it), and nothing for none ("void"), whatever
    the image sets."""
    if not gpus:
        return "void"
    return gpus if gpus == "all" else ",".join(gpus)


def resolve(explicit, users, allocations, settings, accounts, gpu_count, toolkit, running=None):
    """The full list of containers, the port allocations to keep, the containers dlfleet
    started once and that are no longer declared, and every error found.

    settings: the role's dl_containers_* values without the prefix; accounts: getent passwd of
    the host ({name: [password, uid, gid, ...]}); toolkit: whether the NVIDIA runtime is
    registered with the engine; running: the engine's containers (docker_host_info, all).

    Secrets never travel in the containers' specs, which tasks loop over (and Ansible puts
    loop items into its events): env values are in "env", password hashes in
    "password_hashes", both keyed by container name. Errors name keys, never their values.
    """
    errors = []
    bind = str(settings.get("bind_address", "127.0.0.1"))
    try:
        ipaddress.ip_address(bind)
    except ValueError:
        errors.append(
            "dl_containers_bind_address must be an IP address (127.0.0.1: SSH tunnels only; "
            f"0.0.0.0: every interface), got {settings.get('bind_address')!r}"
        )
    env_errors("dl_containers_env", settings.get("env"), errors)
    declared = {c.get("name") for c in explicit or []} | {f"dl-{u}" for u in users or []}
    others = [c for c in running or [] if _name(c) not in declared]
    # the hub's servers (label io.dlfleet.hub) are the hub's to start and stop: never
    # undeclared here (a provision run never removes someone's running server), and they
    # publish from the hub's own port range (their ports count, not a jupyter_port label)
    hub_servers = [c for c in others if (c.get("Labels") or {}).get(HUB_LABEL) == "1"]
    others = [c for c in others if c not in hub_servers]
    # with prune, dlfleet's undeclared containers go in this run: their ports come free
    in_use = _ports_in_use(
        c
        for c in others
        if not (settings.get("prune") and "io.dlfleet.container" in (c.get("Labels") or {}))
    )
    for c in hub_servers:
        for port in c.get("Ports") or []:
            if port.get("PublicPort"):
                in_use[int(port["PublicPort"])] = _name(c)
    undeclared = sorted(
        _name(c) for c in others if "io.dlfleet.container" in (c.get("Labels") or {})
    )
    jbase = int(settings["jupyter_base_port"])
    # the declared entries' ports are theirs: never handed to a per-user workspace
    declared_ports = set()
    for c in explicit or []:
        with contextlib.suppress(TypeError, ValueError):
            declared_ports.add(int(c.get("jupyter_port", jbase)))
    slots = allocate(
        list(users or []),
        allocations,
        lambda slot: jbase + slot in in_use or jbase + slot in declared_ports,
    )
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

    shared_root = _norm(settings["shared_root"])
    home_root = _norm(settings.get("home_root") or "/srv/dlfleet/home")
    out, names, ports, folders, own_hashes, envs = [], {}, {}, {}, {}, {}
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
        user, uid, gid = _owner(where, spec, accounts, errors)
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
        env_errors(where, spec.get("env"), errors)
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
        folder = spec.get("shared_folder") or f"{shared_root}/{name}"
        problem = folder_errors(where, folder, settings)
        if problem:
            errors.append(problem)
        elif _norm(folder) in folders:
            errors.append(
                f"{where}: shared_folder {folder} is already {folders[_norm(folder)]}'s;"
                " each container needs its own"
            )
        else:
            folders[_norm(folder)] = name
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
        home = f"{home_root}/{user or f'uid-{uid}'}/{name}"
        envs[name] = {
            **{str(k): str(v) for k, v in _mapping(settings.get("env")).items()},
            **{str(k): str(v) for k, v in _mapping(spec.get("env")).items()},
            "NVIDIA_VISIBLE_DEVICES": _gpu_env(gpus),
            "HOME": HOME_MOUNT,
        }
        out.append(
            {
                "name": name,
                "user": user or "",
                "uid": uid,
                "gid": gid,
                "jupyter_port": jp,
                "shared_folder": _norm(folder) if str(folder).startswith("/") else folder,
                # dlfleet's own folders (under the shared root) and those the inventory hands
                # over are owned by the user; any other existing folder is mounted as it is
                "shared_folder_own": (
                    "force"
                    if spec.get("own_shared_folder")
                    else "yes"
                    if _norm(folder).rsplit("/", 1)[0] == shared_root
                    else "no"
                ),
                "home_folder": home,
                "gpus": gpus,
                "gpus_label": "none" if not gpus else gpus if gpus == "all" else ",".join(gpus),
                "shm_size": spec.get("shm_size", settings["shm_size"]),
                "memory": spec.get("memory", settings["memory"]),
                "cpus": spec.get("cpus", settings["cpus"]),
                "labels": dict(settings.get("labels") or {}, **_mapping(spec.get("labels"))),
                "state": state,
            }
        )
        own_hashes[name] = spec.get("jupyter_password_hash") or ""
    errors.extend(_overlaps(folders, settings.get("common_folder")))
    hashes = _password_hashes(out, settings.get("jupyter_password_hash") or "", own_hashes, errors)
    for c in out:
        c["auth"] = "password" if c["name"] in hashes else "token"
    return {
        "containers": out,
        # the address as Docker's published ports take it: an IPv6 one in brackets
        "bind": f"[{bind}]" if ":" in bind else bind,
        "home_mount": HOME_MOUNT,
        "activity_probe": ACTIVITY_PROBE,
        # declared workspaces the engine runs now (a provision run must not kill their work)
        "running": [
            c["name"]
            for c in out
            if c["state"] == "started"
            and any(_name(r) == c["name"] and r.get("State") == "running" for r in running or [])
        ],
        "folders": _folders(out),
        # dlfleet's own roots in use (root's, users pass through)
        "roots": sorted(
            {shared_root for c in out if c["shared_folder_own"] == "yes" and c["state"] != "absent"}
            | ({home_root} if any(c["state"] != "absent" for c in out) else set())
        ),
        "allocations": slots,
        "undeclared": undeclared,
        "errors": errors,
        "password_hashes": hashes,
        "env": envs,
    }


def _folders(containers):
    """What the dlfleet_folders module makes: each running or stopped workspace's shared folder
    (owned by its user where it is dlfleet's or handed over) and its persistent home."""
    out = []
    for c in containers:
        if c["state"] == "absent" or c["uid"] is None or c["gid"] is None:
            continue
        owner = {"owner": c["uid"], "group": c["gid"], "name": c["name"]}
        out.append(
            {"path": c["shared_folder"], "mode": "0750", "own": c["shared_folder_own"], **owner}
        )
        out.append({"path": c["home_folder"], "mode": "0700", "own": "yes", **owner})
    return out


# The health check's call, run by the workspace's python3 (never here): spelt in two parts
# because ansible-test's replace-urlopen reads any such call in a plugin as the controller's;
# the text is what running workspaces were created with (a changed check recreates them).
_HEALTH_CALL = "urllib.request.url" + "open('http://127.0.0.1:8888/api'"

# Runs inside a workspace (python3 -c): the processes besides the workspace's own (tini, the
# entry point, Jupyter's server, TensorBoard, the health check, this probe), by program
# name only (arguments may hold secrets). Kernels, terminals and what they started count.
ACTIVITY_PROBE = """
import json, os
own = ("jupyter-lab", "jupyter lab", "tensorboard", "/usr/bin/tini", "dlfleet-entrypoint",
       HEALTH_CALL, "dlfleet-activity-probe")
seen = []
for pid in os.listdir("/proc"):
    if not pid.isdigit() or int(pid) in (1, os.getpid()):
        continue
    try:
        argv = open("/proc/%s/cmdline" % pid, "rb").read().split(b"\\0")
    except OSError:
        continue
    line = b" ".join(argv).decode("utf-8", "replace")
    if not line or any(mark in line for mark in own):
        continue
    seen.append(os.path.basename(argv[0].decode("utf-8", "replace")))
print(json.dumps(sorted(seen)))
""".replace("HEALTH_CALL", repr(_HEALTH_CALL))


def activity(exec_results):
    """{container name: [program names]} of the workspaces with work in progress, from the
    results of ACTIVITY_PROBE run in each (community.docker.docker_container_exec)."""
    busy = {}
    for result in exec_results or []:
        if result.get("skipped"):
            continue
        try:
            programs = json.loads(result["stdout"]) if result.get("rc") == 0 else None
        except (KeyError, TypeError, ValueError):
            programs = None
        if programs is None:  # it cannot say: its work is kept all the same
            busy[result["item"]] = ["activity unknown: the check failed"]
        elif programs:
            busy[result["item"]] = programs
    return busy


def owners(containers, stat_results, password_hashes):
    """What a change of owner means for each container's secrets. stat_results: the results of
    ansible.builtin.stat looped over [container name, "token" or "password"] (sha1 checksums).

    A container whose token file belongs to another uid changed hands: it gets a new token
    (the previous owner's saved URL must not open the new owner's workspace). A password
    workspace that changed hands must not keep the previous owner's hash. Returns
    {"new_tokens": [names], "errors": [...]}.
    """
    secret_files = {}
    for result in stat_results or []:
        name, kind = result["item"]
        secret_files.setdefault(name, {})[kind] = result.get("stat") or {}
    new_tokens, errors = [], []
    for c in containers or []:
        if c.get("state") == "absent" or c.get("uid") is None:
            continue
        files = secret_files.get(c["name"]) or {}
        token = files.get("token") or {}
        if c["auth"] == "token" and token.get("exists") and int(token["uid"]) != int(c["uid"]):
            new_tokens.append(c["name"])
        password = files.get("password") or {}
        if (
            c["auth"] == "password"
            and password.get("exists")
            and int(password["uid"]) != int(c["uid"])
        ):
            wanted = hashlib.sha1((password_hashes[c["name"]] + "\n").encode()).hexdigest()  # noqa: S324 - compared with stat's checksum
            if password.get("checksum") == wanted:
                errors.append(
                    f"container {c['name']}: its owner changed (uid {password['uid']} -> "
                    f"{c['uid']}) and its Jupyter password hash is still the previous owner's: "
                    "give the new owner a hash of their own"
                )
    return {"new_tokens": new_tokens, "errors": errors}


def _mapping(value):
    return value if isinstance(value, dict) else {}


def tunnel_command(ssh, host, *ports):
    """The ssh command forwarding local ports to a host's loopback, as one shell line. ssh:
    the host's connection as the inventory gives it (target user@address, port, key, args);
    ports: (local, remote) pairs. Read by dl_containers_info and by dlfleet's CLI."""
    argv = ["ssh", "-N"]
    for local_port, remote_port in ports:
        argv += ["-L", f"{local_port}:127.0.0.1:{remote_port}"]
    if ssh.get("port"):
        argv += ["-p", str(ssh["port"])]
    if ssh.get("key"):
        argv += ["-i", str(ssh["key"])]
    argv += shlex.split(str(ssh.get("args") or ""))
    argv.append(ssh.get("target") or host)
    return shlex.join(argv)


def info(containers, bind_address, ssh):
    """dl_containers_info: per container its name, user, state, GPUs, Jupyter and TensorBoard
    addresses and the SSH tunnel to reach a loopback-bound Jupyter. ssh: the host's
    connection (user, host, and where the inventory sets them port, key, args)."""
    conn = {**ssh, "target": f"{ssh.get('user') or 'root'}@{ssh['host']}"}
    out = []
    for c in containers or []:
        port = c["jupyter_port"]
        out.append({
            "name": c["name"], "user": c["user"], "state": c["state"], "gpus": c["gpus_label"],
            "jupyter": f"{bind_address}:{port}",
            "tensorboard": f"{bind_address}:{port}/proxy/6006/",
            "tunnel": tunnel_command(conn, ssh["host"], (port, port)),
        })  # fmt: skip
    return out


# Jupyter answers on its API: Docker's health of a workspace
HEALTHCHECK = {
    "test": [
        "CMD", "python3", "-c",
        f"import urllib.request; {_HEALTH_CALL}, timeout=3)",
    ],
    "interval": "30s",
    "timeout": "5s",
    "retries": 3,
    "start_period": "60s",
}  # fmt: skip
# Where a workspace finds its Jupyter secret (the file the entrypoint reads), by kind of sign-in
SECRET_MOUNTS = {
    "token": ("token", "/run/secrets/jupyter_token"),
    "password": ("password", "/run/secrets/jupyter_password_hash"),
}


def workspace(container, host):
    """What a workspace is, as the engine runs it: the container options (Docker's names, as
    community.docker.docker_container takes them) of one container resolve() gave, apart from
    its name, image, state and environment (env: resolve's, kept apart because it may hold
    secrets). One definition for dl_containers' workspaces and the hub's servers.

    host: what the host adds - mount_path (the shared folder inside), secrets_dir, common_folder
    ('' for none), bind (resolve's, bracketed for IPv6), bind_address (as the inventory gives
    it), ulimits, restart_policy. The GPUs (gpus, gpus_label) go to the engine by the caller:
    device requests or the nvidia runtime, whichever the engine has."""
    c = container
    volumes = [
        f"{c['shared_folder']}:{host['mount_path']}:rw",
        f"{c['home_folder']}:{HOME_MOUNT}:rw",
    ]
    if c.get("auth") in SECRET_MOUNTS:
        suffix, inside = SECRET_MOUNTS[c["auth"]]
        volumes.append(f"{host['secrets_dir']}/{c['name']}.{suffix}:{inside}:ro")
    if host.get("common_folder"):
        volumes.append(f"{host['common_folder']}:/workspace/common:rw")
    cpus = float(c.get("cpus") or 0)
    return {
        "user": f"{c['uid']}:{c['gid']}",
        "command": ["lab"],
        "published_ports": [f"{host['bind']}:{c['jupyter_port']}:8888"],
        "volumes": volumes,
        "shm_size": c["shm_size"],
        "ulimits": list(host.get("ulimits") or []),
        "memory": c.get("memory") or None,
        "cpus": cpus if cpus > 0 else None,
        "restart_policy": host["restart_policy"],
        "privileged": False,
        "healthcheck": HEALTHCHECK,
        "labels": {
            **c["labels"],
            "io.dlfleet.container": c["name"],
            "io.dlfleet.user": c["user"],
            "io.dlfleet.uid": str(c["uid"]),
            "io.dlfleet.jupyter_port": str(c["jupyter_port"]),
            "io.dlfleet.gpus": c["gpus_label"],
            "io.dlfleet.bind": host["bind_address"],
        },
    }


def valid_name(name):
    """Whether name is a container name dl_containers accepts (Docker's rule, 63 characters at
    most, never a path): the one definition, read by the playbooks and by dlfleet's CLI."""
    return bool(NAME.match(str(name or "")))


class FilterModule:
    def filters(self):
        return {
            "dl_containers_valid_name": valid_name,
            "dl_containers_resolve": resolve,
            "dl_containers_owners": owners,
            "dl_containers_activity": activity,
            "dl_containers_info": info,
            "dl_containers_workspace": workspace,
        }
