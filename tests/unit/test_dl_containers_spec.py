"""dl_containers' spec resolution: stable ports, GPU shares and every error before changes."""

import pytest

from dlfleet import plugins

plugin = plugins.filter_plugin("dl_containers")

SETTINGS = {
    "jupyter_base_port": 8888,
    "shared_root": "/srv/dlfleet/shared",
    "gpus": "auto",
    "partition_gpus": False,
    "shm_size": "8g",
    "memory": "",
    "cpus": 0,
    "state": "started",
    "env": {},
    "labels": {},
    "bind_address": "127.0.0.1",
}
ACCOUNTS = {"alice": ["x", "1001", "1001"], "bob": ["x", "1002", "100"], "root": ["x", "0", "0"]}


def resolve(explicit=(), users=(), allocations=None, gpu_count=0, toolkit=False, **settings):
    return plugin.resolve(
        list(explicit),
        list(users),
        allocations or {},
        {**SETTINGS, **settings},
        ACCOUNTS,
        gpu_count,
        toolkit,
    )


def test_users_get_stable_ports_when_others_come_and_go():
    first = resolve(users=["alice", "bob"])
    assert first["errors"] == []
    by_name = {c["name"]: c for c in first["containers"]}
    assert (by_name["dl-alice"]["jupyter_port"], by_name["dl-bob"]["jupyter_port"]) == (8888, 8889)
    assert "tensorboard_port" not in by_name["dl-bob"]  # TensorBoard is served through Jupyter
    assert (by_name["dl-bob"]["uid"], by_name["dl-bob"]["gid"]) == (1002, 100)
    assert by_name["dl-alice"]["shared_folder"] == "/srv/dlfleet/shared/alice"
    # alice leaves, carol... is not a host user; bob keeps his ports
    later = resolve(users=["bob"], allocations=first["allocations"])
    assert later["containers"][0]["jupyter_port"] == 8889
    assert later["allocations"] == {"bob": 1}
    again = resolve(users=["alice", "bob"], allocations=later["allocations"])
    assert {c["name"]: c["jupyter_port"] for c in again["containers"]} == {
        "dl-alice": 8888,
        "dl-bob": 8889,
    }


def test_gpus_auto_and_partition():
    none = resolve(users=["alice"], gpu_count=4, toolkit=False)
    assert none["containers"][0]["gpus"] is None and none["errors"] == []
    all_gpus = resolve(users=["alice"], gpu_count=4, toolkit=True)
    assert all_gpus["containers"][0]["gpus"] == "all"
    split = resolve(users=["alice", "bob"], gpu_count=4, toolkit=True, partition_gpus=True)
    assert [c["gpus"] for c in split["containers"]] == [["0", "2"], ["1", "3"]]


