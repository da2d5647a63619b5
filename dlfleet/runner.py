"""The one place where dlfleet runs Ansible.

Every playbook run goes through :func:`run_playbook`, a wrapper around
``ansible_runner.run``: arguments are built here, paths are absolute, each run gets a fresh
private data dir (ansible-runner re-reads ``env/cmdline`` and ``env/envvars`` from an old
one, so reusing it would leak ``--check`` into later runs), events feed a display, and the
outcome is written as a JSON summary beside the run's artifacts.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import tempfile
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Protocol

import ansible_runner

from . import paths
from .errors import DlfleetError

STAT_KEYS = {
    # playbook_on_stats key -> recap column
    "ok": "ok",
    "changed": "changed",
    "failures": "failed",
    "dark": "unreachable",
    "skipped": "skipped",
    "rescued": "rescued",
    "ignored": "ignored",
}
RECAP_COLUMNS = tuple(STAT_KEYS.values())


class Display(Protocol):
    """What the runner tells whoever shows progress."""

    def start(self, request: RunRequest) -> None: ...

    def event(self, event: Mapping[str, Any]) -> None: ...

    def finish(self, result: RunResult) -> None: ...


@dataclass(frozen=True)
class RunRequest:
    playbook: Path
    inventory: Path
    limit: str | None = None
    tags: Sequence[str] = ()
    skip_tags: Sequence[str] = ()
    check: bool = False
    diff: bool = False
    extravars: Mapping[str, Any] = field(default_factory=dict)
    verbosity: int = 0
    forks: int | None = None
    envvars: Mapping[str, str] = field(default_factory=dict)
    strategy: str = "linear"


STRATEGIES = ("linear", "free", "mitogen")


def check_strategy(strategy: str, setting: str = "strategy") -> None:
    if strategy not in STRATEGIES:
        choices = ", ".join(STRATEGIES)
        raise DlfleetError(f"{setting} must be one of {choices}, got {strategy!r}")


def strategy_envvars(strategy: str) -> dict[str, str]:
    """Ansible settings for an execution strategy. ``mitogen`` (the ``speed`` extra) runs
    modules through Mitogen's persistent interpreters instead of one SSH command per task."""
    check_strategy(strategy)
    if strategy == "linear":
        return {}
    if strategy == "free":
        return {"ANSIBLE_STRATEGY": "free"}
    try:  # mitogen
        import ansible_mitogen
    except ImportError as exc:
        raise DlfleetError("strategy=mitogen needs Mitogen: pip install -e '.[speed]'") from exc
    plugins = Path(ansible_mitogen.__file__).parent / "plugins" / "strategy"
    return {"ANSIBLE_STRATEGY_PLUGINS": str(plugins), "ANSIBLE_STRATEGY": "mitogen_linear"}


@dataclass
class Failure:
    host: str
    task: str
    msg: str
    unreachable: bool = False


@dataclass
class RunResult:
    request: RunRequest
    status: str
    rc: int
    started: datetime
    finished: datetime
    run_dir: Path
    hosts: dict[str, dict[str, int]]
    failures: list[Failure]
    data: dict[str, Any] = field(default_factory=dict)
    # {host: {module: how many tasks ran it}} (ok or failed; skipped ones did not run)
    actions: dict[str, dict[str, int]] = field(default_factory=dict)

    @property
    def failed_hosts(self) -> list[str]:
        return sorted(
            h for h, s in self.hosts.items() if s.get("failed", 0) or s.get("unreachable", 0)
        )

    @property
    def ok(self) -> bool:
        return self.status == "successful" and self.rc == 0 and not self.failed_hosts

    @property
    def changed_total(self) -> int:
        return sum(s.get("changed", 0) for s in self.hosts.values())

    def summary(self) -> dict[str, Any]:
        """The machine-readable summary. Extra-var values are left out: they may be secrets."""
        req = self.request
        return {
            "playbook": str(req.playbook),
            "inventory": str(req.inventory),
            "limit": req.limit,
            "tags": list(req.tags),
            "check": req.check,
            "extravars": sorted(req.extravars),
            "status": self.status,
            "rc": self.rc,
            "ok": self.ok,
            "started": self.started.isoformat(),
            "finished": self.finished.isoformat(),
            "duration_s": round((self.finished - self.started).total_seconds(), 3),
            "hosts": self.hosts,
            "failed_hosts": self.failed_hosts,
            "failures": [f.__dict__ for f in self.failures],
            "actions": self.actions,
            "artifacts": str(self.run_dir),
        }


