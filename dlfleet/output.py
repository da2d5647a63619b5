"""Where dlfleet writes for people: one rich console."""

from __future__ import annotations

import sys

from rich.console import Console

# Logs (CI, pipes) get wide tables instead of 80-column wrapping.
console = Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 160)


def say(message: str) -> None:
    console.print(f"[cyan]dlfleet[/] {message}")