@pytest.mark.parametrize(
    ("explicit", "kwargs", "message"),
    [
        (
            [{"name": "a", "uid": 1000, "shared_folder": "data"}],
            {},
            "container a: shared_folder must be an absolute host path",
        ),
        (
            [{"name": "a", "uid": 1000}, {"name": "b", "uid": 1000, "jupyter_port": 8888}],
            {},
            "container b: jupyter_port 8888 is already used by a",
        ),
        (
            [{"name": "a", "uid": 1000, "tensorboard_port": 6006}],
            {},
            "container a: tensorboard_port is not published any more",
        ),
        (
            [{"name": "a", "uid": 1000, "gpus": "all"}],
            {"gpu_count": 2},
            "container a: gpus='all' but the NVIDIA container toolkit is not installed",
        ),
        (
            [{"name": "a", "uid": 1000, "gpus": "0,3"}],
            {"gpu_count": 2, "toolkit": True},
            "container a: gpus asks for GPU 3, the host has 2",
        ),
        (
            [{"name": "a", "user": "mallory"}],
            {},
            "container a: user 'mallory' does not exist on this host",
        ),
        ([{"name": "a", "user": "root"}], {}, "container a: runs as root"),
        (
            [
                {"name": "a", "uid": 1000},
                {"name": "a", "uid": 1001, "jupyter_port": 9000},
            ],
            {},
            "container a: name used twice",
        ),
        ([{"uid": 1000}], {}, "needs a name"),
        (
            [{"name": "a", "uid": 1000}],
            {"bind_address": "everywhere"},
            "dl_containers_bind_address must be an IP address",
        ),
        # what Docker would refuse only after folders and tokens were made
        (
            [{"name": "a", "uid": 1000}],
            {"shm_size": "lots"},
            "container a: shm_size must be a size like 8g",
        ),
        ([{"name": "a", "uid": 1000, "memory": "2 GB"}], {}, "container a: memory must be a size"),
        ([{"name": "a", "uid": 1000, "cpus": "many"}], {}, "container a: cpus must be a number"),
        ([{"name": "../../etc", "uid": 1000}], {}, "name must be letters, digits"),
        (
            [{"name": "a", "uid": 1000, "shared_folder": "/"}],
            {},
            "shared_folder must be a folder of its own",
        ),
        (
            [{"name": "a", "uid": 1000, "shared_folder": "/srv/x/../../etc"}],
            {},
            "shared_folder must be a folder of its own",
        ),
        (
            [
                {"name": "a", "uid": 1000, "shared_folder": "/srv/data"},
                {
                    "name": "b",
                    "uid": 1001,
                    "shared_folder": "/srv/data/",
                    "jupyter_port": 9000,
                },
            ],
            {},
            "container b: shared_folder /srv/data/ is already a's",
        ),
        ([{"name": "a", "uid": "abc"}], {}, "container a: uid must be a number, got 'abc'"),
        ([{"name": "a", "uid": 1000, "env": ["A=1"]}], {}, "container a: env must be a mapping"),
        (
            [{"name": "a", "uid": 1000, "jupyter_port": "http"}],
            {},
            "container a: jupyter_port must be a number",
        ),
    ],
)
def test_errors_name_the_container_and_the_variable(explicit, kwargs, message):
    errors = resolve(explicit=explicit, **kwargs)["errors"]
    assert any(message in e for e in errors), errors


def engine_container(name, jupyter, tensorboard, dlfleet=True):
    labels = {"io.dlfleet.container": name} if dlfleet else {}
    ports = [
        {"PublicPort": jupyter, "PrivatePort": 8888},
        {"PublicPort": tensorboard, "PrivatePort": 6006},
    ]
    return {"Names": [f"/{name}"], "Labels": labels, "Ports": ports}


def test_a_dropped_workspace_keeps_its_ports_until_removed():
    # dave's workspace was dropped from the declaration but still runs on 8889/6007
    running = [engine_container("dl-alice", 8888, 6006), engine_container("dl-dave", 8889, 6007)]
    spec = plugin.resolve([], ["alice", "bob"], {"alice": 0}, SETTINGS, ACCOUNTS, 0, False, running)
    assert spec["errors"] == []
    assert spec["undeclared"] == ["dl-dave"]
    bob = next(c for c in spec["containers"] if c["name"] == "dl-bob")
    assert bob["jupyter_port"] == 8890
    # with prune, dave's container goes in this run and its ports come free
    pruned = plugin.resolve(
        [], ["alice", "bob"], {"alice": 0}, {**SETTINGS, "prune": True}, ACCOUNTS, 0, False, running
    )
    assert pruned["undeclared"] == ["dl-dave"]
    assert next(c for c in pruned["containers"] if c["name"] == "dl-bob")["jupyter_port"] == 8889


