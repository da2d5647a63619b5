"""What the invoke tasks do, as plain functions: tasks.py only maps flags onto these."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from . import paths
from .display import RichDisplay
from .errors import DlfleetError
from .lab import DEFAULT_NAME, Lab
from .runner import (
    RunRequest,
    RunResult,
    check_strategy,
    load_last_summary,
    parse_extravars,
    run_playbook,
)

# Logs (CI, pipes) get wide tables instead of 80-column wrapping.
console = Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 160)


def say(message: str) -> None:
    console.print(f"[cyan]dlfleet[/] {message}")


@dataclass
class Settings:
    """The ``dlfleet`` key of invoke's configuration (invoke.yaml, INVOKE_DLFLEET_* vars)."""

    inventory: str = ""
    playbook: str = "playbooks/site.yml"
    state_dir: str = ".dlfleet"
    lab_name: str = DEFAULT_NAME
    lab_hosts: str = "xenial=1,noble=1"
    lab_apt_cache: bool = True
    # distribute the lab's image through a registry on this machine instead of archives
    lab_registry: bool = False
    # frameworks of the lab's cpu image on top of the scientific stack, Jupyter, TensorBoard
    lab_image_frameworks: list[str] = field(default_factory=lambda: ["sklearn"])
    forks: int = 20
    # rolling changes: hosts per batch (a number or a percentage) and the failure share that
    # stops the run; empty leaves them to the inventory (dlfleet_serial, ...), else all at once
    serial: str = ""
    max_fail_percentage: str = ""
    # linear (Ansible's default), free, or mitogen (the `speed` extra; see the README)
    strategy: str = "linear"
    # run folders kept under state_dir/runs (the newest; 0 keeps all)
    keep_runs: int = 50
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_config(cls, config: Mapping[str, Any] | None) -> Settings:
        config = dict(config or {})
        lab = dict(config.pop("lab", None) or {})
        known = {k: v for k, v in config.items() if k in cls.__dataclass_fields__}
        for key in ("name", "hosts", "apt_cache", "registry", "image_frameworks"):
            if key in lab and lab[key] is not None:
                known[f"lab_{key}"] = lab[key]
        settings = cls(**known)
        settings.lab_apt_cache = _as_bool(settings.lab_apt_cache)
        settings.lab_registry = _as_bool(settings.lab_registry)
        if isinstance(settings.lab_image_frameworks, str):  # from an INVOKE_DLFLEET_* variable
            settings.lab_image_frameworks = [
                f.strip() for f in settings.lab_image_frameworks.split(",") if f.strip()
            ]
        settings.forks = int(settings.forks)
        settings.keep_runs = int(settings.keep_runs)
        check_strategy(settings.strategy, "dlfleet.strategy")
        return settings

    @property
    def state(self) -> Path:
        return paths.state_dir(self.state_dir)

    def lab(self) -> Lab:
        return Lab(self.state, say=say, name=self.lab_name)

    def lab_up(
        self, hosts: str | None = None, apt_cache: bool | None = None, registry: bool | None = None
    ) -> Lab:
        lab = self.lab()
        lab.up(
            hosts or self.lab_hosts,
            apt_cache=self.lab_apt_cache if apt_cache is None else apt_cache,
            image_frameworks=list(self.lab_image_frameworks),
            image_registry=self.lab_registry if registry is None else registry,
        )
        return lab


def _as_bool(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)


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
) -> RunResult:
    book = Path(playbook or settings.playbook)
    book = book if book.is_absolute() else paths.ROOT / book
    if not book.is_file():
        raise DlfleetError(f"playbook not found: {book}")
    extravars = parse_extravars(extra_vars)
    inv = resolve_inventory(settings, inventory)
    if retry_failed:
        limit = _retry_limit(settings, limit, inv)
    if not quiet:  # provisioning runs: the fleet's rolling settings reach the play keywords
        extravars = {**_rolling_vars(settings, inv, serial, max_fail_percentage), **extravars}
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
    return run_playbook(
        request, state=settings.state, display=display, keep=keep, keep_runs=settings.keep_runs
    )


