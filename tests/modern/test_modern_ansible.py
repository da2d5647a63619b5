"""The second Ansible line: ansible-core 2.19 runs the site on a simulated GPU host on noble
(the GPU path of every role: detection, the archive's driver, the toolkit, the CUDA image, a
workspace with GPUs) and a bookworm host, and a team with its own Ansible uses the built
collection from an empty collections path.

Run with `invoke test.modern`, which installs the 2.19 toolchain into .venv-2.19 and runs
this module there (and the Molecule scenarios chosen for the line). Ubuntu 16.04 is not
here: ansible-core 2.17+ cannot manage it (the 2.16 suite covers it).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from ansible.release import __version__ as ansible_version

from dlfleet import app, engine, paths, report, testsuite, views
from dlfleet.runner import load_last_summary
from dlfleet.settings import Settings
from tests.labprobe import assert_jupyter_needs_its_token

pytestmark = [
    pytest.mark.modern,
    pytest.mark.skipif(
        not ansible_version.startswith("2.19."),
        reason=f"the ansible-core 2.19 line (this is {ansible_version}): run `invoke test.modern`",
    ),
]

LAB = testsuite.MODERN_LAB
BIN = Path(sys.executable).parent
CONSUMER_PLAYBOOK = """\
- hosts: all
  roles: [dlfleet.fleet.docker, dlfleet.fleet.dl_containers]
  become: true
"""


@pytest.fixture(scope="module")
def settings(tmp_path_factory):
    engine.ensure_engine(print)
    s = Settings(
        state_dir=str(tmp_path_factory.mktemp("state")), lab_name=LAB,
        lab_hosts="noble+gpu=1,bookworm=1",
    )  # fmt: skip
    s.lab().down()  # a lab left over by an interrupted run
    yield s
    s.lab().down()


@pytest.fixture(scope="module")
def hosts(settings):
    found = settings.lab_up().hosts()
    assert sorted(h.os for h in found) == ["bookworm", "noble"]
    assert [h.name for h in found if h.gpu] == ["noble-gpu-1"]
    return found


def test_the_modern_line_runs_the_playbooks():
    assert shutil.which("ansible-playbook") == str(BIN / "ansible-playbook")
    out = subprocess.run(
        [BIN / "ansible-playbook", "--version"], capture_output=True, text=True, check=True
    ).stdout
    assert "core 2.19." in out.splitlines()[0]


def test_site_converges_and_the_second_run_changes_nothing(settings, hosts):
    first = app.provision(settings)
    assert first.ok, first.failures
    again = app.provision(settings)
    assert again.ok, again.failures
    assert {h: s["changed"] for h, s in again.hosts.items()} == {h.name: 0 for h in hosts}


def test_workspaces_answer_only_with_their_token(settings, hosts):
    for host in hosts:
        assert_jupyter_needs_its_token(settings.lab(), host.name)


def test_the_gpu_path_and_the_read_only_playbooks(settings, hosts):
    """The GPU host's driver, toolkit, CUDA image and GPU workspace, as the report, ps, url
    and images playbooks hand them to Python: named fields, lists as lists."""
    seen = report.build(
        app.query(settings, "playbooks/report.yml"), load_last_summary(settings.state)
    )
    gpu = seen["hosts"]["noble-gpu-1"]
    assert gpu["gpus"] == ["dlfleet lab stand-in GPU"]
    assert gpu["driver"].startswith("580.") and gpu["cuda_line"] == "13"
    assert gpu["toolkit"] and "nvidia" in gpu["runtimes"]
    assert any(i.startswith("dlfleet/dl:gpu-cu13-") for i in gpu["images"]), gpu["images"]
    workspaces = {c["labels"]["io.dlfleet.container"]: c["labels"] for c in gpu["containers"]}
    assert workspaces["dl-lab"]["io.dlfleet.gpus"] == "all"
    assert seen["hosts"]["bookworm-1"]["driver"] == ""

    ps = app.query(settings, "playbooks/containers_ps.yml").data["containers"]
    images = app.query(settings, "playbooks/images_ls.yml").data["images"]
    urls = views.container_urls(app.query(settings, "playbooks/containers_url.yml"))
    for host in hosts:
        rows = ps[host.name]
        assert isinstance(rows, list), rows
        assert any(
            r["labels"]["io.dlfleet.container"] == "dl-lab" and r["state"] == "running"
            for r in rows
        ), rows
        assert any(t.startswith("dlfleet/dl:") for r in images[host.name] for t in r["tags"])
        line = next(u for u in urls if u.startswith(f"{host.name} dl-lab: http://localhost:"))
        assert "?token=" in line and len(line.split("?token=")[1].split()[0]) >= 32, line


def test_the_built_collection_from_an_empty_collections_path(settings, hosts, tmp_path):
    """Build the tarball, install it where nothing else is, run a three-line playbook of
    dlfleet.fleet.docker and dlfleet.fleet.dl_containers with no dlfleet configuration."""
    collections = tmp_path / "collections"
    # no dlfleet configuration: not this checkout's ansible.cfg, no ANSIBLE_* of the suite
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    env.update(ANSIBLE_COLLECTIONS_PATH=str(collections), ANSIBLE_ROLES_PATH=str(tmp_path))
    built = subprocess.run(
        [BIN / "ansible-galaxy", "collection", "build", "--output-path", tmp_path, paths.ROOT],
        cwd=tmp_path, env=env, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    tarball = re.search(r"(/\S+\.tar\.gz)", built).group(1)
    # --no-deps: community.docker & co. come with the `ansible` package (no Galaxy here)
    subprocess.run(
        [BIN / "ansible-galaxy", "collection", "install", "--no-deps", "-p", collections, tarball],
        cwd=tmp_path, env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert (collections / "ansible_collections/dlfleet/fleet/roles/docker").is_dir()
    assert (collections / "ansible_collections/dlfleet/fleet/plugins/filter").is_dir()
    playbook = tmp_path / "fleet.yml"
    playbook.write_text(CONSUMER_PLAYBOOK)
    proc = subprocess.run(
        [BIN / "ansible-playbook", "-i", settings.lab().inventory_path, playbook],
        cwd=tmp_path, env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert "dlfleet.fleet.docker : " in proc.stdout
    assert "dlfleet.fleet.dl_containers : " in proc.stdout
    recap = proc.stdout.rsplit("PLAY RECAP", 1)[1]
    for host in hosts:
        line = next(line for line in recap.splitlines() if line.startswith(host.name))
        # the site already converged these hosts: the collection's roles agree with it
        assert " failed=0 " in line and " unreachable=0 " in line, line
        assert " changed=0 " in line, line
    # from the collection's own tree, not this checkout's roles
    assert str(paths.ROLES) not in proc.stdout
