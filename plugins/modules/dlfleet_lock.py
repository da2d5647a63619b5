#!/usr/bin/python
# -*- coding: utf-8 -*-
# Runs on every target, Python 2.7 (Ubuntu 16.04) included: keep it 2/3 compatible.
from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: dlfleet_lock
short_description: One provisioning run at a time on a host
description:
  - Takes or gives back the host's provisioning lock, a file created with O_EXCL that names
    the run holding it (an id), who started it and since when. A run that finds the lock
    held by another waits up to I(wait) seconds, then fails naming the holder and since when.
  - A lock older than I(stale_after) seconds (its run died without giving it back and was
    never cleaned up) is taken over, with a warning.
  - Taking or giving back the lock is bookkeeping of the run, not a change of the host - it
    never reports changed. In check mode it only says who holds it.
options:
  state:
    description: present takes the lock, absent gives it back (only the holder's own).
    type: str
    choices: [present, absent]
    default: present
  run_id:
    description: The run's id; the same id takes the lock again without waiting.
    type: str
    required: true
  holder:
    description: Who runs it, for the message another run shows (user@machine, pid, command).
    type: str
    default: ""
  path:
    description: The lock file (on a tmpfs that a reboot clears).
    type: path
    default: /run/lock/dlfleet-provision.lock
  wait:
    description: Seconds to wait for another run's lock.
    type: int
    default: 600
  stale_after:
    description: Seconds after which a lock is taken over.
    type: int
    default: 43200
author: dlfleet maintainers (@dlfleet)
"""

EXAMPLES = r"""
- name: Take the host's provisioning lock
  dlfleet.fleet.dlfleet_lock:
    run_id: "{{ dlfleet_run_id }}"
    holder: admin@control (invoke provision)
"""

RETURN = r"""
holder:
  description: Who holds the lock now (run_id, holder, since), or nothing.
  returned: always
  type: dict
"""

import errno
import json
import os
import time

from ansible.module_utils.basic import AnsibleModule


def read(path):
    try:
        with open(path) as fh:
            return json.load(fh)
    except (IOError, OSError, ValueError):
        return None


def create(path, record):
    """Create the lock file if nobody has; True when this call made it."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except OSError as exc:
        if exc.errno == errno.EEXIST:
            return False
        raise
    with os.fdopen(fd, "w") as fh:
        json.dump(record, fh)
    return True


def remove(path):
    try:  # noqa: SIM105 - contextlib.suppress is not in Python 2.7
        os.unlink(path)
    except OSError:
        pass


def since_text(record):
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(record.get("since", 0)))


def main():
    module = AnsibleModule(
        argument_spec=dict(
            state=dict(type="str", choices=["present", "absent"], default="present"),
            run_id=dict(type="str", required=True),
            holder=dict(type="str", default=""),
            path=dict(type="path", default="/run/lock/dlfleet-provision.lock"),
            wait=dict(type="int", default=600),
            stale_after=dict(type="int", default=43200),
        ),
        supports_check_mode=True,
    )
    p = module.params
    mine = dict(run_id=p["run_id"], holder=p["holder"], since=int(time.time()))
    if p["state"] == "absent":
        current = read(p["path"])
        if current and current.get("run_id") == p["run_id"] and not module.check_mode:
            remove(p["path"])
        module.exit_json(changed=False, holder={})
    if module.check_mode:
        module.exit_json(changed=False, holder=read(p["path"]) or {})
    parent = os.path.dirname(p["path"])
    if not os.path.isdir(parent):
        os.makedirs(parent, 0o755)
    deadline = time.time() + p["wait"]
    waited = False
    while True:
        if create(p["path"], mine):
            module.exit_json(changed=False, holder=mine, waited=waited)
        current = read(p["path"])
        if current is None:  # being written or removed right now: look again
            time.sleep(0.2)
            continue
        if current.get("run_id") == p["run_id"]:
            module.exit_json(changed=False, holder=current, waited=waited)
        if time.time() - current.get("since", 0) > p["stale_after"]:
            module.warn(
                "took over the provisioning lock of run %s (%s) held since %s: older than %ds"
                % (
                    current.get("run_id"),
                    current.get("holder"),
                    since_text(current),
                    p["stale_after"],
                )
            )
            remove(p["path"])
            continue
        if time.time() >= deadline:
            module.fail_json(
                msg="another dlfleet run holds this host: %s (run %s) since %s; waited %ds. "
                "Wait for it, or, if that run is gone, remove %s on the host"
                % (
                    current.get("holder") or "?",
                    current.get("run_id"),
                    since_text(current),
                    p["wait"],
                    p["path"],
                ),
                holder=current,
            )
        waited = True
        time.sleep(2)


if __name__ == "__main__":
    main()
