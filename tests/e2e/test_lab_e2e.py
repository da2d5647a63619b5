"""End to end: a lab of real systemd hosts, provisioned twice, then torn down.

Slow (minutes): it installs the Docker engine on each lab host from the real archives,
through the shared apt cache. Run with `invoke test.e2e`.
"""

import os
import subprocess
import time

import pytest

from dlfleet import app, engine
from dlfleet.lab import LABEL

pytestmark = pytest.mark.e2e

LAB = "dlfleet-e2e"


@pytest.fixture(scope="module")
def settings(tmp_path_factory):
    engine.ensure_engine(print)
    s = app.Settings(
        state_dir=str(tmp_path_factory.mktemp("state")),
        lab_name=LAB,
        lab_hosts=os.environ.get("DLFLEET_E2E_HOSTS", "xenial=1,noble=1"),
    )
    the_lab = s.lab()
    the_lab.down()  # a lab left over by an interrupted run
    yield s
    the_lab.down()


def test_lab_provisions_and_second_run_changes_nothing(settings):
    the_lab = settings.lab_up()
    hosts = the_lab.hosts()
    assert {h.os for h in hosts} == {"xenial", "noble"}
    assert all(h.status == "running" and h.address for h in hosts)

    # provision --check on fresh hosts completes and changes nothing
    checked = app.provision(settings, check=True)
    assert checked.ok, checked.failures
    assert _engine_missing(the_lab, hosts)

    first = app.provision(settings)
    assert first.ok, first.failures
    assert set(first.hosts) == {h.name for h in hosts}

    second = app.provision(settings)
    assert second.ok, second.failures
    assert {h: s["changed"] for h, s in second.hosts.items()} == dict.fromkeys(first.hosts, 0)

    for host in hosts:
        out = _ssh(
            the_lab,
            host.name,
            "systemctl is-active docker && docker info --format '{{.ServerVersion}}'",
        )
        assert out.splitlines()[0] == "active"
        assert out.splitlines()[1][:2].isdigit()
        # the image was built once (on noble) and loaded everywhere else
        images = _ssh(
            the_lab, host.name, "docker images --format '{{.Repository}}:{{.Tag}}' dlfleet/dl"
        )
        assert images.strip().startswith("dlfleet/dl:cpu-"), images

    # the workspace answers on noble, and only with its token
    noble = next(h for h in hosts if h.os == "noble")
    for _ in range(60):
        proc = subprocess.run(
            [*the_lab.ssh_argv(noble.name), "python3 -"],
            input=JUPYTER_PROBE, capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        if proc.stdout.split() == ["403", "200"]:
            break
        time.sleep(2)
    assert proc.stdout.split() == ["403", "200"], proc.stdout + proc.stderr


JUPYTER_PROBE = """
import urllib.error, urllib.request

def status(url, headers={}):
    try:
        request = urllib.request.Request(url, headers=headers)
        return urllib.request.urlopen(request, timeout=5).status
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return 0

token = open("/etc/dlfleet/jupyter/dl-lab.token").read().strip()
url = "http://127.0.0.1:8888/api/contents"
print(status(url), status(url, {"Authorization": "token " + token}))
"""


def test_down_removes_exactly_the_lab(settings, docker_client):
    bystander = docker_client.volumes.create("dlfleet-e2e-bystander")
    try:
        removed = settings.lab().down()
        assert any(name.startswith(LAB) for name in removed)
        assert docker_client.containers.list(all=True, filters={"label": f"{LABEL}={LAB}"}) == []
        assert docker_client.volumes.list(filters={"label": f"{LABEL}={LAB}"}) == []
        assert docker_client.networks.list(names=[LAB]) == []
        assert docker_client.volumes.get("dlfleet-e2e-bystander")
    finally:
        bystander.remove()


def _ssh(the_lab, host, command):
    proc = subprocess.run(
        [*the_lab.ssh_argv(host), command], capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def _engine_missing(the_lab, hosts):
    return all(
        subprocess.run(
            [*the_lab.ssh_argv(h.name), "test ! -e /lib/systemd/system/docker.service"],
            timeout=60,
            check=False,
        ).returncode
        == 0
        for h in hosts
    )
