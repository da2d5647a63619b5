"""The progress display and the recap, rendered to text."""

from datetime import datetime, timezone
from pathlib import Path

from rich.console import Console

from dlfleet.display import RichDisplay
from dlfleet.runner import RunRequest, RunResult


def test_plain_output_names_tasks_failures_and_recap(tmp_path):
    console = Console(record=True, force_terminal=False, width=120)
    display = RichDisplay(console)
    request = RunRequest(playbook=Path("site.yml"), inventory=Path("inv.yml"))
    display.start(request)
    events = [
        {"event": "playbook_on_play_start", "event_data": {"play": "Docker engine"}},
        {"event": "playbook_on_task_start", "event_data": {"task": "Install the engine"}},
        {"event": "runner_on_ok", "event_data": {"host": "noble-1", "res": {"changed": True}}},
        {
            "event": "runner_on_failed",
            "event_data": {"host": "xenial-1", "res": {"msg": "No package matching 'x'"}},
        },
    ]
    for event in events:
        display.event(event)
    now = datetime.now(timezone.utc)
    display.finish(
        RunResult(
            request=request,
            status="failed",
            rc=2,
            started=now,
            finished=now,
            run_dir=tmp_path,
            hosts={
                "noble-1": dict(
                    ok=3, changed=1, failed=0, unreachable=0, skipped=0, rescued=0, ignored=0
                ),
                "xenial-1": dict(
                    ok=2, changed=0, failed=1, unreachable=0, skipped=0, rescued=0, ignored=0
                ),
            },
            failures=[],
        )
    )
    text = console.export_text()
    assert "PLAY [Docker engine]" in text
    assert "task: Install the engine" in text
    assert "FAILED: xenial-1: No package matching 'x'" in text
    recap = text[text.index("Recap") :]
    assert "noble-1" in recap and "xenial-1" in recap
    noble_row = next(line for line in recap.splitlines() if "noble-1" in line)
    assert [c for c in noble_row.replace("│", " ").split() if c.isdigit()] == [
        "3",
        "1",
        "0",
        "0",
        "0",
        "0",
        "0",
    ]
    assert "failed in" in text
    (tmp_path / "summary.json").write_text("{}")
    display.finish(
        RunResult(request=request, status="successful", rc=0, started=now, finished=now,
                  run_dir=tmp_path, hosts={}, failures=[])
    )  # fmt: skip
    assert f"summary: {tmp_path / 'summary.json'}" in console.export_text()
