"""End to end: the fleet's front door on a lab of a hub (`lab.up --hub`) and two simulated GPU
hosts of 2 GPUs each (``noble+gpu2=2``), provisioned by the site playbook.

Researchers sign in through the real login form (an HTTP client with cookies and XSRF, the
one the dl_hub scenario uses: roles/dl_hub/molecule/default/files/hubclient.py) and start
servers from the spawn page; placement, the GPU ledger, the workspace standard, the hub's
restart, a provision run beside running servers and the idle culler are checked on what the
GPU hosts' engines run. The idle timeout is set where users set it: the inventory's
group_vars beside the lab's inventory. Run with `invoke test.e2e`.
"""

from __future__ import annotations

import importlib.util
import os
import socket
import subprocess
import time

import pytest
import requests
import yaml

from dlfleet import app, engine, paths
from dlfleet.settings import Settings
from dlfleet.testsuite import E2E_HUB_LAB

pytestmark = pytest.mark.e2e

HUB = "hub-1"
GPU_HOSTS = ("noble-gpu2-1", "noble-gpu2-2")
_spec = importlib.util.spec_from_file_location(
    "hubclient", paths.ROLES / "dl_hub" / "molecule" / "default" / "files" / "hubclient.py"
)
client = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(client)


@pytest.fixture(scope="module")
def settings(tmp_path_factory):
    engine.ensure_engine(print)
    s = Settings(
        state_dir=str(tmp_path_factory.mktemp("state")),
        lab_name=E2E_HUB_LAB,
        lab_hosts=os.environ.get("DLFLEET_E2E_HUB_HOSTS", "noble+gpu2=2"),
    )
    s.lab().down()  # a lab left over by an interrupted run
    yield s
    s.lab().down()


@pytest.fixture(scope="module")
def fleet(settings, tmp_path_factory):
    the_lab = settings.lab_up(hub=True)
    found = {h.name: h for h in the_lab.hosts()}
    assert sorted(found) == [HUB, *GPU_HOSTS]
    assert found[HUB].hub and [found[g].gpu for g in GPU_HOSTS] == [2, 2]
    group_vars = the_lab.inventory_path.parent / "group_vars"
    group_vars.mkdir(exist_ok=True)
    (group_vars / "dlfleet_hub.yml").write_text(yaml.safe_dump({"dl_hub_admins": ["alice"]}))
    result = app.provision(settings)
    assert result.ok, result.failures
    ca = tmp_path_factory.mktemp("hub") / "hub.crt"
    ca.write_text(_ssh(the_lab, HUB, "cat /etc/dlfleet/hub/tls/hub.crt"))
    return {
        "lab": the_lab,
        "base": f"https://{found[HUB].address}",
        "ca": str(ca),
        "accounts": the_lab.hub_accounts(),
        "group_vars": group_vars,
        "addresses": {name: h.address for name, h in found.items()},
    }


def _ssh(the_lab, host, command):
    proc = subprocess.run(
        [*the_lab.ssh_argv(host), command], capture_output=True, text=True, timeout=120, check=False
    )
    assert proc.returncode == 0, (host, command, proc.stderr[-500:])
    return proc.stdout


def _act(fleet, action, user, arg="", password=None):
    """One researcher's action through the hub, as hubclient prints it."""
    s = client.signed_in(fleet["base"], fleet["ca"], user, password or fleet["accounts"][user])
    if action == "start":
        return client.start(s, fleet["base"], user, arg)
    if action == "kernel":
        code = f"open('/workspace/shared/{arg}', 'w').write('from a kernel of {user}\\n')"
        status, reply = client.run_in_kernel(s, fleet["base"], user, code, fleet["ca"])
        return {"status": status, "reply": reply.get("status")}
    if action == "peek":
        return client.peek(s, fleet["base"], arg)
    if action == "stop":
        return client.stop(s, fleet["base"], user)
    raise AssertionError(action)


