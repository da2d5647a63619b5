"""dlfleet's command line: `invoke --list` shows every task, `invoke --help TASK` its flags.

Thin on purpose: each task maps its flags onto a function in the `dlfleet` package.
Defaults live in invoke.yaml under the `dlfleet` key (INVOKE_DLFLEET_* variables override).
"""

from __future__ import annotations

import os
import time

from invoke import Collection, task

from dlfleet import app, devtasks, views
from dlfleet.errors import DlfleetError
from dlfleet.taskkit import exit_for as _exit_for
from dlfleet.taskkit import settings_of as _settings
from dlfleet.taskkit import user_errors


# -- provision ----------------------------------------------------------------------
@task(
    iterable=["extra_var", "tags"],
    incrementable=["verbose"],
    help={
        "inventory": "Inventory file or folder (default: the configured one, else the lab's).",
        "limit": "Only these hosts or groups (Ansible pattern).",
        "tags": "Only tasks with these tags (repeatable or comma-separated): docker, ...",
        "check": "Dry run: report what would change, change nothing.",
        "diff": "Show file differences.",
        "extra-var": "Extra variable key=value, JSON/YAML mapping or @file (repeatable).",
        "retry-failed": "Re-run only the hosts that failed or were unreachable last time.",
        "serial": "Hosts per batch, a number or a percentage (default: dlfleet.serial, else the "
        "inventory's dlfleet_serial, else all at once).",
        "max-fail-percentage": "Stop when more than this percentage of a batch failed (default: "
        "dlfleet.max_fail_percentage, else the inventory's dlfleet_max_fail_percentage).",
        "prune": "Remove workspaces dlfleet started that are no longer declared (shared folders "
        "stay); without it they are only reported.",
        "recreate": "Recreate changed workspaces at once, even where their users are working "
        "(default: a workspace in use keeps running and its changes wait).",
        "playbook": "Another playbook instead of playbooks/site.yml.",
        "fast": "Read every host first; run the site only where something differs from what the "
        "last whole run left (files, packages, units, containers, images, firewall) or where "
        "the inventory, extra variables or dlfleet changed. The default for a whole site run "
        "(dlfleet.fast); --tags, --check, --retry-failed and other playbooks run every task.",
        "full": "Run every task of the site on every host, however the hosts compare with the "
        "last whole run.",
        "verbose": "More Ansible output in the artifacts (-v, -vv, ...).",
    },
)
@user_errors
def provision(
    c,
    inventory=None,
    limit=None,
    tags=None,
    check=False,
    diff=False,
    extra_var=None,
    retry_failed=False,
    playbook=None,
    verbose=0,
    serial=None,
    max_fail_percentage=None,
    prune=False,
    recreate=False,
    fast=False,
    full=False,
):
    """Provision hosts with playbooks/site.yml (the lab when no inventory is set)."""
    settings = _settings(c)
    if fast and full:
        raise DlfleetError("--fast and --full: choose one")
    whole = app.whole_site(playbook or settings.playbook, tags or (), check, retry_failed)
    flags = [
        *(['{"dl_containers_prune": true}'] if prune else []),
        *(['{"dl_containers_recreate": "always"}'] if recreate else []),
    ]
    result = app.provision(
        settings,
        inventory=inventory,
        playbook=playbook,
        limit=limit,
        tags=tags or (),
        check=check,
        diff=diff,
        extra_vars=[*(extra_var or ()), *flags],
        retry_failed=retry_failed,
        verbosity=verbose,
        serial=serial,
        max_fail_percentage=max_fail_percentage,
        fast=fast or (settings.fast and whole and not full),
    )
    _exit_for(result)


