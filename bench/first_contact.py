#!/usr/bin/env python3
"""README command 1 on a machine with nothing of dlfleet's (a benchmark, not a test).

    python bench/first_contact.py --yes [--keep-engine] [--commit HEAD]

Run as root on a development machine whose engine this may stop. What it does, in order:
1. dockerd is stopped (its containers stop with it); what the engine's data folder
   (/var/lib/docker) holds is moved aside (into a folder inside it) and docker.io, containerd
   and runc are removed, so the run installs the engine and builds every lab image into an
   empty engine (--keep-engine: neither);
2. a fresh clone of the commit in a temporary folder runs README command 1
   (`python3 -m venv .venv && .venv/bin/pip install -e . && .venv/bin/invoke demo`) with an
   empty XDG_CACHE_HOME (root filesystems, wheels, apt cache, image archives) and pip's
   cache off; each output line is stamped with the seconds since the start;
3. the lab is taken down, the new engine stopped and its data removed, the saved data
   folder put back and dockerd started again: the machine's images and caches are as before.

It prints the time to the first Jupyter URL, the demo's own phase line and the stamps of
the lines that mark each phase (the stamped log stays in the work folder it names).
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from dlfleet import engine  # noqa: E402

DATA = Path("/var/lib/docker")
# inside the data folder: it may be a mount point of its own
SAVED = DATA / ".first-contact-saved"
COMMAND = "python3 -m venv .venv && .venv/bin/pip install -e . && .venv/bin/invoke demo"
# the lines that mark a phase (regex on the stamped output)
MARKS = [
    ("engine installed", r"installing docker.io"),
    ("dockerd started", r"starting dockerd"),
    ("debootstraps started", r"debootstrap \w+ \(about"),
    ("image ready on the control machine", r"image .* ready on this machine"),
    ("lab images ready", r"images ready in"),
    ("site started", r"Running site.yml"),
    ("deep-learning image play", r"PLAY \[Deep-learning image\]"),
    ("containers play", r"PLAY \[Deep-learning containers\]"),
    ("recap", r"^Recap"),
    ("first Jupyter URL", r"http://localhost:\d+/lab\?token="),
]


def stop_engine(remove_containers: bool) -> None:
    """Stop dockerd (and the containerd it started); remove_containers: the run's own engine,
    whose data is thrown away (the machine's own containers are only stopped, and come back
    with their volumes when its data is put back)."""
    client = engine._client()
    if client and remove_containers:
        for c in client.containers.list(all=True):
            c.remove(force=True)
    subprocess.run(["pkill", "-x", "dockerd"], check=False)
    for _ in range(60):
        if subprocess.run(["pgrep", "-x", "dockerd"], capture_output=True).returncode:
            break
        time.sleep(1)
    subprocess.run(["pkill", "-x", "containerd"], check=False)
    time.sleep(2)


def stamp(cmd: list[str], cwd: Path, env: dict[str, str], log: Path) -> tuple[int, list[str]]:
    start = time.monotonic()
    lines: list[str] = []
    with (
        subprocess.Popen(
            cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        ) as proc,
        log.open("w") as out,
    ):
        assert proc.stdout is not None
        for raw in proc.stdout:
            line = f"{time.monotonic() - start:7.1f} {raw.rstrip()}"
            lines.append(line)
            out.write(line + "\n")
            out.flush()
        return proc.wait(), lines


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--yes", action="store_true", help="stop this machine's engine and move its data"
    )
    ap.add_argument("--keep-engine", action="store_true", help="leave the engine and its images")
    ap.add_argument("--commit", default="HEAD")
    args = ap.parse_args()
    if not args.yes or os.geteuid() != 0:
        ap.error("run as root with --yes: this stops the machine's Docker engine for the run")
    work = Path(tempfile.mkdtemp(prefix="dlfleet-first-contact-"))
    clone, cache, log = work / "dlfleet", work / "cache", work / "stamped.log"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
    subprocess.run(["git", "-C", str(clone), "checkout", "-q", args.commit], check=True)
    cache.mkdir()
    moved = False
    if not args.keep_engine:
        stop_engine(remove_containers=False)
        if SAVED.exists():
            sys.exit(f"{SAVED} exists: an earlier run did not restore it; put it back first")
        if DATA.exists():
            SAVED.mkdir()
            for entry in DATA.iterdir():
                if entry != SAVED:
                    entry.rename(SAVED / entry.name)
            moved = True
        subprocess.run(["apt-get", "remove", "-y", "-qq", "docker.io", "containerd", "runc"], check=True,
                       capture_output=True)  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "INVOKE_"))}
    env.update(XDG_CACHE_HOME=str(cache), PIP_NO_CACHE_DIR="1")
    env["PATH"] = ":".join(p for p in env["PATH"].split(":") if ".venv" not in p)
    try:
        rc, lines = stamp(["bash", "-c", COMMAND], clone, env, log)
    finally:
        subprocess.run([str(clone / ".venv/bin/invoke"), "lab.down"], cwd=clone, env=env,
                       capture_output=True, check=False)  # fmt: skip
        if not args.keep_engine:
            stop_engine(remove_containers=True)
            if moved:
                for entry in DATA.iterdir():
                    if entry != SAVED:
                        subprocess.run(["rm", "-rf", str(entry)], check=False)
                for entry in SAVED.iterdir():
                    entry.rename(DATA / entry.name)
                SAVED.rmdir()
            engine.ensure_engine(print)
    print(f"README command 1: exit {rc}; stamped output: {log}")
    hits = []
    for what, pattern in MARKS:
        hit = next((line for line in lines if re.search(pattern, line[8:])), None)
        if hit:
            hits.append((float(hit[:7]), what))
    for seconds, what in sorted(hits):
        print(f"{seconds:7.1f} s  {what}")
    summary = next((line for line in lines if "demo took" in line), None)
    if summary:
        print(summary[8:])
    return rc


if __name__ == "__main__":
    sys.exit(main())
