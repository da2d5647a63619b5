#!/usr/bin/env python3
"""Where a command's CPU goes on this machine, everything it starts included (a benchmark,
not a test): the control machine's own processes and those inside the lab's containers,
and the containers' nested ones, by command name and by container.

    python bench/suite_cpu.py [--every 2] -- .venv/bin/invoke test
    python bench/suite_cpu.py --every 2 -- molecule test -s default   (in roles/docker)

The kernel's process accounting (acct(2): one record per process that ends, in every PID
namespace below this one, with its user+sys time) gives the time by command name: the
Ansible module interpreters inside hosts (python3, python2.7 on xenial) apart from the
control machine's ansible-playbook, apt and dpkg, the engines. cgroup v1's cpuacct, read
every --every seconds while the command runs, gives each container's total (its nested
containers included), named as the engine names it while it lives; the rest of the
machine's time is the control machine's (and the kernel's). Needs root (CAP_SYS_PACCT) and
cgroup v1; prints a line saying why not where either is missing.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import re
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import docker  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

CPUACCT = Path("/sys/fs/cgroup/cpuacct")
# struct acct_v3 (linux/acct.h): 64 bytes, ac_version 3
_ACCT_V3 = struct.Struct("<BBHIIIIIIfHHHHHHHH16s")
_AHZ = 100


def _comp(value: int) -> int:
    """comp_t: 13-bit mantissa, 3-bit base-8 exponent."""
    return (value & 0x1FFF) << (3 * ((value >> 13) & 7))


def by_command(raw: bytes) -> tuple[Counter, Counter]:
    """CPU seconds and process count per command name, from acct_v3 records."""
    seconds: Counter = Counter()
    count: Counter = Counter()
    for offset in range(0, len(raw) - _ACCT_V3.size + 1, _ACCT_V3.size):
        rec = _ACCT_V3.unpack_from(raw, offset)
        if rec[1] & 0x7F != 3:
            continue
        name = rec[18].split(b"\0")[0].decode(errors="replace")
        seconds[name] += (_comp(rec[10]) + _comp(rec[11])) / _AHZ
        count[name] += 1
    return seconds, count


class Sampler(threading.Thread):
    """Each container's cpuacct.usage (ns) at its highest, and the machine's, until stopped."""

    def __init__(self, every: float) -> None:
        super().__init__(daemon=True)
        self.every = every
        self.start_total = int((CPUACCT / "cpuacct.usage").read_text())
        self.start_each = self._read()
        self.highest: dict[str, int] = dict(self.start_each)
        self.names: dict[str, str] = {}
        self.stopped = threading.Event()
        self.client: docker.DockerClient | None = None  # made once the engine answers

    @staticmethod
    def _read() -> dict[str, int]:
        out = {}
        for d in (CPUACCT / "docker").glob("*/"):
            try:
                out[d.name] = int((d / "cpuacct.usage").read_text())
            except OSError:
                continue  # gone between the listing and the read
        return out

    def run(self) -> None:
        while not self.stopped.wait(self.every):
            for cid, used in self._read().items():
                self.highest[cid] = max(used, self.highest.get(cid, 0))
            try:  # through the API: a `docker ps` every few seconds would be measured too
                self.client = self.client or docker.from_env()
                listed = self.client.containers.list(all=True, sparse=True)
            except docker.errors.DockerException:
                continue  # the engine is not up (yet)
            for container in listed:
                self.names[container.id] = container.attrs["Names"][0].lstrip("/")

    def stop(self) -> tuple[float, Counter]:
        self.stopped.set()
        self.join()
        total = (int((CPUACCT / "cpuacct.usage").read_text()) - self.start_total) / 1e9
        each: Counter = Counter()
        for cid, used in self.highest.items():
            spent = (used - self.start_each.get(cid, 0)) / 1e9
            # instances of one scenario or lab host kind together: noble-tk, lab-noble-1...
            name = re.sub(r"-\d+$", "", self.names.get(cid, "(nested or unnamed)"))
            each[name] += spent
        return total, each


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--every", type=float, default=2.0, help="seconds between samples")
    parser.add_argument("--top", type=int, default=20, help="rows per table")
    parser.add_argument("--keep", help="keep the accounting records in this file (acct_v3)")
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("a command to run, after --")
    if not CPUACCT.is_dir():
        print("no cgroup v1 cpuacct hierarchy here: nothing to attribute by container")
        return 2
    libc = ctypes.CDLL(None, use_errno=True)
    with tempfile.NamedTemporaryFile(prefix="dlfleet-acct-") as acct:
        if args.keep:
            Path(args.keep).write_bytes(b"")
        records = args.keep or acct.name
        if libc.acct(records.encode()) != 0:
            print(f"process accounting refused: {os.strerror(ctypes.get_errno())}")
            return 2
        sampler = Sampler(args.every)
        sampler.start()
        started = time.monotonic()
        try:
            rc = subprocess.call(command)
        finally:
            libc.acct(None)
            wall = time.monotonic() - started
            total, containers = sampler.stop()
        seconds, count = by_command(Path(records).read_bytes())
    console = Console()
    in_containers = sum(containers.values())
    console.print(
        f"wall {wall / 60:.1f} min · machine CPU {total / 60:.1f} min "
        f"({total / wall / (os.cpu_count() or 1):.0%} of {os.cpu_count()} cores) · in "
        f"containers {in_containers / 60:.1f} min · outside {(total - in_containers) / 60:.1f} min"
    )
    table = Table(title="by command (processes that ended)")
    for col in ("command", "CPU min", "share", "processes", "s each"):
        table.add_column(col, justify="left" if col == "command" else "right")
    for name, spent in seconds.most_common(args.top):
        table.add_row(
            name, f"{spent / 60:.2f}", f"{spent / total:.1%}", str(count[name]),
            f"{spent / count[name]:.2f}",
        )  # fmt: skip
    console.print(table)
    table = Table(title="by container")
    for col in ("container", "CPU min", "share"):
        table.add_column(col, justify="left" if col == "container" else "right")
    for name, spent in containers.most_common(args.top):
        table.add_row(name, f"{spent / 60:.2f}", f"{spent / total:.1%}")
    console.print(table)
    return rc


if __name__ == "__main__":
    sys.exit(main())
