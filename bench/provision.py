#!/usr/bin/env python3
"""Provisioning speed on the lab, printed as tables with ratios (a benchmark, not a test).

    python bench/provision.py scaling [--sizes 1,2,4,8] [--tags docker]
    python bench/provision.py levers  [--hosts noble=2] [--tags docker]
    python bench/provision.py cpu     [--hosts 3] [--repeats 3] [--tags docker] [--strategies linear,mitogen,fast]

scaling: for each lab size, the first run and a no-change run of playbooks/site.yml, with
the ratio to one host. levers: the same no-change run with dlfleet's speed levers off
(no SSH pipelining, no ControlPersist, no fact cache), on, and on with the Mitogen strategy
(where the `speed` extra is installed), side by side. cpu: the control machine's CPU
(user+sys of the run and everything it started) for a no-change run on one host and on all
hosts of a lab of identical noble hosts, medians, and the CPU each extra host costs; `fast`
in --strategies measures the default `invoke provision` (one read of each host; no site run
where nothing differs) beside them, `linear` is `invoke provision --full`.
Each measurement uses a fresh lab named dlfleet-bench; numbers vary with the machine's load.
"""

from __future__ import annotations

import argparse
import importlib.util
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from dlfleet import app  # noqa: E402
from dlfleet.runner import RunRequest, run_playbook  # noqa: E402
from dlfleet.settings import Settings

# Minimal fact gathering is written into the playbooks (gather_subset: min) and stays on.
LEVERS_OFF = {
    "ANSIBLE_PIPELINING": "False",
    "ANSIBLE_SSH_ARGS": "-o ControlMaster=no",
    "ANSIBLE_CACHE_PLUGIN": "memory",
}


def provision(
    settings: Settings,
    tags: list[str],
    envvars: dict[str, str] | None = None,
    *,
    strategy: str = "linear",
    extravars: dict[str, object] | None = None,
    limit: str | None = None,
) -> float:
    started = time.monotonic()
    # fast: invoke provision --fast, one read of each host and the site where it differs
    if strategy == "fast":
        result = app.provision(settings, limit=limit, tags=tags, fast=True, quiet=True, keep=False)
    else:
        request = RunRequest(
            playbook=Path(app.paths.PLAYBOOKS / "site.yml"),
            inventory=settings.lab().inventory_path,
            tags=tuple(tags),
            envvars=envvars or {},
            forks=settings.forks,
            strategy=strategy,
            extravars=extravars or {},
            limit=limit,
        )
        result = run_playbook(request, state=settings.state, keep=False)
    seconds = time.monotonic() - started
    if not result.ok:
        raise SystemExit(f"run failed on {result.failed_hosts}: {result.failures[:1]}")
    LAST_STATS.clear()
    LAST_STATS.update(result.hosts)
    return seconds


# the last run's play recap per host (ok, skipped, changed, ...): how many task results the
# CPU paid for
LAST_STATS: dict[str, dict[str, int]] = {}


def fresh_lab(spec: str, state: str) -> Settings:
    settings = Settings(state_dir=state, lab_name="dlfleet-bench", lab_hosts=spec)
    settings.lab().down()
    settings.lab_up()
    return settings


def scaling(sizes: list[int], tags: list[str]) -> None:
    rows = []
    for n in sizes:
        with tempfile.TemporaryDirectory() as state:
            settings = fresh_lab(f"noble={n}", state)
            try:
                first = provision(settings, tags)
                again = provision(settings, tags)
            finally:
                settings.lab().down()
        rows.append((n, first, again))
        print(f"{n} host(s): first {first:.1f}s, no-change {again:.1f}s", flush=True)
    base_first, base_again = rows[0][1], rows[0][2]
    table = Table(title=f"Converge time by lab size (tags: {','.join(tags) or 'all'})")
    for column in ("hosts", "first run", "ratio", "no-change run", "ratio"):
        table.add_column(column, justify="right")
    for n, first, again in rows:
        table.add_row(
            str(n),
            f"{first:.1f}s",
            f"{first / base_first:.2f}x",
            f"{again:.1f}s",
            f"{again / base_again:.2f}x",
        )
    Console().print(table)


def _has_mitogen() -> bool:
    return importlib.util.find_spec("ansible_mitogen") is not None


