"""What the lab's hosts get from the control machine, as inventory variables of the roles:
the image's sources (base archive, wheelhouse, apt cache), the lab's registry, the stand-in
NVIDIA repositories. The servers are the lab's service containers (``services``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .. import hublock, imagelock, paths, registry
from . import gpu
from .names import WHEELHOUSE_PORT
from .recipes import LINE_BASES, RECIPES
from .services import Services


def wheelhouse_root() -> Path:
    """The locked wheels the lab's images are built from (cpu, and the CUDA lines of simulated
    GPU hosts), served to its hosts over HTTP."""
    return paths.cache_dir() / "wheelhouse" / "lab"


def registry_root(lab_name: str) -> Path:
    """The lab's registry: its CA, certificate, storage (kept across lab.down/up)."""
    return registry.default_root() / lab_name


def prefetch_wheels(frameworks: list[str] | None, lines: list[str], hub: bool) -> None:
    """Download the wheelhouses a lab will serve (lab.up runs this beside its debootstraps);
    image_sources and hub_sources find them there."""
    if frameworks is not None:
        imagelock.wheelhouse("cpu", frameworks, wheelhouse_root())
        for line in lines:
            imagelock.wheelhouse(f"gpu-cu{line}", frameworks, wheelhouse_root())
    if hub:
        hublock.wheelhouse("3.12", wheelhouse_root())


def image_sources(
    services: Services, lab_name: str, gateway: str, frameworks: list[str], lines: list[str]
) -> dict[str, Any]:
    """What the lab's hosts build the cpu image from, prepared on this machine: the
    Debian 12 base as a saved archive, a wheelhouse of the locked wheels served over HTTP
    (the apt cache's address goes in with the inventory: lab.inventory). lines: the CUDA
    lines of simulated GPU hosts, whose wheels go into the same wheelhouse."""
    base_ref, base_archive = services.images.base_archive(RECIPES["bookworm"])
    wheels = imagelock.wheelhouse("cpu", frameworks, wheelhouse_root())
    for line in lines:
        imagelock.wheelhouse(f"gpu-cu{line}", frameworks, wheelhouse_root())
    url = services.files(f"{lab_name}-wheelhouse", lab_name, wheels, gateway, WHEELHOUSE_PORT)
    return {
        "dl_image_profile": "cpu",
        "dl_image_frameworks": frameworks,
        "dl_image_base": base_ref,
        "dl_image_base_archive": str(base_archive),
        "dl_image_pip_find_links": url,
    }


def hub_sources(services: Services, lab_name: str, gateway: str) -> dict[str, Any]:
    """The hub's locked wheels (its Python: the hub host's Ubuntu 24.04, 3.12), in the lab's
    wheelhouse beside the image's, served the same way: a hub installs as an air-gapped one."""
    wheels = hublock.wheelhouse("3.12", wheelhouse_root())
    url = services.files(f"{lab_name}-wheelhouse", lab_name, wheels, gateway, WHEELHOUSE_PORT)
    return {"dl_hub_pip_find_links": url}


def registry_vars(services: Services, lab_name: str, gateway: str) -> dict[str, Any]:
    """The lab's image registry on its network's gateway, as inventory variables."""
    reg = services.registry(
        f"{lab_name}-registry", lab_name, registry_root(lab_name), gateway,
        registry.REGISTRY_PORT,
    )  # fmt: skip
    return {
        "dl_image_distribution": "registry",
        "dl_image_registry": reg.address,
        # the registry is the lab's image cache: never short-cut it with an archive
        "dl_image_use_control_cache": False,
        "docker_registry_ca_certs": {reg.address: reg.ca_pem},
    }


def gpu_vars(services: Services, lab_name: str, gateway: str, lines: list[str]) -> dict[str, Any]:
    """Serve the stand-in NVIDIA repositories; the +gpu hosts' variables (lab.gpu)."""
    www = gpu.build_repo(services.say)
    url = services.files(f"{lab_name}-nvidia-repo", lab_name, www, gateway, gpu.REPO_PORT)
    bases = {line: services.images.base_archive(LINE_BASES[line]) for line in lines}
    return gpu.inventory_vars(url, gpu.repo_key(), bases)
