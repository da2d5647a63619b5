"""What dlfleet reads from an inventory, through Ansible's own `ansible-inventory` (so every
inventory source, plugin and group_vars folder is read the way a run reads it).

Play keywords (``serial``, ``max_fail_percentage``) are templated without host context, so
inventory variables never reach them: dlfleet reads the fleet's rolling settings from the
inventory here and hands them to the run as extra variables.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from .errors import DlfleetError

# inventory variables that play keywords of playbooks/site.yml need as extra vars
ROLLING = ("dlfleet_serial", "dlfleet_max_fail_percentage")


def hostvars(inventory: Path, limit: str | None = None) -> dict[str, dict[str, Any]]:
    """{host: its variables} of the hosts the inventory (and limit) selects."""
    argv = [str(Path(sys.executable).parent / "ansible-inventory"), "-i", str(inventory), "--list"]
    if limit:
        argv += ["--limit", limit]
    proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise DlfleetError(f"cannot read inventory {inventory}: {proc.stderr.strip()[-500:]}")
    data = json.loads(proc.stdout or "{}")
    hosts = set()
    for name, group in data.items():
        if name != "_meta":
            hosts.update(group.get("hosts") or [])
    meta = data.get("_meta", {}).get("hostvars", {})
    return {h: meta.get(h, {}) for h in sorted(hosts)}


def rolling(hostvars_: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The rolling settings the inventory sets: one value for the whole fleet, or an error."""
    out = {}
    for key in ROLLING:
        values = {json.dumps(v.get(key), sort_keys=True) for v in hostvars_.values() if key in v}
        if len(values) > 1:
            raise DlfleetError(
                f"{key} differs between hosts ({', '.join(sorted(values))}); it applies to a whole"
                " play, so set it once, in the group all"
            )
        if values:
            out[key] = json.loads(values.pop())
    return out
