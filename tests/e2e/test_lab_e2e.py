"""End to end: the main job on a lab of real systemd hosts, with one host down at first and one
simulated GPU host on Ubuntu 22.04 (``jammy+gpu``: the GPU code paths of every role, the
CUDA 13 image).

Slow (minutes): it installs the Docker engine on each lab host from the real archives through
the shared apt cache, ships the deep-learning image and starts the workspaces. The tests run
in order on one lab: check mode on fresh hosts, a run with one host stopped, --retry-failed
once it is back, a no-change run, the outcome, and teardown. Run with `invoke test.e2e`.
"""

import os
import shlex
import subprocess
import time
import urllib.request

import pytest

from dlfleet import app, engine, report, views
from dlfleet.lab import LABEL
from dlfleet.runner import load_last_summary
from dlfleet.settings import Settings
from dlfleet.testsuite import E2E_LAB
from tests.labprobe import assert_jupyter_needs_its_token

pytestmark = pytest.mark.e2e

LAB = E2E_LAB
DOWN = "bookworm-1"  # the host that is stopped during the first run
GPU = "jammy-gpu-1"  # the simulated GPU host


@pytest.fixture(scope="module")
def settings(tmp_path_factory):
    engine.ensure_engine(print)
    s = Settings(
        state_dir=str(tmp_path_factory.mktemp("state")),
        lab_name=LAB,
        lab_hosts=os.environ.get("DLFLEET_E2E_HOSTS", "xenial=1,noble=1,bookworm=1,jammy+gpu=1"),
    )
    the_lab = s.lab()
    the_lab.down()  # a lab left over by an interrupted run
    yield s
    the_lab.down()


@pytest.fixture(scope="module")
def hosts(settings):
    the_lab = settings.lab_up()
    found = the_lab.hosts()
    assert {h.os for h in found} == {"xenial", "noble", "bookworm", "jammy"}
    assert [h.name for h in found if h.gpu] == [GPU]
    assert all(h.status == "running" and h.address for h in found)
    return found


def test_check_mode_on_fresh_hosts_changes_nothing(settings, hosts):
    checked = app.provision(settings, check=True)
    assert checked.ok, checked.failures
    assert _engine_missing(settings.lab(), hosts)


def test_a_stopped_host_does_not_stop_the_others(settings, hosts):
    settings.lab().stop([DOWN])
    first = app.provision(settings)
    assert not first.ok
    assert first.failed_hosts == [DOWN]
    for host in {h.name for h in hosts} - {DOWN}:
        assert first.hosts[host]["failed"] == 0 and first.hosts[host]["unreachable"] == 0

    seen = report.build(_report_run(settings), load_last_summary(settings.state))
    assert seen["hosts"][DOWN]["reachable"] is False
    assert seen["hosts"][DOWN]["last_run"]["result"] == "failed"
    assert seen["hosts"]["noble-1"]["docker"].startswith("24.0.7")
    assert any(
        c["labels"]["io.dlfleet.container"] == "dl-lab"
        for c in seen["hosts"]["noble-1"]["containers"]
    )


def test_retry_failed_finishes_the_job(settings, hosts):
    settings.lab().start([DOWN])
    retried = app.provision(settings, retry_failed=True)
    assert retried.ok, retried.failures
    assert set(retried.hosts) == {DOWN}


def test_second_run_changes_nothing(settings, hosts):
    # --fast, and no host has a record yet: the whole site runs everywhere (what this test
    # checks), and each host records what it left (what the fast test below starts from)
    again = app.provision(settings, fast=True)
    assert again.ok, again.failures
    assert again.request.playbook.name == "site.yml"
    assert {h: s["changed"] for h, s in again.hosts.items()} == {h.name: 0 for h in hosts}
    # the driver, toolkit, image and workspace roles all plan with GPU facts: each host is
    # detected once per run (nvidia_driver's detect), never from an earlier run's cache
    detected = {h: ran.get("dlfleet.fleet.nvidia_gpu_facts", 0) for h, ran in again.actions.items()}
    assert detected == {h.name: 1 for h in hosts}


def test_engine_image_and_workspaces_everywhere(settings, hosts):
    the_lab = settings.lab()
    for host in hosts:
        out = _ssh(
            the_lab,
            host.name,
            "systemctl is-active docker && docker info --format '{{.ServerVersion}}'",
        )
        assert out.splitlines()[0] == "active"
        assert out.splitlines()[1][:2].isdigit()
        # each image was built once and loaded everywhere else: the GPU host got the image of
        # its driver's CUDA line, the others the cpu image
        images = _ssh(
            the_lab, host.name, "docker images --format '{{.Repository}}:{{.Tag}}' dlfleet/dl"
        ).split()
        want = "dlfleet/dl:gpu-cu13-" if host.gpu else "dlfleet/dl:cpu-"
        assert any(i.startswith(want) for i in images), (host.name, images)

    # each workspace that can run here answers, and only with its token
    for host in (h for h in hosts if h.os != "xenial"):
        assert_jupyter_needs_its_token(the_lab, host.name)