def query(settings: Settings, playbook: str, **kwargs: Any) -> RunResult:
    """A read-only run (ps, urls, logs, images, report): no progress display, and nothing kept
    on disk, so tokens it reads stay out of artifacts and `last.json` keeps the last
    provisioning for --retry-failed."""
    return provision(settings, playbook=playbook, quiet=True, keep=False, **kwargs)


def _rolling_vars(
    settings: Settings, inv: Path, serial: str | None, max_fail: str | None
) -> dict[str, Any]:
    """dlfleet_serial / dlfleet_max_fail_percentage: the flag, else invoke's configuration,
    else the inventory (read here: play keywords never see inventory variables)."""
    chosen = {
        "dlfleet_serial": serial or settings.serial,
        "dlfleet_max_fail_percentage": max_fail or settings.max_fail_percentage,
    }
    out = {k: v for k, v in chosen.items() if str(v) != ""}
    if len(out) < len(chosen):
        from . import inventory

        out = {**inventory.rolling(inventory.hostvars(inv)), **out}
    return out


def _retry_limit(settings: Settings, limit: str | None, inv: Path | None = None) -> str:
    last = load_last_summary(settings.state)
    if not last:
        raise DlfleetError("--retry-failed: no earlier run recorded")
    failed = last.get("failed_hosts") or []
    if not failed:
        raise DlfleetError("--retry-failed: the last run had no failed hosts")
    if limit and inv:
        # the failed hosts inside --limit (Ansible patterns cannot group "limit & (a, b)")
        from . import inventory

        in_limit = set(inventory.hostvars(inv, limit))
        failed = [h for h in failed if h in in_limit]
        if not failed:
            raise DlfleetError(f"--retry-failed: no host that failed last time is in {limit}")
    return ":".join(failed)


# -- lab ----------------------------------------------------------------------------
def lab_status_table(lab: Lab) -> Table:
    table = Table(title=f"Lab {lab.name}", title_justify="left")
    for column in ("host", "os", "status", "address", "container", "image"):
        table.add_column(column)
    for h in lab.hosts():
        style = "green" if h.status == "running" else "yellow"
        table.add_row(
            h.name, h.os, f"[{style}]{h.status}[/]", h.address or "-", h.container, h.image
        )
    return table


# -- tests --------------------------------------------------------------------------
def site_role_order() -> list[str]:
    """Roles in the order playbooks/site.yml applies them, then any others by name."""
    import yaml

    order: list[str] = []
    for play in yaml.safe_load((paths.PLAYBOOKS / "site.yml").read_text()) or []:
        for role in play.get("roles") or []:
            name = role["role"] if isinstance(role, dict) else role
            if name not in order:
                order.append(name)
    rest = sorted(p.name for p in paths.ROLES.iterdir() if p.is_dir() and p.name not in order)
    return [r for r in order if (paths.ROLES / r).is_dir()] + rest


# Scenarios that need real hardware: run only when asked for by name.
HARDWARE_SCENARIOS = {"gpu"}


def molecule_scenarios(
    role: str | None = None, scenario: str | None = None
) -> list[tuple[str, str]]:
    """(role, scenario) pairs under roles/*/molecule/, in role order; hardware ones by name."""
    roles = site_role_order()
    if role and role not in roles:
        raise DlfleetError(f"unknown role {role!r}: roles are {', '.join(roles)}")
    out = []
    for name in [role] if role else roles:
        mdir = paths.ROLES / name / "molecule"
        if mdir.is_dir():
            out.extend(
                (name, s.name) for s in sorted(mdir.iterdir()) if (s / "molecule.yml").is_file()
            )
    if scenario:
        return [p for p in out if p[1] == scenario]
    return [p for p in out if p[1] not in HARDWARE_SCENARIOS]


