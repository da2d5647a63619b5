"""``-e`` values, read exactly as ansible-playbook reads them (with Ansible's own parsers)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .errors import DlfleetError


def parse_extravars(items: Sequence[str]) -> dict[str, Any]:
    """``-e`` values exactly as ansible-playbook reads them (its own parsers): ``@file``,
    a YAML/JSON mapping, or ``key=value`` pairs (``"a=1 b='two words'"`` is two variables)."""
    from ansible.errors import AnsibleError
    from ansible.parsing.dataloader import DataLoader
    from ansible.parsing.splitter import parse_kv

    loader = DataLoader()
    out: dict[str, Any] = {}
    for item in items:
        item = item.strip()
        if not item:
            continue
        try:
            if item.startswith("@"):
                path = Path(item[1:]).expanduser()
                if not path.is_file():
                    raise DlfleetError(f"extra vars file not found: {path}")
                loaded = loader.load_from_file(str(path))
            elif item[0] in "/.":
                raise DlfleetError(f"-e {item!r}: put @ before a file of variables")
            elif item[0] in "[{":
                loaded = loader.load(item)
            else:
                loaded = parse_kv(item)
                if "_raw_params" in loaded:
                    raise DlfleetError(
                        f"-e {item!r}: expected key=value, a JSON/YAML mapping or @file"
                    )
        except AnsibleError as exc:
            raise DlfleetError(f"-e {item!r}: {exc.message}") from exc
        if not isinstance(loaded, Mapping):
            raise DlfleetError(f"-e {item!r}: extra vars must be a mapping")
        out.update(json.loads(json.dumps(loaded)))  # plain types, as runner writes them
    return out
