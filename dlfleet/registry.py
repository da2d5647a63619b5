"""A local Docker registry over TLS: its CA, certificates and configuration.

The image distribution ``registry`` pushes the deep-learning image from its build host to a
registry and pulls it everywhere else. A lab or an air-gapped fleet has no registry of its
own, so the lab runs Debian's ``docker-registry`` (CNCF distribution 2.8) as one of its
service containers (``dlfleet.lab.services``): storage under the user's cache, TLS with a
certificate from dlfleet's own small CA for the address it is published on. Hosts trust
that CA through the ``docker`` role's ``docker_registry_ca_certs`` (``/etc/docker/certs.d``):
no ``insecure-registries``. The registry has no authentication: it is published only on the
private lab networks.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import ssl
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from . import paths

REGISTRY_PORT = 5000
_VALIDITY = datetime.timedelta(days=825)


@dataclass(frozen=True)
class Registry:
    address: str  # host:port, what image references and certs.d use
    ca_pem: str  # the CA hosts must trust for it


def default_root() -> Path:
    return paths.cache_dir() / "registry"


def _write_private(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def ensure_ca(root: Path) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    """dlfleet's registry CA: made once, kept (key 0600) under root."""
    crt_path, key_path = root / "ca.crt", root / "ca.key"
    if crt_path.is_file() and key_path.is_file():
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
        assert isinstance(key, ec.EllipticCurvePrivateKey)
        return x509.load_pem_x509_certificate(crt_path.read_bytes()), key
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "dlfleet registry CA")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )  # fmt: skip
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .sign(key, hashes.SHA256())
    )
    _write_private(key_path, _key_pem(key))
    crt_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return cert, key


def server_cert(root: Path, host: str) -> tuple[Path, Path]:
    """A certificate for one listening address (IP or DNS name), signed by the CA."""
    crt_path, key_path = root / "tls" / f"{host}.crt", root / "tls" / f"{host}.key"
    ca, ca_key = ensure_ca(root)
    if crt_path.is_file() and key_path.is_file():
        cert = x509.load_pem_x509_certificate(crt_path.read_bytes())
        remaining = cert.not_valid_after_utc - datetime.datetime.now(datetime.timezone.utc)
        if cert.issuer == ca.subject and remaining > datetime.timedelta(days=30):
            return crt_path, key_path
    try:
        san: x509.GeneralName = x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        san = x509.DNSName(host)
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)]))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + _VALIDITY)
        .add_extension(x509.SubjectAlternativeName([san]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    _write_private(key_path, _key_pem(key))
    crt_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return crt_path, key_path


def write_config(root: Path, bind: str, port: int) -> Path:
    """The registry's configuration for one published address (storage shared by all of
    them): it listens on port in its container, with a certificate for bind."""
    crt, key = server_cert(root, bind)
    config = {
        "version": 0.1,
        "log": {"level": "info", "fields": {"service": "registry"}},
        "storage": {
            "filesystem": {"rootdirectory": str(root / "storage")},
            "cache": {"blobdescriptor": "inmemory"},
            # nobody deletes the fleet's images through the (unauthenticated) lab registry
            "delete": {"enabled": False},
        },
        "http": {
            "addr": f":{port}",
            "tls": {"certificate": str(crt), "key": str(key)},
            "headers": {"X-Content-Type-Options": ["nosniff"]},
        },
        "health": {"storagedriver": {"enabled": True, "interval": "10s", "threshold": 3}},
    }
    path = root / "config" / f"{bind}-{port}.yml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def answers(address: str, ca_file: Path, timeout: float = 2.0) -> bool:
    """Whether a registry at address speaks the v2 API over TLS that ca_file vouches for."""
    context = ssl.create_default_context(cafile=str(ca_file))
    try:
        with urllib.request.urlopen(  # noqa: S310 - https URL built here
            f"https://{address}/v2/", timeout=timeout, context=context
        ) as resp:
            return resp.status == 200
    except (urllib.error.URLError, OSError):
        return False


def catalog(address: str, ca_file: Path) -> list[str]:
    context = ssl.create_default_context(cafile=str(ca_file))
    with urllib.request.urlopen(  # noqa: S310 - https URL built here
        f"https://{address}/v2/_catalog", timeout=10, context=context
    ) as resp:
        return list(yaml.safe_load(resp.read()).get("repositories") or [])