def test_ports_of_containers_dlfleet_does_not_run_are_avoided_or_named():
    running = [engine_container("someone-elses", 8888, 6006, dlfleet=False)]
    spec = plugin.resolve([], ["alice"], {}, SETTINGS, ACCOUNTS, 0, False, running)
    assert spec["undeclared"] == []  # not dlfleet's: never reported or removed
    assert spec["containers"][0]["jupyter_port"] == 8889
    clash = plugin.resolve(
        [{"name": "a", "uid": 1000}], [], {}, SETTINGS, ACCOUNTS, 0, False, running
    )
    assert any(
        "jupyter_port 8888 is published by container someone-elses" in e for e in clash["errors"]
    )


def test_the_hubs_servers_beside_declared_workspaces_are_the_hubs():
    """A host where the hub runs servers beside declared workspaces: the servers are never
    undeclared (prune never removes someone's running server), their labels reserve no
    workspace port, and the ports they publish are avoided like any other."""
    hub = {
        "Names": ["/dlfleet-hub-bob"], "State": "running",
        "Labels": {"io.dlfleet.container": "dlfleet-hub-bob", "io.dlfleet.hub": "1",
                   "io.dlfleet.jupyter_port": "8888", "io.dlfleet.gpus": "0"},
        "Ports": [{"PublicPort": 47000, "PrivatePort": 8888}],
    }  # fmt: skip
    for prune in (False, True):
        spec = plugin.resolve(
            [{"name": "dl-lab", "uid": 1000}], ["alice"], {}, {**SETTINGS, "prune": prune},
            ACCOUNTS, 0, False, [hub],
        )  # fmt: skip
        assert spec["errors"] == []
        assert spec["undeclared"] == []
        assert [c["jupyter_port"] for c in spec["containers"]] == [8888, 8889]
    clash = resolve([{"name": "a", "uid": 1000, "jupyter_port": 47000}])
    assert clash["errors"] == []
    clash = plugin.resolve(
        [{"name": "a", "uid": 1000, "jupyter_port": 47000}], [], {}, SETTINGS, ACCOUNTS, 0,
        False, [hub],
    )  # fmt: skip
    assert any(
        "jupyter_port 47000 is published by container dlfleet-hub-bob" in e for e in clash["errors"]
    )


ARGON = "argon2:$argon2id$v=19$m=10240,t=10,p=8$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo"
SHA1 = "sha1:0a1b2c3d4e5f:" + "ab" * 20


def test_one_password_for_several_workspaces_is_refused():
    result = resolve(users=["alice", "bob"], jupyter_password_hash=ARGON)
    assert any("one password for 2 workspaces (dl-alice, dl-bob)" in e for e in result["errors"])
    # one workspace on the host: a single hash is that user's own
    alone = resolve(users=["alice"], jupyter_password_hash=ARGON)
    assert alone["errors"] == []
    assert alone["password_hashes"] == {"dl-alice": ARGON}
    assert [c["auth"] for c in alone["containers"]] == ["password"]


def test_each_workspace_gets_its_own_password_or_a_token():
    result = resolve(
        explicit=[
            {"name": "lab", "uid": 1500, "jupyter_port": 9999, "jupyter_password_hash": SHA1}
        ],
        users=["alice", "bob"],
        jupyter_password_hash={"alice": ARGON},
    )
    assert result["errors"] == []
    assert result["password_hashes"] == {"dl-alice": ARGON, "lab": SHA1}
    auth = {c["name"]: c["auth"] for c in result["containers"]}
    assert auth == {"lab": "password", "dl-alice": "password", "dl-bob": "token"}
    # the hashes never travel in the containers' specs (which tasks loop over and log)
    assert all(ARGON not in str(c) and SHA1 not in str(c) for c in result["containers"])


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ({"carol": ARGON}, "names no declared container or user: carol"),
        ({"alice": "hunter2"}, "container dl-alice: the Jupyter password hash must be"),
        (["x"], "must be a hash or a mapping"),
    ],
)
def test_bad_password_settings_are_named(setting, message):
    result = resolve(users=["alice"], jupyter_password_hash=setting)
    assert any(message in e for e in result["errors"]), result["errors"]


