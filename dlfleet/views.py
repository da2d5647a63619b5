"""What the read-only commands print: rich tables and lines built from the named fields the
read-only playbooks publish (ps, url, images) and from the lab."""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any

from rich.table import Table
from rich.text import Text

from . import plugins
from .lab import Lab
from .runner import RunResult


def _row(*cells: Any, status: str | None = None, good: str = "running") -> list[Text]:
    """Cells as text, never markup: names, labels and images come from hosts, where anyone in
    the docker group can set them ("[link=javascript:...]" must stay those characters).
    ``status`` is the cell to colour: green when it is ``good``, yellow otherwise."""
    out = [Text(str(c)) for c in cells]
    if status is not None:
        out.append(Text(status, style="green" if status.startswith(good) else "yellow"))
    return out


def _failed(host: str, width: int) -> list[Text]:
    return [Text(host), Text("unreachable or failed", style="red"), *[Text("")] * (width - 2)]


def lab_status_table(lab: Lab) -> Table:
    table = Table(title=f"Lab {lab.name}", title_justify="left")
    for column in ("host", "os", "status", "address", "container", "image"):
        table.add_column(column)
    for h in lab.hosts():
        cells = _row(h.name, h.os, status=h.status)
        table.add_row(*cells, *_row(h.address or "-", h.container, h.image))
    return table


def lab_services_table(lab: Lab) -> Table:
    """The lab's service containers and the shared apt cache (lab.services)."""
    from .lab.services import SHARED

    table = Table(title=f"Serving lab {lab.name} (service containers)", title_justify="left")
    for column in ("container", "service", "status", "published on"):
        table.add_column(column)
    for row in lab.services.listed([lab.name, SHARED]):
        cells = _row(row["name"], row["service"], status=row["status"])
        table.add_row(*cells, *_row(", ".join(row["published"])))
    return table


def containers_table(result: RunResult) -> Table:
    """Fleet-wide table of dlfleet's containers from playbooks/containers_ps.yml."""
    table = Table(title="dlfleet containers", title_justify="left")
    for column in ("host", "container", "user", "image", "status", "ports", "GPUs", "reach it"):
        table.add_column(column)
    for host, rows in sorted((result.data.get("containers") or {}).items()):
        for row in rows:
            labels, state = row.get("labels") or {}, row.get("state", "")
            bind = labels.get("io.dlfleet.bind", "127.0.0.1")
            jp = labels.get("io.dlfleet.jupyter_port")
            reach = f"http://{bind}:{jp}/lab" if bind != "127.0.0.1" else "invoke containers.url"
            ports = f"{jp} jupyter (+ tensorboard)"
            if labels.get("io.dlfleet.hub") == "1":  # a hub server: reached through the hub
                reach, ports = "through the hub (invoke hub.url)", "hub server"
            first = _row(
                host,
                labels.get("io.dlfleet.container", "?"),
                labels.get("io.dlfleet.user", ""),
                row.get("image", ""),
            )
            status = Text(row.get("status", ""), style="green" if state == "running" else "yellow")
            rest = _row(ports, labels.get("io.dlfleet.gpus", ""), reach)
            table.add_row(*first, status, *rest)
    for host in result.failed_hosts:
        table.add_row(*_failed(host, 8))
    return table


def hub_users_table(result: RunResult) -> Table:
    """Who runs a server through the hub, where, on which GPUs, and idle since when, from
    playbooks/hub_users.yml (the hub's own database)."""
    table = Table(title="dlfleet hub servers", title_justify="left")
    for column in ("hub", "user", "server", "state", "host", "GPUs", "profile", "last activity"):
        table.add_column(column)
    for hub, rows in sorted((result.data.get("hub_users") or {}).items()):
        for row in rows:
            state = Text("running", style="green") if row.get("running") else Text("stopped")
            gpus = ",".join(row.get("gpus") or []) or ("none" if row.get("running") else "")
            who = row.get("user", "") + (" (admin)" if row.get("admin") else "")
            table.add_row(
                *_row(hub, who, row.get("server") or "(default)"),
                state,
                *_row(row.get("host") or row.get("home", ""), gpus, row.get("profile", "")),
                *_row(row.get("last_activity", "")),
            )
    for host in result.failed_hosts:
        table.add_row(*_failed(host, 8))
    return table


def _url_line(host: str, name: str, base: str, query: str) -> str:
    return f"{host} {name}: {base}/lab{query}  (TensorBoard: {base}/proxy/6006/{query})"


def container_urls(result: RunResult) -> list[str]:
    """Lines with each Jupyter URL (token included) and the SSH tunnel to reach it, to copy as
    printed: the host's SSH key, port and options as the inventory gives them, and local ports
    that do not collide when several hosts publish the same ones."""
    urls = result.data.get("urls") or {}
    taken: set[int] = set()

    def local(port: str | None) -> int:
        wanted = int(port or 0)
        while wanted in taken:
            wanted += 1
        taken.add(wanted)
        return wanted

    lines = []
    for host, published in sorted(urls.items()):
        ssh = published.get("ssh") or {}
        for row in published.get("workspaces") or []:
            labels = row.get("labels") or {}
            name = labels.get("io.dlfleet.container", "?")
            if labels.get("io.dlfleet.hub") == "1":  # signed in through the hub, no token
                lines.append(f"{host} {name}: through the hub (invoke hub.url)")
                continue
            token = base64.b64decode(row.get("token_b64") or "").decode().strip()
            jp = labels.get("io.dlfleet.jupyter_port")
            bind = labels.get("io.dlfleet.bind", "127.0.0.1")
            query = f"?token={token}" if token else ""  # a password workspace asks for it
            if bind != "127.0.0.1":
                where = "localhost" if bind == "0.0.0.0" else bind  # noqa: S104 - a label
                lines.append(_url_line(host, name, f"http://{where}:{jp}", query))
                continue
            ljp = local(jp)
            lines.append(_url_line(host, name, f"http://localhost:{ljp}", query))
            lines.append(f"    tunnel: {tunnel_command(ssh, host, (ljp, jp))}")
    return lines


def tunnel_command(ssh: Mapping[str, Any], host: str, *ports: tuple[int, Any]) -> str:
    """The ssh command forwarding local ports to the host's loopback, as one shell line
    (dl_containers' filter builds it, for its dl_containers_info too)."""
    return plugins.filter_plugin("dl_containers").tunnel_command(ssh, host, *ports)


def images_table(result: RunResult) -> Table:
    table = Table(title="dlfleet images", title_justify="left")
    for column in ("host", "image", "size", "id"):
        table.add_column(column)
    for host, rows in sorted((result.data.get("images") or {}).items()):
        for row in rows:
            table.add_row(
                *_row(
                    host,
                    ", ".join(row.get("tags") or ["<none>"]),
                    f"{int(row.get('size') or 0) / 1e9:.2f} GB",
                    str(row.get("id", ""))[7:19],
                )
            )
    for host in result.failed_hosts:
        table.add_row(*_failed(host, 4))
    return table


def phases_line(what: str, phases: list[tuple[str, float]]) -> str:
    """One line saying where the time of a command went: 'demo took 4m51s: lab up 1m40s, ...'."""

    def fmt(seconds: float) -> str:
        minutes, rest = divmod(round(seconds), 60)
        return f"{minutes}m{rest:02d}s" if minutes else f"{rest}s"

    total = sum(seconds for _, seconds in phases)
    return f"{what} took {fmt(total)}: " + ", ".join(f"{n} {fmt(s)}" for n, s in phases)
