"""`invoke test.unit` reads nothing of the machine it runs on: the same unit tests pass in an
Ubuntu 24.04 userland and in a root with no distribution at all (no os-release, no apt, no
dpkg, no shell), each with an empty HOME (no dlfleet cache) and this checkout read-only."""

from __future__ import annotations

import io
import sys
import tarfile
from pathlib import Path

import pytest
from docker.errors import ImageNotFound

from dlfleet import paths
from dlfleet.lab import RECIPES
from dlfleet.lab.images import Images

NO_DISTRIBUTION = "dlfleet-test/no-distribution:1"
BASE = Path(sys.base_prefix)
if Path("/usr") == BASE:
    pytest.skip(
        "the suite's Python is the system's (/usr): it cannot be lent to another root",
        allow_module_level=True,
    )


def _no_distribution(client) -> str:
    """An image of nothing: /tmp, /etc (empty) and lib -> usr/lib for the loader's path."""
    try:
        client.images.get(NO_DISTRIBUTION)
        return NO_DISTRIBUTION
    except ImageNotFound:
        pass
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, mode in (("tmp", 0o1777), ("etc", 0o755), ("usr", 0o755), ("usr/lib", 0o755)):
            info = tarfile.TarInfo(name)
            info.type, info.mode = tarfile.DIRTYPE, mode
            tar.addfile(info)
        link = tarfile.TarInfo("lib")
        link.type, link.linkname = tarfile.SYMTYPE, "usr/lib"
        tar.addfile(link)
    repository, tag = NO_DISTRIBUTION.split(":")
    client.api.import_image_from_data(buf.getvalue(), repository=repository, tag=tag)
    return NO_DISTRIBUTION


def _unit_tests_in(client, image: str, volumes: dict[str, dict[str, str]]) -> str:
    python = Path(sys.prefix, "bin", "python")
    mounts = {
        str(BASE): {"bind": str(BASE), "mode": "ro"},
        sys.prefix: {"bind": sys.prefix, "mode": "ro"},
        str(paths.ROOT): {"bind": str(paths.ROOT), "mode": "ro"},
        **volumes,
    }
    out = client.containers.run(
        image,
        [str(python), "-m", "pytest", "tests/unit", "-q", "-p", "no:cacheprovider"],
        entrypoint=[],
        working_dir=str(paths.ROOT),
        environment={"HOME": "/tmp", "PYTHONDONTWRITEBYTECODE": "1", "PATH": str(python.parent)},
        volumes=mounts,
        remove=True,
        network_disabled=True,
    )
    return out.decode()


def test_unit_tests_pass_in_an_ubuntu_userland(docker_client):
    image = Images(docker_client, lambda _: None).rootfs(RECIPES["noble"])
    out = _unit_tests_in(docker_client, image, {})
    assert " passed" in out and "failed" not in out, out[-3000:]


def test_unit_tests_pass_in_a_root_with_no_distribution(docker_client):
    libs = {
        "/usr/lib/x86_64-linux-gnu": {"bind": "/usr/lib/x86_64-linux-gnu", "mode": "ro"},
        "/usr/lib64": {"bind": "/lib64", "mode": "ro"},
    }
    if not all(Path(p).is_dir() for p in libs):
        pytest.skip("needs an x86_64 glibc machine to lend its C libraries")
    out = _unit_tests_in(docker_client, _no_distribution(docker_client), libs)
    assert " passed" in out and "failed" not in out, out[-3000:]
