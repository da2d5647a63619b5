"""The docker role's firewall for a hub's servers: who may open the ports the hub's servers
publish on this engine (docker_hub_firewall).

    {{ docker_hub_sources | docker_hub_firewall(docker_hub_server_ports, hub_hosts, hostvars) }}
    -> {"sources": ["10.0.0.5/32", ...], "ports": "47000:47999",
        "unknown": [hub hosts whose address this run does not know yet], "errors": [...]}

- sources: docker_hub_sources, IPv4 addresses or networks; empty: the hub hosts' addresses
  (none when the inventory has no hub: then nobody opens the range, e.g. an engine whose TLS
  API is on by docker_tls_api: always for a hub this inventory does not manage, until
  docker_hub_sources names it),
  each the first IPv4 address of its dl_hub_api_address (where the hub's servers reach it),
  its ansible_host, its gathered default IPv4 address. A hub host none of these name is in
  "unknown" (the role gathers its network facts, then asks again) and, until then, in errors.
- ports: docker_hub_server_ports "LOW-HIGH"; empty: the hubs' dl_hub_server_ports from the
  inventory (they must agree), else dl_hub's default 47000-47999.
Every error names the variable to set. Servers publish on IPv4 alone (0.0.0.0), so sources
are IPv4 and normalized as iptables prints them (address/prefix, host bits cleared).

Runs on the control machine (filters do); unit-tested in tests/unit/test_docker_hub.py.
"""

from __future__ import annotations

import ipaddress
import re

DEFAULT_PORTS = "47000-47999"
_RANGE = re.compile(r"^\s*(\d{1,5})\s*-\s*(\d{1,5})\s*$")


def _ipv4(value):
    """The IPv4 address in value, or None."""
    try:
        return str(ipaddress.IPv4Address(str(value).strip()))
    except ValueError:
        return None


def _hub_address(host):
    for key in ("dl_hub_api_address", "ansible_host"):
        found = _ipv4(host.get(key) or "")
        if found:
            return found
    facts = host.get("ansible_facts") or {}
    return _ipv4(((facts.get("default_ipv4") or {}).get("address")) or "")


def docker_hub_firewall(sources, ports, hubs=(), hostvars=None):
    hostvars = hostvars or {}
    hubs = [h for h in (hubs or []) if h in hostvars]  # names not in the inventory: no hub
    errors, unknown, normalized = [], [], []
    given = [str(s).strip() for s in (sources or []) if str(s).strip()]
    for source in given:
        try:
            net = ipaddress.ip_network(source, strict=False)
        except ValueError:
            net = None
        if net is None or net.version != 4 or net.prefixlen == 0:
            errors.append(
                f"docker_hub_sources: {source!r} is not an IPv4 address or network (the hub's "
                "servers publish their ports on IPv4 alone; for no firewall at all, set "
                "docker_hub_firewall: false)"
            )
            continue
        normalized.append(str(net))
    if not given:
        for name in hubs:
            found = _hub_address(hostvars[name])
            if found:
                normalized.append(f"{found}/32")
            else:
                unknown.append(name)
                errors.append(
                    f"the address of the hub host {name} is not known (its dl_hub_api_address and "
                    "ansible_host are no IPv4 address and it gave no default IPv4 address): "
                    "set docker_hub_sources"
                )
    wanted = str(ports or "").strip()
    if not wanted:
        declared = sorted({
            str(hostvars[h].get("dl_hub_server_ports")).strip()
            for h in hubs if hostvars[h].get("dl_hub_server_ports")
        })  # fmt: skip
        if len(declared) > 1:
            errors.append(
                f"the hub hosts declare different dl_hub_server_ports ({', '.join(declared)}): "
                "set docker_hub_server_ports"
            )
        wanted = declared[0] if declared else DEFAULT_PORTS
    match = _RANGE.match(wanted)
    low, high = (int(match.group(1)), int(match.group(2))) if match else (0, 0)
    if not match or not 1024 <= low <= high <= 65535:
        errors.append(
            f"docker_hub_server_ports: {wanted!r} is not a range LOW-HIGH of ports 1024-65535 "
            "(the hub's dl_hub_server_ports)"
        )
    return {
        "sources": list(dict.fromkeys(normalized)),
        "ports": f"{low}:{high}",
        "unknown": unknown,
        "errors": errors,
    }


class FilterModule:
    def filters(self):
        return {"docker_hub_firewall": docker_hub_firewall}