def _wait_for_hub(fleet, deadline=120):
    """Until the hub answers through its proxy again (a restart's few seconds)."""
    session = requests.Session()
    session.trust_env = False  # the hub's own certificate, whatever the environment names
    end = time.monotonic() + deadline
    while True:
        try:
            answer = session.get(f"{fleet['base']}/hub/api", verify=fleet["ca"], timeout=5)
            if answer.status_code == 200:
                return
        except requests.RequestException:
            pass
        assert time.monotonic() < end, f"the hub did not answer within {deadline} s of its restart"
        time.sleep(1)


def _servers(fleet):
    """{user: (host, GPUs, container id, image)} of the hub's servers the GPU hosts run."""
    out = {}
    for host in GPU_HOSTS:
        lines = _ssh(
            fleet["lab"], host,
            "docker ps --filter label=io.dlfleet.hub=1 --format "
            "'{{.Label \"io.dlfleet.user\"}} {{.Label \"io.dlfleet.gpus\"}} {{.ID}} {{.Image}}'",
        ).split("\n")  # fmt: skip
        for line in filter(None, lines):
            user, gpus, cid, image = line.split()
            out[user] = (host, gpus, cid, image)
    return out


def test_three_users_land_on_three_distinct_gpus(settings, fleet):
    for user in ("alice", "bob", "carol"):
        started = _act(fleet, "start", user, "1-gpu")
        assert started["ready"], (user, started)
    servers = _servers(fleet)
    assert sorted(servers) == ["alice", "bob", "carol"]
    pairs = {(host, gpus) for host, gpus, _, _ in servers.values()}
    assert len(pairs) == 3 and all("," not in gpus and gpus != "none" for _, gpus in pairs)
    # `invoke hub.users` reads the same from the hub's own record
    seen = app.query(settings, "playbooks/hub_users.yml")
    rows = {r["user"]: r for r in seen.data["hub_users"][HUB] if r["running"]}
    assert {u: (r["host"], ",".join(r["gpus"])) for u, r in rows.items()} == {
        u: (host, gpus) for u, (host, gpus, _, _) in servers.items()
    }
    # each holds specific devices, as the engine was asked
    host, gpus, cid, _ = servers["alice"]
    requests = _ssh(
        fleet["lab"], host, f"docker inspect -f '{{{{json .HostConfig.DeviceRequests}}}}' {cid}"
    )
    assert f'"DeviceIDs":["{gpus}"]' in requests, requests


def test_a_fourth_asking_two_gpus_is_told_none_has_two_free(fleet):
    started = _act(fleet, "start", "dave", "2-gpus")
    assert not started["ready"]
    assert "no host has 2 free GPUs" in started["message"], started


def test_a_kernel_writes_into_the_users_shared_folder_as_the_user(fleet):
    done = _act(fleet, "kernel", "alice", "from-kernel.txt")
    assert done == {"status": 201, "reply": "ok"}, done
    host = _servers(fleet)["alice"][0]
    owner = _ssh(fleet["lab"], host, "stat -c %u /srv/dlfleet/shared/alice/from-kernel.txt")
    uid = _ssh(fleet["lab"], HUB, "id -u alice")
    assert owner.strip() == uid.strip()  # the hub host's account: the GPU host has none


def test_one_users_session_cannot_open_anothers_server_and_a_wrong_password_is_refused(fleet):
    assert _act(fleet, "peek", "alice", "alice") == {"page": 200, "api": 200}
    assert _act(fleet, "peek", "bob", "alice") == {"page": 403, "api": 403}
    with pytest.raises(SystemExit):
        client.signed_in(fleet["base"], fleet["ca"], "bob", "not-his-password")


def test_a_servers_port_answers_the_hub_alone(fleet):
    host, _, cid, _ = _servers(fleet)["alice"]
    port = int(_ssh(fleet["lab"], host, f"docker port {cid} 8888/tcp").split()[0].rsplit(":", 1)[1])
    address = fleet["addresses"][host]
    probe = (
        'python3 -c "import urllib.request; print(urllib.request.urlopen('
        f"'http://{address}:{port}/user/alice/api', timeout=10).status)\""
    )
    assert _ssh(fleet["lab"], HUB, probe).strip() == "200"  # the hub's proxy reaches it
    # another host of the fleet (its workspaces, its users) and this machine are reset
    other = next(h for h in GPU_HOSTS if h != host)
    proc = subprocess.run(
        [*fleet["lab"].ssh_argv(other), probe], capture_output=True, text=True, timeout=60,
        check=False,
    )  # fmt: skip
    assert proc.returncode != 0 and "refused" in proc.stderr, proc.stderr[-300:]
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((address, port), timeout=10).close()


