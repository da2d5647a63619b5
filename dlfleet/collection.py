"""This tree as the Ansible collection ``dlfleet.fleet``: the tarball, the execution
environment's build context, and the second Ansible line the suite runs it on.

- ``build``: ``ansible-galaxy collection build`` (galaxy.yml says what stays out).
- ``ee_context``: ``ansible-builder create`` for ``ee/execution-environment.yml`` (the build
  context AWX / Automation Platform images are made from; no registry needed).
- ``modern_toolchain``: the ansible-core 2.19 toolchain in ``.venv-2.19``
  (``tests/toolchains/ansible-2.19.txt``, dlfleet itself from this tree without its 2.16
  pins), made again only when that file changes.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import yaml

from . import paths
from .errors import DlfleetError

DIST = paths.ROOT / "dist"
EE_FILE = paths.ROOT / "ee" / "execution-environment.yml"
EE_CONTEXT = paths.ROOT / "ee" / "context"
MODERN_VENV = paths.ROOT / ".venv-2.19"
MODERN_REQUIREMENTS = paths.ROOT / "tests" / "toolchains" / "ansible-2.19.txt"
# Molecule scenarios the 2.19 line runs (role, scenario, platform or None for all): the docker
# role on the newest Ubuntu, and the workspace scenario (docker + dl_image + dl_containers on
# noble). The rest of 2.19's coverage is tests/modern (the site on a simulated GPU host on
# noble and a bookworm host, the collection from outside); the 2.16 suite runs every
# scenario on every platform.
MODERN_SCENARIOS = [("docker", "default", "noble"), ("dl_containers", "default", None)]

Say = Callable[[str], None]


def galaxy() -> dict:
    return yaml.safe_load((paths.ROOT / "galaxy.yml").read_text())


def tarball_name() -> str:
    meta = galaxy()
    return f"{meta['namespace']}-{meta['name']}-{meta['version']}.tar.gz"


def _tool(name: str, bindir: Path | None = None) -> str:
    here = (bindir or Path(sys.executable).parent) / name
    found = str(here) if here.exists() else shutil.which(name)
    if not found:
        raise DlfleetError(f"{name} not found: install dlfleet with its dev extras")
    return found


def build(dest: Path = DIST, bindir: Path | None = None) -> Path:
    """The collection tarball in dest (replaced if there)."""
    dest.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(
        [_tool("ansible-galaxy", bindir), "collection", "build", "--force",
         "--output-path", str(dest), str(paths.ROOT)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if proc.returncode != 0:
        raise DlfleetError(f"ansible-galaxy collection build failed: {proc.stderr.strip()[-500:]}")
    match = re.search(r"(/\S+\.tar\.gz)", proc.stdout)
    if not match:
        raise DlfleetError(f"ansible-galaxy collection build said: {proc.stdout.strip()}")
    return Path(match.group(1))


def ee_context(say: Say) -> Path:
    """Build the collection, then the execution environment's build context."""
    tarball = build()
    wanted = yaml.safe_load(EE_FILE.read_text())["additional_build_files"][0]["src"]
    if Path(wanted).name != tarball.name:
        raise DlfleetError(
            f"{EE_FILE.name} copies {Path(wanted).name}, the build made {tarball.name}: "
            "give the execution environment galaxy.yml's version"
        )
    shutil.rmtree(EE_CONTEXT, ignore_errors=True)
    proc = subprocess.run(
        [_tool("ansible-builder"), "create", "-f", str(EE_FILE), "-c", str(EE_CONTEXT),
         "--output-filename", "Containerfile"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if proc.returncode != 0:
        raise DlfleetError(f"ansible-builder create failed: {(proc.stderr or proc.stdout)[-800:]}")
    say(f"execution environment build context: {EE_CONTEXT} (from {tarball.name})")
    return EE_CONTEXT


def modern_toolchain(say: Say) -> Path:
    """The 2.19 toolchain's bin folder, installed or brought up to date."""
    stamp = MODERN_VENV / "dlfleet-requirements.txt"
    wanted = MODERN_REQUIREMENTS.read_text()
    bindir = MODERN_VENV / "bin"
    if stamp.is_file() and stamp.read_text() == wanted and (bindir / "ansible-playbook").exists():
        return bindir
    say(f"installing the ansible-core 2.19 toolchain into {MODERN_VENV}")
    steps = [
        [sys.executable, "-m", "venv", "--clear", str(MODERN_VENV)],
        [str(bindir / "pip"), "install", "-q", "-r", str(MODERN_REQUIREMENTS)],
        [str(bindir / "pip"), "install", "-q", "--no-deps", "-e", str(paths.ROOT)],
    ]
    for argv in steps:
        proc = subprocess.run(argv, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise DlfleetError(f"{' '.join(argv[:4])} failed: {proc.stderr.strip()[-500:]}")
    stamp.write_text(wanted)
    return bindir