# -- lab ----------------------------------------------------------------------------
@task(
    help={
        "hosts": "OS=count list, e.g. xenial=1,noble=2 (OS: xenial, jammy, noble, bookworm).",
        "no-apt-cache": "Do not run apt-cacher-ng; lab hosts download directly.",
        "registry": "Run an image registry here (Debian's docker-registry, TLS) and distribute "
        "the lab's image through it.",
        "hub": "Add a hub host (hub-1, Ubuntu 24.04, group dlfleet_hub) with test accounts: "
        "the fleet's front door (see `invoke hub.url`).",
    }
)
@user_errors
def lab_up(c, hosts=None, no_apt_cache=False, registry=False, hub=False):
    """Bring up the local lab fleet (systemd hosts in Docker) and write its inventory."""
    settings = _settings(c)
    lab = settings.lab_up(
        hosts,
        apt_cache=settings.lab_apt_cache and not no_apt_cache,
        registry=registry or None,
        hub=hub,
    )
    app.console.print(views.lab_status_table(lab))
    app.say(f"inventory: {lab.inventory_path}")


@task
@user_errors
def lab_down(c):
    """Remove the lab's hosts, service containers, volumes and network (nothing else)."""
    removed = _settings(c).lab().down()
    app.say(f"removed {len(removed)} lab objects" + (f": {', '.join(removed)}" if removed else ""))


@task
@user_errors
def lab_status(c):
    """List lab hosts (OS, state, address) and the service containers serving them."""
    lab = _settings(c).lab()
    app.console.print(views.lab_status_table(lab))
    app.console.print(views.lab_services_table(lab))


@task(help={"host": "Lab host name, e.g. noble-1."})
@user_errors
def lab_ssh(c, host):
    """Open a root shell on a lab host over SSH."""
    argv = _settings(c).lab().ssh_argv(host)
    os.execvp(argv[0], argv)  # noqa: S606 - replaces this process with ssh, on purpose


@task(iterable=["host"], help={"host": "Lab host name (repeatable)."})
@user_errors
def lab_stop(c, host):
    """Stop lab hosts (to rehearse an outage); `lab.start` brings them back."""
    _settings(c).lab().stop(list(host))


@task(iterable=["host"], help={"host": "Lab host name (repeatable)."})
@user_errors
def lab_start(c, host):
    """Start stopped lab hosts and refresh the inventory."""
    _settings(c).lab().start(list(host))


# -- demo ---------------------------------------------------------------------------
@task(
    help={
        "hosts": "Lab hosts (default from invoke.yaml: xenial=1,noble=1).",
        "registry": "Distribute the image through a registry on this machine (see lab.up).",
        "hub": "Add the fleet's front door (a hub host, see lab.up) and print its address.",
    }
)
@user_errors
def demo(c, hosts=None, registry=False, hub=False):
    """The main job on the built-in default: lab up, full provisioning, report, Jupyter URLs."""
    settings = _settings(c)
    phases: list[tuple[str, float]] = []
    mark = time.monotonic()

    def done(phase: str) -> None:
        nonlocal mark
        phases.append((phase, time.monotonic() - mark))
        mark = time.monotonic()

    lab = settings.lab_up(
        hosts, registry=registry or None, hub=hub, build_image=_image_here(settings)
    )
    app.console.print(views.lab_status_table(lab))
    done("lab up")
    result = app.provision(settings, inventory=str(lab.inventory_path))
    done("provisioning")
    _show_report(settings, inventory=str(lab.inventory_path))
    done("report")
    urls = app.query(settings, "playbooks/containers_url.yml", inventory=str(lab.inventory_path))
    for line in views.container_urls(urls):
        print(line)
    if hub:
        for line in _hub_lines(settings, str(lab.inventory_path)):
            print(line)
    done("URLs")
    app.say(views.phases_line("demo", phases))
    _exit_for(result)


def _image_here(settings):
    """The demo's image, built on this machine while the lab's hosts start (their engines
    then load it): what a failure here costs is the build on a host, as without it."""

    def build(image_vars):
        started = time.monotonic()
        result = app.cache_image(settings, image_vars)
        took = time.monotonic() - started
        if result.ok:
            app.say(f"image {result.data.get('image')} ready on this machine in {took:.0f}s")
        else:
            why = "; ".join(f.msg for f in result.failures)[:300] or result.status
            app.say(f"the image was not built on this machine ({why}): a lab host builds it")

    return build


# -- containers ---------------------------------------------------------------------
_FLEET_HELP = {
    "inventory": "Inventory (default: the configured one, else the lab's).",
    "limit": "Only these hosts or groups.",
}


