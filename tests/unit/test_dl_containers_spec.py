"""dl_containers' spec resolution: stable ports, GPU shares and every error before changes."""

import importlib.util

import pytest

from dlfleet import paths

_spec = importlib.util.spec_from_file_location(
    "dl_containers_filter", paths.FILTERS / "dl_containers.py"
)
plugin = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(plugin)

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
