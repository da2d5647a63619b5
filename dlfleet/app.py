"""What the invoke tasks do, as plain functions: tasks.py only maps flags onto these."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from rich.text import Text

from . import converged, locks, paths
from .display import RichDisplay
from .errors import DlfleetError
from .extravars import parse_extravars
from .output import console, say  # noqa: F401 - the tasks print through these
from .runner import (
    RunRequest,
    RunResult,
    load_last_summary,
    run_playbook,
)
from .settings import Settings


def resolve_inventory(settings: Settings, given: str | None) -> Path:
    """The inventory to use: ``--inventory``, else the configured one, else the lab's."""
    chosen = given or settings.inventory
    if chosen:
        path = Path(chosen).expanduser()
        path = path if path.is_absolute() else Path.cwd() / path
        if not path.exists():
            raise DlfleetError(f"inventory not found: {path}")
        return path.resolve()
    lab = settings.lab()
    if not lab.inventory_path.is_file():
        raise DlfleetError("no inventory given and no lab running: run `invoke lab.up` first")
    return lab.inventory_path


def provision(
    settings: Settings,
    *,
    inventory: str | None = None,
    playbook: str | None = None,
    limit: str | None = None,
    tags: Sequence[str] = (),
    check: bool = False,
    diff: bool = False,
    extra_vars: Sequence[str] = (),
    retry_failed: bool = False,
    verbosity: int = 0,
    keep: bool = True,
    quiet: bool = False,
    serial: str | None = None,
    max_fail_percentage: str | None = None,
    lock: bool = True,
    rolling: bool = True,
    fast: bool = False,
) -> RunResult:
    """Run a playbook on the fleet. ``lock``: one such run at a time per fleet (the control
    machine's lock) and per host (the playbooks' host lock, given back here when the run ended
    before the site's last play could). ``rolling``: the fleet's rolling settings (serial,
    max_fail_percentage) reach the play keywords. ``quiet`` only hides the progress display.
    ``fast``: a whole site run on the hosts that are no longer as the last one left them
    (dlfleet.converged), after one read of every host."""
    book = _playbook(playbook or settings.playbook)
    if not book.is_file():
        raise DlfleetError(f"playbook not found: {book}")
    extravars = parse_extravars(extra_vars)
    if fast:
        _check_fast(book, tags, check, retry_failed, lock)
    inv = resolve_inventory(settings, inventory)
    selected = _Selected(inv, limit)  # read once, if at all
    if retry_failed:
        limit = _retry_limit(settings, limit, selected)
    if rolling:
        extravars = {**_rolling_vars(settings, selected, serial, max_fail_percentage), **extravars}
    if lock:
        run_id, holder = locks.run_identity(f"invoke provision {book.name}")
        extravars = {"dlfleet_run_id": run_id, "dlfleet_run_holder": holder, **extravars}
    request = RunRequest(
        playbook=book,
        inventory=inv,
        limit=limit,
        tags=tuple(t for tag in tags for t in tag.split(",") if t),
        check=check,
        diff=diff,
        extravars=extravars,
        verbosity=verbosity,
        forks=settings.forks,
        strategy=settings.strategy,
    )
    display = None if quiet else RichDisplay(console)
    if not lock:
        return run_playbook(
            request, state=settings.state, display=display, keep=keep, keep_runs=settings.keep_runs
        )
    with locks.control_lock(settings.state, inv, holder, say):
        result = None
        try:
            if fast:
                request, probe = _fast_request(settings, request)
                if probe is not None:  # every host as the last whole run left it
                    result = probe
                    return probe
            result = run_playbook(
                request,
                state=settings.state,
                display=display,
                keep=keep,
                keep_runs=settings.keep_runs,
            )
            return result
        finally:
            if result is None or not result.ok:  # hosts the site's last play did not reach
                _unlock(settings, inv, limit, run_id)


def _playbook(playbook: str) -> Path:
    """A playbook as given (absolute, or relative to the checkout)."""
    book = Path(playbook)
    return book if book.is_absolute() else paths.ROOT / book


def _is_site(book: Path) -> bool:
    return book.resolve() == (paths.PLAYBOOKS / "site.yml").resolve()


def whole_site(playbook: str, tags: Sequence[str], check: bool, retry_failed: bool) -> bool:
    """Whether a run is a whole site run, the kind ``fast`` narrows (by default)."""
    return _is_site(_playbook(playbook)) and not tags and not check and not retry_failed


