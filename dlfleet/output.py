"""Where dlfleet writes for people: one rich console."""

from __future__ import annotations

import sys

from rich.console import Console
from rich.text import Text

# Logs (CI, pipes) get wide tables instead of 80-column wrapping.
console = Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 160)


def say(message: str) -> None:
    """One line for people; the message is text, never markup (it may quote what a host said)."""
    console.print(Text.assemble(("dlfleet", "cyan"), " ", message))