def test_info_gives_addresses_and_the_tunnel_as_printed():
    containers = [
        {"name": "dl-alice", "user": "alice", "state": "started", "gpus_label": "0",
         "jupyter_port": 8888},
    ]  # fmt: skip
    ssh = {"user": "ops", "host": "10.0.0.5", "port": 2222, "key": "/keys/my key",
           "args": "-o StrictHostKeyChecking=yes"}  # fmt: skip
    [row] = plugin.info(containers, "127.0.0.1", ssh)
    assert row["jupyter"] == "127.0.0.1:8888"
    assert row["tensorboard"] == "127.0.0.1:8888/proxy/6006/"
    assert row["tunnel"] == (
        "ssh -N -L 8888:127.0.0.1:8888 -p 2222 -i '/keys/my key' "
        "-o StrictHostKeyChecking=yes ops@10.0.0.5"
    )
    # what the inventory does not set stays out of the command
    [bare] = plugin.info(containers, "127.0.0.1", {"host": "gpu-1", "port": None, "key": None})
    assert bare["tunnel"] == "ssh -N -L 8888:127.0.0.1:8888 root@gpu-1"


# -- shared folders: nobody gets root through a path -------------------------------------
@pytest.mark.parametrize(
    ("folder", "message"),
    [
        ("/etc", "shared_folder /etc is a system folder or inside one"),
        ("/etc/ssh", "shared_folder /etc/ssh is a system folder or inside one"),
        ("/var/lib/docker/volumes/x", "is a system folder or inside one"),
        ("/usr//local/", "shared_folder /usr/local is a system folder"),
        ("/home", "shared_folder /home is a system folder"),
        ("/srv", "shared_folder /srv is a system folder"),
        ("/srv/dlfleet/shared", "is or holds dlfleet's own folder /srv/dlfleet/shared"),
        ("/srv/dlfleet", "is or holds dlfleet's own folder /srv/dlfleet/shared"),
        ("/srv/dlfleet/home/alice", "is inside dlfleet's own folder /srv/dlfleet/home"),
        ("/opt/secrets/x", "inside dlfleet's own folder /opt/secrets (dl_containers_secrets_dir)"),
    ],
)
def test_system_and_dlfleet_folders_are_refused(folder, message):
    result = resolve(
        explicit=[{"name": "a", "uid": 1500, "shared_folder": folder}],
        home_root="/srv/dlfleet/home",
        secrets_dir="/opt/secrets",
    )
    assert any(message in e and e.startswith("container a:") for e in result["errors"]), result


def test_overlapping_folders_are_refused_naming_both():
    result = resolve(
        explicit=[
            {"name": "a", "uid": 1500, "shared_folder": "/data/team"},
            {"name": "b", "uid": 1501, "shared_folder": "/data/team/b", "jupyter_port": 9000},
        ],
        users=["alice"],
        common_folder="/srv/dlfleet/shared/alice/common",
    )
    assert any(
        "container b: shared_folder /data/team/b overlaps container a's /data/team" in e
        for e in result["errors"]
    ), result["errors"]
    assert any(
        "container dl-alice: shared_folder /srv/dlfleet/shared/alice overlaps the common folder"
        in e
        for e in result["errors"]
    ), result["errors"]


