"""The hub's lock file (roles/dl_hub/files/hub.lock) and a wheelhouse of it.

``lock`` resolves files/hub.in for every Python a hub host may run (3.10: Ubuntu 22.04, 3.11:
Debian 12, 3.12: Ubuntu 24.04) into one hash-pinned file; ``wheelhouse`` downloads, checked
against those hashes, the wheels one Python needs: what an air-gapped fleet mirrors and the
lab serves (dl_hub_pip_find_links).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from . import locks, paths
from .errors import DlfleetError
from .imagelock import pip_download

FILES = paths.ROLES / "dl_hub" / "files"
LOCK = FILES / "hub.lock"
PYTHONS = ("3.10", "3.11", "3.12")
PLATFORM = "x86_64-manylinux_2_28"


def lock() -> Path:
    """Resolve hub.in into hub.lock (universal: markers pick each Python's versions)."""
    argv = [
        sys.executable, "-m", "uv", "pip", "compile", str(FILES / "hub.in"), "--generate-hashes",
        "--universal", "--python-version", PYTHONS[0], "--no-header", "--no-annotate",
        "--quiet", "-o", str(LOCK),
    ]  # fmt: skip
    proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise DlfleetError(f"uv pip compile failed: {proc.stderr.strip()[-800:]}")
    return LOCK


def wheelhouse(python: str, dest: Path) -> Path:
    """Download every wheel of hub.lock that `python` installs into dest (hash-checked)."""
    if python not in PYTHONS:
        raise DlfleetError(f"the hub runs on Python {', '.join(PYTHONS)}, not {python}")
    dest.mkdir(parents=True, exist_ok=True)
    with locks.file_lock(dest / ".dlfleet-download.lock"):
        pip_download(LOCK, python, PLATFORM, dest)
    return dest


def main(argv: list[str] | None = None) -> None:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m dlfleet.hublock")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("lock", help="resolve files/hub.in into files/hub.lock")
    wh = sub.add_parser("wheelhouse", help="download the wheels one Python needs")
    wh.add_argument("--python", choices=PYTHONS, required=True)
    wh.add_argument("--dest", type=Path, required=True)
    args = parser.parse_args(argv)
    if args.command == "lock":
        print(lock())
    else:
        print(wheelhouse(args.python, args.dest))


if __name__ == "__main__":
    main()