def test_simulated_gpu_host_runs_the_gpu_path(settings, hosts):
    """Detection, the archive's 580 driver, the (stand-in) toolkit's runtime, the CUDA 13 image
    with its smoke check, and a workspace started with --gpus."""
    seen = report.build(_report_run(settings), load_last_summary(settings.state))["hosts"]
    gpu = seen[GPU]
    assert gpu["gpus"] == ["dlfleet lab stand-in GPU"]
    assert gpu["driver"].startswith("580.") and gpu["cuda"] == "13.0"
    assert gpu["cuda_line"] == "13"
    assert gpu["toolkit"] == "1.17.8-1" and "nvidia" in gpu["runtimes"]
    assert any(i.startswith("dlfleet/dl:gpu-cu13-") for i in gpu["images"]), gpu["images"]
    workspaces = {c["labels"]["io.dlfleet.container"]: c["labels"] for c in gpu["containers"]}
    assert workspaces["dl-lab"]["io.dlfleet.gpus"] == "all"
    # hosts without a GPU skip the driver and toolkit, and get no image line
    assert seen["noble-1"]["driver"] == "" and seen["noble-1"]["toolkit"] == ""
    the_lab = settings.lab()
    requests = _ssh(the_lab, GPU, "docker inspect -f '{{json .HostConfig.DeviceRequests}}' dl-lab")
    assert '"Driver":"nvidia"' in requests, requests


def test_the_printed_tunnel_reaches_jupyter(settings, hosts):
    """The tunnel line `invoke demo` and `containers.url` print, run exactly as printed."""
    lines = views.container_urls(app.query(settings, "playbooks/containers_url.yml"))
    at = next(i for i, line in enumerate(lines) if line.startswith("noble-1 dl-lab: "))
    url = lines[at].split(": ", 1)[1].split()[0]
    tunnel = lines[at + 1].split("tunnel: ", 1)[1]
    proc = subprocess.Popen(shlex.split(tunnel), stderr=subprocess.PIPE, text=True)  # noqa: S603
    try:
        answer = ""
        for _ in range(30):
            try:
                api = url.replace("/lab?", "/api/contents?")
                with urllib.request.urlopen(api, timeout=5) as response:  # noqa: S310 - localhost
                    answer = str(response.status)
                break
            except OSError as exc:
                answer = str(exc)
                time.sleep(1)
        assert answer == "200", f"{tunnel}: {answer}"
        # TensorBoard, through Jupyter, at the URL printed beside it (token in the URL)
        board = lines[at].split("(TensorBoard: ", 1)[1].rstrip(")")
        page = ""
        for _ in range(30):  # TensorBoard starts a little after Jupyter
            try:
                with urllib.request.urlopen(board, timeout=10) as response:  # noqa: S310
                    page = response.read().decode(errors="replace")
                if "TensorBoard" in page or "tensorboard" in page:
                    break
            except OSError as exc:
                page = str(exc)
            time.sleep(1)
        assert "ensorBoard" in page, f"{board}: {page[:300]}"
    finally:
        # the tunnel is the user's to close: SIGTERM, and where ssh is still tearing down a
        # forwarded channel on a loaded machine after 10 s, SIGKILL
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def test_a_fast_run_runs_the_site_only_where_a_host_differs(settings, hosts):
    """--fast, after the no-change run recorded every host (and the read-only tests since):
    one read of each host and no site run; a workspace removed behind dlfleet's back sends
    its host alone through the site, which puts it back; then no site run again."""
    names = {h.name for h in hosts}
    again = app.provision(settings, fast=True)
    assert again.ok, again.failures
    assert again.request.playbook.name == "converged.yml"
    assert again.data["converged"] == {h: [] for h in names}

    the_lab = settings.lab()
    _ssh(the_lab, "noble-1", "docker rm -f dl-lab")
    fixed = app.provision(settings, fast=True)
    assert fixed.ok, fixed.failures
    assert fixed.request.playbook.name == "site.yml" and set(fixed.hosts) == {"noble-1"}
    assert fixed.hosts["noble-1"]["changed"] > 0
    assert (
        _ssh(the_lab, "noble-1", "docker inspect -f '{{.State.Running}}' dl-lab").strip() == "true"
    )

    settled = app.provision(settings, fast=True)
    assert settled.request.playbook.name == "converged.yml", settled.data


def _report_run(settings):
    return app.query(settings, "playbooks/report.yml")


def test_down_removes_exactly_the_lab(settings, docker_client):
    bystander = docker_client.volumes.create("dlfleet-e2e-bystander")
    # what served the lab (wheelhouse, stand-in NVIDIA repositories) runs as its containers
    services = {f"{LABEL}={LAB}", f"{LABEL}.kind=service"}
    running = {c.name for c in docker_client.containers.list(filters={"label": list(services)})}
    assert {f"{LAB}-wheelhouse", f"{LAB}-nvidia-repo"} <= running
    try:
        removed = settings.lab().down()
        assert any(name.startswith(f"{LAB}-") for name in removed)
        assert running <= set(removed)
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