def test_who_owns_which_folder():
    result = resolve(
        explicit=[
            {"name": "ds", "uid": 1500, "shared_folder": "/data/imagenet"},
            {"name": "mine", "uid": 1501, "shared_folder": "/data/mine", "jupyter_port": 9000,
             "own_shared_folder": True},
            {"name": "lab", "user": "bob", "jupyter_port": 9001},
            {"name": "home", "user": "alice", "shared_folder": "/home/alice/work",
             "jupyter_port": 9002},
        ],
        users=["alice"],
    )  # fmt: skip
    assert result["errors"] == []
    own = {c["name"]: c["shared_folder_own"] for c in result["containers"]}
    # an existing dataset is mounted as it is; dlfleet's own folders and handed-over ones owned
    assert own == {"ds": "no", "mine": "force", "lab": "yes", "home": "no", "dl-alice": "yes"}
    folders = {(f["path"], f["own"], f["owner"], f["mode"]) for f in result["folders"]}
    assert ("/srv/dlfleet/shared/lab", "yes", 1002, "0750") in folders
    # each workspace's persistent home: under its owner, the owner's alone
    assert ("/srv/dlfleet/home/bob/lab", "yes", 1002, "0700") in folders
    assert ("/srv/dlfleet/home/uid-1500/ds", "yes", 1500, "0700") in folders
    assert result["roots"] == ["/srv/dlfleet/home", "/srv/dlfleet/shared"]
    assert {c["name"]: result["env"][c["name"]]["HOME"] for c in result["containers"]}[
        "lab"
    ] == result["home_mount"]


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"name": "a"}, "container a: says neither user nor uid"),
        ({"name": "a", "uid": 1500, "gid": 0}, "container a: gid must be 1 or more, got 0"),
        ({"name": "a", "uid": -5}, "container a: uid must be 1 or more, got -5"),
        ({"name": "a", "uid": 1500, "gid": -1}, "container a: gid must be 1 or more"),
    ],
)
def test_every_entry_names_a_non_root_owner(entry, message):
    errors = resolve(explicit=[entry])["errors"]
    assert any(message in e for e in errors), errors


def test_ipv6_bind_address_is_bracketed():
    assert resolve(users=["alice"], bind_address="::1")["bind"] == "[::1]"
    assert resolve(users=["alice"])["bind"] == "127.0.0.1"


# -- secrets never in specs or errors ----------------------------------------------------
SECRET = "hf_SECRETtokenValue123"  # noqa: S105 - a stand-in secret to look for


@pytest.mark.parametrize(
    "env",
    [
        {"HF_TOKEN": {"nested": SECRET}},
        {"HF_TOKEN": [SECRET]},
        [f"HF_TOKEN={SECRET}"],
        f"HF_TOKEN={SECRET}",
        {f"BAD KEY {SECRET}": SECRET},
        {"NVIDIA_VISIBLE_DEVICES": SECRET},
    ],
)
def test_env_errors_name_the_key_never_the_value(env):
    for result in (
        resolve(explicit=[{"name": "a", "uid": 1500, "env": env}]),
        resolve(users=["alice"], env=env),
    ):
        assert result["errors"], result
        assert SECRET not in str(result["errors"])


def test_env_values_travel_apart_from_the_specs():
    result = resolve(users=["alice"], env={"HF_TOKEN": SECRET})
    assert result["errors"] == []
    assert SECRET not in str(result["containers"]) and SECRET not in str(result["folders"])
    assert result["env"]["dl-alice"]["HF_TOKEN"] == SECRET


# -- GPUs: what a workspace sees is what it was given, on every engine and runtime ---------
def test_visible_devices_follow_the_gpus_given():
    result = resolve(
        explicit=[
            {"name": "none", "uid": 1500, "gpus": "none"},
            {"name": "one", "uid": 1501, "gpus": "1", "jupyter_port": 9000},
            {"name": "ids", "uid": 1502, "gpus": "0,2", "jupyter_port": 9001},
            {"name": "all", "uid": 1503, "gpus": "all", "jupyter_port": 9002},
        ],
        gpu_count=4,
        toolkit=True,
    )
    assert result["errors"] == []
    visible = {name: env["NVIDIA_VISIBLE_DEVICES"] for name, env in result["env"].items()}
    # "void": the NVIDIA runtime attaches nothing, whatever the image says (it sets "all")
    assert visible == {"none": "void", "one": "0", "ids": "0,2", "all": "all"}
    split = resolve(users=["alice", "bob"], gpu_count=4, toolkit=True, partition_gpus=True)
    assert [split["env"][n]["NVIDIA_VISIBLE_DEVICES"] for n in ("dl-alice", "dl-bob")] == [
        "0,2",
        "1,3",
    ]


