"""Live progress and the recap, drawn with rich from ansible-runner events."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from .runner import RECAP_COLUMNS, RunRequest, RunResult, failure_from_event

_HOST_EVENTS = {
    "runner_on_ok": "ok",
    "runner_on_failed": "failed",
    "runner_on_unreachable": "unreachable",
    "runner_on_skipped": "skipped",
}


class RichDisplay:
    """A live table (host, current task, ok/changed/failed) on a terminal; plain lines elsewhere.

    On a terminal the table redraws in place; in CI logs each task and each failure is one
    line. Either way the run ends with the recap table.
    """

    def __init__(self, console: Console | None = None) -> None:
        self.console = console or Console()
        self.live: Live | None = None
        self.task = ""
        self.play = ""
        self.hosts: dict[str, dict[str, Any]] = {}

    # -- Display protocol -------------------------------------------------------------
    def start(self, request: RunRequest) -> None:
        mode = " (check mode)" if request.check else ""
        self.console.print(f"[bold]Running[/] {request.playbook.name}{mode} on {request.inventory}")
        if self.console.is_terminal:
            self.live = Live(self._render(), console=self.console, refresh_per_second=4)
            self.live.start()

    def event(self, event: Mapping[str, Any]) -> None:
        name = event.get("event", "")
        data = event.get("event_data") or {}
        if name == "playbook_on_play_start":
            self.play = data.get("play", "")
            self._line(f"PLAY [{self.play}]", style="bold")
        elif name == "playbook_on_task_start":
            self.task = data.get("task", "")
            self._line(f"  task: {self.task}", style="dim")
        elif name == "runner_on_start":
            self._host(data.get("host"))["task"] = data.get("task", "")
        elif name in _HOST_EVENTS:
            host = self._host(data.get("host"))
            kind = _HOST_EVENTS[name]
            if kind == "failed" and data.get("ignore_errors"):
                kind = "ignored"
            host[kind] = host.get(kind, 0) + 1
            if kind == "ok" and (data.get("res") or {}).get("changed"):
                host["changed"] = host.get("changed", 0) + 1
            if kind in ("failed", "unreachable"):
                failure = failure_from_event(data, unreachable=kind == "unreachable")
                self._line(f"  {kind.upper()}: {failure.host}: {failure.msg}", style="red")
        if self.live:
            self.live.update(self._render())

    def finish(self, result: RunResult) -> None:
        if self.live:
            self.live.stop()
            self.live = None
        self.console.print(recap_table(result))
        verdict = "[green]ok[/]" if result.ok else f"[red]{result.status}[/]"
        seconds = (result.finished - result.started).total_seconds()
        summary = result.run_dir / "summary.json"
        where = f"; summary: {summary}" if summary.exists() else ""
        self.console.print(f"{verdict} in {seconds:.1f}s, {result.changed_total} changed{where}")

    # -- helpers ----------------------------------------------------------------------
    def _host(self, name: str | None) -> dict[str, Any]:
        return self.hosts.setdefault(name or "?", {"task": ""})

    def _line(self, text: str, style: str = "") -> None:
        if self.live:
            if style == "red":
                self.live.console.print(Text(text, style=style))
            return
        self.console.print(Text(text, style=style))

    def _render(self) -> Group:
        table = Table(title=f"{self.play}", title_justify="left", expand=False)
        table.add_column("host")
        for column in ("ok", "changed", "failed", "unreachable"):
            table.add_column(column, justify="right")
        table.add_column("current task", overflow="ellipsis", max_width=60)
        for name, host in sorted(self.hosts.items()):
            table.add_row(
                name,
                *(str(host.get(c, 0)) for c in ("ok", "changed", "failed", "unreachable")),
                host.get("task", ""),
            )
        done = sum(1 for h in self.hosts.values() if h.get("failed") or h.get("unreachable"))
        footer = Text(f"task: {self.task}   hosts: {len(self.hosts)}, failed: {done}")
        return Group(table, footer)


def recap_table(result: RunResult) -> Table:
    table = Table(title="Recap", title_justify="left")
    table.add_column("host")
    for column in RECAP_COLUMNS:
        table.add_column(column, justify="right")
    for host, stats in sorted(result.hosts.items()):
        bad = stats.get("failed") or stats.get("unreachable")
        table.add_row(
            Text(host, style="red" if bad else "green"),
            *(str(stats.get(c, 0)) for c in RECAP_COLUMNS),
        )
    return table
