#!/usr/bin/python
# -*- coding: utf-8 -*-
# Runs on every target, Python 2.7 (Ubuntu 16.04) included: keep it 2/3 compatible.
from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: converged_state
short_description: Tell whether a host is still as the last whole site run left it
description:
  - Reads what dlfleet manages on the host, in one pass, and reduces each part to a digest
    (SHA-256) - C(files) (content, mode and owner of each file under the given paths, link
    targets, folders' modes and owners), C(packages) (every installed package's version and
    state, holds included), C(units) (whether each unit is active and enabled), C(docker)
    (dlfleet's containers but the hub's servers - id, name, image, running - and the owner
    and mode of the folders they mount, and dlfleet's images), C(firewall) (the DOCKER-USER
    and DLFLEET-HUB rules).
  - With I(record), writes the digests and I(inputs) to I(path) (root's alone), after a whole
    site run that ended well on this host. Without it, it compares, and the host is converged
    when a record exists, its inputs are I(inputs) and every digest is the same.
  - Only digests are kept and returned, never contents (the files include secrets).
  - Read-only without I(record); supports check mode (no record is written in a dry run).
options:
  inputs:
    description: Digest of what the control machine asks for (collection, inventory, extra
      variables), computed there.
    type: str
    required: true
  record:
    description: Write the record instead of comparing with it.
    type: bool
    default: false
  path:
    description: Where the record is kept.
    type: path
    default: /var/lib/dlfleet/converged.json
  paths:
    description: Files and folders (walked) whose content, mode and owner count.
    type: list
    elements: path
    default:
      - /etc/docker
      - /etc/dlfleet
      - /etc/apt/sources.list
      - /etc/apt/sources.list.d
      - /etc/apt/keyrings
      - /etc/apt/preferences.d
      - /etc/apt/apt.conf.d
      - /etc/systemd/system
      - /etc/modprobe.d
      - /etc/dkms/framework.conf.d
      - /etc/cdi
      - /etc/nvidia-container-runtime
      - /etc/group
      - /usr/local/sbin
      - /proc/driver/nvidia/version
  listings:
    description: Folders whose entry names count, not their contents - installed software, the
      machine's PCI devices and the GPUs the driver runs (a GPU added or taken out counts).
    type: list
    elements: path
    default:
      - /opt/dlfleet
      - /sys/bus/pci/devices
      - /proc/driver/nvidia/gpus
  units:
    description: systemd units whose active and enabled states count.
    type: list
    elements: str
    default:
      - docker.service
      - docker.socket
      - containerd.service
      - nvidia-persistenced.service
      - dlfleet-hub-firewall.service
      - dlfleet-hub.service
      - dlfleet-hub-proxy.service
author: dlfleet maintainers (@dlfleet)
"""

EXAMPLES = r"""
- name: Compare the host with the last whole run's record
  dlfleet.fleet.converged_state:
    inputs: "{{ dlfleet_converged_inputs }}"
  register: __state

- name: Record the host's state after a whole run
  dlfleet.fleet.converged_state:
    inputs: "{{ dlfleet_converged_inputs }}"
    record: true
"""

RETURN = r"""
converged:
  description: The record exists, its inputs are the ones given and every part is the same.
  returned: always
  type: bool
differs:
  description: What differs from the record (inputs, files, packages, units, docker,
    firewall), or C(record) when there is none.
  returned: always
  type: list
  elements: str
parts:
  description: The digest of each part, as read now.
  returned: always
  type: dict
"""

import hashlib
import json
import os
import stat
import tempfile

from ansible.module_utils.basic import AnsibleModule

DEFAULT_PATHS = [
    "/etc/docker",
    "/etc/dlfleet",
    "/etc/apt/sources.list",
    "/etc/apt/sources.list.d",
    "/etc/apt/keyrings",
    "/etc/apt/preferences.d",
    "/etc/apt/apt.conf.d",
    "/etc/systemd/system",
    "/etc/modprobe.d",
    "/etc/dkms/framework.conf.d",
    "/etc/cdi",
    "/etc/nvidia-container-runtime",
    "/etc/group",
    "/usr/local/sbin",
    "/proc/driver/nvidia/version",
]
DEFAULT_LISTINGS = ["/opt/dlfleet", "/sys/bus/pci/devices", "/proc/driver/nvidia/gpus"]
DEFAULT_UNITS = [
    "docker.service",
    "docker.socket",
    "containerd.service",
    "nvidia-persistenced.service",
    "dlfleet-hub-firewall.service",
    "dlfleet-hub.service",
    "dlfleet-hub-proxy.service",
]
# dlfleet's containers (dl_containers) and images (dl_image); the hub's servers (HUB_LABEL)
# come and go with their users and are not the provisioning's
CONTAINER_LABEL = "io.dlfleet.container"
HUB_LABEL = "io.dlfleet.hub"
IMAGE_LABEL = "io.dlfleet.profile"
CHAINS = ["DOCKER-USER", "DLFLEET-HUB"]
CHUNK = 1 << 20


def _file_digest(path):
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while True:
            block = fh.read(CHUNK)
            if not block:
                break
            h.update(block)
    return h.hexdigest()


def _entry(path):
    """One line for a path: kind, mode, owner and (file) content digest or (link) target."""
    try:
        st = os.lstat(path)
    except OSError:
        return "%s missing" % path
    owner = "%d:%d:%o" % (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode))
    if stat.S_ISLNK(st.st_mode):
        return "%s link %s" % (path, os.readlink(path))
    if stat.S_ISDIR(st.st_mode):
        return "%s dir %s" % (path, owner)
    if stat.S_ISREG(st.st_mode) or path.startswith("/proc/"):
        try:
            return "%s file %s %s" % (path, owner, _file_digest(path))
        except (IOError, OSError) as exc:
            return "%s unreadable %s" % (path, exc.__class__.__name__)
    return "%s other %s" % (path, owner)


def files_part(paths):
    lines = []
    for top in paths:
        lines.append(_entry(top))
        if os.path.isdir(top) and not os.path.islink(top):
            for root, dirs, names in os.walk(top):
                dirs.sort()
                for name in sorted(dirs + names):
                    lines.append(_entry(os.path.join(root, name)))
    return lines


def listings_part(folders):
    lines = []
    for top in folders:
        for root, dirs, names in os.walk(top):
            dirs.sort()
            depth = root[len(top) :].count(os.sep)
            if depth >= 4:  # venv/lib/pythonX/site-packages/<names>: deep enough
                dirs[:] = []
            lines.append("%s: %s" % (root, " ".join(sorted(dirs + names))))
    return lines


def _run(module, argv):
    rc, out, err = module.run_command(argv)
    return rc, out


def packages_part(module):
    dpkg = module.get_bin_path("dpkg-query")
    if not dpkg:
        return ["no dpkg-query"]
    rc, out = _run(module, [dpkg, "-W", "-f=${Package} ${Version} ${Status}\\n"])
    return sorted(out.splitlines()) if rc == 0 else ["dpkg-query rc %d" % rc]


def units_part(module, units):
    systemctl = module.get_bin_path("systemctl")
    if not systemctl or not units:
        return ["no systemctl"]
    rc, out = _run(
        module, [systemctl, "show", "--property=Id,ActiveState,UnitFileState", "--"] + units
    )
    if rc != 0:
        return ["systemctl rc %d" % rc]
    # blocks of properties separated by blank lines, in the order asked
    return [" ".join(sorted(block.split())) for block in out.strip().split("\n\n")]


def docker_part(module):
    docker = module.get_bin_path("docker")
    if not docker:
        return ["no docker"]
    lines = []
    rc, out = _run(
        module,
        [docker, "ps", "--all", "--quiet", "--no-trunc", "--filter", "label=" + CONTAINER_LABEL],
    )
    if rc != 0:
        return ["docker rc %d" % rc]
    ids = sorted(out.split())
    if ids:
        fmt = (
            '{{index .Config.Labels "%s"}}|{{.Id}} {{.Name}} {{.Image}} '
            "{{.State.Running}} {{.State.Paused}}"
            "{{range .Mounts}} {{.Type}}:{{.Source}}:{{.Destination}}:{{.RW}}{{end}}"
        ) % HUB_LABEL
        rc, out = _run(module, [docker, "inspect", "--format", fmt] + ids)
        if rc != 0:
            return ["docker inspect rc %d" % rc]
        for hub, line in sorted(row.split("|", 1) for row in out.splitlines() if "|" in row):
            if hub not in ("", "<no value>"):  # a hub's server: its user's to start and stop
                continue
            fields = line.split()
            # the engine lists a container's mounts in no fixed order
            mounts = sorted(fields[5:])
            lines.append(" ".join(fields[:5] + mounts))
            # the owner and mode of the folders it mounts (never their contents: users' work)
            for mount in mounts:
                kind, source = mount.split(":", 2)[:2]
                if kind == "bind":
                    lines.append(_entry(source))
                    lines.append(_entry(os.path.dirname(source.rstrip("/")) or "/"))
    rc, out = _run(
        module,
        [docker, "images", "--no-trunc", "--filter", "label=" + IMAGE_LABEL,
         "--format", "{{.ID}} {{.Repository}}:{{.Tag}}"],
    )  # fmt: skip
    lines.extend(sorted(out.splitlines()) if rc == 0 else ["docker images rc %d" % rc])
    return lines


def firewall_part(module):
    iptables = module.get_bin_path("iptables")
    if not iptables:
        return ["no iptables"]
    lines = []
    for chain in CHAINS:
        rc, out = _run(module, [iptables, "-w", "-S", chain])
        lines.append("%s: %s" % (chain, out.strip() if rc == 0 else "absent"))
    return lines


def digest(lines):
    text = "\n".join(lines)
    if not isinstance(text, bytes):  # Python 3 (Python 2's str is bytes already)
        text = text.encode("utf-8", "surrogateescape")
    return hashlib.sha256(text).hexdigest()


def read_parts(module):
    p = module.params
    return {
        "files": digest(files_part(p["paths"]) + listings_part(p["listings"])),
        "packages": digest(packages_part(module)),
        "units": digest(units_part(module, p["units"])),
        "docker": digest(docker_part(module)),
        "firewall": digest(firewall_part(module)),
    }


def read_record(path):
    try:
        with open(path) as fh:
            record = json.load(fh)
        return record if isinstance(record, dict) else None
    except (IOError, OSError, ValueError):
        return None


def write_record(path, record):
    folder = os.path.dirname(path)
    if not os.path.isdir(folder):
        os.makedirs(folder, 0o755)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".converged-")
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(record, fh, sort_keys=True)
        os.rename(tmp, path)
    except Exception:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def main():
    module = AnsibleModule(
        argument_spec=dict(
            inputs=dict(type="str", required=True),
            record=dict(type="bool", default=False),
            path=dict(type="path", default="/var/lib/dlfleet/converged.json"),
            paths=dict(type="list", elements="path", default=DEFAULT_PATHS),
            listings=dict(type="list", elements="path", default=DEFAULT_LISTINGS),
            units=dict(type="list", elements="str", default=DEFAULT_UNITS),
        ),
        supports_check_mode=True,
    )
    p = module.params
    # the record itself sits outside every path read, or it would never match itself
    parts = read_parts(module)
    if p["record"]:
        record = {"inputs": p["inputs"], "parts": parts}
        changed = read_record(p["path"]) != record
        if changed and not module.check_mode:
            write_record(p["path"], record)
        module.exit_json(changed=changed, converged=True, differs=[], parts=parts)
    record = read_record(p["path"])
    if record is None:
        differs = ["record"]
    else:
        differs = [] if record.get("inputs") == p["inputs"] else ["inputs"]
        old = record.get("parts") or {}
        differs += sorted(k for k in parts if old.get(k) != parts[k])
    module.exit_json(changed=False, converged=not differs, differs=differs, parts=parts)


if __name__ == "__main__":
    main()