@task(help=_FLEET_HELP)
@user_errors
def containers_ps(c, inventory=None, limit=None):
    """Fleet-wide table of dlfleet's containers: host, name, image, status, ports, GPUs."""
    result = app.query(
        _settings(c), "playbooks/containers_ps.yml", inventory=inventory, limit=limit
    )
    app.console.print(views.containers_table(result))


@task(help=_FLEET_HELP)
@user_errors
def containers_url(c, inventory=None, limit=None):
    """Jupyter URLs with their tokens, and the SSH tunnel commands (nothing kept on disk)."""
    result = app.query(
        _settings(c), "playbooks/containers_url.yml", inventory=inventory, limit=limit
    )
    for line in views.container_urls(result) or ["no dlfleet containers"]:
        print(line)
    _exit_for(result)


def _set_state(c, state, inventory, limit, extra=()):
    result = app.provision(
        _settings(c), inventory=inventory, limit=limit, tags=["dl_containers"],
        extra_vars=[f"dl_containers_state={state}", *extra],
    )  # fmt: skip
    _exit_for(result)


@task(help=_FLEET_HELP)
@user_errors
def containers_start(c, inventory=None, limit=None):
    """Start (create if needed) the declared containers."""
    _set_state(c, "started", inventory, limit)


@task(help=_FLEET_HELP)
@user_errors
def containers_stop(c, inventory=None, limit=None):
    """Stop the declared containers (kept, with their data)."""
    _set_state(c, "stopped", inventory, limit)


@task(help=_FLEET_HELP)
@user_errors
def containers_restart(c, inventory=None, limit=None):
    """Restart the declared containers, applying changes that waited for them."""
    _set_state(c, "started", inventory, limit, extra=["dl_containers_restart=true"])


@task(help=_FLEET_HELP)
@user_errors
def containers_rm(c, inventory=None, limit=None):
    """Remove the declared containers; shared folders and their data stay."""
    _set_state(c, "absent", inventory, limit)


@task(
    help={
        "host": "Host the container runs on.",
        "name": "Container name, e.g. dl-alice.",
        "tail": "How many lines (default 100).",
        "inventory": "Inventory (default: the configured one, else the lab's).",
    }
)
@user_errors
def containers_logs(c, host, name, tail=100, inventory=None):
    """The last lines a container wrote."""
    app.check_container_name(name)
    result = app.query(
        _settings(c), "playbooks/containers_logs.yml", inventory=inventory, limit=host,
        extra_vars=[f"dlfleet_container={name}", f"dlfleet_tail={int(tail)}"],
    )  # fmt: skip
    _exit_for(result)
    print((result.data.get("logs") or {}).get(host, ""))


@task(
    help={
        "host": "Host the container runs on.",
        "name": "Container name, e.g. dl-alice.",
        "inventory": "Inventory (default: the configured one, else the lab's).",
    }
)
@user_errors
def containers_exec(c, host, name, inventory=None):
    """An interactive shell in a container (over SSH, with sudo where you are not root)."""
    app.check_container_name(name)  # it reaches a remote shell
    argv = app.ssh_target(_settings(c), inventory, host)
    os.execvp(argv[0], [*argv, "sudo", "docker", "exec", "-it", name, "bash"])  # noqa: S606


# -- image --------------------------------------------------------------------------
@task(help=_FLEET_HELP)
@user_errors
def image_build(c, inventory=None, limit=None):
    """Build the deep-learning image where needed and distribute it (dl_image_distribution)."""
    _exit_for(app.provision(_settings(c), inventory=inventory, limit=limit, tags=["dl_image"]))


@task(help={**_FLEET_HELP, "registry": "Registry host[:port] to push to and pull from."})
@user_errors
def image_push(c, registry, inventory=None, limit=None):
    """Build once, push to a registry, and have every host pull from it."""
    result = app.provision(
        _settings(c), inventory=inventory, limit=limit, tags=["dl_image"],
        extra_vars=["dl_image_distribution=registry", f"dl_image_registry={registry}"],
    )  # fmt: skip
    _exit_for(result)


