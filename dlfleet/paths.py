"""Where dlfleet finds its playbooks and keeps its state.

dlfleet runs from its checkout (like most Ansible projects): playbooks, roles and
ansible.cfg sit beside the package. Run state (artifacts, the lab's key and inventory)
lives in a git-ignored ``.dlfleet`` folder; root filesystems of the lab's base images are
cached per user so that several checkouts share them.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PLAYBOOKS = ROOT / "playbooks"
ROLES = ROOT / "roles"
# this tree is the collection dlfleet.fleet: collections/ansible_collections/dlfleet/fleet -> ROOT
COLLECTIONS = ROOT / "collections"
FILTERS = ROOT / "plugins" / "filter"
MODULES = ROOT / "plugins" / "modules"
ANSIBLE_CFG = ROOT / "ansible.cfg"


def state_dir(configured: str | os.PathLike[str] | None = None) -> Path:
    """The run-state folder: configured (relative to the checkout) or ``.dlfleet``."""
    path = Path(configured) if configured else Path(".dlfleet")
    return path if path.is_absolute() else ROOT / path


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "dlfleet"


def image_build_lock() -> Path:
    """Held while this machine builds an image into its cache of image archives (dl_image's
    __dl_image_control_dir, the same folder): a site run that would load one waits for it."""
    return cache_dir() / "images" / ".building.lock"


def venv_path() -> str:
    """PATH with this Python's bin folder first, so its Ansible tools are the ones found."""
    return os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
