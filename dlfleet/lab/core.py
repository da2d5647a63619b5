"""The lab as a whole: its network, SSH key, hosts and inventory; up, down, stop, start."""

from __future__ import annotations

import contextlib
import functools
import json
import subprocess
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import docker
from docker.errors import APIError, NotFound

from .. import engine, locks, paths
from ..engine import network_gateway
from ..errors import DlfleetError
from . import gpu, hosts, inventory, sources
from .hosts import LabHost
from .images import Images
from .names import DEFAULT_NAME, LABEL
from .recipes import LINE_BASES, RECIPES, parse_hosts_spec
from .services import SHARED, Services

# the lab's hub host (lab.up --hub) and its test accounts (uids from 2001, the same on a rebuild)
HUB_HOST = "hub-1"
HUB_OS = "noble"
HUB_ACCOUNTS = ("alice", "bob", "carol", "dave")

Say = Callable[[str], None]


class Lab:
    """A named lab: every object it makes carries the label io.dlfleet.lab=NAME."""

    def __init__(
        self,
        state: Path,
        say: Say = print,
        client: docker.DockerClient | None = None,
        name: str = DEFAULT_NAME,
    ):
        self.name = name
        self.state = state
        self.dir = state / name
        self.say = say
        self._client = client

    def _filter(self, kind: str) -> dict[str, list[str]]:
        return {"label": [f"{LABEL}={self.name}", f"{LABEL}.kind={kind}"]}

    @property
    def client(self) -> docker.DockerClient:
        if self._client is None:
            self._client = engine.ensure_engine(self.say)
        return self._client

    @functools.cached_property
    def images(self) -> Images:
        return Images(self.client, self.say)

    @functools.cached_property
    def services(self) -> Services:
        return Services(self.client, self.images, self.say)

    @property
    def key(self) -> Path:
        return self.dir / "id_ed25519"

    @property
    def inventory_path(self) -> Path:
        return self.dir / "inventory.yml"

    @property
    def choices_path(self) -> Path:
        return self.dir / "choices.json"

    def network(self) -> Any:
        try:
            return self.client.networks.get(self.name)
        except NotFound:
            labels = {LABEL: self.name, f"{LABEL}.kind": "network"}
            return self.client.networks.create(self.name, driver="bridge", labels=labels)

    def gateway(self) -> str:
        net = self.network()
        net.reload()
        return network_gateway(net)

    def ensure_key(self) -> Path:
        if not self.key.is_file():
            self.dir.mkdir(parents=True, exist_ok=True)
            subprocess.run(
                ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "dlfleet-lab",
                 "-f", str(self.key)],
                check=True,
            )  # fmt: skip
        return self.key

    def containers(self) -> list[Any]:
        return self.client.containers.list(all=True, filters=self._filter("host"))

    def hosts(self) -> list[LabHost]:
        return sorted(
            (hosts.from_container(c, self.name) for c in self.containers()), key=lambda h: h.name
        )

    def up(
        self,
        spec: str,
        apt_cache: bool = True,
        image_frameworks: list[str] | None = None,
        image_registry: bool = False,
        hub: bool = False,
        build_image: Callable[[dict[str, Any]], None] | None = None,
    ) -> list[LabHost]:
        """Bring up the hosts of spec (kept if there). build_image: called with the image's
        variables (dl_image_*) as soon as what the image is built from is ready (Debian 12's
        root filesystem, the wheelhouse, the apt cache), beside the rest of lab.up and after
        it returns, holding this machine's image build lock from before lab.up returns until
        it returns itself: `invoke demo` builds the image on this machine while the hosts
        start and their engines install, and the site's dl_image play waits for the lock
        (paths.image_build_lock) before it looks for the archive. Not with image_registry
        (the lab's registry is its image cache)."""
        wanted = parse_hosts_spec(spec)  # validate before touching anything
        images = self.images
        gateway = self.gateway()  # makes the lab's network
        started = time.monotonic()
        names = list(dict.fromkeys([name for name, _, _ in wanted] + ([HUB_OS] if hub else [])))
        gpu_lines = sorted({gpu.line_for(RECIPES[name]) for name, _, gpus in wanted if gpus})
        cached = {name for name in names if images.exists(RECIPES[name])}
        debian = threading.Event()  # Debian 12's root filesystem is there (or failed)
        side = ThreadPoolExecutor(max_workers=1)  # the image's sources, then its build
        with ThreadPoolExecutor(max_workers=2) as pool:
            # the wheels download while the root filesystems are made (both mostly wait on
            # the network); every root filesystem the lab needs, side by side: its hosts', the
            # Debian 12 one its services and the cpu image build on, the GPU lines' bases
            wheels = pool.submit(sources.prefetch_wheels, image_frameworks, gpu_lines, hub)
            served = apt_cache or image_frameworks is not None or image_registry or hub or gpu_lines
            prepared = None
            if build_image and image_frameworks is not None and not image_registry:
                prepared = side.submit(
                    self._image_vars, gateway, image_frameworks or [], apt_cache, wheels, debian
                )
                hold = contextlib.ExitStack()  # given back by the build's thread
                hold.enter_context(locks.file_lock(paths.image_build_lock()))
                side.submit(self._build_early, prepared, build_image, hold)
            try:
                images.rootfs_tars(
                    [RECIPES[name] for name in names]
                    + ([RECIPES["bookworm"]] if served else [])
                    + [LINE_BASES[line] for line in gpu_lines],
                    ready=lambda recipe: recipe.name == "bookworm" and debian.set(),
                )
            finally:
                debian.set()  # a failed debootstrap does not leave the image's thread waiting
            # the apt cache starts while the host images are finished (with an early build,
            # the image's thread starts it as soon as Debian 12's root filesystem is there)
            cache = prepared or (
                pool.submit(self.services.apt_cache, [self.name]) if apt_cache else None
            )
            refs = images.ensure_all(RECIPES[name] for name in names)
            if cache:
                cache.result()  # joins it: nothing else using it is disturbed
            wheels.result()
        for name in names:
            how = "cached" if name in cached else "built"
            self.say(f"image {refs[name]} {how}")
        self.say(f"images ready in {time.monotonic() - started:.1f}s")
        pubkey = self.ensure_key().with_suffix(".pub").read_bytes()
        for name, count, gpus in wanted:
            for i in range(1, count + 1):
                kind = f"-gpu{gpus if gpus > 1 else ''}" if gpus else ""
                self._ensure_host(f"{name}{kind}-{i}", name, refs[name], pubkey, gpus)
        if hub:  # the fleet's front door (dl_hub), on the newest LTS a hub runs on
            self._ensure_host(HUB_HOST, HUB_OS, refs[HUB_OS], pubkey, 0, hub=True)
        found = self.hosts()
        hosts.wait_ssh(found)
        lines = sorted({gpu.line_for(RECIPES[h.os]) for h in found if h.gpu}, reverse=True)
        extra = (
            sources.image_sources(self.services, self.name, gateway, image_frameworks, lines)
            if image_frameworks is not None
            else {}
        )
        if image_registry:
            extra.update(sources.registry_vars(self.services, self.name, gateway))
        if hub:  # the hub's own packages, from the lab's wheelhouse
            extra.update(sources.hub_sources(self.services, self.name, gateway))
        gpu_vars = sources.gpu_vars(self.services, self.name, gateway, lines) if lines else None
        self.write_inventory(found, apt_cache, extra, gpu_vars)
        side.shutdown(wait=False)  # an early build goes on; the process waits for it at exit
        return found

    def _image_vars(
        self,
        gateway: str,
        frameworks: list[str],
        apt_cache: bool,
        wheels: Future[None],
        debian: threading.Event,
    ) -> dict[str, Any]:
        """The cpu image's variables as the lab's hosts get them, made as soon as Debian 12's
        root filesystem and the wheels are there: its base, the wheelhouse served on the lab's
        network, the apt cache there (started now) as the build's apt proxy, and that network
        for the build's steps (where both answer)."""
        debian.wait()
        image_vars: dict[str, Any] = {"dl_image_build_network": self.name}
        if apt_cache:
            address = self.services.apt_cache([self.name])[self.name]
            image_vars["dl_image_apt_proxy"] = inventory.apt_proxy_url(address)
        wheels.result()
        return {
            **sources.image_sources(self.services, self.name, gateway, frameworks, []),
            **image_vars,
        }

    def _build_early(
        self,
        prepared: Future[dict[str, Any]],
        build_image: Callable[[dict[str, Any]], None],
        hold: contextlib.ExitStack,
    ) -> None:
        with hold:  # the image build lock, taken by lab.up
            try:
                build_image(prepared.result())
            except Exception as exc:  # noqa: BLE001 - a thread of its own: said, not lost
                self.say(f"the image was not built on this machine ({exc}): a lab host builds it")

    def _ensure_host(
        self, host: str, os_name: str, image: str, pubkey: bytes, gpus: int, hub: bool = False
    ) -> None:
        cname = f"{self.name}-{host}"
        try:
            container = self.client.containers.get(cname)
            if container.status != "running":
                container.start()
            return
        except NotFound:
            pass
        self.say(f"starting lab host {host}")
        hosts.run(
            self.client, cname=cname, host=host, os_name=os_name, image=image, network=self.name,
            labels={LABEL: self.name}, pubkey=pubkey,
            gpu_sysfs=gpu.sysfs_tree(self.dir, gpus) if gpus else None, hub=hub,
        )  # fmt: skip
        if hub:
            self._hub_accounts(cname)

    @property
    def hub_accounts_path(self) -> Path:
        return self.dir / "hub-accounts.json"

    def hub_accounts(self) -> dict[str, str]:
        """The lab hub's test accounts and their passwords (made once per lab, kept 0600)."""
        path = self.hub_accounts_path
        if not path.is_file():
            import secrets

            self.dir.mkdir(parents=True, exist_ok=True)
            path.touch(mode=0o600)
            path.write_text(json.dumps({u: secrets.token_urlsafe(12) for u in HUB_ACCOUNTS}))
        return json.loads(path.read_text())

    def _hub_accounts(self, cname: str) -> None:
        """Create the test accounts on the hub host (passwords through the environment of
        chpasswd's shell, never on a command line)."""
        container = self.client.containers.get(cname)
        for uid, (user, password) in enumerate(self.hub_accounts().items(), start=2001):
            script = (
                f"id -u {user} >/dev/null 2>&1 || useradd -m -u {uid} -s /bin/bash {user}; "
                'printf "%s:%s\\n" "$LAB_USER" "$LAB_PASSWORD" | chpasswd'
            )
            code, out = container.exec_run(
                ["sh", "-ec", script],
                environment={"LAB_USER": user, "LAB_PASSWORD": password},
            )
            if code != 0:
                why = out.decode(errors="replace")[-300:]
                raise DlfleetError(f"lab: could not create {user} on {cname}: {why}")

    def write_inventory(
        self,
        found: list[LabHost],
        apt_cache: bool = True,
        extra: dict[str, Any] | None = None,
        gpu_vars: dict[str, Any] | None = None,
        sandboxed: bool | None = None,
    ) -> Path:
        """The inventory of these hosts; sandboxed: None asks this machine (CAP_SYS_RESOURCE).
        What was chosen (apt cache, image and registry variables, GPU hosts' variables) is
        kept in the lab's state (choices.json) for later rewrites."""
        self.dir.mkdir(parents=True, exist_ok=True)
        self.choices_path.write_text(
            json.dumps({"apt_cache": apt_cache, "extra": extra or {}, "gpu_vars": gpu_vars})
        )
        data = inventory.build(
            found,
            key=self.key,
            gateway=self.gateway() if apt_cache else None,
            apt_cache=self.services.apt_cache([self.name])[self.name] if apt_cache else None,
            sandboxed=not engine.has_cap_sys_resource() if sandboxed is None else sandboxed,
            extra=extra,
            gpu_vars=gpu_vars,
        )
        return inventory.write(self.inventory_path, data)

    def refresh_inventory(self, found: list[LabHost]) -> None:
        """Rewrite the inventory with new addresses, keeping the variables lab.up chose (the
        lab's own record of them, never read back from the inventory it wrote)."""
        if not self.choices_path.is_file():
            raise DlfleetError(
                f"lab {self.name} has no record of what `invoke lab.up` chose "
                f"({self.choices_path}): run `invoke lab.up` again (running hosts are kept)"
            )
        chosen = json.loads(self.choices_path.read_text())
        self.write_inventory(
            found,
            apt_cache=chosen["apt_cache"],
            extra=chosen["extra"],
            gpu_vars=chosen["gpu_vars"],
        )

    def stop(self, names: list[str]) -> None:
        for c in self.containers():
            if c.labels.get(f"{LABEL}.host") in names:
                c.stop(timeout=10)

    def start(self, names: list[str]) -> None:
        for c in self.containers():
            if c.labels.get(f"{LABEL}.host") in names:
                c.start()
        found = self.hosts()
        hosts.wait_ssh([h for h in found if h.name in names])
        self.refresh_inventory(found)

    def down(self) -> list[str]:
        """Remove exactly the lab's containers (hosts and services), volumes and network,
        found by label; the shared apt cache too when nothing else uses it."""
        removed = self.services.remove(self.name)
        for c in self.containers():
            c.remove(force=True)
            removed.append(c.name)
        for v in self.client.volumes.list(filters=self._filter("volume")):
            v.remove(force=True)
            removed.append(v.name)
        for n in self.client.networks.list(filters=self._filter("network")):
            self.services.detach(n)
            try:
                n.remove()
                removed.append(n.name)
            except APIError as exc:  # still used by something that is not ours
                raise DlfleetError(f"network {n.name} still in use: {exc.explanation}") from exc
        if not self._apt_cache_in_use():
            removed += self.services.remove(SHARED)
        self.inventory_path.unlink(missing_ok=True)
        self.choices_path.unlink(missing_ok=True)
        return removed

    def _apt_cache_in_use(self) -> bool:
        """Whether another lab or a Molecule scenario (its containers: owner=molecule) is
        still there to use the shared apt cache."""
        labs = self.client.networks.list(filters={"label": [f"{LABEL}.kind=network"]})
        if any(n.name != self.name for n in labs):
            return True
        return bool(self.client.containers.list(all=True, filters={"label": ["owner=molecule"]}))

    def ssh_argv(self, host: str) -> list[str]:
        found = self.hosts()
        match = [h for h in found if host in (h.name, h.container)]
        if not match:
            names = ", ".join(h.name for h in found) or "none (run `invoke lab.up`)"
            raise DlfleetError(f"no lab host {host!r}; lab hosts: {names}")
        return hosts.ssh_argv(self.key, match[0])