def _check_fast(
    book: Path, tags: Sequence[str], check: bool, retry_failed: bool, lock: bool
) -> None:
    if not _is_site(book):
        raise DlfleetError(
            "--fast compares hosts with the last whole site run: playbooks/site.yml only"
        )
    if tags or check or retry_failed or not lock:
        raise DlfleetError(
            "--fast is for a whole site run: leave out --tags, --check and --retry-failed"
        )


def _fast_request(settings: Settings, request: RunRequest) -> tuple[RunRequest, RunResult | None]:
    """Read every host once (playbooks/converged.yml) and narrow the run to the hosts that
    differ from the last whole run's record, with the digest they record at its end. Returns the
    narrowed request, or the probe's result when no host needs the site."""
    digest = converged.fleet_digest(request.inventory, request.extravars, request.playbook)
    extravars = {**request.extravars, converged.INPUTS_VAR: digest}
    probe = run_playbook(
        replace(request, playbook=converged.PLAYBOOK, extravars=extravars, check=False, diff=False),
        state=settings.state,
        keep=False,
    )
    differs = probe.data.get("converged") or {}
    ready, behind = converged.split(differs, sorted(probe.hosts))
    say(
        f"fast: {len(ready)} host(s) as the last whole run left them (files, packages, units, "
        f"containers, images, firewall read just now): nothing to do there"
    )
    if not behind:
        return request, probe
    say(f"fast: the whole site on {len(behind)}: {converged.reasons(differs, behind)}")
    limit_file = settings.state / "fast-limit.txt"
    limit_file.parent.mkdir(parents=True, exist_ok=True)
    limit_file.write_text("".join(f"{h}\n" for h in behind))
    return replace(request, limit=f"@{limit_file}", extravars=extravars), None


def _unlock(settings: Settings, inv: Path, limit: str | None, run_id: str) -> None:
    """Give back this run's host locks (playbooks/unlock.yml), quietly, keeping nothing."""
    request = RunRequest(
        playbook=paths.PLAYBOOKS / "unlock.yml",
        inventory=inv,
        limit=limit,
        extravars={"dlfleet_run_id": run_id},
        forks=settings.forks,
    )
    run_playbook(request, state=settings.state, keep=False)


def query(settings: Settings, playbook: str, **kwargs: Any) -> RunResult:
    """A read-only run (ps, urls, logs, images, report): no progress display, and nothing kept
    on disk, so tokens it reads stay out of artifacts and `last.json` keeps the last
    provisioning for --retry-failed."""
    return provision(
        settings, playbook=playbook, quiet=True, keep=False, lock=False, rolling=False, **kwargs
    )


def cache_image(settings: Settings, image_vars: Mapping[str, Any]) -> RunResult:
    """Build the image that image_vars (dl_image_* variables) name with this machine's own
    engine and keep its archive in the control machine's cache (playbooks/image_cache.yml), so
    that a site run loads it on the hosts instead of building it there. Nothing is kept of the
    run but the archive (the last provisioning's summary stays the last)."""
    import yaml

    settings.state.mkdir(parents=True, exist_ok=True)
    inv = settings.state / "control-inventory.yml"
    local = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}
    data = {"all": {"hosts": {"localhost": local}, "vars": dict(image_vars)}}
    inv.write_text(yaml.safe_dump(data))
    return query(settings, "playbooks/image_cache.yml", inventory=str(inv))


class _Selected:
    """The hosts a run's inventory and --limit select, with their variables: read when first
    needed (--retry-failed with --limit, rolling settings the inventory holds), once."""

    def __init__(self, inv: Path, limit: str | None):
        self.inv, self.limit = inv, limit
        self._hostvars: dict[str, dict[str, Any]] | None = None

    def hostvars(self) -> dict[str, dict[str, Any]]:
        if self._hostvars is None:
            from . import inventory

            self._hostvars = inventory.hostvars(self.inv, self.limit)
        return self._hostvars


