"""What each lab OS is made from: debootstrap recipes (their hash names the image), the
bases of the GPU images per CUDA line, and the ``--hosts`` spec."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..errors import DlfleetError
from .names import IMAGE_REPO

RECIPE_DIR = Path(__file__).parent / "recipe_files"

UBUNTU = "http://archive.ubuntu.com/ubuntu"
DEBIAN = "http://deb.debian.org/debian"
# Debian 12 carries no Ubuntu keyring: fetch Ubuntu's own package, checked against the
# SHA256 published in noble's (signed) Packages index. It holds the 2012 and 2018 archive
# keys, which sign xenial and the newer releases.
UBUNTU_KEYRING_DEB = (
    f"{UBUNTU}/pool/main/u/ubuntu-keyring/ubuntu-keyring_2023.11.28.1_all.deb",
    "36de43b15853ccae0028e9a767613770c704833f82586f28eb262f0311adb8a8",
)
DEBIAN_KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg"

_COMMON = ["systemd", "systemd-sysv", "openssh-server", "sudo", "ca-certificates", "iproute2"]


@dataclass(frozen=True)
class Recipe:
    """How one lab OS is made. Its hash names the image: change the recipe, get a rebuild."""

    name: str
    distro: str
    version: str
    mirror: str
    components: tuple[str, ...]
    include: tuple[str, ...]
    sources: tuple[str, ...]
    script: str | None = None
    keyring: str = field(default="ubuntu")

    def rootfs_digest(self) -> str:
        """What debootstrap makes depends on these fields only."""
        fields = (self.name, self.mirror, self.components, self.include, self.script, self.keyring)
        return hashlib.sha256(json.dumps(fields).encode()).hexdigest()[:12]

    def digest(self) -> str:
        h = hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode())
        for path in sorted(RECIPE_DIR.iterdir()):
            if path.is_file():
                h.update(path.name.encode() + path.read_bytes())
        return h.hexdigest()[:12]

    @property
    def image(self) -> str:
        return f"{IMAGE_REPO}/{self.name}:{self.digest()}"

    def sources_list(self) -> str:
        return "".join(line + "\n" for line in self.sources)


def _ubuntu_sources(suite: str) -> tuple[str, ...]:
    comps = "main restricted universe multiverse"
    return tuple(
        f"deb {UBUNTU} {s} {comps}" for s in (suite, f"{suite}-updates", f"{suite}-security")
    )


RECIPES: dict[str, Recipe] = {
    "xenial": Recipe(
        name="xenial",
        distro="ubuntu",
        version="16.04",
        mirror=UBUNTU,
        components=("main",),
        # ansible-core 2.16 runs modules under python2.7 on xenial; python-apt for its apt module
        include=(*_COMMON, "python2.7", "python-apt", "python3", "apt-transport-https"),
        sources=_ubuntu_sources("xenial"),
    ),
    "jammy": Recipe(
        name="jammy",
        distro="ubuntu",
        version="22.04",
        mirror=UBUNTU,
        components=("main",),
        include=(*_COMMON, "python3", "python3-apt"),
        sources=_ubuntu_sources("jammy"),
    ),
    "noble": Recipe(
        name="noble",
        distro="ubuntu",
        version="24.04",
        mirror=UBUNTU,
        # universe too: the root filesystem is also the gpu images' base (tini is in universe)
        components=("main", "universe"),
        include=(*_COMMON, "python3", "python3-apt"),
        sources=_ubuntu_sources("noble"),
        script="/usr/share/debootstrap/scripts/gutsy",  # Debian 12's debootstrap predates noble
    ),
    "bookworm": Recipe(
        name="bookworm",
        distro="debian",
        version="12",
        mirror=DEBIAN,
        components=("main",),
        include=(*_COMMON, "python3", "python3-apt"),
        sources=(
            f"deb {DEBIAN} bookworm main contrib non-free non-free-firmware",
            f"deb {DEBIAN} bookworm-updates main contrib non-free non-free-firmware",
            "deb http://security.debian.org/debian-security bookworm-security main contrib"
            " non-free non-free-firmware",
        ),
        keyring="debian",
    ),
}

# Bases of the gpu images the lab builds, per CUDA line (plain debootstrap root filesystems).
IMAGE_BASES: dict[str, Recipe] = {
    "focal": Recipe(
        name="focal",
        distro="ubuntu",
        version="20.04",
        mirror=UBUNTU,
        components=("main", "universe"),
        include=(*_COMMON, "python3"),
        sources=_ubuntu_sources("focal"),
    ),
}


def _line_bases() -> dict[str, Recipe]:
    """CUDA line -> the lab's root filesystem for the line's base (ubuntu:24.04 -> noble), from
    the dl_image role's table of lines, their one home."""
    from ..imagelock import role_data

    by_image = {f"{r.distro}:{r.version}": r for r in (*RECIPES.values(), *IMAGE_BASES.values())}
    lines = role_data()["__dl_image_cuda_lines"]
    return {line: by_image[spec["base"]] for line, spec in lines.items()}


LINE_BASES = _line_bases()


def parse_hosts_spec(spec: str) -> list[tuple[str, int, int]]:
    """``"xenial=1,noble+gpu=2,noble+gpu2=1"`` -> ``[("xenial", 1, 0), ("noble", 2, 1),
    ("noble", 1, 2)]``: OS, how many hosts, how many simulated GPUs each (``+gpu``: one,
    ``+gpuN``: N, up to 8), with clear errors."""
    out: list[tuple[str, int, int]] = []
    for part in filter(None, (p.strip() for p in spec.split(","))):
        name, sep, count = part.partition("=")
        name, plus, option = name.strip().partition("+")
        gpus = 0
        if plus:
            found = re.fullmatch(r"gpu([1-8]?)", option)
            if not found:
                raise DlfleetError(
                    f"unknown lab host option +{option}: the only one is +gpu (one simulated "
                    "GPU) or +gpuN (N of them, up to 8)"
                )
            gpus = int(found.group(1) or 1)
        if name not in RECIPES:
            raise DlfleetError(f"unknown lab OS {name!r}: choose from {', '.join(sorted(RECIPES))}")
        try:
            n = int(count) if sep else 1
        except ValueError:
            raise DlfleetError(
                f"lab host count for {name!r} must be a number, got {count!r}"
            ) from None
        if not 0 < n <= 64:
            raise DlfleetError(f"lab host count for {name!r} must be 1..64, got {n}")
        out.append((name, n, gpus))
    if not out:
        raise DlfleetError("no lab hosts asked for: use e.g. --hosts xenial=1,noble=1")
    return out
