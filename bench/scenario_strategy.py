#!/usr/bin/env python3
"""The machine's CPU and the wall time of a Molecule scenario's actions under Ansible's linear
strategy and under Mitogen's (a benchmark, not a test): should the suite run its scenarios
through Mitogen?

    python bench/scenario_strategy.py docker default [--actions converge,verify] [--repeats 2]

Creates and converges the scenario's instances once (linear), then runs each action against
the converged instances (a no-change converge, the verify) under each strategy in turn, in
rounds, and destroys them. CPU is the whole machine's (user+nice+system from /proc/stat): in
a scenario the instances share the control machine's CPU, so what a strategy saves inside
them counts as much as what it costs the control machine. Mitogen's rounds use
bench/mitogen/ (a strategy plugin that leaves the control machine's own plays on linear, and
the connection under the short name Mitogen takes over). The instances keep their Molecule
names: run it while no suite or scenario of that role runs.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from dlfleet import paths, testsuite  # noqa: E402
from dlfleet.settings import Settings  # noqa: E402

BASE = ROOT / ".config" / "molecule" / "config.yml"
MITOGEN = ROOT / "bench" / "mitogen"


def machine_cpu() -> float:
    """Seconds of CPU the whole machine has spent (user+nice+system)."""
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()
    return sum(int(v) for v in fields[1:4]) / os.sysconf("SC_CLK_TCK")


def molecule(role: str, scenario: str, action: str, env: dict[str, str], mitogen: bool) -> None:
    configs = ["-c", str(BASE)] + (["-c", str(MITOGEN / "molecule.yml")] if mitogen else [])
    argv = ["molecule", *configs, action, "-s", scenario]
    proc = subprocess.run(argv, cwd=paths.ROLES / role, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"{' '.join(argv)} failed:\n{proc.stdout[-3000:]}{proc.stderr[-2000:]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("role")
    parser.add_argument("scenario")
    parser.add_argument("--actions", default="converge,verify")
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    try:
        import ansible_mitogen  # noqa: F401
    except ImportError:
        sys.exit("Mitogen is not installed: pip install -e '.[speed]'")

    linear = {**os.environ, **testsuite.molecule_env(Settings()), "PATH": paths.venv_path()}
    mitogen = {
        **linear,
        "ANSIBLE_STRATEGY_PLUGINS": str(MITOGEN),
        "ANSIBLE_STRATEGY": "scenario_mitogen",
    }
    strategies = {"linear": (linear, False), "mitogen": (mitogen, True)}
    actions = args.actions.split(",")
    seen: dict[tuple[str, str], list[tuple[float, float]]] = {}
    try:
        molecule(args.role, args.scenario, "converge", linear, False)  # create, prepare too
        for _ in range(args.repeats):
            for name, (env, is_mitogen) in strategies.items():
                for action in actions:
                    cpu, wall = machine_cpu(), time.monotonic()
                    molecule(args.role, args.scenario, action, env, is_mitogen)
                    took = (machine_cpu() - cpu, time.monotonic() - wall)
                    seen.setdefault((action, name), []).append(took)
    finally:
        molecule(args.role, args.scenario, "destroy", linear, False)

    table = Table(
        title=f"{args.role}/{args.scenario}: machine CPU and wall time per action "
        f"(median of {args.repeats})",
        title_justify="left",
    )
    for column in ("action", "strategy", "CPU s", "ratio", "wall s", "ratio"):
        table.add_column(column, justify="left" if column in ("action", "strategy") else "right")
    for action in actions:
        base_cpu = statistics.median(c for c, _ in seen[(action, "linear")])
        base_wall = statistics.median(w for _, w in seen[(action, "linear")])
        for name in strategies:
            cpu = statistics.median(c for c, _ in seen[(action, name)])
            wall = statistics.median(w for _, w in seen[(action, name)])
            table.add_row(
                action, name, f"{cpu:.1f}", f"{cpu / base_cpu:.2f}x", f"{wall:.1f}",
                f"{wall / base_wall:.2f}x",
            )  # fmt: skip
    Console().print(table)


if __name__ == "__main__":
    main()
