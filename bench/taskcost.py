#!/usr/bin/env python3
"""What one task costs the control machine per host, by kind (a benchmark, not a test).

    python bench/taskcost.py [--tasks 100] [--hosts 3] [--repeats 3]

Playbooks of --tasks identical tasks (a task whose `when` is false, a set_fact, a stat) run
with ansible-playbook on one host and on --hosts hosts, all of them this machine over the
`local` connection (no SSH, no lab); the CPU of ansible-playbook and everything it started
(user+sys), medians of --repeats, and what each task costs per extra host. The stat row also
counts the module's own Python on the "host" (this machine), which a real host pays itself.
A no-change site run is a few hundred such task results per host (bench/provision.py cpu).
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

from rich.console import Console
from rich.table import Table

KINDS = {
    "skipped (when: false)": (
        "ansible.builtin.debug:\n        msg: never\n      when: dlfleet_never | default(false) | bool"
    ),
    "set_fact": 'ansible.builtin.set_fact:\n        dlfleet_bench_{i}: "{{{{ {i} + 1 }}}}"',
    "stat (a module run)": "ansible.builtin.stat:\n        path: /etc/hostname",
}


def _write(folder: Path, tasks: int, hosts: int) -> dict[str, Path]:
    books = {}
    for n, (kind, body) in enumerate(KINDS.items()):
        lines = ["- hosts: all", "  gather_facts: false", "  tasks:"]
        for i in range(tasks):
            lines.append(f"    - name: task {i}\n      {body.format(i=i)}")
        books[kind] = folder / f"kind{n}.yml"
        books[kind].write_text("\n".join(lines) + "\n")
    for count in (1, hosts):
        names = "".join(f"    bench-{i}:\n" for i in range(count))
        (folder / f"hosts{count}.yml").write_text(
            "all:\n  vars:\n    ansible_connection: local\n"
            f"    ansible_python_interpreter: {sys.executable}\n  hosts:\n{names}"
        )
    return books


def _cpu(book: Path, inventory: Path) -> float:
    # ansible-core's own defaults (an empty ansible.cfg), not the repository's
    config = inventory.parent / "ansible.cfg"
    config.touch()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(
        [str(Path(sys.executable).parent / "ansible-playbook"), "-i", str(inventory), str(book)],
        stdout=subprocess.DEVNULL,
        check=True,
        env={**os.environ, "ANSIBLE_CONFIG": str(config), "ANSIBLE_FORKS": "20"},
    )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tasks", type=int, default=100)
    parser.add_argument("--hosts", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        books = _write(folder, args.tasks, args.hosts)
        samples: dict[tuple[str, int], list[float]] = {}
        for _ in range(args.repeats):  # rounds: load drifts hit every kind alike
            for kind, book in books.items():
                for count in (1, args.hosts):
                    cpu = _cpu(book, folder / f"hosts{count}.yml")
                    samples.setdefault((kind, count), []).append(cpu)
    median = {key: sorted(v)[len(v) // 2] for key, v in samples.items()}
    table = Table(
        title=f"Control-machine CPU of {args.tasks} tasks, median of {args.repeats} "
        "(local connection)"
    )
    for column in ("task", "1 host", f"{args.hosts} hosts", "ratio", "per task, per extra host"):
        table.add_column(column, justify="right")
    for kind in KINDS:
        one, many = median[kind, 1], median[kind, args.hosts]
        per = (many - one) / (args.hosts - 1) / args.tasks
        table.add_row(
            kind, f"{one:.1f}s", f"{many:.1f}s", f"{many / one:.2f}x", f"{1000 * per:.0f} ms"
        )
    Console().print(table)


if __name__ == "__main__":
    main()
