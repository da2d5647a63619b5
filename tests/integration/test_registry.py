"""The lab's image registry: dlfleet's CA, per-address certificates, and a real
docker-registry (Debian's package, installed when missing) answering over verified TLS."""

import socket
import ssl
import urllib.error
import urllib.request

import pytest
import yaml
from cryptography import x509

from dlfleet import engine, registry


def test_ca_and_server_certificate_chain(tmp_path):
    crt, key = registry.server_cert(tmp_path, "10.20.30.1")
    ca = x509.load_pem_x509_certificate((tmp_path / "ca.crt").read_bytes())
    leaf = x509.load_pem_x509_certificate(crt.read_bytes())
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert not leaf.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    leaf.verify_directly_issued_by(ca)  # raises if the CA did not sign it
    san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert [str(ip) for ip in san.get_values_for_type(x509.IPAddress)] == ["10.20.30.1"]
    # private keys are the user's alone
    assert (tmp_path / "ca.key").stat().st_mode & 0o777 == 0o600
    assert key.stat().st_mode & 0o777 == 0o600
    # kept, not remade, on the next call; a second address gets its own certificate
    assert registry.server_cert(tmp_path, "10.20.30.1") == (crt, key)
    assert crt.read_bytes() == registry.server_cert(tmp_path, "10.20.30.1")[0].read_bytes()
    other, _ = registry.server_cert(tmp_path, "lab.example")
    names = x509.load_pem_x509_certificate(other.read_bytes()).extensions
    dns = names.get_extension_for_class(x509.SubjectAlternativeName).value
    assert dns.get_values_for_type(x509.DNSName) == ["lab.example"]


def test_config_serves_tls_on_one_address(tmp_path):
    config = yaml.safe_load(registry.write_config(tmp_path, "10.20.30.1", 5000).read_text())
    assert config["http"]["addr"] == "10.20.30.1:5000"
    assert config["http"]["tls"]["certificate"].endswith("tls/10.20.30.1.crt")
    assert config["storage"]["filesystem"]["rootdirectory"] == str(tmp_path / "storage")
    assert "auth" not in config  # lab networks only: see the module docstring


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_real_registry_answers_over_verified_tls_and_stops(tmp_path):
    port = _free_port()
    reg = registry.ensure("127.0.0.1", port, say=lambda _: None, root=tmp_path)
    try:
        assert reg.address == f"127.0.0.1:{port}"
        assert "BEGIN CERTIFICATE" in reg.ca_pem
        assert registry.answers(reg.address, tmp_path / "ca.crt")
        assert registry.catalog(reg.address, tmp_path / "ca.crt") == []
        # a client that does not trust dlfleet's CA is refused
        with pytest.raises(urllib.error.URLError, match="CERTIFICATE_VERIFY_FAILED"):
            urllib.request.urlopen(  # noqa: S310
                f"https://{reg.address}/v2/", timeout=5, context=ssl.create_default_context()
            )
        # asking again reuses the running registry
        assert registry.ensure("127.0.0.1", port, say=lambda _: None, root=tmp_path) == reg
    finally:
        assert registry.stop("127.0.0.1", port, root=tmp_path)
    assert not engine.port_open("127.0.0.1", port)
    assert not registry.stop("127.0.0.1", port, root=tmp_path)


def test_a_foreign_listener_on_the_port_is_named(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        with pytest.raises(registry.DlfleetError, match=f"port {port} on 127.0.0.1 is taken"):
            registry.ensure("127.0.0.1", port, say=lambda _: None, root=tmp_path)
