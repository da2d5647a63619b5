"""The fleet report: a live table in the terminal, JSON, and a self-contained HTML page."""

from __future__ import annotations

import io
import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.terminal_theme import MONOKAI
from rich.text import Text

from .runner import RunResult

COLUMNS = (
    "host",
    "OS / kernel",
    "Docker",
    "driver / GPUs",
    "toolkit",
    "image",
    "containers",
    "last run",
)


def build(result: RunResult, last_run: dict[str, Any] | None) -> dict[str, Any]:
    """One record per host: what the hosts said now, and how the last provisioning went."""
    hosts = dict(result.data.get("report") or {})
    failed_last = set((last_run or {}).get("failed_hosts") or [])
    for host in set(result.hosts) | set(hosts):
        record = hosts.setdefault(host, {})
        record["reachable"] = host in hosts and host not in result.failed_hosts
        if last_run:
            record["last_run"] = {
                "result": "failed"
                if host in failed_last
                else "ok"
                if host in (last_run.get("hosts") or {})
                else "not in run",
                "finished": last_run.get("finished"),
                "playbook": Path(last_run.get("playbook", "")).name,
            }
    return {
        "generated": datetime.now(timezone.utc).isoformat(),
        "hosts": dict(sorted(hosts.items())),
    }


def table(report: dict[str, Any]) -> Table:
    t = Table(title=f"dlfleet fleet report — {report['generated'][:19]}Z", title_justify="left")
    for column in COLUMNS:
        t.add_column(column)
    for host, r in report["hosts"].items():
        # everything a host reports is text, never markup (a label can say "[link=...]")
        t.add_row(*(Text(cell) for cell in _cells(host, r)), style=None if _healthy(r) else "red")
    return t


def _healthy(r: dict[str, Any]) -> bool:
    return bool(r.get("reachable")) and (r.get("last_run") or {}).get("result") != "failed"


def _cells(host: str, r: dict[str, Any]) -> list[str]:
    if not r.get("reachable"):
        return [host, "unreachable or failed", "", "", "", "", "", _last(r)]
    gpus = r.get("gpus") or []
    driver = r.get("driver") or "none"
    gpu_text = driver
    if r.get("cuda"):  # the newest CUDA the driver runs, and the line of the image it gets
        line = f", image line {r['cuda_line']}" if r.get("cuda_line") else ", no image line"
        gpu_text += f" (CUDA {r['cuda']}{line})"
    gpu_text += f", {len(gpus)} GPU: {', '.join(sorted(set(gpus)))}" if gpus else ", no GPU"
    if r.get("reboot_required"):
        gpu_text += ", REBOOT REQUIRED (a newer driver is installed than loaded)"
    containers = "; ".join(
        f"{c['labels'].get('io.dlfleet.container', '?')} {c.get('status', '')}"
        + (
            f" (hub server of {c['labels'].get('io.dlfleet.user', '?')},"
            f" GPUs {c['labels'].get('io.dlfleet.gpus', 'none')})"
            if c["labels"].get("io.dlfleet.hub") == "1"
            else f" :{c['labels']['io.dlfleet.jupyter_port']}"
            if c["labels"].get("io.dlfleet.jupyter_port")
            else ""
        )
        for c in r.get("containers") or []
    )
    return [
        host,
        f"{r.get('os', '')} / {r.get('kernel', '')}",
        r.get("docker") or "none",
        gpu_text,
        r.get("toolkit") or "none",
        _images(r),
        containers or "none",
        _last(r),
    ]


def _images(r: dict[str, Any]) -> str:
    images = r.get("images") or []
    if not images:
        return "none"
    held = f" ({r['image_bytes'] / 1e9:.1f} GB held)" if r.get("image_bytes") else ""
    return ", ".join(images) + held


def _last(r: dict[str, Any]) -> str:
    last = r.get("last_run")
    if not last:
        return "never"
    return f"{last['result']} ({last['playbook']}, {str(last.get('finished') or '')[:19]})"


def write(report: dict[str, Any], folder: Path) -> tuple[Path, Path]:
    """report.json, and report.html: the terminal's table, recorded and saved by rich (inline
    styles, no script, nothing fetched)."""
    folder.mkdir(parents=True, exist_ok=True)
    json_path = folder / "report.json"
    json_path.write_text(json.dumps(report, indent=2, sort_keys=True) + "\n")
    console = Console(
        record=True, file=io.StringIO(), width=320, color_system="truecolor", highlight=False
    )
    console.print(table(report))
    console.print(f"Gathered live from {len(report['hosts'])} host(s).")
    html_path = folder / "report.html"
    console.save_html(str(html_path), inline_styles=True, theme=MONOKAI)
    return json_path, html_path