def _rolling_vars(
    settings: Settings, selected: _Selected, serial: str | None, max_fail: str | None
) -> dict[str, Any]:
    """dlfleet_serial / dlfleet_max_fail_percentage: the flag, else invoke's configuration,
    else the inventory's hosts that --limit selects (read here: play keywords never see
    inventory variables)."""
    chosen = {
        "dlfleet_serial": serial or settings.serial,
        "dlfleet_max_fail_percentage": max_fail or settings.max_fail_percentage,
    }
    out = {k: v for k, v in chosen.items() if str(v) != ""}
    if len(out) < len(chosen):
        from . import inventory

        out = {**inventory.rolling(selected.hostvars()), **out}
    return out


def _retry_limit(settings: Settings, limit: str | None, selected: _Selected | None = None) -> str:
    last = load_last_summary(settings.state)
    if not last:
        raise DlfleetError("--retry-failed: no earlier run recorded")
    failed = last.get("failed_hosts") or []
    if not failed:
        raise DlfleetError("--retry-failed: the last run had no failed hosts")
    if limit and selected:
        # the failed hosts inside --limit (Ansible patterns cannot group "limit & (a, b)")
        in_limit = set(selected.hostvars())
        failed = [h for h in failed if h in in_limit]
        if not failed:
            raise DlfleetError(f"--retry-failed: no host that failed last time is in {limit}")
    return ":".join(failed)


def check_container_name(name: str) -> str:
    """A Docker container name (what dl_containers accepts: its filter holds the rule),
    nothing a shell would read."""
    from . import plugins

    if not plugins.filter_plugin("dl_containers").valid_name(name):
        raise DlfleetError(
            f"{name!r} is not a container name: letters, digits, '_', '.' and '-' only, "
            "at most 63 characters"
        )
    return name


def ssh_target(settings: Settings, inventory: str | None, host: str) -> list[str]:
    """ssh arguments (with -t) for a host of the inventory, from its Ansible variables."""
    inv = resolve_inventory(settings, inventory)
    lab = settings.lab()
    if inv == lab.inventory_path:
        return [*lab.ssh_argv(host)[:1], "-t", *lab.ssh_argv(host)[1:]]
    from .inventory import hostvars as read_hostvars

    # the one reader (ansible-inventory), by exact name: a host name is not a pattern here
    hostvars = read_hostvars(inv).get(host)
    if hostvars is None:
        raise DlfleetError(f"no host {host!r} in {inv}")
    argv = ["ssh", "-t"]
    if hostvars.get("ansible_port"):
        argv += ["-p", str(hostvars["ansible_port"])]
    if hostvars.get("ansible_ssh_private_key_file"):
        argv += ["-i", str(hostvars["ansible_ssh_private_key_file"])]
    user = hostvars.get("ansible_user")
    address = hostvars.get("ansible_host", host)
    return [*argv, f"{user}@{address}" if user else address]


def _tool_env(env: Mapping[str, str] | None) -> dict[str, str]:
    """A test tool's environment: ours, this Python's bin folder first on PATH, then env."""
    return {**os.environ, "PATH": paths.venv_path(), **(env or {})}


def run_checked(
    argv: Sequence[str], *, cwd: Path | None = None, env: Mapping[str, str] | None = None
) -> None:
    """Run a test tool with its output streaming to ours; a failure is a DlfleetError."""
    console.print(f"[bold]$ {' '.join(argv)}[/]" + (f"  (in {cwd})" if cwd else ""))
    sys.stdout.flush()
    proc = subprocess.run(list(argv), cwd=cwd or paths.ROOT, env=_tool_env(env), check=False)
    if proc.returncode != 0:
        raise DlfleetError(f"{argv[0]} {' '.join(argv[1:3])} failed (exit {proc.returncode})")


def start_logged(
    argv: Sequence[str],
    log: Path,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> Any:
    """Start a test tool in the background, its output going to log (finish_logged waits)."""
    where = f" in {cwd}" if cwd else ""
    console.print(Text(f"$ {' '.join(argv)}{where}  (in the background, output in {log})"))
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "wb") as out:
        return subprocess.Popen(  # noqa: S603 - the suite's own tools
            list(argv),
            cwd=cwd or paths.ROOT,
            env=_tool_env(env),
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def finish_logged(proc: Any, log: Path) -> None:
    """Wait for a tool start_logged started, show its output; a failure is a DlfleetError."""
    returncode = proc.wait()
    console.print(log.read_text(errors="replace"), markup=False, highlight=False)
    if returncode != 0:
        raise DlfleetError(f"{' '.join(proc.args[:3])} failed (exit {returncode}): see {log}")
