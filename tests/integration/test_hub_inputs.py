"""The hub's inputs, checked before any change as users meet them (the real dl_hub role
through the runner, this machine as the hub host, check mode): a key that is not the
certificate's, a port another program holds. The key and the authenticator's secrets appear
nowhere dlfleet writes, whatever fails."""

import datetime
import socket

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.machine import debian_family
from tests.roleruns import local_inventory, run_role

pytestmark = pytest.mark.skipif(
    not debian_family(), reason="the hub runs on Debian/Ubuntu hosts; this machine is another OS"
)
SECRET = "dlfleetHubSECRET0123456789"  # noqa: S105 - the stand-in secret looked for


def pem_pair(name):
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return cert.public_bytes(serialization.Encoding.PEM).decode(), key_pem.decode()


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
    cert, _ = pem_pair("hub.example")
    _, other_key = pem_pair("other.example")
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
    cert, key = pem_pair("hub.example")
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