def levers(spec: str, tags: list[str], repeats: int) -> None:
    """No-change runs with the levers off, on, and on + Mitogen (where installed), taken in
    rounds (off, on, mitogen, off, ...) so that load drifts hit each setting alike."""
    settings_list = [("off", LEVERS_OFF, "linear"), ("on", {}, "linear")]
    if _has_mitogen():
        settings_list.append(("on + mitogen strategy", {}, "mitogen"))
    else:
        print("Mitogen not installed (pip install -e '.[speed]'): its row is left out")
    times: dict[str, list[float]] = {name: [] for name, _, _ in settings_list}
    with tempfile.TemporaryDirectory() as state:
        settings = fresh_lab(spec, state)
        try:
            provision(settings, tags)  # converge once, then measure no-change runs
            for _ in range(repeats):
                for name, env, strategy in settings_list:
                    times[name].append(provision(settings, tags, env, strategy=strategy))
                    print(f"{name}: {times[name][-1]:.1f}s", flush=True)
        finally:
            settings.lab().down()
    medians = {name: sorted(t)[len(t) // 2] for name, t in times.items()}
    table = Table(
        title=f"No-change run on {spec}, median of {repeats} (tags: {','.join(tags) or 'all'})"
    )
    for column in ("speed levers", "seconds", "ratio to off"):
        table.add_column(column, justify="right")
    for name, seconds in medians.items():
        table.add_row(name, f"{seconds:.1f}", f"{seconds / medians['off']:.2f}x")
    Console().print(table)


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def cpu(count: int, tags: list[str], repeats: int, strategies: list[str]) -> None:
    """No-change runs on one host (--limit) and on all count hosts of one lab, in rounds, with
    each strategy; the control machine's CPU per run (user+sys of ansible-playbook and
    everything it started and waited for) and how many task results it paid for."""
    runs = [(s, n, limit) for s in strategies for n, limit in ((1, "noble-1"), (count, None))]
    samples: dict[tuple[str, int], list[float]] = {(s, n): [] for s, n, _ in runs}
    results: dict[tuple[str, int], int] = {}
    with tempfile.TemporaryDirectory() as state:
        settings = fresh_lab(f"noble={count}", state)
        try:
            provision(settings, tags)  # converge once, then measure no-change runs
            if "fast" in strategies:  # and record what it left, for --fast
                provision(settings, tags, strategy="fast")
            for _ in range(repeats):
                for strategy, n, limit in runs:
                    before = _children_cpu()
                    provision(settings, tags, strategy=strategy, limit=limit)
                    samples[strategy, n].append(_children_cpu() - before)
                    results[strategy, n] = sum(
                        s.get("ok", 0) + s.get("skipped", 0) for s in LAST_STATS.values()
                    )
                    print(
                        f"{strategy}, {n} host(s): {samples[strategy, n][-1]:.1f}s CPU, "
                        f"{results[strategy, n]} task results {dict(sorted(LAST_STATS.items()))}",
                        flush=True,
                    )
        finally:
            settings.lab().down()
    median = {key: sorted(v)[len(v) // 2] for key, v in samples.items()}
    base = median[strategies[0], 1]
    table = Table(
        title=f"Control-machine CPU of a no-change run, median of {repeats} "
        f"(tags: {','.join(tags) or 'all'})"
    )
    for column in (
        "strategy",
        "hosts",
        "CPU (user+sys)",
        "ratio",
        "per extra host",
        "per task result",
    ):
        table.add_column(column, justify="right")
    for strategy in strategies:
        one, many = median[strategy, 1], median[strategy, count]
        for n, value in ((1, one), (count, many)):
            table.add_row(
                strategy,
                str(n),
                f"{value:.1f}s",
                f"{value / base:.2f}x",
                f"{(many - one) / (count - 1):.1f}s" if n == count else "",
                f"{1000 * value / max(results[strategy, n], 1):.0f} ms",
            )
    Console().print(table)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="mode", required=True)
    sc = sub.add_parser("scaling")
    sc.add_argument("--sizes", default="1,2,4,8")
    sc.add_argument("--tags", default="")
    lv = sub.add_parser("levers")
    lv.add_argument("--hosts", default="noble=2")
    lv.add_argument("--tags", default="")
    lv.add_argument("--repeats", type=int, default=3)
    cp = sub.add_parser("cpu")
    cp.add_argument("--hosts", type=int, default=3)
    cp.add_argument("--tags", default="")
    cp.add_argument("--repeats", type=int, default=3)
    cp.add_argument(
        "--strategies", default="linear", help="comma-separated: linear, free, mitogen, fast"
    )
    args = parser.parse_args()
    tags = [t for t in args.tags.split(",") if t]
    if args.mode == "scaling":
        scaling([int(n) for n in args.sizes.split(",")], tags)
    elif args.mode == "cpu":
        cpu(args.hosts, tags, args.repeats, args.strategies.split(","))
    else:
        levers(args.hosts, tags, args.repeats)


if __name__ == "__main__":
    main()