@task(help=_FLEET_HELP)
@user_errors
def image_ls(c, inventory=None, limit=None):
    """The deep-learning images on every host: tag, size, id."""
    result = app.query(_settings(c), "playbooks/images_ls.yml", inventory=inventory, limit=limit)
    app.console.print(views.images_table(result))
    _exit_for(result)


@task(
    help={
        "flavour": "cpu, gpu-cu13, gpu-cu12 or gpu-cu11 (default: all).",
        "upgrade": "Resolve every version afresh.",
    }
)
@user_errors
def image_lock(c, flavour=None, upgrade=False):
    """Resolve the image's lock files again, keeping locked versions unless --upgrade
    (needs uv; commit the result)."""
    from dlfleet import imagelock

    flavours = [flavour] if flavour else sorted(imagelock.FLAVOURS)
    for path in [p for f in flavours for p in imagelock.lock(f, upgrade=upgrade)]:
        app.say(f"wrote {path}")


# -- report -------------------------------------------------------------------------
@task(help=_FLEET_HELP)
@user_errors
def report(c, inventory=None, limit=None):
    """Live fleet report: OS, engine, driver and GPUs, toolkit, image, containers, last run."""
    _show_report(_settings(c), inventory=inventory, limit=limit)


# -- hub ----------------------------------------------------------------------------
def _hub_lines(settings, inventory=None):
    """The hub's address (and, in the lab, its test accounts)."""
    from dlfleet import inventory as fleet_inventory

    inv = app.resolve_inventory(settings, inventory)
    hubs = fleet_inventory.hostvars(inv, "dlfleet_hub")
    if not hubs:
        return [f"no hub in {inv}: declare a host in the group dlfleet_hub (or `lab.up --hub`)"]
    lines = []
    for name, hv in hubs.items():
        port = int(hv.get("dl_hub_port", 443))
        address = hv.get("ansible_host") or name
        lines.append(f"{name}: https://{address}{'' if port == 443 else f':{port}'}/")
    lab = settings.lab()
    if inv == lab.inventory_path and lab.hub_accounts_path.is_file():
        accounts = lab.hub_accounts()
        lines.append("lab test accounts (user password): " + ", ".join(
            f"{user} {password}" for user, password in accounts.items()
        ))  # fmt: skip
    return lines


@task(help={"inventory": _FLEET_HELP["inventory"]})
@user_errors
def hub_url(c, inventory=None):
    """The hub's address (in the lab also its test accounts): where researchers sign in."""
    for line in _hub_lines(_settings(c), inventory):
        print(line)


@task(help=_FLEET_HELP)
@user_errors
def hub_users(c, inventory=None, limit=None):
    """Who runs a server through the hub: where, which GPUs, idle since when."""
    result = app.query(_settings(c), "playbooks/hub_users.yml", inventory=inventory, limit=limit)
    app.console.print(views.hub_users_table(result))
    _exit_for(result)


def _show_report(settings, inventory=None, limit=None):
    from dlfleet import report as fleet_report
    from dlfleet.runner import load_last_summary

    last = load_last_summary(settings.state)
    result = app.query(settings, "playbooks/report.yml", inventory=inventory, limit=limit)
    data = fleet_report.build(result, last)
    app.console.print(fleet_report.table(data))
    json_path, html_path = fleet_report.write(data, settings.state / "report")
    app.say(f"report written to {json_path} and {html_path}")


ns = Collection(provision, demo, devtasks.docs, report)
ns.add_collection(
    Collection(
        "lab",
        up=lab_up,
        down=lab_down,
        status=lab_status,
        ssh=lab_ssh,
        stop=lab_stop,
        start=lab_start,
    )
)
ns.add_collection(
    Collection("image", build=image_build, push=image_push, ls=image_ls, lock=image_lock)
)
ns.add_collection(
    Collection(
        "containers",
        ps=containers_ps,
        url=containers_url,
        start=containers_start,
        stop=containers_stop,
        restart=containers_restart,
        rm=containers_rm,
        logs=containers_logs,
        exec=containers_exec,
    )
)
ns.add_collection(Collection("hub", url=hub_url, users=hub_users))
ns.add_collection(devtasks.test_collection())
ns.add_collection(devtasks.collection_collection())
ns.configure({"dlfleet": {}})