class EventCollector:
    """Builds the recap and the failure list from ansible-runner events."""

    def __init__(self) -> None:
        self.hosts: dict[str, dict[str, int]] = {}
        self.failures: list[Failure] = []
        self.stats_seen = False
        self.data: dict[str, Any] = {}  # what plays published with set_stats
        self.actions: dict[str, dict[str, int]] = {}

    def __call__(self, event: Mapping[str, Any]) -> None:
        name = event.get("event")
        data = event.get("event_data") or {}
        if name in ("runner_on_ok", "runner_on_failed") and data.get("task_action"):
            ran = self.actions.setdefault(str(data.get("host", "?")), {})
            ran[data["task_action"]] = ran.get(data["task_action"], 0) + 1
        if name == "runner_on_failed" and not data.get("ignore_errors"):
            self.failures.append(failure_from_event(data))
        elif name == "runner_on_unreachable":
            self.failures.append(failure_from_event(data, unreachable=True))
        elif name == "playbook_on_stats":
            self.stats_seen = True
            self.data = dict(data.get("artifact_data") or {})
            for key, column in STAT_KEYS.items():
                for host, count in (data.get(key) or {}).items():
                    self.hosts.setdefault(host, dict.fromkeys(RECAP_COLUMNS, 0))[column] = count


def failure_from_event(data: Mapping[str, Any], unreachable: bool = False) -> Failure:
    """One line a person can act on, from a failed or unreachable event."""
    res = data.get("res") or {}
    msg = str(res.get("msg") or res.get("stderr") or res.get("module_stderr") or "")
    if res.get("results") and msg.startswith("One or more items failed"):  # loops: first item's
        failed = [r for r in res["results"] if isinstance(r, dict) and r.get("failed")]
        if failed:
            msg = f"{msg}: {failed[0].get('msg') or failed[0].get('stderr') or ''}"
    if res.get("argument_errors"):  # role argument specs: the errors say which variable
        msg = "; ".join(str(e) for e in res["argument_errors"])
    if res.get("_ansible_no_log") or res.get("censored"):
        msg = res.get("censored") or "output hidden (no_log)"
    return Failure(
        host=data.get("host", "?"),
        task=data.get("task", "?"),
        msg=" ".join(msg.split())[:1000],
        unreachable=unreachable,
    )


def prune_runs(state: Path, keep: int) -> list[Path]:
    """Delete all but the newest ``keep`` run folders (names start with their UTC time)."""
    runs = state / "runs"
    folders = sorted(p for p in runs.iterdir() if p.is_dir()) if runs.is_dir() else []
    gone = folders[: max(len(folders) - keep, 0)] if keep > 0 else []
    for folder in gone:
        shutil.rmtree(folder, ignore_errors=True)
    return gone


def new_run_dir(state: Path, playbook: Path) -> Path:
    """A new folder under state/runs named UTC-TIME-PLAYBOOK-XXXX (sorts by time)."""
    runs = state / "runs"
    runs.mkdir(parents=True, exist_ok=True)
    runs.chmod(0o700)  # run folders hold what hosts said: the admin's alone
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S")
    return Path(tempfile.mkdtemp(prefix=f"{stamp}-{playbook.stem}-", dir=runs))


