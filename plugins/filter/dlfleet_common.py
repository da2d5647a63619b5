"""Filters shared by dlfleet's roles and playbooks (dlfleet.fleet.dlfleet_common_*)."""

from __future__ import annotations

import re
from typing import Any

from ansible.errors import AnsibleFilterError

_ARMORED = re.compile(
    r"^\s*-----BEGIN PGP PUBLIC KEY BLOCK-----.+-----END PGP PUBLIC KEY BLOCK-----\s*$", re.S
)
_URL = re.compile(r"^(https|file)://\S+$")


def signing_key_kind(key: Any) -> str:
    """How an apt signing key is given: ``url`` (https:// or file:// on the host), ``inline``
    (an ASCII-armored block) or ``invalid`` (anything else, plain http:// included: a key
    fetched without TLS can be swapped on the way and then vouches for any package)."""
    if not isinstance(key, str):
        return "invalid"
    if _URL.match(key.strip()):
        return "url"
    if _ARMORED.match(key):
        return "inline"
    return "invalid"


def gpu_device_requests(gpus: Any) -> list[dict[str, Any]]:
    """Docker device requests for ``gpus``: ``all``, a list of GPU indexes or UUIDs, or
    nothing (``[]``, ``none``, empty) for no GPU."""
    if gpus in (None, "", "none", []):
        return []
    if gpus == "all":
        return [{"driver": "nvidia", "count": -1, "capabilities": [["gpu"]]}]
    if isinstance(gpus, list) and all(
        isinstance(g, (str, int)) and not isinstance(g, bool) for g in gpus
    ):
        return [
            {"driver": "nvidia", "device_ids": [str(g) for g in gpus], "capabilities": [["gpu"]]}
        ]
    raise AnsibleFilterError(
        f"GPUs must be 'all', 'none' or a list of indexes or UUIDs, got {gpus!r}"
    )


def records(items: Any, fields: dict[str, str]) -> list[dict[str, Any]]:
    """One mapping per item with the fields named: ``fields`` maps each output name to a
    dotted path in the item (``{'labels': 'item.Labels', 'token_b64': 'content'}``); a missing
    path gives None. What the read-only playbooks hand to Python, by name: one expression,
    so the result is a list on every Ansible line (a list written as text is a string to
    ansible-core 2.19)."""
    out = []
    for item in items or []:
        row = {}
        for name, path in fields.items():
            value = item
            for key in path.split("."):
                value = value.get(key) if isinstance(value, dict) else None
            row[name] = value
        out.append(row)
    return out


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {
            "dlfleet_common_signing_key_kind": signing_key_kind,
            "dlfleet_common_gpu_device_requests": gpu_device_requests,
            "dlfleet_common_records": records,
        }
