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