def run_checked(
    argv: Sequence[str], *, cwd: Path | None = None, env: Mapping[str, str] | None = None
) -> None:
    """Run a test tool with its output streaming to ours; a failure is a DlfleetError."""
    console.print(f"[bold]$ {' '.join(argv)}[/]" + (f"  (in {cwd})" if cwd else ""))
    sys.stdout.flush()
    env = {**os.environ, "PATH": paths.venv_path(), **(env or {})}
    proc = subprocess.run(list(argv), cwd=cwd or paths.ROOT, env=env, check=False)
    if proc.returncode != 0:
        raise DlfleetError(f"{argv[0]} {' '.join(argv[1:3])} failed (exit {proc.returncode})")


def molecule_env(settings: Settings) -> dict[str, str]:
    """What every Molecule scenario needs: roles path, base images, the shared apt cache."""
    from . import engine, registry
    from .lab import APT_CACHE_PORT, RECIPES, network_gateway

    lab = settings.lab()
    client = lab.client
    bridge = network_gateway(client.networks.get("bridge"))
    engine.ensure_apt_cacher(say, APT_CACHE_PORT, [bridge])
    for recipe in RECIPES.values():
        lab.ensure_image(recipe)
    base_ref, base_archive = lab.base_archive(RECIPES["bookworm"])
    # the gpu images' base (Ubuntu 24.04, Python 3.12), plain debootstrap, as the lab makes it
    ubuntu_ref, ubuntu_archive = lab.base_archive(RECIPES["noble"])
    # the registry scenarios' CA exists before Molecule reads inventories that trust it
    registry_root = paths.cache_dir() / "registry-molecule"
    registry.ensure_ca(registry_root)
    return {
        "DLFLEET_TEST_REGISTRY_ROOT": str(registry_root),
        # the cpu image's base (Debian 12, Python 3.11) as the lab builds it, and its archive
        "DLFLEET_IMAGE_BASE": base_ref,
        "DLFLEET_IMAGE_BASE_ARCHIVE": str(base_archive),
        "DLFLEET_UBUNTU_BASE": ubuntu_ref,
        "DLFLEET_UBUNTU_BASE_ARCHIVE": str(ubuntu_archive),
        "DLFLEET_CACHE": str(paths.cache_dir()),
        "ANSIBLE_ROLES_PATH": str(paths.ROLES),
        "DLFLEET_APT_PROXY": f"http://{bridge}:{APT_CACHE_PORT}",
        "DLFLEET_CONTROL_ADDR": bridge,
        "MOLECULE_GLOB": "molecule/*/molecule.yml",
    }


# -- containers ---------------------------------------------------------------------
def containers_table(result: RunResult) -> Table:
    """Fleet-wide table of dlfleet's containers from playbooks/containers_ps.yml."""
    table = Table(title="dlfleet containers", title_justify="left")
    for column in ("host", "container", "user", "image", "status", "ports", "GPUs", "reach it"):
        table.add_column(column)
    for host, rows in sorted((result.data.get("containers") or {}).items()):
        for row in rows:
            labels, state = row.get("labels") or {}, row.get("state", "")
            bind = labels.get("io.dlfleet.bind", "127.0.0.1")
            jp = labels.get("io.dlfleet.jupyter_port")
            style = "green" if state == "running" else "yellow"
            reach = f"http://{bind}:{jp}/lab" if bind != "127.0.0.1" else "invoke containers.url"
            table.add_row(
                host,
                labels.get("io.dlfleet.container", "?"),
                labels.get("io.dlfleet.user", ""),
                row.get("image", ""),
                f"[{style}]{row.get('status', '')}[/]",
                f"{jp} jupyter (+ tensorboard)",
                labels.get("io.dlfleet.gpus", ""),
                reach,
            )
    for host in result.failed_hosts:
        table.add_row(host, "[red]unreachable or failed[/]", "", "", "", "", "", "")
    return table


def _url_line(host: str, name: str, base: str, query: str) -> str:
    return f"{host} {name}: {base}/lab{query}  (TensorBoard: {base}/proxy/6006/{query})"


