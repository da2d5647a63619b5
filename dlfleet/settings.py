"""dlfleet's settings: the ``dlfleet`` key of invoke's configuration (invoke.yaml,
~/.invoke.yaml, INVOKE_DLFLEET_* variables), with the defaults invoke.yaml ships."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from . import paths
from .lab import Lab
from .output import say
from .runner import check_strategy

# The defaults live in one place, invoke.yaml (documented there); invoke reads the same file.
SHIPPED: dict[str, Any] = yaml.safe_load((paths.ROOT / "invoke.yaml").read_text())["dlfleet"]
_LAB: dict[str, Any] = SHIPPED["lab"]


@dataclass
class Settings:
    """The ``dlfleet`` key of invoke's configuration (invoke.yaml, INVOKE_DLFLEET_* vars)."""

    inventory: str = SHIPPED["inventory"]
    playbook: str = SHIPPED["playbook"]
    state_dir: str = SHIPPED["state_dir"]
    lab_name: str = _LAB["name"]
    lab_hosts: str = _LAB["hosts"]
    lab_apt_cache: bool = _LAB["apt_cache"]
    lab_registry: bool = _LAB["registry"]
    lab_image_frameworks: list[str] = field(
        default_factory=lambda: _frameworks(_LAB["image_frameworks"])
    )
    forks: int = SHIPPED["forks"]
    serial: str = SHIPPED["serial"]
    max_fail_percentage: str = SHIPPED["max_fail_percentage"]
    strategy: str = SHIPPED["strategy"]
    keep_runs: int = SHIPPED["keep_runs"]
    fast: bool = SHIPPED["fast"]
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_config(cls, config: Mapping[str, Any] | None) -> Settings:
        config = dict(config or {})
        lab = dict(config.pop("lab", None) or {})
        known = {k: v for k, v in config.items() if k in cls.__dataclass_fields__}
        for key in ("name", "hosts", "apt_cache", "registry", "image_frameworks"):
            if key in lab and lab[key] is not None:
                known[f"lab_{key}"] = lab[key]
        settings = cls(**known)
        settings.lab_apt_cache = _as_bool(settings.lab_apt_cache)
        settings.lab_registry = _as_bool(settings.lab_registry)
        settings.fast = _as_bool(settings.fast)
        settings.lab_image_frameworks = _frameworks(settings.lab_image_frameworks)
        settings.forks = int(settings.forks)
        settings.keep_runs = int(settings.keep_runs)
        check_strategy(settings.strategy, "dlfleet.strategy")
        return settings

    @property
    def state(self) -> Path:
        return paths.state_dir(self.state_dir)

    def lab(self) -> Lab:
        return Lab(self.state, say=say, name=self.lab_name)

    def lab_up(
        self,
        hosts: str | None = None,
        apt_cache: bool | None = None,
        registry: bool | None = None,
        hub: bool = False,
        build_image: Callable[[dict[str, Any]], None] | None = None,
    ) -> Lab:
        lab = self.lab()
        lab.up(
            hosts or self.lab_hosts,
            apt_cache=self.lab_apt_cache if apt_cache is None else apt_cache,
            image_frameworks=list(self.lab_image_frameworks),
            image_registry=self.lab_registry if registry is None else registry,
            hub=hub,
            build_image=build_image,
        )
        return lab


def _frameworks(value: Any) -> list[str]:
    """A list of frameworks, also from "a, b" (invoke.yaml, INVOKE_DLFLEET_* variables)."""
    if isinstance(value, str):
        return [f.strip() for f in value.split(",") if f.strip()]
    return list(value or [])


def _as_bool(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)
