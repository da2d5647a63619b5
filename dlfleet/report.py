"""The fleet report: a live table in the terminal, JSON, and a self-contained HTML page."""

from __future__ import annotations

import html
import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from rich.table import Table

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
        t.add_row(*_cells(host, r, markup=True))
    return t


def _cells(host: str, r: dict[str, Any], markup: bool) -> list[str]:
    if not r.get("reachable"):
        bad = "[red]unreachable or failed[/]" if markup else "unreachable or failed"
        return [host, bad, "", "", "", "", "", _last(r)]
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
        f"{labels.get('io.dlfleet.container', '?')} {status}"
        + (
            f" :{labels['io.dlfleet.jupyter_port']}"
            if labels.get("io.dlfleet.jupyter_port")
            else ""
        )
        for labels, status in r.get("containers") or []
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
    folder.mkdir(parents=True, exist_ok=True)
    json_path = folder / "report.json"
    json_path.write_text(json.dumps(report, indent=2, sort_keys=True) + "\n")
    rows = []
    for host, r in report["hosts"].items():
        cls = (
            "ok"
            if r.get("reachable") and (r.get("last_run") or {}).get("result") != "failed"
            else "bad"
        )
        cells = "".join(f"<td>{html.escape(c)}</td>" for c in _cells(host, r, markup=False))
        rows.append(f'<tr class="{cls}">{cells}</tr>')
    head = "".join(f"<th>{html.escape(c)}</th>" for c in COLUMNS)
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>dlfleet fleet report</title>
<style>
body {{ font: 14px system-ui, sans-serif; margin: 2rem; color: #1b1f24; }}
table {{ border-collapse: collapse; width: 100%; }}
th, td {{ border-bottom: 1px solid #d0d7de; padding: .45rem .6rem; text-align: left; }}
th {{ background: #f6f8fa; }}
tr.bad td:first-child {{ border-left: 4px solid #cf222e; }}
tr.ok td:first-child {{ border-left: 4px solid #1a7f37; }}
</style></head><body>
<h1>dlfleet fleet report</h1>
<p>Gathered live from {len(report["hosts"])} host(s) at {html.escape(report["generated"])}.</p>
<table><thead><tr>{head}</tr></thead><tbody>
{chr(10).join(rows)}
</tbody></table></body></html>
"""
    html_path = folder / "report.html"
    html_path.write_text(page)
    return json_path, html_path
