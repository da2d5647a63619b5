"""The CUDA line a host's default NVIDIA driver runs, read from the roles themselves.

The nvidia_driver role keeps the tables (``vars/cuda_compat.yml``), the per-OS defaults
(``vars/<OS>.yml``) and the filter that maps a driver to a line
(``plugins/filter/nvidia_driver.py``); this module loads them as they are, so the lab, the
tests and the roles cannot disagree.
"""

from __future__ import annotations

import sys
from functools import cache
from types import ModuleType

import yaml

from . import paths, plugins

DRIVER = paths.ROLES / "nvidia_driver"


@cache
def filters() -> ModuleType:
    return plugins.filter_plugin("nvidia_driver")


@cache
def detection() -> ModuleType:
    """The role's GPU detection module, its functions usable without Ansible (the module only
    needs AnsibleModule to run as a module; a stand-in is given where Ansible is missing)."""
    if "ansible.module_utils.basic" not in sys.modules:
        try:
            import ansible.module_utils.basic  # noqa: F401
        except ImportError:  # e.g. a GPU machine with only Python: nothing of it is used
            basic = ModuleType("ansible.module_utils.basic")
            basic.AnsibleModule = object
            for name in ("ansible", "ansible.module_utils"):
                sys.modules.setdefault(name, ModuleType(name))
            sys.modules["ansible.module_utils.basic"] = basic
    return plugins.module("nvidia_gpu_facts")


@cache
def tables() -> dict:
    return yaml.safe_load((DRIVER / "vars" / "cuda_compat.yml").read_text())


def os_vars(distribution: str, major_version: str) -> dict:
    """The role's vars file for an OS, found as the role finds it (first_found)."""
    for name in (f"{distribution}-{major_version}.yml", f"{distribution}.yml"):
        path = DRIVER / "vars" / name
        if path.is_file():
            return yaml.safe_load(path.read_text())
    raise FileNotFoundError(f"nvidia_driver has no vars for {distribution} {major_version}")


def default_branch(distribution: str, major_version: str) -> str:
    data = os_vars(distribution, major_version)
    return data["__nvidia_driver_default_branches"][data["__nvidia_driver_default_method"]]


def line_of(driver: str) -> str:
    """The newest CUDA line a driver version or branch runs ('' for none)."""
    return filters().nvidia_driver_cuda_line(driver, tables()["nvidia_driver_cuda_lines"])


def default_line(distribution: str, major_version: str) -> str:
    return line_of(default_branch(distribution, major_version))
