"""Filters shared by dlfleet's roles and playbooks (dlfleet.fleet.dlfleet_common_*)."""

from __future__ import annotations

import re
from typing import Any

from ansible.errors import AnsibleFilterError

_ARMORED = re.compile(
    r"^\s*-----BEGIN PGP PUBLIC KEY BLOCK-----.+-----END PGP PUBLIC KEY BLOCK-----\s*$", re.S
)
_URL = re.compile(r"^(https|file)://\S+$")
# A proxy URL as apt's configuration and systemd read it: nothing that ends a quoted value or
# a statement (quotes, ';', braces, backslashes, white space). '%' stays (percent-encoded
# passwords); writers escape it where it means something (systemd specifiers).
_PROXY = re.compile(r"^https?://[^/\s\"'\\;{}]+(/[^\s\"'\\;{}]*)?$")
_NO_PROXY = re.compile(r"^[A-Za-z0-9.,:*/\[\]_-]*$")


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


def proxy_errors(urls: Any, hosts: Any = None) -> list[str]:
    """Errors for proxy settings, each naming its variable and never its value (a proxy URL
    may carry a password). urls: {variable: URL or empty}; hosts: {variable: NO_PROXY list
    (comma-separated host names, addresses, domains, CIDRs) or empty}."""
    errors = []
    for variable, value in sorted((urls or {}).items()):
        if value in (None, ""):
            continue
        if not isinstance(value, str) or not _PROXY.fullmatch(value):
            errors.append(
                f"{variable} must be empty or an http(s) URL such as http://proxy:3128 (no "
                "quotes, ';', '\\', braces or spaces; the value is not shown, it may hold a "
                "password)"
            )
    for variable, value in sorted((hosts or {}).items()):
        if value in (None, ""):
            continue
        if not isinstance(value, str) or not _NO_PROXY.fullmatch(value):
            errors.append(
                f"{variable} must be a comma-separated list of host names, addresses, "
                "domains (.example.com) or CIDRs"
            )
    return errors


def has_credentials(url: Any) -> bool:
    """Whether a URL carries user information (user:password@): its file is root's alone."""
    return isinstance(url, str) and "@" in url.split("://", 1)[-1].split("/", 1)[0]


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
            "dlfleet_common_proxy_errors": proxy_errors,
            "dlfleet_common_has_credentials": has_credentials,
        }
