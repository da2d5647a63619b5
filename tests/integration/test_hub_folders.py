"""The hub makes a user's folders on a GPU host through that host's engine alone: a short-lived
root container runs dlfleet_folders' own code on the host's roots. Against this machine's
engine: the user's uid comes from the host's passwd, parents are root's, and a link a user
planted is refused, never followed (the target keeps its owner)."""

from __future__ import annotations

import os

import pytest

from dlfleet import plugins

spawner = plugins.role_file("dl_hub", "dl_hub_spawner")
IMAGE = "dlfleet-lab/noble:latest"  # any image with python3; the hub uses the host's DL image


@pytest.fixture
def roots(docker_client, tmp_path):
    try:
        docker_client.images.get(IMAGE)
    except Exception:  # noqa: BLE001
        pytest.skip(f"needs the lab's {IMAGE} (built by invoke lab.images or the suite)")
    (tmp_path / "shared").mkdir()
    (tmp_path / "home").mkdir()
    passwd = tmp_path / "passwd"
    passwd.write_text("root:x:0:0::/root:/bin/sh\nalice:x:2101:2102::/home/alice:/bin/bash\n")
    return tmp_path


def folders(root, user):
    return [
        {"path": f"{root}/shared/{user}", "mode": "0750", "own": "yes", "name": f"dlfleet-hub-{user}"},
        {"path": f"{root}/home/{user}/dlfleet-hub-{user}", "mode": "0700", "own": "yes",
         "name": f"dlfleet-hub-{user}"},
    ]  # fmt: skip


def make(docker_client, root, user, uid=None, gid=None):
    spec = {"user": user, "uid": uid, "gid": gid, "folders": folders(root, user)}
    return spawner.make_folders(
        docker_client, IMAGE, f"dlfleet-test-folders-{user}", spec,
        [f"{root}/shared", f"{root}/home"], accounts=str(root / "passwd"),
    )  # fmt: skip


def test_folders_are_the_users_on_that_host_and_parents_roots(docker_client, roots):
    made = make(docker_client, roots, "alice", uid=1000, gid=1000)
    assert made == {"uid": 2101, "gid": 2102, "error": ""}  # the host's passwd wins
    shared = os.stat(roots / "shared" / "alice")
    home = os.stat(roots / "home" / "alice" / "dlfleet-hub-alice")
    parent = os.stat(roots / "home" / "alice")
    assert (shared.st_uid, shared.st_gid, shared.st_mode & 0o777) == (2101, 2102, 0o750)
    assert (home.st_uid, home.st_gid, home.st_mode & 0o777) == (2101, 2102, 0o700)
    assert (parent.st_uid, parent.st_mode & 0o777) == (0, 0o711)
    # a second start changes nothing and keeps what is inside
    (roots / "shared" / "alice" / "data.txt").write_text("kept")
    assert make(docker_client, roots, "alice") == made
    assert (roots / "shared" / "alice" / "data.txt").read_text() == "kept"
    assert not docker_client.containers.list(all=True, filters={"name": "dlfleet-test-folders"})


def test_an_account_the_host_lacks_takes_the_hubs_or_is_refused(docker_client, roots):
    assert make(docker_client, roots, "bob", uid=3001, gid=3001)["uid"] == 3001
    assert "no account" in make(docker_client, roots, "carol")["error"]


def test_a_planted_link_is_refused_and_its_target_keeps_its_owner(docker_client, roots):
    target = roots / "target"
    target.mkdir()
    os.chown(target, 4242, 4242)
    os.symlink(target, roots / "shared" / "alice")
    made = make(docker_client, roots, "alice")
    assert "symbolic link" in made["error"]
    assert os.stat(target).st_uid == 4242
