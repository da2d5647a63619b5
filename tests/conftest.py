import shutil

import docker
import pytest
from docker.errors import DockerException


@pytest.fixture(scope="session")
def docker_client():
    """A Docker engine, or a skip that says why."""
    try:
        client = docker.from_env()
        client.ping()
    except DockerException as exc:
        pytest.skip(f"needs a running Docker engine: {exc}")
    return client


@pytest.fixture
def ansible_available():
    if not shutil.which("ansible-playbook"):
        pytest.skip("ansible-playbook is not on PATH")


def import_empty_image(client, ref: str) -> str:
    """An image of an empty filesystem, imported as ref (REPOSITORY:TAG), nothing pulled:
    containers are created from it (or run in check mode), never started."""
    import io
    import tarfile

    data = io.BytesIO()
    tarfile.open(fileobj=data, mode="w").close()
    repository, tag = ref.rsplit(":", 1)
    client.api.import_image_from_data(data.getvalue(), repository=repository, tag=tag)
    return ref
