"""What the control machine serves the lab: the apt cache, a wheelhouse of the image's
locked wheels, the image registry and the stand-in NVIDIA repositories, each on the lab
network's address of this machine (never on the LAN's)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import docker

from .. import engine, imagelock, paths, registry
from ..engine import network_gateway
from . import gpu
from .images import Images
from .names import APT_CACHE_PORT, WHEELHOUSE_PORT
from .recipes import LINE_BASES, RECIPES

Say = Callable[[str], None]


def wheelhouse_root() -> Path:
    """The locked wheels the lab's images are built from (cpu, and the CUDA lines of simulated
    GPU hosts), served to its hosts over HTTP."""
    return paths.cache_dir() / "wheelhouse" / "lab"


def registry_root(lab_name: str) -> Path:
    """The lab's registry: its CA, certificate, storage (kept across lab.down/up)."""
    return registry.default_root() / lab_name


def apt_cache(client: docker.DockerClient, gateway: str, say: Say) -> None:
    """apt-cacher-ng on the lab's network and the default bridge (image builds)."""
    bridge = network_gateway(client.networks.get("bridge"))
    engine.ensure_apt_cacher(say, APT_CACHE_PORT, [gateway, bridge])


def image_sources(
    images: Images, gateway: str, frameworks: list[str], lines: list[str], say: Say
) -> dict[str, Any]:
    """What the lab's hosts build the cpu image from, prepared on this machine: the Debian 12
    base as a saved archive, a wheelhouse of the locked wheels served over HTTP, the apt
    cache. Returned as inventory variables of the dl_image role. lines: the CUDA lines of
    simulated GPU hosts, whose wheels go into the same wheelhouse."""
    base_ref, base_archive = images.base_archive(RECIPES["bookworm"])
    wheels = imagelock.wheelhouse("cpu", frameworks, wheelhouse_root())
    for line in lines:
        imagelock.wheelhouse(f"gpu-cu{line}", frameworks, wheelhouse_root())
    url = engine.ensure_file_server(wheels, gateway, WHEELHOUSE_PORT, say)
    return {
        "dl_image_profile": "cpu",
        "dl_image_frameworks": frameworks,
        "dl_image_base": base_ref,
        "dl_image_base_archive": str(base_archive),
        "dl_image_pip_find_links": url,
        "dl_image_apt_proxy": f"http://{gateway}:{APT_CACHE_PORT}",
    }


def registry_vars(lab_name: str, gateway: str, say: Say) -> dict[str, Any]:
    """Run the lab's image registry (Debian's docker-registry, TLS from dlfleet's CA) on
    this machine, on the lab network's gateway; returned as inventory variables."""
    reg = registry.ensure(gateway, registry.REGISTRY_PORT, say, root=registry_root(lab_name))
    return {
        "dl_image_distribution": "registry",
        "dl_image_registry": reg.address,
        # the registry is the lab's image cache: never short-cut it with an archive
        "dl_image_use_control_cache": False,
        "docker_registry_ca_certs": {reg.address: reg.ca_pem},
    }


def gpu_vars(images: Images, gateway: str, lines: list[str], say: Say) -> dict[str, Any]:
    """Serve the stand-in NVIDIA repositories; the +gpu hosts' variables (lab.gpu)."""
    url = gpu.ensure_repo(gateway, say)
    bases = {line: images.base_archive(LINE_BASES[line]) for line in lines}
    return gpu.inventory_vars(url, bases)


def stop(lab_name: str, gateway: str) -> list[str]:
    """Stop what serves the lab on its address; what was stopped."""
    stopped = []
    if registry.stop(gateway, registry.REGISTRY_PORT, registry_root(lab_name)):
        stopped.append(f"registry on {gateway}")
    if engine.stop_file_server(wheelhouse_root(), gateway, WHEELHOUSE_PORT):
        stopped.append(f"wheelhouse server on {gateway}")
    if gpu.stop_repo(gateway):
        stopped.append(f"stand-in NVIDIA repository on {gateway}")
    return stopped
