"""The lab: a local fleet of simulated hosts on the control machine's Docker engine.

Each lab host is a container with systemd as PID 1, sshd and Python, built from a debootstrap
root filesystem (no registry is needed), with its own ``/var/lib/docker`` volume so that the
``docker`` role can run a real engine inside it. Hosts share one apt cache (apt-cacher-ng on
the control machine). The lab writes an Ansible inventory that groups hosts by OS.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import shutil
import subprocess
import tarfile
import tempfile
import time
import urllib.request
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import docker
import yaml
from docker.errors import APIError, ImageNotFound, NotFound

from . import engine, labgpu, paths, registry
from .engine import network_gateway
from .errors import DlfleetError

Say = Callable[[str], None]

LABEL = "io.dlfleet.lab"
IMAGE_REPO = "dlfleet-lab"
DEFAULT_NAME = "dlfleet-lab"
APT_CACHE_PORT = 3142
WHEELHOUSE_PORT = 8781
RECIPE_DIR = Path(__file__).parent / "lab_recipes"

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
LINE_BASES = {"13": RECIPES["noble"], "12": RECIPES["noble"], "11": IMAGE_BASES["focal"]}

# What lab hosts of each OS need on machines without CAP_SYS_RESOURCE (see write_inventory).
SANDBOX_GROUP_VARS: dict[str, dict[str, Any]] = {
    "xenial": {"dl_image_smoke": False, "dl_containers_list": []},
    "noble": {"docker_version": "24.0.7"},
    "jammy": {"docker_version": "20.10.12"},
}

# The options SANDBOX-class machines (no CAP_SYS_RESOURCE) accept for a systemd container
# that runs its own dockerd: every capability but SYS_RESOURCE, no --privileged.
CAP_DROP = ["SYS_RESOURCE"]


def wheelhouse_root() -> Path:
    """The locked wheels the lab's images are built from (cpu, and the CUDA lines of simulated
    GPU hosts), served to its hosts over HTTP."""
    return paths.cache_dir() / "wheelhouse" / "lab"


def parse_hosts_spec(spec: str) -> list[tuple[str, int, bool]]:
    """``"xenial=1,noble+gpu=2"`` -> ``[("xenial", 1, False), ("noble", 2, True)]`` (``+gpu``:
    simulated GPU hosts), with clear errors."""
    out: list[tuple[str, int, bool]] = []
    for part in filter(None, (p.strip() for p in spec.split(","))):
        name, sep, count = part.partition("=")
        name, plus, option = name.strip().partition("+")
        if plus and option != "gpu":
            raise DlfleetError(f"unknown lab host option +{option}: the only one is +gpu")
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
        out.append((name, n, bool(plus)))
    if not out:
        raise DlfleetError("no lab hosts asked for: use e.g. --hosts xenial=1,noble=1")
    return out


@dataclass
class LabHost:
    name: str
    os: str
    container: str
    status: str
    address: str | None
    image: str
    gpu: bool = False


class Lab:
    """Builds base images, starts and stops lab hosts, writes the inventory."""

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

    def _labels(self, kind: str, **extra: str) -> dict[str, str]:
        return {LABEL: self.name, f"{LABEL}.kind": kind, **extra}

    def _filter(self, kind: str) -> dict[str, list[str]]:
        return {"label": [f"{LABEL}={self.name}", f"{LABEL}.kind={kind}"]}

    # -- engine --------------------------------------------------------------------
    @property
    def client(self) -> docker.DockerClient:
        if self._client is None:
            self._client = engine.ensure_engine(self.say)
        return self._client

    @property
    def key(self) -> Path:
        return self.dir / "id_ed25519"

    @property
    def inventory_path(self) -> Path:
        return self.dir / "inventory.yml"

    # -- base images ---------------------------------------------------------------
    def image_exists(self, recipe: Recipe) -> bool:
        try:
            self.client.images.get(recipe.image)
            return True
        except ImageNotFound:
            return False

    def ensure_image(self, recipe: Recipe) -> str:
        """Build ``dlfleet-lab/<os>:<recipe digest>`` unless it exists; tag it ``latest``."""
        if self.image_exists(recipe):
            self.client.images.get(recipe.image).tag(f"{IMAGE_REPO}/{recipe.name}", "latest")
            return recipe.image
        engine.ensure_packages({"debootstrap": "debootstrap"}, self.say)
        proxy = self._apt_proxy_for_control()
        started = time.monotonic()
        rootfs_tar = self._rootfs(recipe, proxy)
        base = f"{IMAGE_REPO}/{recipe.name}-rootfs:{recipe.digest()}"
        self.client.api.import_image_from_file(
            str(rootfs_tar), repository=base.split(":")[0], tag=recipe.digest()
        )
        with tempfile.TemporaryDirectory() as ctx:
            for path in RECIPE_DIR.iterdir():
                shutil.copy(path, ctx)
            Path(ctx, "sources.list").write_text(recipe.sources_list())
            image, _ = self.client.images.build(
                path=ctx,
                tag=recipe.image,
                buildargs={"BASE": base, "http_proxy": self._apt_proxy_for_build()},
                labels={f"{LABEL}.kind": "base", f"{LABEL}.os": recipe.name},
                rm=True,
            )
        image.tag(f"{IMAGE_REPO}/{recipe.name}", "latest")
        self.say(f"built {recipe.image} in {time.monotonic() - started:.0f}s")
        self._prune_superseded(recipe)
        return recipe.image

    def _prune_superseded(self, recipe: Recipe) -> None:
        """Drop images of this OS built from older recipes (unless a container still uses them)."""
        current = recipe.digest()
        for repo in (f"{IMAGE_REPO}/{recipe.name}", f"{IMAGE_REPO}/{recipe.name}-rootfs"):
            for image in self.client.images.list(name=repo):
                for tag in image.tags:
                    if tag.rsplit(":", 1)[-1] not in (current, "latest"):
                        with contextlib.suppress(APIError):  # in use: leave it
                            self.client.images.remove(tag)

    def rootfs_image(self, recipe: Recipe) -> str:
        """The plain debootstrap image of a recipe (no systemd setup): a base for other images."""
        self.ensure_image(recipe)
        return f"{IMAGE_REPO}/{recipe.name}-rootfs:{recipe.digest()}"

    def base_archive(self, recipe: Recipe) -> tuple[str, Path]:
        """``docker save`` of rootfs_image, cached: what air-gapped builders load as a base."""
        ref = self.rootfs_image(recipe)
        target = paths.cache_dir() / "images" / f"{recipe.name}-rootfs-{recipe.digest()}.tar"
        if not target.is_file():
            target.parent.mkdir(parents=True, exist_ok=True)
            partial = target.with_suffix(".partial")
            with open(partial, "wb") as fh:
                for chunk in self.client.images.get(ref).save(named=True):
                    fh.write(chunk)
            partial.rename(target)
        return ref, target

    def _rootfs(self, recipe: Recipe, proxy: str | None) -> Path:
        """A cached debootstrap tarball for the recipe (per user, shared by checkouts)."""
        cache = paths.cache_dir() / "rootfs"
        cache.mkdir(parents=True, exist_ok=True)
        tar = cache / f"{recipe.name}-{recipe.rootfs_digest()}.tar"
        if tar.is_file():
            return tar
        keyring = self._keyring(recipe)
        with tempfile.TemporaryDirectory(dir=cache) as tmp:
            root = Path(tmp, "root")
            args = [
                "debootstrap",
                "--variant=minbase",
                f"--components={','.join(recipe.components)}",
                f"--include={','.join(recipe.include)}",
                f"--keyring={keyring}",
                recipe.name,
                str(root),
                recipe.mirror,
            ]
            if recipe.script:
                args.append(recipe.script)
            env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL": "C"}
            if proxy:
                env["http_proxy"] = proxy
            self.say(f"debootstrap {recipe.name} (about a minute)")
            proc = subprocess.run(args, env=env, capture_output=True, text=True, check=False)
            if proc.returncode != 0:
                log = root / "debootstrap" / "debootstrap.log"
                detail = log.read_text()[-2000:] if log.is_file() else proc.stderr[-2000:]
                raise DlfleetError(f"debootstrap {recipe.name} failed:\n{detail}")
            partial = tar.with_suffix(".partial")
            subprocess.run(
                ["tar", "--numeric-owner", "-C", str(root), "-cf", str(partial), "."], check=True
            )
            partial.rename(tar)
        return tar

    def _keyring(self, recipe: Recipe) -> str:
        if recipe.keyring == "debian":
            return DEBIAN_KEYRING
        target = paths.cache_dir() / "ubuntu-archive-keyring.gpg"
        if target.is_file():
            return str(target)
        url, sha256 = UBUNTU_KEYRING_DEB
        with urllib.request.urlopen(url, timeout=60) as resp:  # noqa: S310 - fixed http URL
            data = resp.read()
        if hashlib.sha256(data).hexdigest() != sha256:
            raise DlfleetError(f"{url}: checksum mismatch, refusing to trust this keyring")
        with tempfile.TemporaryDirectory() as tmp:
            deb = Path(tmp, "keyring.deb")
            deb.write_bytes(data)
            subprocess.run(["dpkg-deb", "-x", str(deb), tmp], check=True)
            shutil.copy(Path(tmp, "usr/share/keyrings/ubuntu-archive-keyring.gpg"), target)
        return str(target)

    def _apt_proxy_for_build(self) -> str:
        """The apt cache as seen from a build container on the default bridge."""
        if not engine.port_open("127.0.0.1", APT_CACHE_PORT):
            return ""
        return f"http://{network_gateway(self.client.networks.get('bridge'))}:{APT_CACHE_PORT}"

    def _apt_proxy_for_control(self) -> str | None:
        if engine.port_open("127.0.0.1", APT_CACHE_PORT):
            return f"http://127.0.0.1:{APT_CACHE_PORT}"
        return None

    # -- network, key ---------------------------------------------------------------
    def network(self) -> Any:
        try:
            return self.client.networks.get(self.name)
        except NotFound:
            return self.client.networks.create(
                self.name, driver="bridge", labels=self._labels("network")
            )

    def gateway(self) -> str:
        net = self.network()
        net.reload()
        return network_gateway(net)

    def ensure_key(self) -> Path:
        if not self.key.is_file():
            self.dir.mkdir(parents=True, exist_ok=True)
            subprocess.run(
                [
                    "ssh-keygen",
                    "-q",
                    "-t",
                    "ed25519",
                    "-N",
                    "",
                    "-C",
                    "dlfleet-lab",
                    "-f",
                    str(self.key),
                ],
                check=True,
            )
        return self.key

    # -- hosts ---------------------------------------------------------------------
    def containers(self) -> list[Any]:
        return self.client.containers.list(all=True, filters=self._filter("host"))

    def hosts(self) -> list[LabHost]:
        out = []
        for c in self.containers():
            nets = c.attrs.get("NetworkSettings", {}).get("Networks", {})
            addr = (nets.get(self.name) or {}).get("IPAddress") or None
            out.append(
                LabHost(
                    name=c.labels.get(f"{LABEL}.host", c.name),
                    os=c.labels.get(f"{LABEL}.os", "?"),
                    container=c.name,
                    status=c.status,
                    address=addr,
                    image=(c.image.tags or [c.image.short_id])[0],
                    gpu=c.labels.get(f"{LABEL}.gpu") == "1",
                )
            )
        return sorted(out, key=lambda h: h.name)

    def image_sources(self, frameworks: list[str], lines: list[str] = ()) -> dict[str, Any]:
        """What the lab's hosts build the cpu image from, prepared on this machine: the Debian 12
        base as a saved archive, a wheelhouse of the locked wheels served over HTTP, the apt
        cache. Returned as inventory variables of the dl_image role. lines: the CUDA lines of
        simulated GPU hosts, whose wheels go into the same wheelhouse."""
        from . import imagelock

        base_ref, base_archive = self.base_archive(RECIPES["bookworm"])
        wheels = imagelock.wheelhouse("cpu", frameworks, wheelhouse_root())
        for line in lines:
            imagelock.wheelhouse(f"gpu-cu{line}", frameworks, wheelhouse_root())
        gateway = self.gateway()
        url = engine.ensure_file_server(wheels, gateway, WHEELHOUSE_PORT, self.say)
        return {
            "dl_image_profile": "cpu",
            "dl_image_frameworks": frameworks,
            "dl_image_base": base_ref,
            "dl_image_base_archive": str(base_archive),
            "dl_image_pip_find_links": url,
            "dl_image_apt_proxy": f"http://{gateway}:{APT_CACHE_PORT}",
        }

    @property
    def registry_root(self) -> Path:
        """The lab's registry: its CA, certificate, storage (kept across lab.down/up)."""
        return registry.default_root() / self.name

    def registry_vars(self) -> dict[str, Any]:
        """Run the lab's image registry (Debian's docker-registry, TLS from dlfleet's CA) on
        this machine, on the lab network's gateway; returned as inventory variables."""
        reg = registry.ensure(
            self.gateway(), registry.REGISTRY_PORT, self.say, root=self.registry_root
        )
        return {
            "dl_image_distribution": "registry",
            "dl_image_registry": reg.address,
            # the registry is the lab's image cache: never short-cut it with an archive
            "dl_image_use_control_cache": False,
            "docker_registry_ca_certs": {reg.address: reg.ca_pem},
        }

    def gpu_vars(self, lines: list[str]) -> dict[str, Any]:
        """Serve the stand-in NVIDIA repositories; the +gpu hosts' variables (labgpu)."""
        url = labgpu.ensure_repo(self.gateway(), self.say)
        bases = {line: self.base_archive(LINE_BASES[line]) for line in lines}
        return labgpu.inventory_vars(url, bases)

    def up(
        self,
        spec: str,
        apt_cache: bool = True,
        image_frameworks: list[str] | None = None,
        image_registry: bool = False,
    ) -> list[LabHost]:
        wanted = parse_hosts_spec(spec)  # validate before touching anything
        client = self.client
        if apt_cache:  # on the lab's network and the default bridge (image builds), not the LAN
            bridge = network_gateway(client.networks.get("bridge"))
            engine.ensure_apt_cacher(self.say, APT_CACHE_PORT, [self.gateway(), bridge])
        images = {}
        for name, _, _ in wanted:
            started = time.monotonic()
            cached = self.image_exists(RECIPES[name])
            images[name] = self.ensure_image(RECIPES[name])
            how = "cached" if cached else "built"
            self.say(f"image {images[name]} {how} ({time.monotonic() - started:.1f}s)")
        self.ensure_key()
        self.network()
        pubkey = self.key.with_suffix(".pub").read_bytes()
        for name, count, gpu in wanted:
            for i in range(1, count + 1):
                host = f"{name}-gpu-{i}" if gpu else f"{name}-{i}"
                self._ensure_host(client, host, name, images[name], pubkey, gpu)
        hosts = self.hosts()
        self._wait_ssh(hosts)
        lines = sorted({labgpu.line_for(RECIPES[h.os]) for h in hosts if h.gpu}, reverse=True)
        extra = self.image_sources(image_frameworks, lines) if image_frameworks is not None else {}
        if image_registry:
            extra.update(self.registry_vars())
        gpu_vars = self.gpu_vars(lines) if lines else None
        self.write_inventory(hosts, apt_cache, extra, gpu_vars)
        return hosts

    def _ensure_host(
        self, client: Any, host: str, os_name: str, image: str, pubkey: bytes, gpu: bool = False
    ) -> None:
        cname = f"{self.name}-{host}"
        try:
            container = client.containers.get(cname)
            if container.status != "running":
                container.start()
            return
        except NotFound:
            pass
        self.say(f"starting lab host {host}")
        # The engine's state lives on volumes, not on the container's overlay root: overlayfs
        # cannot stack on overlayfs (containerd's image store sits in /var/lib/containerd).
        volumes = {
            f"{cname}-docker": "/var/lib/docker",
            f"{cname}-containerd": "/var/lib/containerd",
        }
        for volume in volumes:
            client.volumes.create(volume, labels=self._labels("volume", **{f"{LABEL}.host": host}))
        binds = {name: {"bind": path, "mode": "rw"} for name, path in volumes.items()}
        if gpu:  # a simulated NVIDIA GPU on the PCI bus (labgpu)
            binds[str(labgpu.sysfs_tree(self.dir))] = {"bind": "/sys/bus/pci/devices", "mode": "ro"}
        container = client.containers.run(
            image,
            name=cname,
            hostname=host,
            detach=True,
            cap_add=["ALL"],
            cap_drop=CAP_DROP,
            security_opt=["seccomp=unconfined", "apparmor=unconfined"],
            cgroupns="host",
            volumes={"/sys/fs/cgroup": {"bind": "/sys/fs/cgroup", "mode": "rw"}, **binds},
            tmpfs={"/run": "", "/run/lock": "", "/tmp": ""},  # noqa: S108 - container paths
            network=self.name,
            labels=self._labels(
                "host",
                **{f"{LABEL}.host": host, f"{LABEL}.os": os_name, f"{LABEL}.gpu": str(int(gpu))},
            ),
            restart_policy={"Name": "unless-stopped"},
        )
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tar:
            info = tarfile.TarInfo(".ssh/authorized_keys")
            info.size, info.mode = len(pubkey), 0o600
            tar.addfile(info, io.BytesIO(pubkey))
        container.put_archive("/root", buf.getvalue())
        if gpu:
            smi = labgpu.NVIDIA_SMI.read_bytes()
            buf = io.BytesIO()
            with tarfile.open(fileobj=buf, mode="w") as tar:
                info = tarfile.TarInfo("usr/local/bin/nvidia-smi")
                info.size, info.mode = len(smi), 0o755
                tar.addfile(info, io.BytesIO(smi))
            container.put_archive("/", buf.getvalue())

    def _wait_ssh(self, hosts: list[LabHost], timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        pending = {h.name: h.address for h in hosts if h.status == "running" or h.address}
        while pending and time.monotonic() < deadline:
            for name, addr in list(pending.items()):
                if addr and engine.port_open(addr, 22):
                    del pending[name]
            if pending:
                time.sleep(0.5)
        if pending:
            raise DlfleetError(f"lab hosts without SSH after {timeout:.0f}s: {', '.join(pending)}")

    def write_inventory(
        self,
        hosts: list[LabHost],
        apt_cache: bool = True,
        extra: dict[str, Any] | None = None,
        gpu_vars: dict[str, Any] | None = None,
    ) -> Path:
        groups: dict[str, dict[str, Any]] = {}
        for h in hosts:
            groups.setdefault(h.os, {"hosts": {}})["hosts"][h.name] = {"ansible_host": h.address}
        gpu_hosts = [h.name for h in hosts if h.gpu]
        if gpu_hosts and gpu_vars:  # simulated GPU hosts (labgpu)
            groups["lab_gpu"] = {"hosts": dict.fromkeys(gpu_hosts), "vars": gpu_vars}
        if not engine.has_cap_sys_resource():
            # Sandboxed machines (no CAP_SYS_RESOURCE): containerd 1.2 (xenial's docker.io)
            # cannot start containers, so xenial lab hosts load the image but run none; and
            # docker.io 29 (noble-updates, jammy-updates) cannot network nested containers,
            # so noble and jammy lab hosts keep their release's own engine.
            for os_name, os_vars in SANDBOX_GROUP_VARS.items():
                if os_name in groups:
                    groups[os_name]["vars"] = dict(os_vars)
            # nor may containers raise their memlock limit there
            sandbox_vars = {"dl_containers_ulimits": ["stack:67108864:67108864"]}
        else:
            sandbox_vars = {}
        builders = [h.name for h in hosts if h.os != "xenial"]
        lab_vars: dict[str, Any] = {
            "ansible_user": "root",
            "ansible_ssh_private_key_file": str(self.key),
            "ansible_ssh_common_args": (
                "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR"
            ),
            "dlfleet_lab": True,
            # Docker's and NVIDIA's repositories cannot be reached from a lab: distro sources
            "docker_install_source": "distro",
            # one workspace per lab host, as the image's own user
            "dl_containers_list": [{"name": "dl-lab", "uid": 1000, "gid": 1000}],
            **(extra or {}),
            **sandbox_vars,
        }
        if extra and builders:
            lab_vars["dl_image_build_host"] = builders[0]
        if apt_cache:
            lab_vars["apt_proxy_url"] = f"http://{self.gateway()}:{APT_CACHE_PORT}"
            if gpu_hosts:  # the stand-in repositories are on this machine: no proxy for them
                lab_vars["apt_proxy_direct_hosts"] = [self.gateway()]
        inventory = {"all": {"children": {"lab": {"children": groups, "vars": lab_vars}}}}
        self.dir.mkdir(parents=True, exist_ok=True)
        header = "# Written by `invoke lab.up`; regenerated on every run.\n"
        self.inventory_path.write_text(header + yaml.safe_dump(inventory, sort_keys=True))
        return self.inventory_path

    def stop(self, names: list[str]) -> None:
        for c in self.containers():
            if c.labels.get(f"{LABEL}.host") in names:
                c.stop(timeout=10)

    def start(self, names: list[str]) -> None:
        for c in self.containers():
            if c.labels.get(f"{LABEL}.host") in names:
                c.start()
        hosts = self.hosts()
        self._wait_ssh([h for h in hosts if h.name in names])
        self.refresh_inventory(hosts)

    def refresh_inventory(self, hosts: list[LabHost]) -> None:
        """Rewrite the inventory with new addresses, keeping the variables lab.up chose."""
        old: dict[str, Any] = {}
        gpu_vars = None
        if self.inventory_path.is_file():
            inv = yaml.safe_load(self.inventory_path.read_text()) or {}
            lab = inv.get("all", {}).get("children", {}).get("lab", {})
            old = lab.get("vars", {})
            gpu_vars = (lab.get("children", {}).get("lab_gpu") or {}).get("vars")
        extra = {
            k: v
            for k, v in old.items()
            if k.startswith("dl_image_") or k == "docker_registry_ca_certs"
        }
        self.write_inventory(
            hosts, apt_cache="apt_proxy_url" in old, extra=extra, gpu_vars=gpu_vars
        )

    def down(self) -> list[str]:
        """Remove exactly the lab's containers, volumes and network (found by label)."""
        removed = []
        client = self.client
        wheels = wheelhouse_root()
        for n in client.networks.list(filters=self._filter("network")):
            n.reload()
            gateway = network_gateway(n)  # servers on the lab's address stop with it
            if registry.stop(gateway, registry.REGISTRY_PORT, self.registry_root):
                removed.append(f"registry on {gateway}")
            if engine.stop_file_server(wheels, gateway, WHEELHOUSE_PORT):
                removed.append(f"wheelhouse server on {gateway}")
            if labgpu.stop_repo(gateway):
                removed.append(f"stand-in NVIDIA repository on {gateway}")
        for c in self.containers():
            c.remove(force=True)
            removed.append(c.name)
        for v in client.volumes.list(filters=self._filter("volume")):
            v.remove(force=True)
            removed.append(v.name)
        for n in client.networks.list(filters=self._filter("network")):
            try:
                n.remove()
                removed.append(n.name)
            except APIError as exc:  # still used by something that is not ours
                raise DlfleetError(f"network {n.name} still in use: {exc.explanation}") from exc
        if self.inventory_path.exists():
            self.inventory_path.unlink()
        return removed

    def ssh_argv(self, host: str) -> list[str]:
        match = [h for h in self.hosts() if h.name == host or h.container == host]
        if not match:
            names = ", ".join(h.name for h in self.hosts()) or "none (run `invoke lab.up`)"
            raise DlfleetError(f"no lab host {host!r}; lab hosts: {names}")
        if not match[0].address:
            raise DlfleetError(f"lab host {host} is {match[0].status}: start it first")
        return [
            "ssh",
            "-i",
            str(self.key),
            "-o",
            "StrictHostKeyChecking=no",
            "-o",
            "UserKnownHostsFile=/dev/null",
            "-o",
            "LogLevel=ERROR",
            f"root@{match[0].address}",
        ]
