#!/usr/bin/env python3
"""What a task costs over Molecule's docker connection, with and without pipelining,
printed side by side with the ratio (a benchmark, not a test).

    python bench/connection.py [--tasks 20] [--repeats 3]

Starts one container of the lab's noble image, runs a playbook of N read-only tasks
(ansible.builtin.stat) against it over community.docker.docker, first with pipelining set the
way only SSH reads it ([ssh_connection]), then the way every connection reads it
([connection], what .config/molecule/config.yml sets), in rounds; prints the median wall time
and the control machine's CPU (user+sys of ansible-playbook and its children) of each.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml
from rich.console import Console
from rich.table import Table
from rich.text import Text

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
SETTINGS = {
    "pipelining for SSH only ([ssh_connection])": "[ssh_connection]\npipelining = True\n",
    "pipelining for every connection ([connection])": "[connection]\npipelining = True\n",
}


def run(workdir: Path, container: str) -> tuple[float, float]:
    """One playbook run: (wall seconds, CPU seconds of the run and its children)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    subprocess.run(
        [BIN / "ansible-playbook", "-i", f"{container},", "-c", "community.docker.docker",
         str(workdir / "play.yml")],
        cwd=workdir, check=True, capture_output=True,
        env={**os.environ, "ANSIBLE_CONFIG": str(workdir / "ansible.cfg")},
    )  # fmt: skip
    wall = time.monotonic() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tasks", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--image", default="dlfleet-lab/noble:latest")
    args = parser.parse_args()
    container = "dlfleet-bench-connection"
    subprocess.run(["docker", "rm", "-f", container], capture_output=True, check=False)
    subprocess.run(
        ["docker", "run", "-d", "--name", container, "--entrypoint", "sleep", args.image,
         "infinity"],
        check=True, capture_output=True,
    )  # fmt: skip
    results: dict[str, list[tuple[float, float]]] = {name: [] for name in SETTINGS}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            workdir = Path(tmp)
            tasks = [
                {"name": f"Read a file ({i})", "ansible.builtin.stat": {"path": "/etc/hostname"}}
                for i in range(args.tasks)
            ]
            play = [{"hosts": "all", "gather_facts": False, "tasks": tasks}]
            (workdir / "play.yml").write_text(yaml.safe_dump(play))
            for _ in range(args.repeats):
                for name, config in SETTINGS.items():
                    (workdir / "ansible.cfg").write_text(
                        "[defaults]\ninterpreter_python = auto_silent\n" + config
                    )
                    results[name].append(run(workdir, container))
                    print(f"{name}: {results[name][-1][0]:.1f}s", flush=True)
    finally:
        subprocess.run(["docker", "rm", "-f", container], capture_output=True, check=False)
    medians = {
        name: tuple(sorted(r[i] for r in runs)[len(runs) // 2] for i in (0, 1))
        for name, runs in results.items()
    }
    first = next(iter(medians.values()))
    table = Table(title=f"{args.tasks} tasks over the docker connection, median of {args.repeats}")
    for column in ("setting", "wall", "ratio", "control CPU", "ratio"):
        table.add_column(column, justify="right")
    for name, (wall, cpu) in medians.items():
        table.add_row(Text(name), f"{wall:.1f}s", f"{wall / first[0]:.2f}x", f"{cpu:.1f}s",
                      f"{cpu / first[1]:.2f}x")  # fmt: skip
    Console().print(table)


if __name__ == "__main__":
    main()
