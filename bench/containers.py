#!/usr/bin/env python3
"""Workspace containers on one lab host: start-to-Jupyter time and disk per container
(a benchmark, not a test).

    python bench/containers.py [--counts 1,4] [--repeats 3]

One noble lab host gets the engine and the cpu image once. Then, for each count N, the
dl_containers role declares N workspaces (timed: create), they are all stopped and started
together, as after a reboot, and each one's time from `docker start` to Jupyter answering
on its published port is taken (median and slowest over the repeats). Disk: each
container's writable layer (the image is shared by all of them). Numbers vary with load.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from provision import provision  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from dlfleet.settings import Settings

# Runs on the lab host (python3 is there for Ansible): stop the workspaces, start them all,
# poll each one's Jupyter /api until it answers HTTP; print seconds per container as JSON.
PROBE = r"""
import json, subprocess, sys, time, urllib.error, urllib.request
names = sys.argv[1:]
ports = {}
for n in names:
    labels = json.loads(subprocess.check_output(
        ["docker", "inspect", "--format", "{{json .Config.Labels}}", n]))
    ports[n] = int(labels["io.dlfleet.jupyter_port"])
subprocess.check_call(["docker", "stop", "-t", "5", *names], stdout=subprocess.DEVNULL)
start = time.monotonic()
subprocess.check_call(["docker", "start", *names], stdout=subprocess.DEVNULL)
ready = {}
while len(ready) < len(names) and time.monotonic() - start < 300:
    for n in names:
        if n in ready:
            continue
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{ports[n]}/api", timeout=2).close()
            ready[n] = time.monotonic() - start
        except urllib.error.HTTPError:  # answering, if not to strangers: up
            ready[n] = time.monotonic() - start
        except OSError:
            pass
    time.sleep(0.1)
print(json.dumps(ready))
"""

SIZES = "docker ps -a -s --filter name=bench- --format '{{.Names}} {{.Size}}'"


def on_host(settings: Settings, argv: list[str]) -> str:
    container = settings.lab().containers()[0]
    code, out = container.exec_run(argv)
    if code != 0:
        raise SystemExit(f"{' '.join(argv[:3])} failed: {out.decode()[-400:]}")
    return out.decode()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--counts", default="1,4")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    counts = [int(n) for n in args.counts.split(",")]
    rows = []
    with tempfile.TemporaryDirectory() as state:
        settings = Settings(state_dir=state, lab_name="dlfleet-bench", lab_hosts="noble=1")
        settings.lab().down()
        settings.lab_up()
        try:
            provision(settings, [], extravars={"dl_containers_list": []})  # engine + image
            for n in counts:
                names = [f"bench-{i}" for i in range(1, n + 1)]
                spec = [
                    {"name": name, "uid": 1000, "gid": 1000,
                     "jupyter_port": 8888 + i}
                    for i, name in enumerate(names)
                ]  # fmt: skip
                create = provision(
                    settings, ["dl_containers"], extravars={"dl_containers_list": spec}
                )
                times: list[float] = []
                for _ in range(args.repeats):
                    ready = json.loads(on_host(settings, ["python3", "-c", PROBE, *names]))
                    if len(ready) < n:
                        raise SystemExit(
                            f"Jupyter did not answer in {sorted(set(names) - set(ready))}"
                        )
                    times.extend(ready.values())
                sizes = on_host(settings, ["sh", "-c", SIZES]).split("\n")
                writable = [line.split(" ", 1)[1].split(" (")[0] for line in sizes if line.strip()]
                rows.append((n, create, statistics.median(times), max(times), writable[0]))
                print(f"{n}: create {create:.1f}s, start->Jupyter median "
                      f"{statistics.median(times):.1f}s max {max(times):.1f}s", flush=True)  # fmt: skip
                remove = [{**s, "state": "absent"} for s in spec]
                provision(settings, ["dl_containers"], extravars={"dl_containers_list": remove})
                time.sleep(1)
        finally:
            settings.lab().down()
    table = Table(title=f"Workspaces on one noble lab host ({args.repeats} cold starts each)")
    for column in ("containers", "create (role)", "start→Jupyter median", "slowest",
                   "writable layer each"):  # fmt: skip
        table.add_column(column, justify="right")
    for n, create, median, slowest, disk in rows:
        table.add_row(str(n), f"{create:.1f}s", f"{median:.1f}s", f"{slowest:.1f}s", disk)
    Console().print(table)


if __name__ == "__main__":
    main()