def run_playbook(
    request: RunRequest,
    *,
    state: Path,
    display: Display | None = None,
    cancel: threading.Event | None = None,
    keep: bool = True,
    keep_runs: int = 0,
) -> RunResult:
    """Run one playbook; return its result and write ``summary.json`` (and ``last.json``).

    ``keep=False`` deletes the run folder afterwards and records no summary: for runs that
    fetch secrets, which must not stay in artifacts. ``keep_runs`` (0: all) prunes older run
    folders to that many afterwards."""
    playbook = request.playbook.resolve()
    inventory = request.inventory.resolve()
    if not playbook.is_file():
        raise DlfleetError(f"playbook not found: {playbook}")
    if not inventory.exists():
        raise DlfleetError(f"inventory not found: {inventory}")
    state = state.resolve()
    run_dir = new_run_dir(state, playbook)
    collector = EventCollector()
    cancel = cancel or threading.Event()

    def on_event(event: Mapping[str, Any]) -> bool:
        collector(event)
        if display:
            display.event(event)
        return True  # keep the event in the artifacts

    cmdline = []
    if request.check:
        cmdline.append("--check")
    if request.diff:
        cmdline.append("--diff")
    envvars = {
        **strategy_envvars(request.strategy),
        # the ansible-playbook of this environment, even when its venv is not activated
        "PATH": paths.venv_path(),
        "ANSIBLE_CONFIG": str(paths.ANSIBLE_CFG),
        "ANSIBLE_CACHE_PLUGIN_CONNECTION": str(state / "facts"),
        "ANSIBLE_ROLES_PATH": str(paths.ROLES),
        "ANSIBLE_COLLECTIONS_PATH": str(paths.COLLECTIONS),
        "ANSIBLE_FORCE_COLOR": "0",
        **request.envvars,
    }
    kwargs: dict[str, Any] = {
        "private_data_dir": str(run_dir),
        "project_dir": str(paths.ROOT),
        "playbook": str(playbook),
        "inventory": str(inventory),
        "envvars": envvars,
        "extravars": dict(request.extravars),
        "limit": request.limit or None,
        "tags": ",".join(request.tags) or None,
        "skip_tags": ",".join(request.skip_tags) or None,
        "cmdline": " ".join(cmdline) or None,
        "verbosity": request.verbosity or None,
        "forks": request.forks,
        "quiet": True,
        "event_handler": on_event,
        "cancel_callback": cancel.is_set,
        "settings": {"suppress_ansible_output": True},
    }
    if display:
        display.start(request)
    started = datetime.now(timezone.utc)
    try:
        with _signals_cancel(cancel):
            runner = ansible_runner.run(**{k: v for k, v in kwargs.items() if v is not None})
    finally:
        # ansible-runner keeps -e values in env/extravars; they may be secrets, and the run
        # folder is kept for inspection: drop the file now that the run is over, however it
        # ended (a second Ctrl-C, SIGTERM, an exception). A run that handled secrets leaves
        # nothing at all.
        (run_dir / "env" / "extravars").unlink(missing_ok=True)
        if not keep:
            shutil.rmtree(run_dir, ignore_errors=True)
    finished = datetime.now(timezone.utc)
    result = RunResult(
        request=request,
        status=runner.status,
        rc=runner.rc if runner.rc is not None else 1,
        started=started,
        finished=finished,
        run_dir=run_dir,
        hosts=collector.hosts,
        failures=collector.failures,
        data=collector.data,
        actions=collector.actions,
    )
    if keep:
        summary = json.dumps(result.summary(), indent=2, sort_keys=True)
        _write_private(run_dir / "summary.json", summary + "\n")
        # whole or not at all: a crash mid-write must not leave a file later runs cannot read
        partial = state / "runs" / f".last.json.{os.getpid()}"
        _write_private(partial, summary + "\n")
        partial.replace(state / "runs" / "last.json")
        prune_runs(state, keep_runs)
    if display:
        display.finish(result)
    return result


def _write_private(path: Path, text: str) -> None:
    """Write a file only its owner reads (created so: never readable by others, even briefly)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    path.chmod(0o600)


class _signals_cancel:
    """While a run is going, Ctrl-C or SIGTERM asks ansible-runner to cancel instead of
    tearing it down; a second one stops waiting (KeyboardInterrupt), and the caller's cleanup
    still runs."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self, event: threading.Event) -> None:
        self.event = event
        self.previous: dict[int, Callable[..., Any] | int | None] = {}

    def __enter__(self) -> None:
        if threading.current_thread() is threading.main_thread():
            for sig in self.SIGNALS:
                self.previous[sig] = signal.signal(sig, self._handle)

    def _handle(self, *_: Any) -> None:
        if self.event.is_set():  # second signal: stop waiting
            raise KeyboardInterrupt
        self.event.set()

    def __exit__(self, *exc: Any) -> None:
        for sig, previous in self.previous.items():
            if previous is not None:
                signal.signal(sig, previous)


def load_last_summary(state: Path) -> dict[str, Any] | None:
    path = state / "runs" / "last.json"
    if not path.is_file():
        return None
    return json.loads(path.read_text())
