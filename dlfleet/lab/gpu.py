"""Simulated GPU hosts of the lab (``lab.up --hosts noble+gpu=1``; ``noble+gpu2=2``: two
hosts of two GPUs each).

A ``+gpu`` host is an ordinary lab host that looks like a GPU host to dlfleet:

- an NVIDIA PCI function (vendor 10de, 3D class, an H200's device id) in a small sysfs tree
  mounted over ``/sys/bus/pci/devices``, which the driver role's detection module reads;
- a STAND-IN ``nvidia-smi`` (``gpu_nvidia_smi.sh``, named as such in its output) that reports
  the version of the driver package the driver role installed;
- a signed apt repository of STAND-INS for what the lab cannot reach (``gpu_standins.yml``):
  NVIDIA's container toolkit repository and its CUDA repository for Ubuntu 16.04.

The driver role then installs the real driver packages from the archives (no kernel module:
lab hosts are containers), the toolkit role installs the stand-ins and registers the runtime,
the image role builds each host's CUDA line, and the containers role attaches GPUs with
``--gpus`` (the stand-in hook attaches none). What the sandbox cannot do is switched off in
the inventory with the reason: the CDI spec (no nvidia-ctk in the stand-ins) and the
toolkit's CUDA-container check (it pulls nvidia/cuda from a registry).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .. import aptrepo, cudalines, paths

STANDINS = Path(__file__).parent / "gpu_standins.yml"
NVIDIA_SMI = Path(__file__).parent / "gpu_nvidia_smi.sh"
REPO_PORT = 8783
# vendor, class (3D controller), device (H200)
PCI_FILES = {"vendor": "0x10de\n", "class": "0x030200\n", "device": "0x2335\n"}


def pci_address(index: int) -> str:
    """The simulated GPU's PCI address: the first at 0000:00:1e.0, then one device further."""
    return f"0000:00:{0x1E + index:02x}.0"


def sysfs_tree(lab_dir: Path, gpus: int = 1) -> Path:
    """The PCI device tree mounted over /sys/bus/pci/devices on +gpu hosts: gpus NVIDIA
    functions (one tree per count, shared by the hosts with that many)."""
    root = (lab_dir / ("gpu-sysfs" if gpus == 1 else f"gpu-sysfs-{gpus}")).resolve()
    for index in range(gpus):
        device = root / pci_address(index)
        device.mkdir(parents=True, exist_ok=True)
        for name, content in PCI_FILES.items():
            (device / name).write_text(content)
    return root


def repo_root() -> Path:
    return paths.cache_dir() / "lab-standins"


def build_repo(say: Any) -> Path:
    """Build the stand-in repository (once per spec); the folder the lab serves."""
    root = repo_root()
    stamp = root / ".spec"
    spec = STANDINS.read_text()
    if not stamp.is_file() or stamp.read_text() != spec:
        say("building the lab's stand-in NVIDIA repositories")
        aptrepo.build_from_spec(STANDINS, root / "www", root / "gnupg")
        stamp.write_text(spec)
    return root / "www"


def line_for(recipe: Any) -> str:
    """The CUDA line of the OS's default driver on a lab host of this recipe."""
    distribution = "Ubuntu" if recipe.distro == "ubuntu" else "Debian"
    return cudalines.default_line(distribution, recipe.version.split(".")[0])


def repo_key() -> str:
    """The stand-in repositories' signing key, ASCII-armored: the lab serves them over plain
    http, so hosts get the key in their inventory, never from the server."""
    return (repo_root() / "www" / "gpgkey").read_text()


def inventory_vars(
    repo_url: str, repo_key: str, bases: dict[str, tuple[str, str]]
) -> dict[str, Any]:
    """Variables of the lab's +gpu hosts. repo_key: the stand-in repositories' armored key;
    bases: CUDA line -> (base image, its archive)."""
    return {
        "nvidia_container_toolkit_mirror_url": f"{repo_url}libnvidia-container",
        "nvidia_container_toolkit_mirror_key": repo_key,
        "nvidia_driver_cuda_repo_url": f"{repo_url}cuda",
        "nvidia_driver_cuda_repo_key": repo_key,
        # the stand-in toolkit has no nvidia-ctk to write a CDI spec with
        "nvidia_container_toolkit_cdi": False,
        # the toolkit's check runs nvidia-smi in nvidia/cuda, which needs a registry and a GPU
        "nvidia_container_toolkit_verify": False,
        "dl_image_profile": "gpu",
        "dl_image_base": {line: ref for line, (ref, _) in bases.items()},
        "dl_image_base_archive": {line: str(archive) for line, (_, archive) in bases.items()},
    }
