"""``invoke provision --fast``: the whole site runs only on hosts that are no longer as the last
whole run left them.

A whole site run that ended well on a host records there (plugins/modules/converged_state.py,
the site's last play) a digest of what it asked for and of what dlfleet manages on the host:
its files and folders, installed packages, units, dlfleet's containers and images, firewall
rules. A fast run first reads every host once and compares; the hosts whose state or inputs
differ — or that have no record — get the whole site, the others nothing more. What a host
is compared on is its real state, read at that moment; what it was asked for is this digest:
the collection's files, every variable the inventory gives any host, the extra variables,
the Ansible version. Any change to one of them sends every host through the whole site.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import ansible

from . import inventory, paths

PLAYBOOK = paths.PLAYBOOKS / "converged.yml"
INPUTS_VAR = "dlfleet_converged_inputs"
# extra variables that name a run, not what it asks of the hosts
RUN_VARS = ("dlfleet_run_id", "dlfleet_run_holder", INPUTS_VAR)
_TREE = ("roles", "playbooks", "plugins", "meta", "ansible.cfg", "galaxy.yml")


def tree_digest(root: Path = paths.ROOT) -> str:
    """The collection's files (roles, playbooks, plugins, Ansible's configuration), molecule
    scenarios and caches left out."""
    h = hashlib.sha256()
    for name in _TREE:
        top = root / name
        files = [top] if top.is_file() else sorted(p for p in top.rglob("*") if p.is_file())
        for path in files:
            rel = path.relative_to(root)
            if "molecule" in rel.parts or "__pycache__" in rel.parts:
                continue
            h.update(f"{rel}\0".encode())
            h.update(hashlib.sha256(path.read_bytes()).digest())
    return h.hexdigest()


def inputs_digest(
    hostvars: Mapping[str, Mapping[str, Any]], extravars: Mapping[str, Any], playbook: Path
) -> str:
    """What a whole run asks of every host, as one digest (hostvars: every host's variables
    from the inventory, all hosts, not only a run's --limit)."""
    asked = {
        "tree": tree_digest(),
        "ansible": ansible.__version__,
        "playbook": playbook.name,
        "inventory": hostvars,
        "extravars": {k: v for k, v in extravars.items() if k not in RUN_VARS},
    }
    return hashlib.sha256(json.dumps(asked, sort_keys=True, default=str).encode()).hexdigest()


def fleet_digest(inv: Path, extravars: Mapping[str, Any], playbook: Path) -> str:
    return inputs_digest(inventory.hostvars(inv), extravars, playbook)


def split(differs: Mapping[str, list[str]], probed: list[str]) -> tuple[list[str], list[str]]:
    """(hosts as the last whole run left them, hosts the site runs on) from the probe's
    answers {host: what differs}; a probed host without an answer (unreachable, failed) runs."""
    ready = sorted(h for h in probed if h in differs and not differs[h])
    behind = sorted(h for h in probed if h not in ready)
    return ready, behind


def reasons(differs: Mapping[str, list[str]], behind: list[str]) -> str:
    """``host (files, docker), other (no record)``: why each host runs."""
    out = []
    for host in behind:
        why = differs.get(host)
        text = (
            "no answer"
            if why is None
            else ", ".join("no record" if w == "record" else w for w in why)
        )
        out.append(f"{host} ({text})")
    return ", ".join(out)
