"""dl_image's filters: which build arguments would carry credentials into the image, and
which archives on the control machine arrived whole."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

# names that say "secret" (HF_TOKEN, PIP_PASSWORD, AWS_SECRET_ACCESS_KEY, NPM_AUTH...)
SECRET_NAME = re.compile(r"(?i)(token|passw|secret|credential|api_?key|auth)")


def _has_userinfo(value: str) -> bool:
    """Whether any URL in value (pip accepts several, space-separated) has user[:pass]@."""
    for part in str(value).split():
        try:
            parts = urlsplit(part)
        except ValueError:
            continue
        if parts.scheme and (parts.username or parts.password):
            return True
    return False


def leaky_build_args(args: dict[str, Any]) -> list[str]:
    """The names of build arguments that would put a credential into the image's history
    (`docker history` shows every build argument a RUN step used, on every host)."""
    return sorted(
        name
        for name, value in (args or {}).items()
        if value not in (None, "") and (_has_userinfo(value) or SECRET_NAME.search(str(name)))
    )


def whole_archives(stat_results: list[dict[str, Any]]) -> list[str]:
    """The images (loop items) whose archive on the control machine is whole: its sha256 (the
    stat's checksum, sha256) is the one recorded beside it (ARCHIVE.sha256) once it had
    arrived and been checked. An archive without that record (an interrupted transfer, one
    an older dlfleet left) or with another digest (damaged) is not used. Reads the records on
    the control machine, where filters run and the archives are."""
    whole = []
    for result in stat_results or []:
        stat = result.get("stat") or {}
        if not stat.get("exists") or not stat.get("checksum"):
            continue
        record = Path(stat["path"] + ".sha256")
        try:
            recorded = record.read_text().strip()
        except OSError:
            continue
        if recorded == stat["checksum"]:
            whole.append(result["item"])
    return whole


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {
            "dl_image_leaky_build_args": leaky_build_args,
            "dl_image_whole_archives": whole_archives,
        }
