"""dlfleet_folders on this machine's real filesystem: links planted by a user who owns part
of a path are refused, never followed; existing folders dlfleet did not make keep their
owner; folders it makes are owned by descriptor. Needs root (chown)."""

import os

import pytest

from dlfleet import plugins
from tests.roleruns import run_module

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="owning folders for users needs root")

module = plugins.module("dlfleet_folders")

ALICE, MALLORY = 2901, 2902


def run(folders, check=False):
    """The module as Ansible runs it (ansible's ad-hoc command, local connection)."""
    rc, out, err = run_module("dlfleet_folders", {"folders": folders}, check=check)
    return rc, out + err


def folder(path, own="yes", owner=ALICE, mode="0750"):
    return {"path": str(path), "owner": owner, "group": owner, "mode": mode, "own": own,
            "name": "dl-alice"}  # fmt: skip


def test_a_linked_component_is_refused_and_its_target_untouched(tmp_path):
    system = tmp_path / "system"  # stands for /etc: root's
    system.mkdir(mode=0o755)
    home = tmp_path / "home"  # a folder the user owns
    home.mkdir()
    os.chown(home, MALLORY, MALLORY)
    # the user replaces a component of their folder's path with a link to a system folder
    (home / "data").symlink_to(system)
    rc, out = run([folder(home / "data" / "project", owner=MALLORY)])
    assert rc != 0
    assert "is a symbolic link" in out and "container dl-alice" in out
    assert os.stat(system).st_uid == 0 and not (system / "project").exists()
    # the link as the folder itself: not followed either
    rc, out = run([folder(home / "data", owner=MALLORY)])
    assert rc != 0 and "is a symbolic link" in out
    assert os.stat(system).st_uid == 0


def test_an_existing_dataset_keeps_its_owner_unless_handed_over(tmp_path):
    data = tmp_path / "datasets" / "imagenet"
    data.mkdir(parents=True)
    os.chmod(data, 0o755)  # noqa: S103 - a dataset others read
    rc, out = run([folder(data, own="no")])
    assert rc == 0, out
    st = os.stat(data)
    assert (st.st_uid, oct(st.st_mode & 0o777)) == (0, "0o755")
    # the inventory hands it over (own_shared_folder: true)
    rc, out = run([folder(data, own="force")])
    assert rc == 0, out
    assert os.stat(data).st_uid == ALICE


def test_folders_dlfleet_makes_are_the_users_and_parents_roots(tmp_path):
    target = tmp_path / "shared" / "deep" / "alice"
    rc, out = run([folder(target)], check=True)
    assert rc == 0 and "CHANGED" in out, out
    assert not target.exists()  # check mode changes nothing
    rc, out = run([folder(target)])
    assert rc == 0 and "CHANGED" in out, out
    st, parent = os.stat(target), os.stat(target.parent)
    assert (st.st_uid, st.st_gid, st.st_mode & 0o777) == (ALICE, ALICE, 0o750)
    assert (parent.st_uid, parent.st_mode & 0o777) == (0, 0o711)
    rc, out = run([folder(target)])
    assert rc == 0 and "SUCCESS" in out, out  # second run: nothing to change


def test_another_users_folder_is_not_handed_over(tmp_path):
    theirs = tmp_path / "shared" / "lab"
    theirs.mkdir(parents=True)
    os.chown(theirs, MALLORY, MALLORY)
    good = tmp_path / "shared" / "new"
    rc, out = run([folder(good), folder(theirs)])
    assert rc != 0 and "belongs to uid 2902" in out
    assert os.stat(theirs).st_uid == MALLORY
    assert not good.exists()  # every folder is checked before any is changed


def test_a_link_swapped_in_after_the_check_is_not_followed(tmp_path):
    """The race: a component turns into a link between the check and the change."""
    system = tmp_path / "system"
    system.mkdir()
    parent = tmp_path / "users"
    parent.mkdir()
    spec = folder(parent / "alice" / "work")
    action, missing = module.plan(spec, "0711")
    assert (action, missing) == ("created", ["alice", "work"])
    (parent / "alice").symlink_to(system)  # planted after the check
    cwd = os.getcwd()
    try:
        with pytest.raises(module.FolderError, match="symbolic link"):
            module.apply(spec, missing, "0711")
    finally:
        os.chdir(cwd)
    assert os.stat(system).st_uid == 0 and not (system / "work").exists()