# -- ports: never handed out twice ----------------------------------------------------------
def test_users_beside_a_declared_workspace_get_other_ports():
    result = resolve(explicit=[{"name": "dl-lab", "uid": 1500}], users=["alice", "bob"])
    assert result["errors"] == []
    ports = {c["name"]: c["jupyter_port"] for c in result["containers"]}
    assert ports == {"dl-lab": 8888, "dl-alice": 8889, "dl-bob": 8890}


def test_a_stopped_workspace_keeps_its_port():
    stopped = {
        "Names": ["/dl-dave"],
        "State": "exited",
        "Ports": [],  # the engine lists no ports for a stopped container
        "Labels": {"io.dlfleet.container": "dl-dave", "io.dlfleet.jupyter_port": "8888"},
    }
    result = plugin.resolve([], ["alice"], {}, SETTINGS, ACCOUNTS, 0, False, [stopped])
    assert result["containers"][0]["jupyter_port"] == 8889
    assert result["undeclared"] == ["dl-dave"]


def test_running_lists_declared_workspaces_the_engine_runs():
    engine = [
        {"Names": ["/dl-alice"], "State": "running", "Labels": {}},
        {"Names": ["/dl-bob"], "State": "exited", "Labels": {}},
    ]
    result = plugin.resolve([], ["alice", "bob"], {}, SETTINGS, ACCOUNTS, 0, False, engine)
    assert result["running"] == ["dl-alice"]


# -- a change of owner ----------------------------------------------------------------------
def _stat(name, kind, uid=None, checksum=None):
    stat = {"exists": uid is not None}
    if uid is not None:
        stat.update(uid=uid, checksum=checksum)
    return {"item": [name, kind], "stat": stat}


def test_a_new_owner_gets_a_new_token():
    spec = resolve(explicit=[{"name": "lab", "user": "bob"}])
    same = plugin.owners(spec["containers"], [_stat("lab", "token", 1002)], {})
    assert same == {"new_tokens": [], "errors": []}
    changed = plugin.owners(spec["containers"], [_stat("lab", "token", 1001)], {})
    assert changed["new_tokens"] == ["lab"]


def test_a_new_owner_does_not_keep_the_previous_password():
    import hashlib

    spec = resolve(explicit=[{"name": "lab", "user": "bob", "jupyter_password_hash": ARGON}])
    digest = hashlib.sha1((ARGON + "\n").encode()).hexdigest()  # noqa: S324 - as stat computes
    kept = plugin.owners(
        spec["containers"], [_stat("lab", "password", 1001, digest)], spec["password_hashes"]
    )
    assert any("owner changed (uid 1001 -> 1002)" in e for e in kept["errors"])
    assert ARGON not in str(kept["errors"])
    fresh = plugin.owners(
        spec["containers"], [_stat("lab", "password", 1001, "0" * 40)], spec["password_hashes"]
    )
    assert fresh["errors"] == []


def test_activity_reads_the_probe():
    results = [
        {"item": "dl-alice", "rc": 0, "stdout": '["bash", "python3"]'},
        {"item": "dl-bob", "rc": 0, "stdout": "[]"},
        {"item": "dl-carol", "skipped": True},
        # a workspace that cannot say (no Python, a failed exec): its work is kept all the same
        {"item": "dl-dave", "rc": 126, "stdout": "", "failed": False},
    ]
    assert plugin.activity(results) == {
        "dl-alice": ["bash", "python3"],
        "dl-dave": ["activity unknown: the check failed"],
    }


