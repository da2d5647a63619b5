"""The hub's spawner: each user's server is a dlfleet workspace on a GPU host with free GPUs.

DockerSpawner, extended for a fleet of engines:

- one Docker client and one worker thread per engine (dl_hub_engines.Fleet): a slow host
  stalls only the spawns that go to it, never everyone's;
- placement (dl_hub_placement.place) from a survey of every engine's dlfleet containers: the
  ledger of who holds which GPU is rebuilt from the containers' labels on the hosts, never
  only from the hub's database; a user goes back to the host holding their home while it
  has what they asked for;
- the container is the workspace dl_containers defines (its filter's resolve() and
  workspace(): the image of the host's CUDA line, the user's own uid on that host, the shared
  folder /srv/dlfleet/shared/USER and a persistent home, shm, ulimits, the labels), started
  with the entry point's ``hub`` command (jupyterhub-singleuser: nobody reaches it without
  signing in through the hub) and the specific GPUs placement chose as device requests;
- the host and GPU ids are kept in the spawner's state; a host that does not answer for a
  moment means "still running", never "gone"; a stopped server's container is removed, so
  it gives its GPUs back and a later start gets devices afresh;
- the folders are made on the GPU host by a short-lived root container of the same image,
  running dlfleet_folders' own code (no link is ever followed), since the hub reaches the
  host only through its engine's API.

Runs in the hub's virtualenv (JupyterHub, DockerSpawner, the Docker SDK), never on the
control machine: the dl_hub role installs this file beside the collection's dl_hub_engines,
dl_hub_placement, the dl_containers filter and the dlfleet_folders module, as plain modules.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import json
import pwd
from pathlib import Path

import docker
from dockerspawner import DockerSpawner
from tornado import web
from traitlets import Float, Integer, List, Unicode, default

try:  # the hub host: plain modules beside this one
    import dl_containers
    import dl_hub_engines
    import dl_hub_placement
except ImportError:  # dlfleet's tests, from the repository
    from dlfleet import plugins

    dl_containers = plugins.filter_plugin("dl_containers")
    dl_hub_engines = plugins.util("dl_hub_engines")
    dl_hub_placement = plugins.util("dl_hub_placement")

HUB_LABEL = dl_containers.HUB_LABEL
# where the folders module's source is, for the folder-making container: beside this file on
# the hub host, in the repository's modules otherwise (roles/dl_hub/files -> plugins/modules)
FOLDERS_MODULE = next(
    p
    for p in (
        Path(__file__).with_name("dlfleet_folders.py"),
        Path(__file__).parents[3] / "plugins" / "modules" / "dlfleet_folders.py",
    )
    if p.is_file()
)
# the module's one Ansible import is replaced by this driver's input and output
_FOLDERS_DRIVER = """
import json, os, sys
spec = json.loads(os.environ["DLFLEET_FOLDERS"])
uid, gid = spec["uid"], spec["gid"]
for line in open("/host/etc/passwd"):
    fields = line.rstrip("\\n").split(":")
    if len(fields) > 3 and fields[0] == spec["user"]:
        uid, gid = int(fields[2]), int(fields[3])
        break
if uid is None:
    print(json.dumps({"error": "%s has no account on this host" % spec["user"]}))
    sys.exit(0)
errors = []
for folder in spec["folders"]:
    folder.update(owner=uid, group=gid)
    try:
        action, missing = plan(folder, "0711")
        if action in ("created", "owned"):
            apply(folder, missing or [], "0711")
    except (FolderError, OSError) as exc:
        errors.append(str(exc))
