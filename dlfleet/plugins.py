"""dlfleet's Ansible plugins (filters, modules, plugin_utils) as Python modules, for the app
and the tests that call their functions directly: one loader, each file loaded once."""

from __future__ import annotations

import importlib.util
import sys
from functools import cache
from types import ModuleType

from . import paths

PLUGINS = paths.ROOT / "plugins"


@cache
def load(kind: str, name: str) -> ModuleType:
    """plugins/KIND/NAME.py, e.g. load("filter", "dl_containers")."""
    path = PLUGINS / kind / f"{name}.py"
    if not path.is_file():
        raise FileNotFoundError(path)
    spec = importlib.util.spec_from_file_location(f"dlfleet_plugins.{kind}.{name}", path)
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    sys.modules[spec.name] = module  # type: ignore[union-attr]  # dataclasses look it up
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


@cache
def role_file(role: str, name: str) -> ModuleType:
    """roles/ROLE/files/NAME.py: Python a role installs on its hosts (the hub's spawner)."""
    path = paths.ROLES / role / "files" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"dlfleet_roles.{role}.{name}", path)
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    sys.modules[spec.name] = module  # type: ignore[union-attr]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def filter_plugin(name: str) -> ModuleType:
    return load("filter", name)


def module(name: str) -> ModuleType:
    return load("modules", name)


def util(name: str) -> ModuleType:
    return load("plugin_utils", name)


def filter_names() -> list[str]:
    """Every filter file's name (plugins/filter/NAME.py)."""
    return sorted(p.stem for p in (PLUGINS / "filter").glob("*.py"))


def all_filters() -> dict:
    """Every filter dlfleet ships, by name, as Ansible sees them (FilterModule.filters())."""
    out: dict = {}
    for name in filter_names():
        out.update(filter_plugin(name).FilterModule().filters())
    return out
