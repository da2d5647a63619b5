"""A dl_containers_env value (an API token, say) appears nowhere dlfleet writes or prints:
not in the console's failure lines, summary.json, last.json, nor any job event of the run
folder, whatever the input. The real role runs against this machine (local connection,
check mode) with its Docker engine."""

import stat

import pytest

from tests.conftest import import_empty_image
from tests.machine import debian_family
from tests.roleruns import local_inventory, run_role

SECRET = "hf_dlfleetSECRET0123456789"  # noqa: S105 - the stand-in secret looked for

pytestmark = pytest.mark.skipif(
    not debian_family(), reason="the roles manage Debian/Ubuntu hosts; this machine is another OS"
)


def run(tmp_path, role_vars):
    inventory = local_inventory(tmp_path / "inventory.yml")
    return run_role(tmp_path, inventory, "dl_containers", role_vars), tmp_path / "state"


def leaks(state):
    return [str(p) for p in state.rglob("*") if p.is_file() and SECRET.encode() in p.read_bytes()]


@pytest.fixture(scope="module")
def image(docker_client):
    """An image on this engine for the workspaces (check mode starts nothing): an empty
    filesystem, imported, nothing pulled."""
    import_empty_image(docker_client, "dlfleet-test/empty:1")
    yield "dlfleet-test/empty:1"
    docker_client.images.remove("dlfleet-test/empty:1", force=True)


@pytest.mark.parametrize(
    ("role_vars", "fails"),
    [
        # invalid entries: their errors name the key, never the value
        ({"dl_containers_list": [{"name": "a", "uid": 1500, "env": {"HF_TOKEN": [SECRET]}}]}, True),
        ({"dl_containers_list": [{"name": "a", "uid": 1500, "env": [f"HF_TOKEN={SECRET}"]}]}, True),
        ({"dl_containers_env": [f"HF_TOKEN={SECRET}"], "dl_containers_users": ["root"]}, True),
        # a valid value beside another error: the specs the tasks loop over do not carry it
        ({"dl_containers_list": [{"name": "a", "uid": 1500, "gpus": "7", "env": {"HF_TOKEN": SECRET}}]}, True),
        # a valid spec, through every task of the role (check mode)
        ({"dl_containers_env": {"HF_TOKEN": SECRET}, "dl_containers_list": [{"name": "dlfleet-secret-test", "uid": 1500}]}, False),
    ],
)  # fmt: skip
def test_env_values_appear_nowhere(tmp_path, docker_client, image, role_vars, fails, capsys):
    result, state = run(tmp_path, {"dl_containers_image": image, **role_vars})
    assert result.ok is not fails, result.failures
    if fails:  # it failed where expected, and said why without the value
        assert result.failures
        assert SECRET not in " ".join(f.msg for f in result.failures)
    else:  # it went through every task
        assert result.hosts["control"]["ok"] > 20, result.hosts
    assert leaks(state) == []
    assert SECRET not in capsys.readouterr().out
    # the run folders are the admin's alone
    runs = state / "runs"
    assert stat.S_IMODE(runs.stat().st_mode) == 0o700
    assert stat.S_IMODE((runs / "last.json").stat().st_mode) == 0o600