print(json.dumps({"uid": uid, "gid": gid, "error": "; ".join(errors)}))
"""


def _folders_script() -> str:
    source = FOLDERS_MODULE.read_text()
    source = source.replace("from ansible.module_utils.basic import AnsibleModule\n", "")
    head = source.partition("\ndef main():")[0]
    return head + "\n" + _FOLDERS_DRIVER


def _duration_ns(text: str) -> int:
    units = {"ms": 10**6, "s": 10**9, "m": 60 * 10**9, "h": 3600 * 10**9}
    for unit in ("ms", "s", "m", "h"):
        if str(text).endswith(unit):
            return int(float(str(text)[: -len(unit)]) * units[unit])
    return int(text)


def healthcheck() -> dict:
    """The workspace's health check (dl_containers.HEALTHCHECK), asked under the server's
    prefix: a hub server answers at /user/NAME/api."""
    check = dict(dl_containers.HEALTHCHECK)
    test = list(check["test"])
    test[-1] = "import os; " + test[-1].replace(
        "'http://127.0.0.1:8888/api'",
        "'http://127.0.0.1:8888' + os.environ['JUPYTERHUB_SERVICE_PREFIX'] + 'api'",
    )
    return {
        "test": test,
        "interval": _duration_ns(check["interval"]),
        "timeout": _duration_ns(check["timeout"]),
        "retries": int(check["retries"]),
        "start_period": _duration_ns(check["start_period"]),
    }


def container_options(ws: dict, gpus: tuple, env: dict, image: str, name: str) -> dict:
    """Docker SDK arguments (APIClient.create_container, its host_config's) for a workspace
    as dl_containers.workspace() defines it, with the specific GPUs placement chose."""
    binds, mounts = [], []
    for volume in ws["volumes"]:
        source, inside, mode = volume.rsplit(":", 2)
        binds.append(f"{source}:{inside}:{mode}")
        mounts.append(inside)
    ip, host_port, inside = ws["published_ports"][0].rsplit(":", 2)
    ulimits = []
    for spec in ws["ulimits"]:
        limit, soft, hard = spec.split(":")
        ulimits.append(docker.types.Ulimit(name=limit, soft=int(soft), hard=int(hard)))
    host_config = {
        "binds": binds,
        "port_bindings": {int(inside): (ip.strip("[]"), host_port)},
        "shm_size": ws["shm_size"],
        "ulimits": ulimits,
        "privileged": False,
        "restart_policy": {"Name": ws["restart_policy"]},
        "device_requests": (
            [docker.types.DeviceRequest(driver="nvidia", device_ids=list(gpus),
                                        capabilities=[["gpu"]])]
            if gpus else []
        ),
    }  # fmt: skip
    if ws.get("memory"):
        host_config["mem_limit"] = ws["memory"]
    if ws.get("cpus"):
        host_config["nano_cpus"] = int(float(ws["cpus"]) * 1e9)
    return {
        "image": image,
        "name": name,
        "user": ws["user"],
        "command": ["hub"],
        "environment": env,
        "volumes": mounts,
        "ports": [int(inside)],
        "labels": ws["labels"],
        "healthcheck": healthcheck(),
        "host_config": host_config,
    }


def create(client, spec):
    """APIClient.create_container for container_options()' arguments."""
    host_config = client.api.create_host_config(**spec["host_config"])
    return client.api.create_container(**{**spec, "host_config": host_config})


def make_folders(client, image, name, spec, roots, accounts="/etc/passwd"):
    """Make a user's folders on an engine's host: a short-lived root container of image (no
    network, every capability dropped but those that own files, read-only root) runs
    dlfleet_folders' own code on the host's roots, bound at their own paths, and looks the
    user up in the host's passwd (else spec's uid/gid: the hub host's account).
    spec: {user, uid, gid, folders: [{path, mode, own, name}]}. Returns {uid, gid, error}."""
    create = {
        "image": image,
        "name": name,
        "user": "0:0",
        "entrypoint": ["python3", "-c", _folders_script()],
        "command": [],
        "environment": {"DLFLEET_FOLDERS": json.dumps(spec)},
        "network_disabled": True,
        "labels": {HUB_LABEL: "folders"},
        "host_config": client.api.create_host_config(
            binds=[f"{r}:{r}:rw" for r in roots] + [f"{accounts}:/host/etc/passwd:ro"],
            cap_drop=["ALL"],
            cap_add=["CHOWN", "DAC_OVERRIDE", "FOWNER", "DAC_READ_SEARCH"],
            read_only=True,
            network_mode="none",
            security_opt=["no-new-privileges"],
        ),
    }
    api = client.api
    with contextlib.suppress(docker.errors.NotFound):
        api.remove_container(name, force=True)
    made = api.create_container(**create)
    try:
        api.start(made["Id"])
        status = api.wait(made["Id"], timeout=120)
        out = api.logs(made["Id"], stdout=True, stderr=True).decode(errors="replace")
    finally:
        api.remove_container(made["Id"], force=True)
    lines = [line for line in out.splitlines() if line.startswith("{")]
    if status.get("StatusCode") != 0 or not lines:
        return {"error": f"making {spec['user']}'s folders failed: {out.strip()[-400:]}"}
    return json.loads(lines[-1])


def workspace_settings(workspace: dict) -> dict:
    """dl_containers' settings for a hub server on a host (the role's table of engines holds
    the host's dl_containers_* values)."""
    return {
        "jupyter_base_port": 8888,
        "gpus": "none",
        "state": "started",
        # every address of the GPU host: the server lets in only people the hub signed in
        "bind_address": "0.0.0.0",  # noqa: S104
        **{key: value for key, value in workspace.items() if value is not None},
    }


def resolved(user, name, gpus, settings, uid, gid, gpu_count):
    """dl_containers.resolve() of the user's hub server: its shared folder is the one their
    per-host workspace mounts (SHARED_ROOT/USER), its GPUs the device IDs placement chose."""
    entry = {
        "name": name,
        "user": user,
        "gpus": list(gpus),
        "shared_folder": f"{settings['shared_root'].rstrip('/')}/{user}",
    }
    accounts = {user: ["x", uid, gid]}
    return dl_containers.resolve([entry], [], {}, settings, accounts, gpu_count, bool(gpus))


def server_spec(result, name, gpus, settings, env, image, server_ports, port=8888):
    """The Docker SDK arguments of a hub server: dl_containers.workspace() of resolve()'s
    container, signed in by the hub (no token or password file of its own), published on
    the server port range, labelled as the hub's."""
    container = {**result["containers"][0], "auth": "hub"}
    ws = dl_containers.workspace(
        container,
        {
            "mount_path": settings["mount_path"],
            "secrets_dir": "",
            "common_folder": settings.get("common_folder") or "",
            "bind": result["bind"],
            "bind_address": settings["bind_address"],
            "ulimits": settings["ulimits"],
            "restart_policy": "no",
        },
    )
    ws["published_ports"] = [f"{settings['bind_address']}:{server_ports}:{port}"]
    ws["labels"][HUB_LABEL] = "1"
    # its port is the one Docker picks in the hub's range, not a workspace port to reserve
    ws["labels"].pop("io.dlfleet.jupyter_port", None)
    return container_options(ws, tuple(gpus), {**env, **result["env"][name]}, image, name)


class FleetSpawner(DockerSpawner):
    """A user's server on the fleet's GPU hosts (see the module's description)."""

    engines_file = Unicode(
        dl_hub_engines.ENGINES_FILE, help="The dl_hub role's table of engines."
    ).tag(config=True)
    cert_dir = Unicode(
        dl_hub_engines.CERT_DIR, help="The hub's client certificate for the engines."
    ).tag(config=True)
    engine_deadline = Float(10, help="Seconds an engine has to answer before it is skipped.").tag(
        config=True
    )
    profiles = List(help="dl_hub_profiles: slug, display_name, gpus, hosts, users.").tag(
        config=True
    )
    gpu_sharing = Integer(1, help="Servers per GPU (1: a GPU is never given to two).").tag(
        config=True
    )
    server_ports = Unicode("47000-47999", help="Host ports the servers publish on (a range).").tag(
        config=True
    )

    _fleets: dict = {}
    # how a client for an engine is made: mutual TLS (dl_hub_engines.tls_client) unless set
    _connect = None

    # the hub owns each server's life: a stopped server is removed (its GPUs go back)
    @default("remove")
    def _default_remove(self):
        return True

    @default("prefix")
    def _default_prefix(self):
        return "dlfleet-hub"  # containers dlfleet-hub-USER (--SERVER for named servers)

    @default("pull_policy")
    def _default_pull_policy(self):
        return "skip"  # images reach hosts through dl_image, never pulled by the hub

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.dlfleet_host = ""
        self.dlfleet_gpus: list = []
        self.dlfleet_home = ""

    # --- the fleet: engines re-read when the role rewrites the table (no hub restart) ---
    def fleet(self):
        path = Path(self.engines_file)
        stamp = (str(path), path.stat().st_mtime_ns, self.cert_dir)
        cls = type(self)
        if stamp not in cls._fleets:
            for old in cls._fleets.values():
                old[0].close()
            cls._fleets.clear()
            table = json.loads(path.read_text())
            fleet = dl_hub_engines.Fleet(
                dl_hub_engines.read_table(path),
                connect=cls._connect,
                cert_dir=self.cert_dir,
                deadline=self.engine_deadline,
            )
            cls._fleets[stamp] = (fleet, table)
        return cls._fleets[stamp]

    def docker(self, method, *args, **kwargs):
        """Run an API call on this server's engine's own worker."""
        fleet = self.fleet()[0]
        return asyncio.wrap_future(
            fleet.submit(
                self.dlfleet_host, lambda client: getattr(client.api, method)(*args, **kwargs)
            )
        )

    # --- state: the host, the GPUs, and where the user's home is (kept after a stop) ---
    def load_state(self, state):
        super().load_state(state)
        self.dlfleet_host = state.get("dlfleet_host", "")
        self.dlfleet_gpus = list(state.get("dlfleet_gpus", []))
        self.dlfleet_home = state.get("dlfleet_home", "")

    def get_state(self):
        state = super().get_state()
        if self.dlfleet_host:
            state["dlfleet_host"] = self.dlfleet_host
            state["dlfleet_gpus"] = list(self.dlfleet_gpus)
        if self.dlfleet_home:
            state["dlfleet_home"] = self.dlfleet_home
        return state

    def clear_state(self):
        super().clear_state()
        self.dlfleet_host = ""
        self.dlfleet_gpus = []  # the home stays: the user goes back there next time

    # --- the spawn page: the profiles offered to this user ---
    def offered(self) -> list:
        profiles = [dl_hub_placement.Profile.from_dict(p) for p in self.profiles]
        return [p for p in profiles if p.offered_to(self.user.name)]

    @default("options_form")
    def _default_options_form(self):
        def form(spawner):
            rows = []
            for index, p in enumerate(spawner.offered()):
                what = f"{p.gpus} GPU{'s' if p.gpus != 1 else ''}" if p.gpus else "CPU only"
                slug, shown = html.escape(p.slug), html.escape(p.display_name)
                rows.append(
                    f'<div class="form-check"><input class="form-check-input" type="radio" '
                    f'name="profile" id="profile-{slug}" value="{slug}"'
                    f'{" checked" if index == 0 else ""}><label class="form-check-label" '
                    f'for="profile-{slug}">{shown} ({what})</label></div>'
                )
            return "\n".join(rows)

        return form

    @default("options_from_form")
    def _default_options_from_form(self):
        def parse(formdata):
            return {"profile": (formdata.get("profile") or [""])[0]}

        return parse

    def chosen_profile(self):
        offered = self.offered()
        if not offered:
            raise web.HTTPError(403, f"no profile of this hub is offered to {self.user.name}")
        slug = (self.user_options or {}).get("profile") or offered[0].slug
        for p in offered:
            if p.slug == slug:
                return p
        raise web.HTTPError(400, f"profile {slug!r} is not offered to {self.user.name}")

    # --- start, poll, stop ---
    async def poll(self):
        if not self.dlfleet_host or not self.object_name:
            return 0
        try:
            fleet = self.fleet()[0]
            future = fleet.submit(
                self.dlfleet_host, lambda c: c.api.inspect_container(self.object_name)
            )
            obj = await asyncio.wait_for(asyncio.wrap_future(future), self.engine_deadline)
        except docker.errors.NotFound:
            return 0
        except Exception as exc:  # noqa: BLE001 - a host that does not answer: still running
            self.log.warning(
                "dlfleet: the engine of %s does not answer (%s); "
                "%s's server is taken as still running",
                self.dlfleet_host, dl_hub_engines.reason(exc), self.user.name,
            )  # fmt: skip
            return None
        state = obj["State"]
        if state["Running"]:
            return None
        return "ExitCode={ExitCode}, Error='{Error}', FinishedAt={FinishedAt}".format(**state)

    async def start(self):
        profile = self.chosen_profile()
        fleet, table = self.fleet()
        loop = asyncio.get_running_loop()
        found, silent = await loop.run_in_executor(None, fleet.survey)
        for name, why in sorted(silent.items()):
            self.log.warning("dlfleet: skipping %s, its engine does not answer: %s", name, why)
        hosts = [
            dl_hub_placement.Host(
                name, [str(g) for g in table[name].get("gpus", [])], found.get(name)
            )
            for name in sorted(table)
        ]
        # a server of this user that the engines still run (a lost stop) holds nothing new
        try:
            placed = dl_hub_placement.place(
                self.user.name,
                profile,
                hosts,
                home=self.dlfleet_home or None,
                share=self.gpu_sharing,
            )
        except dl_hub_placement.NoRoom as exc:
            raise web.HTTPError(409, str(exc), reason=str(exc)[:400]) from None
        except PermissionError as exc:
            raise web.HTTPError(403, str(exc)) from None
        entry = table[placed.host]
        image = entry.get("image") or ""
        if not image:
            raise web.HTTPError(
                503,
                f"{placed.host} has no deep-learning image recorded in the hub's table of engines "
                "(run the site playbook on it, so dl_image builds or loads its CUDA line's image)",
            )
        self.dlfleet_host, self.dlfleet_gpus = placed.host, list(placed.gpus)
        self.image = image
        self.log.info(
            "dlfleet: %s's server (%s) goes to %s, GPUs %s", self.user.name, profile.slug,
            placed.host, ",".join(placed.gpus) or "none",
        )  # fmt: skip
        spec = await self._workspace(placed, image)
        # a leftover container of this name (a stop the engine never heard) is replaced
        existing = await self.get_object()
        if existing:
            await self.remove_object()
        fleet = self.fleet()[0]
        created = await asyncio.wrap_future(fleet.submit(self.dlfleet_host, create, spec))
        self.object_id = created["Id"]
        await self.docker("start", self.object_id)
        self.dlfleet_home = placed.host
        info = await self.docker("inspect_container", self.object_id)
        port = int(info["NetworkSettings"]["Ports"][f"{self.port}/tcp"][0]["HostPort"])
        address = dl_hub_engines.address(entry["url"])
        return address, port

    async def _workspace(self, placed, image):
        """The server's container options, after its folders are made on the chosen host
        (owned by the user's uid on that host)."""
        entry = self.fleet()[1][placed.host]
        settings = workspace_settings(entry.get("workspace") or {})
        user, name = self.user.name, self.object_name
        try:
            account = pwd.getpwnam(user)
            known = (account.pw_uid, account.pw_gid)
        except KeyError:
            known = (None, None)
        gpu_count = len(entry.get("gpus", []))
        first = resolved(user, name, placed.gpus, settings, known[0] or 0, known[1] or 0, gpu_count)
        folders = [{k: f[k] for k in ("path", "mode", "own", "name")} for f in first["folders"]]
        made = await self._make_folders(image, user, known, folders, settings)
        if made.get("error"):
            raise web.HTTPError(500, f"{placed.host}: {made['error']}")
        result = resolved(user, name, placed.gpus, settings, made["uid"], made["gid"], gpu_count)
        if result["errors"]:
            raise web.HTTPError(500, "; ".join(result["errors"]))
        return server_spec(
            result, name, placed.gpus, settings, self.get_env(), image, self.server_ports, self.port
        )

    async def _make_folders(self, image, user, known, folders, settings):
        """The user's folders on the chosen host (see make_folders)."""
        roots = sorted({settings["shared_root"], settings["home_root"]})
        spec = {"user": user, "uid": known[0], "gid": known[1], "folders": folders}
        fleet = self.fleet()[0]
        return await asyncio.wrap_future(
            fleet.submit(
                self.dlfleet_host, make_folders, image, f"{self.object_name}-folders", spec, roots
            )
        )

    async def stop(self, now=False):
        if not self.dlfleet_host:
            self.clear_state()
            return
        try:
            if self.object_id or self.object_name:
                target = self.object_id or self.object_name
                with contextlib.suppress(docker.errors.NotFound):
                    await self.docker("stop", target, timeout=10)
                with contextlib.suppress(docker.errors.NotFound):
                    await self.docker("remove_container", target, v=False, force=True)
        except Exception as exc:  # noqa: BLE001 - the engine is away: its labels still hold the GPUs
            self.log.warning(
                "dlfleet: could not stop %s's server on %s (%s); its GPUs stay held until it stops",
                self.user.name, self.dlfleet_host, dl_hub_engines.reason(exc),
            )  # fmt: skip
        self.object_id = ""
        self.clear_state()
