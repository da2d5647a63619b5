"""The lab's image registry: dlfleet's CA, per-address certificates, its configuration
(the running registry: test_services)."""

import yaml
from cryptography import x509

from dlfleet import registry


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


def test_config_serves_tls_for_one_address(tmp_path):
    config = yaml.safe_load(registry.write_config(tmp_path, "10.20.30.1", 5000).read_text())
    assert config["http"]["addr"] == ":5000"  # in its container, published on 10.20.30.1
    assert config["http"]["tls"]["certificate"].endswith("tls/10.20.30.1.crt")
    assert config["storage"]["filesystem"]["rootdirectory"] == str(tmp_path / "storage")
    assert "auth" not in config  # lab networks only: see the module docstring
