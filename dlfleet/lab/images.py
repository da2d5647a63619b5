"""The lab's images: each recipe's debootstrap root filesystem (cached per user), imported
and finished into a systemd host image, and saved as the base archive GPU images build on."""

from __future__ import annotations

import contextlib
import hashlib
import shutil
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import docker
from docker.errors import APIError, ImageNotFound

from .. import engine, locks, paths
from ..errors import DlfleetError
from .names import APT_CACHE_PORT, IMAGE_REPO, LABEL
from .recipes import DEBIAN_KEYRING, RECIPE_DIR, UBUNTU_KEYRING_DEB, Recipe


class Images:
    """Builds and finds the lab's images on the control machine's engine."""

    def __init__(self, client: docker.DockerClient, say: Callable[[str], None]):
        self.client = client
        self.say = say

    def exists(self, recipe: Recipe) -> bool:
        try:
            self.client.images.get(recipe.image)
            return True
        except ImageNotFound:
            return False

    def rootfs_tars(
        self, recipes: Iterable[Recipe], ready: Callable[[Recipe], None] | None = None
    ) -> None:
        """Make the missing debootstrap root filesystems side by side (a debootstrap mostly
        waits on downloads), through the apt cache when it is already up. ready(recipe) is
        called as soon as a recipe's root filesystem is there (at once for those already
        there), so that what needs only that one can start."""
        ready = ready or (lambda _: None)
        recipes = list(dict.fromkeys(recipes))
        # an image made from it already in the engine needs none (one that is asked for
        # later without its image is made then: _import_rootfs)
        missing = [r for r in recipes if not self._tar(r).is_file() and not self._made(r)]
        for recipe in recipes:
            if recipe not in missing:
                ready(recipe)
        self._tars(missing, ready)

    def _tars(self, missing: list[Recipe], ready: Callable[[Recipe], None]) -> None:
        if not missing:
            return
        engine.ensure_packages({"debootstrap": "debootstrap"}, self.say)
        proxy = self._apt_proxy_for_control()
        for recipe in missing:  # keyrings once, before the threads
            self._keyring(recipe)

        def make(recipe: Recipe) -> None:
            self._debootstrap(recipe, proxy)
            ready(recipe)

        with ThreadPoolExecutor(max_workers=len(missing)) as pool:
            list(pool.map(make, missing))

    def _made(self, recipe: Recipe) -> bool:
        """Whether the engine holds the recipe's root filesystem image or its host image."""
        for ref in (self._rootfs_ref(recipe), recipe.image):
            try:
                self.client.images.get(ref)
                return True
            except ImageNotFound:
                pass
        return False

    def ensure_all(self, recipes: Iterable[Recipe]) -> dict[str, str]:
        """Every recipe's image, by OS name: the missing root filesystems first, side by side,
        then the images finished side by side (each an apt-get update)."""
        recipes = list(dict.fromkeys(recipes))
        self.rootfs_tars(recipes)
        with ThreadPoolExecutor(max_workers=max(1, len(recipes))) as pool:
            refs = list(pool.map(self.ensure, recipes))
        return {r.name: ref for r, ref in zip(recipes, refs, strict=True)}

    def ensure(self, recipe: Recipe) -> str:
        """Build ``dlfleet-lab/<os>:<recipe digest>`` unless it exists; tag it ``latest``.
        Another process building the same image is waited for, not repeated."""
        with locks.file_lock(paths.cache_dir() / "locks" / f"image-{recipe.name}.lock"):
            return self._ensure(recipe)

    def _ensure(self, recipe: Recipe) -> str:
        if self.exists(recipe):
            self.client.images.get(recipe.image).tag(f"{IMAGE_REPO}/{recipe.name}", "latest")
            return recipe.image
        started = time.monotonic()
        base = self._import_rootfs(recipe)
        with tempfile.TemporaryDirectory() as ctx:
            for path in RECIPE_DIR.iterdir():
                shutil.copy(path, ctx)
            Path(ctx, "sources.list").write_text(recipe.sources_list())
            image, _ = self.client.images.build(
                path=ctx,
                tag=recipe.image,
                buildargs={"BASE": base, "http_proxy": self.apt_proxy_for_build()},
                labels={f"{LABEL}.kind": "base", f"{LABEL}.os": recipe.name},
                rm=True,
            )
        image.tag(f"{IMAGE_REPO}/{recipe.name}", "latest")
        self.say(f"built {recipe.image} in {time.monotonic() - started:.0f}s")
        self._prune_superseded(recipe)
        return recipe.image

    def _rootfs_ref(self, recipe: Recipe) -> str:
        return f"{IMAGE_REPO}/{recipe.name}-rootfs:{recipe.digest()}"

    def _import_rootfs(self, recipe: Recipe) -> str:
        """The recipe's debootstrap tarball as an image (imported once)."""
        ref = self._rootfs_ref(recipe)
        try:
            self.client.images.get(ref)
            return ref
        except ImageNotFound:
            pass
        if not self._tar(recipe).is_file():
            self._tars([recipe], lambda _: None)
        self.client.api.import_image_from_file(
            str(self._tar(recipe)), repository=ref.split(":")[0], tag=recipe.digest()
        )
        return ref

    def _prune_superseded(self, recipe: Recipe) -> None:
        """Drop images of this OS built from older recipes (unless a container still uses them)."""
        current = recipe.digest()
        for repo in (f"{IMAGE_REPO}/{recipe.name}", f"{IMAGE_REPO}/{recipe.name}-rootfs"):
            for image in self.client.images.list(name=repo):
                for tag in image.tags:
                    if tag.rsplit(":", 1)[-1] not in (current, "latest"):
                        with contextlib.suppress(APIError):  # in use: leave it
                            self.client.images.remove(tag)

    def rootfs(self, recipe: Recipe) -> str:
        """The plain debootstrap image of a recipe (no systemd setup): a base for other images."""
        with locks.file_lock(paths.cache_dir() / "locks" / f"image-{recipe.name}.lock"):
            return self._import_rootfs(recipe)

    def base_archive(self, recipe: Recipe) -> tuple[str, Path]:
        """``docker save`` of rootfs_image, cached: what air-gapped builders load as a base."""
        ref = self.rootfs(recipe)
        target = paths.cache_dir() / "images" / f"{recipe.name}-rootfs-{recipe.digest()}.tar"
        if not target.is_file():
            target.parent.mkdir(parents=True, exist_ok=True)
            partial = target.with_suffix(".partial")
            with open(partial, "wb") as fh:
                for chunk in self.client.images.get(ref).save(named=True):
                    fh.write(chunk)
            partial.rename(target)
        return ref, target

    def _tar(self, recipe: Recipe) -> Path:
        return paths.cache_dir() / "rootfs" / f"{recipe.name}-{recipe.rootfs_digest()}.tar"

    def _debootstrap(self, recipe: Recipe, proxy: str | None) -> Path:
        """A cached debootstrap tarball for the recipe (per user, shared by checkouts)."""
        tar = self._tar(recipe)
        cache = tar.parent
        cache.mkdir(parents=True, exist_ok=True)
        with locks.file_lock(paths.cache_dir() / "locks" / f"rootfs-{recipe.name}.lock"):
            if tar.is_file():
                return tar
            return self._make_rootfs(recipe, proxy, cache, tar)

    def _make_rootfs(self, recipe: Recipe, proxy: str | None, cache: Path, tar: Path) -> Path:
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

    def apt_proxy_for_build(self) -> str:
        """The apt cache as seen from a build container on the default bridge."""
        if not engine.port_open("127.0.0.1", APT_CACHE_PORT):
            return ""
        return f"http://{engine.bridge_gateway(self.client)}:{APT_CACHE_PORT}"

    def _apt_proxy_for_control(self) -> str | None:
        if engine.port_open("127.0.0.1", APT_CACHE_PORT):
            return f"http://127.0.0.1:{APT_CACHE_PORT}"
        return None
