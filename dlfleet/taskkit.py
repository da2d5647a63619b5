"""What every invoke task shares: the settings of its context, one clear line for a user's
error, the exit status of a run."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from invoke import Exit

from .errors import DlfleetError
from .settings import Settings


def settings_of(c: Any) -> Settings:
    """The dlfleet settings of an invoke context (invoke.yaml, INVOKE_DLFLEET_*)."""
    return Settings.from_config(c.config.get("dlfleet"))


def user_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Turn a DlfleetError into one clear line and a non-zero exit."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except DlfleetError as exc:
            raise Exit(f"dlfleet: {exc}", code=2) from None

    return wrapper


def exit_for(result: Any) -> None:
    """Exit non-zero, naming the failed hosts, when a run failed."""
    if not result.ok:
        failed = ", ".join(result.failed_hosts) or result.status
        raise Exit(f"dlfleet: run failed on {failed}", code=1)