def test_the_activity_probe_runs_and_ignores_itself():
    import json
    import subprocess
    import sys

    out = subprocess.run(
        [sys.executable, "-c", plugin.ACTIVITY_PROBE], capture_output=True, text=True, check=True
    )
    programs = json.loads(out.stdout)
    assert isinstance(programs, list)
    assert not any("dlfleet-activity-probe" in p for p in programs)


HOST = {
    "mount_path": "/workspace/shared",
    "secrets_dir": "/etc/dlfleet/jupyter",
    "common_folder": "",
    "bind": "127.0.0.1",
    "bind_address": "127.0.0.1",
    "ulimits": ["stack:67108864:67108864"],
    "restart_policy": "unless-stopped",
}


def test_a_workspace_is_one_definition_of_what_the_engine_runs():
    spec = resolve(
        [{"name": "dl-team", "user": "alice", "gpus": "all", "cpus": 2, "memory": "16g"}],
        ["bob"],
        gpu_count=2,
        toolkit=True,
        labels={"team": "vision"},
    )
    assert spec["errors"] == []
    team, bob = (plugin.workspace(c, HOST) for c in spec["containers"])
    assert team["user"] == "1001:1001" and bob["user"] == "1002:100"
    assert team["command"] == ["lab"]
    assert team["published_ports"] == [f"127.0.0.1:{spec['containers'][0]['jupyter_port']}:8888"]
    # the shared folder, the persistent home, the Jupyter secret read-only; nothing else
    assert team["volumes"] == [
        f"{spec['containers'][0]['shared_folder']}:/workspace/shared:rw",
        f"{spec['containers'][0]['home_folder']}:{plugin.HOME_MOUNT}:rw",
        "/etc/dlfleet/jupyter/dl-team.token:/run/secrets/jupyter_token:ro",
    ]
    assert (team["cpus"], team["memory"]) == (2.0, "16g")
    assert (bob["cpus"], bob["memory"]) == (None, None)  # no limit: the option is left out
    assert team["privileged"] is False and bob["privileged"] is False
    assert team["labels"] == {
        "team": "vision",
        "io.dlfleet.container": "dl-team",
        "io.dlfleet.user": "alice",
        "io.dlfleet.uid": "1001",
        "io.dlfleet.jupyter_port": str(spec["containers"][0]["jupyter_port"]),
        "io.dlfleet.gpus": "all",
        "io.dlfleet.bind": "127.0.0.1",
    }
    assert team["healthcheck"]["test"][:2] == ["CMD", "python3"]
    assert team["ulimits"] == ["stack:67108864:67108864"]


def test_a_workspace_mounts_its_own_secret_and_the_common_folder_when_given():
    spec = resolve(
        [{"name": "ws", "user": "alice", "jupyter_password_hash": "sha1:abcd:0123"}],
    )
    host = {**HOST, "common_folder": "/srv/common", "bind": "[::1]", "bind_address": "::1"}
    ws = plugin.workspace(spec["containers"][0], host)
    assert ws["volumes"][2:] == [
        "/etc/dlfleet/jupyter/ws.password:/run/secrets/jupyter_password_hash:ro",
        "/srv/common:/workspace/common:rw",
    ]
    assert ws["published_ports"][0].startswith("[::1]:")
    # a server the hub signs users into has no Jupyter secret of its own to mount
    hub = plugin.workspace({**spec["containers"][0], "auth": "hub"}, host)
    assert not [v for v in hub["volumes"] if "/run/secrets/" in v]


def test_the_health_check_is_what_running_workspaces_were_created_with():
    """A changed health check recreates every workspace on the next provision run: its text is
    held here. The activity probe leaves the check's own process out by the same text."""
    call = "urllib.request.urlopen('http://127.0.0.1:8888/api'"
    assert plugin.HEALTHCHECK["test"] == [
        "CMD", "python3", "-c", f"import urllib.request; {call}, timeout=3)",
    ]  # fmt: skip
    assert repr(call) in plugin.ACTIVITY_PROBE
    compile(plugin.ACTIVITY_PROBE, "probe", "exec")
