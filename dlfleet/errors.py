"""Errors a user can act on. The CLI prints them as one line and exits non-zero."""


class DlfleetError(Exception):
    """A user-facing error: its message is the one line the user sees."""
