"""dl_image's filters: which build arguments would carry credentials into the image."""

from __future__ import annotations

import re
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


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"dl_image_leaky_build_args": leaky_build_args}
