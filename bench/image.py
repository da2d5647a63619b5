#!/usr/bin/env python3
"""Image rollout to lab hosts, by distribution, printed side by side (a benchmark, not a test).

    python bench/image.py [--hosts 4] [--frameworks sklearn] [--modes build,archive,registry]

One lab of N noble hosts (every host can build, so `build` is possible) gets the Docker
engine once; then, for each distribution, every host is emptied of images and build cache
and the registry of its storage, and `playbooks/site.yml --tags dl_image` rolls the cpu
image out (smoke check off: it costs the same in every mode). Printed: seconds per mode,
the ratio to `build`, and the image's size. The wheelhouse and the apt cache are warm in
every mode (as on a fleet with a local mirror). Numbers vary with the machine's load.
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from docker.errors import NotFound  # noqa: E402
from provision import provision  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from dlfleet.lab.sources import registry_root, registry_vars  # noqa: E402
from dlfleet.settings import Settings

MODES = ("build", "archive", "registry")
EMPTY_HOST = "docker ps -aq | xargs -r docker rm -f >/dev/null; docker system prune -af >/dev/null"


def empty_hosts(settings: Settings) -> None:
    """No images, containers or build cache on any lab host."""
    for container in settings.lab().containers():
        code, out = container.exec_run(["sh", "-c", EMPTY_HOST])
        if code != 0:
            raise SystemExit(f"could not empty {container.name}: {out.decode()[-300:]}")


def empty_registry(settings: Settings) -> None:
    """Stop the lab's registry, drop its storage, start it again: the push is a full one."""
    lab = settings.lab()
    with contextlib.suppress(NotFound):
        lab.client.containers.get(f"{lab.name}-registry").remove(force=True)
    shutil.rmtree(registry_root(lab.name) / "storage", ignore_errors=True)
    registry_vars(lab.services, lab.name, lab.gateway())


def image_size(settings: Settings) -> int:
    """Bytes of the rolled-out image on the first host (the same everywhere)."""
    container = settings.lab().containers()[0]
    code, out = container.exec_run(
        ["sh", "-c", "docker image ls --filter label=io.dlfleet.profile --format '{{.ID}}' "
         "| head -1 | xargs docker image inspect --format '{{.Size}}'"]
    )  # fmt: skip
    return int(out.decode().strip()) if code == 0 else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--hosts", type=int, default=4)
    parser.add_argument("--frameworks", default="sklearn")
    parser.add_argument("--modes", default=",".join(MODES))
    args = parser.parse_args()
    modes = [m for m in args.modes.split(",") if m]
    if bad := [m for m in modes if m not in MODES]:
        raise SystemExit(f"--modes: unknown {bad}; choose from {', '.join(MODES)}")
    frameworks = [f for f in args.frameworks.split(",") if f]
    rows: dict[str, float] = {}
    size = 0
    with tempfile.TemporaryDirectory() as state:
        settings = Settings(
            state_dir=state,
            lab_name="dlfleet-bench",
            lab_hosts=f"noble={args.hosts}",
            lab_image_frameworks=frameworks,
        )
        settings.lab().down()
        settings.lab_up(registry=True)
        try:
            provision(settings, ["docker"])  # the engine everywhere first, not measured
            for mode in modes:
                empty_hosts(settings)
                if mode == "registry":
                    empty_registry(settings)
                extravars = {
                    "dl_image_distribution": mode,
                    "dl_image_use_control_cache": False,
                    "dl_image_smoke": False,
                }
                rows[mode] = provision(settings, ["dl_image"], extravars=extravars)
                print(f"{mode}: {rows[mode]:.1f}s", flush=True)
            size = image_size(settings)
        finally:
            settings.lab().down()
    base = rows.get("build") or next(iter(rows.values()))
    title = (
        f"Rollout of the cpu image ({'+'.join(frameworks) or 'base'}, "
        f"{size / 1e9:.2f} GB) to {args.hosts} lab hosts"
    )
    table = Table(title=title)
    for column in (
        "distribution",
        "seconds",
        f"ratio to {'build' if 'build' in rows else modes[0]}",
    ):
        table.add_column(column, justify="right")
    for mode, seconds in rows.items():
        table.add_row(mode, f"{seconds:.1f}", f"{seconds / base:.2f}x")
    Console().print(table)


if __name__ == "__main__":
    main()
