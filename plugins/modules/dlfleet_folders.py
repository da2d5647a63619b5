#!/usr/bin/python
# -*- coding: utf-8 -*-
# Runs on every target, Python 2.7 (Ubuntu 16.04) included: keep it 2/3 compatible.
from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: dlfleet_folders
short_description: Create and own folders for users without ever following a link
description:
  - Walks each path from / one component at a time, opening every component with
    O_NOFOLLOW, so a symbolic link anywhere in a path (planted by a user who owns a part of
    it) is refused instead of followed. Missing parents are created as root's, mode
    I(parents_mode); the folder itself is created with its owner and mode set on the open
    descriptor (fchown, fchmod), never by name.
  - An existing folder is owned by the user only where I(own) says so - C(yes) for
    dlfleet's own folders (an existing one that belongs to another user is an error, not
    handed over), C(force) where the inventory hands it over; C(no) leaves it as it is
    (a dataset other people read stays theirs).
  - Every folder is checked before any is changed; all problems are reported together.
    Supports check mode.
options:
  folders:
    description: The folders.
    type: list
    elements: dict
    required: true
    suboptions:
      path:
        description: Absolute path.
        type: str
        required: true
      owner:
        description: Owner's uid.
        type: int
        required: true
      group:
        description: Group's gid.
        type: int
        required: true
      mode:
        description: Mode of the folder, octal as a string.
        type: str
        default: "0750"
      own:
        description: What to do with an existing folder (see above).
        type: str
        choices: ["yes", "no", force]
        default: "no"
      name:
        description: Whose folder it is, for messages (a container name).
        type: str
        default: ""
  parents_mode:
    description: Mode of the parents this module creates (root's).
    type: str
    default: "0711"
author: dlfleet maintainers (@dlfleet)
"""

EXAMPLES = r"""
- name: Shared folders, owned by their users, no link followed
  dlfleet.fleet.dlfleet_folders:
    folders:
      - {path: /srv/dlfleet/shared/alice, owner: 2001, group: 2001, own: "yes", name: dl-alice}
      - {path: /data/imagenet, owner: 2001, group: 2001, own: "no", name: dl-alice}
"""

RETURN = r"""
folders:
  description: Per folder - path, name, and what was done (created, owned, kept, none).
  returned: always
  type: list
  elements: dict
"""

import errno
import os
import stat

from ansible.module_utils.basic import AnsibleModule

DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW


class FolderError(Exception):
    pass


def _open_component(part, shown):
    """Open one component relative to the current directory, never through a link."""
    try:
        return os.open(part, DIR_FLAGS)
    except OSError as exc:
        if exc.errno == errno.ENOENT:
            return None
        failure = exc
    # (outside the except clause: Python 2.7 has no exception chaining to say it)
    try:
        st = os.lstat(part)
    except OSError:
        st = None
    if st is not None and stat.S_ISLNK(st.st_mode):
        raise FolderError(
            "%s is a symbolic link: dlfleet follows no link when it creates, owns or "
            "mounts folders (remove the link, or choose another path)" % shown
        )
    if st is not None and not stat.S_ISDIR(st.st_mode):
        raise FolderError("%s exists and is not a folder" % shown)
    raise FolderError("%s: cannot open (%s)" % (shown, failure.strerror))


def inspect(path):
    """(missing components, stat of the folder or None). Raises FolderError on a link."""
    parts = [p for p in path.split("/") if p]
    os.chdir("/")
    shown = ""
    for index, part in enumerate(parts):
        shown += "/" + part
        fd = _open_component(part, shown)
        if fd is None:
            return parts[index:], None
        try:
            os.fchdir(fd)
            if index == len(parts) - 1:
                return [], os.fstat(fd)
        finally:
            os.close(fd)
    return [], os.stat(".")


def plan(folder, parents_mode):
    """What to do for one folder: a list of (action, detail), or raises FolderError."""
    path = folder["path"]
    if not path.startswith("/") or ".." in path.split("/") or not path.strip("/"):
        raise FolderError("%s: not an absolute path of a folder of its own" % path)
    missing, st = inspect(path)
    mode = int(folder["mode"], 8)
    if missing:
        return "created", missing
    if folder["own"] == "no":
        return "kept", None
    if folder["own"] == "yes" and st.st_uid not in (0, folder["owner"]):
        raise FolderError(
            "%s belongs to uid %d, not uid %d: dlfleet does not take over a folder another "
            "account made or owns (check who made it and move it away; a workspace's entry "
            "can hand an existing folder over with own_shared_folder: true)"
            % (path, st.st_uid, folder["owner"])
        )
    if (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) != (folder["owner"], folder["group"], mode):
        return "owned", None
    return "none", None


def apply(folder, missing, parents_mode):
    """Create the missing components (parents root's) and own the folder, by descriptor."""
    path = folder["path"]
    parts = [p for p in path.split("/") if p]
    existing = parts[: len(parts) - len(missing)]
    os.chdir("/")
    for part in existing:
        fd = _open_component(part, path)
        if fd is None:
            raise FolderError("%s: a parent disappeared while it was being created" % path)
        os.fchdir(fd)
        os.close(fd)
    todo = list(missing) or [None]
    for index, part in enumerate(todo):
        last = index == len(todo) - 1
        if part is None:  # the folder exists: own it
            fd = os.open(".", DIR_FLAGS)
        else:
            try:
                os.mkdir(part, 0o700)
            except OSError as exc:
                if exc.errno != errno.EEXIST:
                    raise
            fd = _open_component(part, path)
            if fd is None:
                raise FolderError("%s: %s disappeared while it was being created" % (path, part))
        try:
            if last:
                os.fchown(fd, folder["owner"], folder["group"])
                os.fchmod(fd, int(folder["mode"], 8))
            elif part is not None:
                os.fchown(fd, 0, 0)
                os.fchmod(fd, int(parents_mode, 8))
            os.fchdir(fd)
        finally:
            os.close(fd)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            folders=dict(
                type="list",
                elements="dict",
                required=True,
                options=dict(
                    path=dict(type="str", required=True),
                    owner=dict(type="int", required=True),
                    group=dict(type="int", required=True),
                    mode=dict(type="str", default="0750"),
                    own=dict(type="str", choices=["yes", "no", "force"], default="no"),
                    name=dict(type="str", default=""),
                ),
            ),
            parents_mode=dict(type="str", default="0711"),
        ),
        supports_check_mode=True,
    )
    folders = module.params["folders"]
    parents_mode = module.params["parents_mode"]
    start = os.open(".", os.O_RDONLY)
    plans, errors = [], []
    try:
        for folder in folders:
            who = "container %s: " % folder["name"] if folder["name"] else ""
            try:
                plans.append((folder,) + plan(folder, parents_mode))
            except FolderError as exc:
                errors.append(who + str(exc))
        if errors:
            module.fail_json(msg="; ".join(errors), errors=errors)
        changed = any(action in ("created", "owned") for _folder, action, _missing in plans)
        if not module.check_mode:
            for folder, action, missing in plans:
                if action in ("created", "owned"):
                    try:
                        apply(folder, missing or [], parents_mode)
                    except (FolderError, OSError) as exc:
                        module.fail_json(msg="container %s: %s" % (folder["name"], exc))
    finally:
        os.fchdir(start)
        os.close(start)
    module.exit_json(
        changed=changed,
        folders=[
            dict(path=folder["path"], name=folder["name"], action=action)
            for folder, action, _missing in plans
        ],
    )


if __name__ == "__main__":
    main()