def test_a_hub_restart_keeps_servers_running_and_reachable(fleet):
    before = _servers(fleet)
    _ssh(fleet["lab"], HUB, "systemctl restart dlfleet-hub")
    _wait_for_hub(fleet)
    assert _act(fleet, "kernel", "bob", "after-restart.txt") == {"status": 201, "reply": "ok"}
    assert _servers(fleet) == before


def test_a_second_provision_run_changes_nothing_and_stops_no_server(settings, fleet):
    before = _servers(fleet)
    again = app.provision(settings)
    assert again.ok, again.failures
    assert {h: s["changed"] for h, s in again.hosts.items()} == dict.fromkeys([HUB, *GPU_HOSTS], 0)
    assert _servers(fleet) == before


def test_a_new_image_reaches_the_next_start_and_the_run_stops_no_server(settings, fleet):
    """A new image on the GPU hosts (the old one with one more label, as a rebuild leaves it),
    declared where a site pins its image (the hosts' host_vars), and the hub's provision run:
    the running servers keep running on the old one; a server started next uses the new one."""
    before = _servers(fleet)
    old = before["carol"][3]
    new = old.rsplit(":", 1)[0] + ":rebuilt"
    host_vars = fleet["lab"].inventory_path.parent / "host_vars"
    host_vars.mkdir(exist_ok=True)
    dockerfile = f"FROM {old}\\nLABEL io.dlfleet.test.rebuilt=1\\n"
    for host in GPU_HOSTS:  # the classic builder: FROM an image of this engine, no registry
        _ssh(
            fleet["lab"],
            host,
            f"printf '{dockerfile}' | DOCKER_BUILDKIT=0 docker build -q -t {new} -",
        )
        (host_vars / f"{host}.yml").write_text(yaml.safe_dump({"dl_image_ref": new}))
    result = app.provision(settings, tags=["dl_hub"], limit="dlfleet_hub")
    assert result.ok, result.failures
    assert _servers(fleet) == before  # same containers, same image, still running
    assert _act(fleet, "stop", "carol")["stopped"]
    assert _act(fleet, "start", "carol", "1-gpu")["ready"]
    host, _, cid, image = _servers(fleet)["carol"]
    assert image == new and cid != before["carol"][2]
    template = '{{index .Config.Labels "io.dlfleet.test.rebuilt"}}'
    label = _ssh(fleet["lab"], host, f"docker inspect -f '{template}' {cid}")
    assert label.strip() == "1"


def test_the_culler_stops_idle_servers_and_their_gpus_go_to_the_next(settings, fleet):
    (fleet["group_vars"] / "dlfleet_hub.yml").write_text(
        yaml.safe_dump({"dl_hub_admins": ["alice"], "dl_hub_idle_timeout": 60})
    )
    result = app.provision(settings, tags=["dl_hub"], limit="dlfleet_hub")
    assert result.ok, result.failures
    for _ in range(60):  # the culler looks every half timeout
        if not _servers(fleet):
            break
        time.sleep(5)
    assert _servers(fleet) == {}
    # their files stay: alice's kernel's file and bob's, on the hosts they ran on
    kept = [
        _ssh(fleet["lab"], h, "ls /srv/dlfleet/shared/*/ 2>/dev/null || true") for h in GPU_HOSTS
    ]
    assert "from-kernel.txt" in "".join(kept) and "after-restart.txt" in "".join(kept)
    started = _act(fleet, "start", "dave", "2-gpus")
    assert started["ready"], started
    assert "," in _servers(fleet)["dave"][1]
