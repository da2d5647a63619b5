"""Role READMEs and role inputs kept honest: variables are documented from argument_specs.

``render(role)`` turns ``meta/argument_specs.yml`` into a Markdown table; ``update(role)``
writes it between the markers in the role's README. The unit tests fail when a README, the
spec and ``defaults/main.yml`` drift apart.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

BEGIN = "<!-- BEGIN VARIABLES (generated from meta/argument_specs.yml: invoke docs) -->"
END = "<!-- END VARIABLES -->"


def entry_points(role: Path) -> dict[str, Any]:
    data = yaml.safe_load((role / "meta" / "argument_specs.yml").read_text())
    return data["argument_specs"]


def spec(role: Path) -> dict[str, Any]:
    """The role's main entry point (an internal role used only through tasks_from has none)."""
    return entry_points(role).get("main") or {}


def defaults(role: Path) -> dict[str, Any]:
    path = role / "defaults" / "main.yml"
    return (yaml.safe_load(path.read_text()) or {}) if path.is_file() else {}


def _cell(value: Any) -> str:
    if isinstance(value, list):
        value = " ".join(str(v) for v in value)
    return str(value).replace("|", "\\|").replace("\n", " ")


def render(role: Path) -> str:
    points = entry_points(role)
    if "main" in points:
        others = [
            f"- `tasks_from: {name}`: {point.get('short_description', '')} "
            + (
                "Reads " + ", ".join(f"`{o}`" for o in point["options"]) + " (as above)."
                if point.get("options")
                else "Reads no variables."
            )
            for name, point in points.items()
            if name != "main"
        ]
        if others:
            others = ["", "Entry points other roles include:", "", *others]
        return "\n".join([BEGIN, _table(points["main"]), *others, END])
    tables = [
        f"`tasks_from: {name}` - {point.get('short_description', '')}\n\n{_table(point)}"
        for name, point in points.items()
    ]
    return "\n".join([BEGIN, "\n\n".join(tables), END])


def _table(point: dict[str, Any]) -> str:
    options = point.get("options") or {}
    rows = [
        "| variable | type | default | choices | description |",
        "| --- | --- | --- | --- | --- |",
    ]
    for name, opt in options.items():
        kind = opt.get("type", "str")
        if kind == "list" and opt.get("elements"):
            kind = f"list of {opt['elements']}"
        default = opt.get("default", "(required)" if opt.get("required") else "")
        dumped = yaml.safe_dump(default, default_flow_style=True).strip()
        default = f"`{dumped.removesuffix('...').strip()}`"
        choices = ", ".join(f"`{c}`" for c in opt.get("choices", []))
        rows.append(
            f"| `{name}` | {kind} | {default} | {choices} | {_cell(opt.get('description', ''))} |"
        )
    return "\n".join(rows)


def update(role: Path) -> bool:
    """Rewrite the generated part of the role's README; True when it changed."""
    readme = role / "README.md"
    text = readme.read_text()
    start, end = text.index(BEGIN), text.index(END) + len(END)
    new = text[:start] + render(role) + text[end:]
    if new != text:
        readme.write_text(new)
        return True
    return False
