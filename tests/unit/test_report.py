"""The fleet report from a run's published data: table, JSON and HTML."""

import json
from datetime import datetime, timezone
from pathlib import Path
from types import SimpleNamespace

from rich.console import Console

from dlfleet import report, views
from dlfleet.runner import RunRequest, RunResult


def result(data, hosts):
    now = datetime.now(timezone.utc)
    return RunResult(
        request=RunRequest(playbook=Path("report.yml"), inventory=Path("inv")),
        status="failed" if any(h.get("unreachable") for h in hosts.values()) else "successful",
        rc=0,
        started=now,
        finished=now,
        run_dir=Path("/nonexistent"),
        hosts=hosts,
        failures=[],
        data={"report": data},
    )


def test_report_marks_unreachable_and_last_run(tmp_path):
    noble = {
        "os": "Ubuntu 24.04", "kernel": "6.8.0", "docker": "27.5.1", "runtimes": ["runc", "nvidia"],
        "gpus": ["NVIDIA H200", "NVIDIA H200"], "driver": "580.159.04", "cuda": "13.0",
        "cuda_line": "13", "toolkit": "1.17.8-1", "images": ["dlfleet/dl:gpu-cu13-0123456789ab"], "image_bytes": 2400000000,
        "containers": [{"labels": {"io.dlfleet.container": "dl-alice", "io.dlfleet.jupyter_port": "8888"}, "status": "Up 2 hours (healthy)"}],
    }  # fmt: skip
    run = result(
        {"noble-1": noble},
        {
            "noble-1": {"ok": 9, "failed": 0, "unreachable": 0},
            "xenial-1": {"ok": 0, "failed": 0, "unreachable": 1},
        },
    )
    last = {
        "failed_hosts": ["xenial-1"],
        "hosts": {"noble-1": {}, "xenial-1": {}},
        "finished": "2026-11-29T10:00:00",
        "playbook": "/x/site.yml",
    }
    data = report.build(run, last)
    assert data["hosts"]["noble-1"]["reachable"] is True
    assert data["hosts"]["xenial-1"]["reachable"] is False
    assert data["hosts"]["xenial-1"]["last_run"]["result"] == "failed"
    assert data["hosts"]["noble-1"]["last_run"]["result"] == "ok"

    console = Console(record=True, width=250)
    console.print(report.table(data))
    text = console.export_text()
    assert "580.159.04 (CUDA 13.0, image line 13), 2 GPU: NVIDIA H200" in text
    assert "REBOOT REQUIRED" not in text
    assert "(2.4 GB held)" in text
    assert "dl-alice Up 2 hours (healthy) :8888" in text
    assert "unreachable or failed" in text

    json_path, html_path = report.write(data, tmp_path)
    assert json.loads(json_path.read_text())["hosts"]["noble-1"]["toolkit"] == "1.17.8-1"
    page = html_path.read_text()
    # the terminal's table, rows and all, as a self-contained page
    assert "580.159.04 (CUDA 13.0, image line 13), 2 GPU: NVIDIA H200" in page
    assert "dlfleet/dl:gpu-cu13-0123456789ab" in page
    assert "xenial-1" in page and "unreachable or failed" in page
    assert "<script" not in page and "<link" not in page


def test_report_says_when_a_reboot_is_due():
    host = {"os": "Ubuntu 24.04", "kernel": "6.8.0", "driver": "570.133.20", "cuda": "12.8",
            "cuda_line": "12", "gpus": ["NVIDIA H200"], "reboot_required": True}  # fmt: skip
    run = result({"gpu-1": host}, {"gpu-1": {"ok": 5, "failed": 0, "unreachable": 0}})
    console = Console(record=True, width=250)
    console.print(report.table(report.build(run, None)))
    assert "REBOOT REQUIRED" in console.export_text()


EVIL = "[link=javascript:alert(document.cookie)]click[/link]"


def test_what_a_host_reports_is_text_never_markup(tmp_path):
    """A container label or name (anyone in a host's docker group sets them) stays those
    characters: no live link in report.html, nothing swallowed in the terminal."""
    from dlfleet import views

    host = {"os": "Ubuntu 24.04 [bold]x[/bold]", "kernel": "6.8.0", "docker": "27.5.1",
            "containers": [{"labels": {"io.dlfleet.container": EVIL}, "status": "Up"}]}  # fmt: skip
    run = result({"gpu-1": host}, {"gpu-1": {"ok": 5, "failed": 0, "unreachable": 0}})
    data = report.build(run, None)
    console = Console(record=True, width=300)
    console.print(report.table(data))
    text = console.export_text()
    assert EVIL in text
    assert "Ubuntu 24.04 [bold]x[/bold]" in text
    _, html_path = report.write(data, tmp_path)
    page = html_path.read_text()
    assert "javascript:" not in page.split("<body")[1].replace(
        "[link=javascript:alert(document.cookie)]", ""
    )
    assert "href" not in page
    # the containers table of `invoke containers.ps` too
    run.data = {"containers": {"gpu-1": [{"labels": {"io.dlfleet.container": EVIL,
                "io.dlfleet.user": "[red]root[/red]"}, "state": "running", "status": "Up",
                "image": "img"}]}}  # fmt: skip
    console = Console(record=True, width=300)
    console.print(views.containers_table(run))
    text = console.export_text()
    assert EVIL in text and "[red]root[/red]" in text


def test_hub_servers_show_as_the_hubs_in_every_view():
    """A hub server (label io.dlfleet.hub) is reached through the hub: containers.ps and
    containers.url say so instead of a port or a token URL, the report names its user and
    GPUs, and hub.users shows the hub's own record, markup kept as text."""
    labels = {"io.dlfleet.container": "dlfleet-hub-alice", "io.dlfleet.user": "alice",
              "io.dlfleet.gpus": "1", "io.dlfleet.hub": "1", "io.dlfleet.jupyter_port": "8888",
              "io.dlfleet.bind": "0.0.0.0"}  # noqa: S104  # fmt: skip
    run = SimpleNamespace(
        data={"containers": {"gpu-1": [{"labels": labels, "state": "running", "status": "Up",
                                        "image": "dlfleet/dl:gpu-cu13-x"}]}},
        failed_hosts=[],
    )  # fmt: skip
    console = Console(record=True, width=300)
    console.print(views.containers_table(run))
    text = console.export_text()
    assert "hub server" in text and "through the hub (invoke hub.url)" in text
    assert "0.0.0.0:8888" not in text
    urls = SimpleNamespace(
        data={"urls": {"gpu-1": {"workspaces": [{"labels": labels}], "ssh": {}}}}
    )
    assert views.container_urls(urls) == [
        "gpu-1 dlfleet-hub-alice: through the hub (invoke hub.url)"
    ]
    users = SimpleNamespace(
        data={"hub_users": {"hub-1": [
            {"user": "alice", "admin": True, "server": "", "running": True, "host": "gpu-1",
             "gpus": ["1"], "home": "gpu-1", "profile": "1-gpu", "last_activity": "2026-12-02"},
            {"user": "[red]bob[/red]", "admin": False, "server": "", "running": False,
             "host": "", "gpus": [], "home": "gpu-2", "profile": "", "last_activity": ""},
        ]}},
        failed_hosts=[],
    )  # fmt: skip
    console = Console(record=True, width=300)
    console.print(views.hub_users_table(users))
    text = console.export_text()
    assert "alice (admin)" in text and "1-gpu" in text and "running" in text
    assert "[red]bob[/red]" in text and "gpu-2" in text  # where bob's home is
