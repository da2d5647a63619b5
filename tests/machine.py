"""What the machine running the tests is: integration tests skip, with a reason, where it
differs from what they exercise."""

from __future__ import annotations

from pathlib import Path

from dlfleet.cudalines import detection


def os_release(root: Path = Path("/")) -> dict[str, str]:
    out = {}
    try:
        for line in (root / "etc/os-release").read_text().splitlines():
            key, _, value = line.partition("=")
            out[key] = value.strip().strip('"')
    except OSError:
        pass
    return out


def debian_family(root: Path = Path("/")) -> bool:
    release = os_release(root)
    return "debian" in {release.get("ID", ""), *release.get("ID_LIKE", "").split()}


def nvidia_gpus(sysfs_root: str = "/sys") -> list[dict]:
    """NVIDIA GPUs on the PCI bus, read the way the nvidia_driver role reads them."""
    return detection().pci_gpus(sysfs_root)