def container_urls(result: RunResult) -> list[str]:
    """Lines with each Jupyter URL (token included) and the SSH tunnel to reach it, to copy as
    printed: the host's SSH key, port and options as the inventory gives them, and local ports
    that do not collide when several hosts publish the same ones."""
    urls = dict(result.data.get("urls") or {})
    ssh = urls.pop("_ssh", {})
    taken: set[int] = set()

    def local(port: str | None) -> int:
        wanted = int(port or 0)
        while wanted in taken:
            wanted += 1
        taken.add(wanted)
        return wanted

    lines = []
    for host, rows in sorted(urls.items()):
        for row in rows:
            labels, token = row.get("labels") or {}, row.get("token", "")
            name = labels.get("io.dlfleet.container", "?")
            jp = labels.get("io.dlfleet.jupyter_port")
            bind = labels.get("io.dlfleet.bind", "127.0.0.1")
            query = f"?token={token}" if token else ""  # a password workspace asks for it
            if bind != "127.0.0.1":
                where = "localhost" if bind == "0.0.0.0" else bind  # noqa: S104 - a label
                lines.append(_url_line(host, name, f"http://{where}:{jp}", query))
                continue
            ljp = local(jp)
            lines.append(_url_line(host, name, f"http://localhost:{ljp}", query))
            lines.append(f"    tunnel: {tunnel_command(ssh.get(host) or {}, host, (ljp, jp))}")
    return lines


def tunnel_command(ssh: Mapping[str, Any], host: str, *ports: tuple[int, Any]) -> str:
    """The ssh command forwarding local ports to the host's loopback, as one shell line."""
    argv = ["ssh", "-N"]
    for local_port, remote_port in ports:
        argv += ["-L", f"{local_port}:127.0.0.1:{remote_port}"]
    if ssh.get("port"):
        argv += ["-p", str(ssh["port"])]
    if ssh.get("key"):
        argv += ["-i", str(ssh["key"])]
    argv += shlex.split(str(ssh.get("args") or ""))
    argv.append(ssh.get("target") or host)
    return shlex.join(argv)


CONTAINER_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$")


def check_container_name(name: str) -> str:
    """A Docker container name (what dl_containers accepts), nothing a shell would read."""
    if not CONTAINER_NAME.match(name or ""):
        raise DlfleetError(
            f"{name!r} is not a container name: letters, digits, '_', '.' and '-' only"
        )
    return name


def ssh_target(settings: Settings, inventory: str | None, host: str) -> list[str]:
    """ssh arguments (with -t) for a host of the inventory, from its Ansible variables."""
    inv = resolve_inventory(settings, inventory)
    lab = settings.lab()
    if inv == lab.inventory_path:
        return [*lab.ssh_argv(host)[:1], "-t", *lab.ssh_argv(host)[1:]]
    from ansible.inventory.manager import InventoryManager
    from ansible.parsing.dataloader import DataLoader
    from ansible.vars.manager import VariableManager

    loader = DataLoader()
    manager = InventoryManager(loader=loader, sources=[str(inv)])
    found = manager.get_host(host)
    if found is None:
        raise DlfleetError(f"no host {host!r} in {inv}")
    hostvars = VariableManager(loader=loader, inventory=manager).get_vars(host=found)
    argv = ["ssh", "-t"]
    if hostvars.get("ansible_port"):
        argv += ["-p", str(hostvars["ansible_port"])]
    if hostvars.get("ansible_ssh_private_key_file"):
        argv += ["-i", str(hostvars["ansible_ssh_private_key_file"])]
    user = hostvars.get("ansible_user")
    address = hostvars.get("ansible_host", host)
    return [*argv, f"{user}@{address}" if user else address]


def images_table(result: RunResult) -> Table:
    table = Table(title="dlfleet images", title_justify="left")
    for column in ("host", "image", "size", "id"):
        table.add_column(column)
    for host, rows in sorted((result.data.get("images") or {}).items()):
        for row in rows:
            table.add_row(
                host,
                ", ".join(row.get("tags") or ["<none>"]),
                f"{int(row.get('size') or 0) / 1e9:.2f} GB",
                str(row.get("id", ""))[7:19],
            )
    for host in result.failed_hosts:
        table.add_row(host, "[red]unreachable or failed[/]", "", "")
    return table
