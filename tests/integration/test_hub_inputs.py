"""The hub's inputs, checked before any change as users meet them (the real dl_hub role
through the runner, this machine as the hub host, check mode): a key that is not the
certificate's, a port another program holds. The key and the authenticator's secrets appear
nowhere dlfleet writes, whatever fails."""

import socket

import pytest

from dlfleet import registry
from tests.machine import debian_family
from tests.roleruns import local_inventory, run_role

pytestmark = pytest.mark.skipif(
    not debian_family(), reason="the hub runs on Debian/Ubuntu hosts; this machine is another OS"
)
SECRET = "dlfleetHubSECRET0123456789"  # noqa: S105 - the stand-in secret looked for


def pem_pair(folder):
    """A certificate and its key, as PEM text: dlfleet's own CA maker, in a folder of its own."""
    registry.ensure_ca(folder)
    return (folder / "ca.crt").read_text(), (folder / "ca.key").read_text()


def leaks(state, *secrets):
    return [
        str(p)
        for p in state.rglob("*")
        if p.is_file() and any(s.encode() in p.read_bytes() for s in secrets)
    ]


def run(tmp_path, role_vars):
    inventory = local_inventory(tmp_path / "inventory.yml")
    return run_role(tmp_path, inventory, "dl_hub", role_vars)


def test_a_key_that_is_not_the_certificates_is_refused_and_never_shown(tmp_path):
    cert, _ = pem_pair(tmp_path / "hub")
    _, other_key = pem_pair(tmp_path / "other")
    result = run(
        tmp_path,
        {
            "dl_hub_tls_cert": cert,
            "dl_hub_tls_key": other_key,
            "dl_hub_authenticator_config": {"client_secret": SECRET},
        },
    )
    assert not result.ok
    assert result.hosts["control"]["changed"] == 0
    messages = " | ".join(f.msg for f in result.failures)
    assert "dl_hub_tls_key is not the key of dl_hub_tls_cert" in messages, messages
    key_body = other_key.splitlines()[1]
    assert not leaks(tmp_path / "state", key_body, SECRET)


def test_a_matching_pair_passes_the_check(tmp_path):
    cert, key = pem_pair(tmp_path / "hub")
    result = run(tmp_path, {"dl_hub_tls_cert": cert, "dl_hub_tls_key": key, "dl_hub_port": 1})
    # check mode stops where the packages are not there yet; the pair itself is accepted
    messages = " | ".join(f.msg for f in result.failures)
    assert "dl_hub_tls" not in messages, messages
    assert not leaks(tmp_path / "state", key.splitlines()[1])


def test_a_port_another_program_holds_is_refused(tmp_path):
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        result = run(tmp_path, {"dl_hub_port": port})
    assert not result.ok
    assert result.hosts["control"]["changed"] == 0
    messages = " | ".join(f.msg for f in result.failures)
    assert f"dl_hub_port {port} is already taken on control by python" in messages, messages


def test_an_engine_that_is_not_a_host_of_the_inventory_is_refused(tmp_path):
    result = run(tmp_path, {"dl_hub_engines": ["gpu-9"]})
    assert not result.ok
    assert result.hosts["control"]["changed"] == 0
    messages = " | ".join(f.msg for f in result.failures)
    expected = "dl_hub_engines names gpu-9: not a host of this inventory outside dlfleet_hub"
    assert expected in messages, messages
