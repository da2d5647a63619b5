"""What the control machine serves the lab — the apt cache, a wheelhouse of the image's locked
wheels, the image registry, the stand-in NVIDIA repositories — each a container of the lab.

They run from one image the lab builds on its own Debian 12 root filesystem (apt-cacher-ng,
Debian's docker-registry, Python's http.server), carry the lab's labels
(``io.dlfleet.lab=<owner>``, ``io.dlfleet.lab.kind=service``) and publish their port only on
loopback and the Docker bridges' gateways, never on the LAN's addresses (the shared apt cache
joins each lab's network instead). Their data stays in
the user's cache, mounted at the same path. ``lab.down`` removes them by label: nothing of
the lab runs as a loose process and no pid file exists.

The apt cache is shared (owner ``shared``) by every lab and the Molecule scenarios; the
Molecule scenarios' own servers have owner ``molecule`` (this module's command line).

    python -m dlfleet.lab.services files --name N --root DIR --bind ADDR --port P
    python -m dlfleet.lab.services registry --name N --root DIR --bind ADDR --port P
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import json
import os
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import docker
from docker.errors import APIError, NotFound

from .. import engine, paths, registry
from ..errors import DlfleetError
from .images import Images
from .names import APT_CACHE_PORT, IMAGE_REPO, LABEL
from .recipes import RECIPES

Say = Callable[[str], None]

SHARED = "shared"
APT_CACHE = "dlfleet-apt-cache"
PACKAGES = ("apt-cacher-ng", "docker-registry")
DOCKERFILE = """\
ARG BASE
FROM ${BASE}
ARG http_proxy
RUN printf '#!/bin/sh\\nexit 101\\n' > /usr/sbin/policy-rc.d && chmod 0755 /usr/sbin/policy-rc.d \\
 && apt-get update -qq \\
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends %s \\
 && rm -rf /var/lib/apt/lists/* /usr/sbin/policy-rc.d
"""


def answers_http(url: str) -> bool:
    """Whether an HTTP server answers at url (any status: an error page is an answer)."""
    try:
        with urllib.request.urlopen(url, timeout=2):  # noqa: S310 - built here
            return True
    except urllib.error.HTTPError:
        return True
    except (urllib.error.URLError, OSError):
        return False


def _owned(owner: str) -> dict[str, list[str]]:
    """The label filter of owner's service containers."""
    return {"label": [f"{LABEL}={owner}", f"{LABEL}.kind=service"]}


def _bindings(container: Any) -> list[tuple[str, str]]:
    """(host address, host port) of each port the container publishes."""
    ports = container.attrs["HostConfig"].get("PortBindings") or {}
    return [(b["HostIp"], b["HostPort"]) for binds in ports.values() for b in binds or []]


class Services:
    """The lab's service containers on the control machine's engine."""

    def __init__(self, client: docker.DockerClient, images: Images, say: Say):
        self.client = client
        self.images = images
        self.say = say

    def image(self) -> str:
        """``dlfleet-lab/services:<digest>``, built once on the lab's Debian 12 rootfs."""
        base = self.images.rootfs(RECIPES["bookworm"])
        dockerfile = DOCKERFILE % " ".join(PACKAGES)
        digest = hashlib.sha256(f"{base}\n{dockerfile}".encode()).hexdigest()[:12]
        ref = f"{IMAGE_REPO}/services:{digest}"
        try:
            self.client.images.get(ref)
            return ref
        except NotFound:
            pass
        self.say(f"building {ref} ({', '.join(PACKAGES)})")
        self.client.images.build(
            fileobj=io.BytesIO(dockerfile.encode()),
            tag=ref,
            buildargs={"BASE": base, "http_proxy": self.images.apt_proxy_for_build()},
            labels={f"{LABEL}.kind": "service-image"},
            rm=True,
        )
        return ref

    def run(
        self,
        name: str,
        *,
        owner: str,
        service: str,
        command: list[str],
        port: int,
        publish: Iterable[str],
        mounts: dict[str, str],
        ready: Callable[[], bool],
    ) -> None:
        """Start (or keep) the container ``name``; recreated when what it runs changed.

        port is the service's port inside the container and on each address of publish;
        mounts: host path -> mode (mounted at the same path). Waits until ready() holds."""
        image = self.image()
        publish = sorted(set(publish))
        volumes = {path: {"bind": path, "mode": mode} for path, mode in mounts.items()}
        spec = json.dumps([image, command, port, publish, volumes], sort_keys=True)
        spec_id = hashlib.sha256(spec.encode()).hexdigest()[:16]
        labels = {LABEL: owner, f"{LABEL}.kind": "service", f"{LABEL}.service": service,
                  f"{LABEL}.spec": spec_id}  # fmt: skip
        try:
            container = self.client.containers.get(name)
            if container.labels.get(f"{LABEL}.spec") == spec_id:
                if container.status != "running":
                    container.start()
                return self._wait(name, ready)
            container.remove(force=True)
        except NotFound:
            pass
        for path in mounts:
            Path(path).mkdir(parents=True, exist_ok=True)
        self.say(f"starting {name} on {', '.join(publish)} port {port}")
        try:
            self._start(name, image, command, labels, port, publish, volumes)
        except APIError as exc:  # e.g. the port is taken on one of the addresses
            with contextlib.suppress(NotFound):
                self.client.containers.get(name).remove(force=True)
            raise DlfleetError(
                f"{name} could not start on {', '.join(publish)} port {port}: {exc.explanation}"
            ) from exc
        return self._wait(name, ready)

    def _start(self, name: str, image: str, command: list[str], labels: dict[str, str],
               port: int, publish: list[str], volumes: dict[str, Any]) -> None:  # fmt: skip
        self.client.containers.run(
            image,
            command,
            name=name,
            detach=True,
            labels=labels,
            user=f"{os.getuid()}:{os.getgid()}",
            ports={f"{port}/tcp": [(addr, port) for addr in publish]},
            volumes=volumes,
            cap_drop=["ALL"],
            security_opt=["no-new-privileges"],
        )

    def _wait(self, name: str, ready: Callable[[], bool], seconds: float = 30) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if ready():
                return
            time.sleep(0.25)
        raise DlfleetError(f"{name} did not answer within {seconds:.0f}s: see `docker logs {name}`")

    def published(self, name: str) -> list[str]:
        """The addresses the container name publishes its port on (none if it does not run)."""
        try:
            container = self.client.containers.get(name)
        except NotFound:
            return []
        return sorted({ip for ip, _ in _bindings(container)})

    def apt_cache(self, networks: Iterable[str] = ()) -> dict[str, str]:
        """apt-cacher-ng, published on loopback and Docker's default bridge (where Molecule's
        instances are) and attached to each lab network in networks; its address on each of
        them. A lab coming up or going never makes it again: what it publishes never
        changes, and a network is joined while it runs (publishing a port on a lab's gateway
        would not do: Docker drops traffic forwarded from one bridge to another). Each request
        goes to the host named in the URL (no remapping), so the cache works for any mirror."""
        cache_dir = paths.cache_dir() / "apt-cacher-ng"
        conf = cache_dir / "conf"
        conf.mkdir(parents=True, exist_ok=True)
        (conf / "acng.conf").write_text(
            f"CacheDir: {cache_dir}/cache\nLogDir: {cache_dir}/log\n"
            f"SupportDir: /usr/lib/apt-cacher-ng\nPort: {APT_CACHE_PORT}\nExThreshold: 4\n"
        )
        self.run(
            APT_CACHE,
            owner=SHARED,
            service="apt-cache",
            command=["/usr/sbin/apt-cacher-ng", "-c", str(conf), "ForeGround=1",
                     "SocketPath=/tmp/apt-cacher-ng.socket"],
            port=APT_CACHE_PORT,
            publish={"127.0.0.1", engine.bridge_gateway(self.client)},
            mounts={str(cache_dir / "cache"): "rw", str(cache_dir / "log"): "rw",
                    str(conf): "ro"},
            ready=lambda: answers_http(f"http://127.0.0.1:{APT_CACHE_PORT}/"),
        )  # fmt: skip
        container = self.client.containers.get(APT_CACHE)
        for name in networks:
            if name not in container.attrs["NetworkSettings"]["Networks"]:
                self.client.networks.get(name).connect(container)
                container.reload()
        joined = container.attrs["NetworkSettings"]["Networks"]
        return {name: joined[name]["IPAddress"] for name in networks}

    def attached(self, name: str) -> list[str]:
        """The networks container name is attached to (none if it does not exist)."""
        try:
            container = self.client.containers.get(name)
        except NotFound:
            return []
        return sorted(container.attrs["NetworkSettings"]["Networks"])

    def detach(self, network: Any) -> None:
        """Take the shared apt cache off network (a lab's, about to be removed)."""
        network.reload()
        endpoints = (network.attrs.get("Containers") or {}).values()
        if any(endpoint.get("Name") == APT_CACHE for endpoint in endpoints):
            network.disconnect(APT_CACHE, force=True)

    def files(self, name: str, owner: str, root: Path, bind: str, port: int) -> str:
        """Serve a folder read-only over HTTP on bind:port; its URL."""
        url = f"http://{bind}:{port}/"
        self.run(
            name,
            owner=owner,
            service="files",
            command=["python3", "-m", "http.server", "--directory", str(root), str(port)],
            port=port,
            publish=[bind],
            mounts={str(root): "ro"},
            ready=lambda: answers_http(url),
        )
        return url

    def registry(
        self, name: str, owner: str, root: Path, bind: str, port: int
    ) -> registry.Registry:
        """Debian's docker-registry over TLS (certificate for bind from dlfleet's CA)."""
        registry.ensure_ca(root)
        config = registry.write_config(root, bind, port)
        ca_file = root / "ca.crt"
        address = f"{bind}:{port}"
        self.run(
            name,
            owner=owner,
            service="registry",
            command=["docker-registry", "serve", str(config)],
            port=port,
            publish=[bind],
            mounts={str(root): "rw"},
            ready=lambda: registry.answers(address, ca_file),
        )
        return registry.Registry(address=address, ca_pem=ca_file.read_text())

    def listed(self, owners: Iterable[str]) -> list[dict[str, Any]]:
        """The service containers of owners: name, service, status, where it is published."""
        rows = []
        for owner in owners:
            for c in self.client.containers.list(all=True, filters=_owned(owner)):
                rows.append({
                    "name": c.name, "service": c.labels.get(f"{LABEL}.service", ""),
                    "status": c.status,
                    "published": sorted(f"{ip}:{port}" for ip, port in _bindings(c)),
                })  # fmt: skip
        return rows

    def remove(self, owner: str) -> list[str]:
        """Remove the service containers of owner; their names."""
        removed = []
        for container in self.client.containers.list(all=True, filters=_owned(owner)):
            container.remove(force=True)
            removed.append(container.name)
        return removed


def main(argv: list[str] | None = None) -> None:
    """The Molecule scenarios' servers (owner ``molecule``); their cleanup removes the
    container by name (community.docker.docker_container, state absent)."""
    parser = argparse.ArgumentParser(
        prog="python -m dlfleet.lab.services", description=__doc__.split("\n")[0]
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for command in ("files", "registry"):
        p = sub.add_parser(command)
        p.add_argument("--name", required=True)
        p.add_argument("--root", type=Path, required=True)
        p.add_argument("--bind", required=True)
        p.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    say = print
    try:
        client = engine.ensure_engine(say)
        services = Services(client, Images(client, say), say)
        if args.command == "files":
            print(services.files(args.name, "molecule", args.root.resolve(), args.bind, args.port))
        else:
            root = args.root.resolve()
            print(services.registry(args.name, "molecule", root, args.bind, args.port).address)
    except DlfleetError as exc:
        raise SystemExit(f"dlfleet: {exc}") from exc


if __name__ == "__main__":
    main()
