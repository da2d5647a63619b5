"""The fleet CA and the certificates it signs (dlfleet_common's fleet_cert, behind the
engines' TLS API and the hub's client certificate), run for real against this machine
twice, as a provision run would: the second run keeps key and certificate, the CA's key
stays its owner's alone, and no private key appears anywhere in the run folders."""

import stat
import textwrap

from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from dlfleet.runner import RunRequest, run_playbook
from tests.roleruns import local_inventory

PLAY = """\
- hosts: all
  gather_facts: false
  tasks:
    - ansible.builtin.include_role:
        name: dlfleet.fleet.dlfleet_common
        tasks_from: fleet_cert
      vars:
        dlfleet_common_fleet_ca_dir: {ca}
        dlfleet_common_fleet_cert_dir: {dest}
        dlfleet_common_fleet_cert_name: {name}
        dlfleet_common_fleet_cert_usage: {usage}
        dlfleet_common_fleet_cert_common_name: {cn}
        dlfleet_common_fleet_cert_names: {names}
    # what a caller does: it writes the files
    - ansible.builtin.copy:
        content: "{{{{ item.value }}}}"
        dest: {dest}/{name}-{{{{ item.key }}}}.pem
        mode: "0600"
      loop: "{{{{ dlfleet_common_fleet_cert | dict2items | rejectattr('key', 'eq', 'ca') }}}}"
      no_log: true
"""


def issue(tmp_path, run, usage, names):
    dest = tmp_path / "host"
    dest.mkdir(exist_ok=True)
    book = tmp_path / f"play-{usage}.yml"
    book.write_text(
        textwrap.dedent(
            PLAY.format(
                ca=tmp_path / "ca", dest=dest, name=usage, usage=usage,
                cn=f"dlfleet-{usage}", names=names,
            )
        )
    )  # fmt: skip
    inventory = local_inventory(tmp_path / "inventory.yml")
    result = run_playbook(
        RunRequest(playbook=book, inventory=inventory), state=tmp_path / f"state-{run}"
    )
    assert result.ok, [f.msg for f in result.failures]
    return (dest / f"{usage}-key.pem").read_text(), (dest / f"{usage}-cert.pem").read_text()


def leaks(folder, secret):
    return [str(p) for p in folder.rglob("*") if p.is_file() and secret.encode() in p.read_bytes()]


def test_a_server_certificate_is_issued_once_and_kept(tmp_path):
    names = ["DNS:gpu-1", "IP:10.0.0.5"]
    key, cert = issue(tmp_path, 1, "server", names)
    key_again, cert_again = issue(tmp_path, 2, "server", names)
    assert (key_again, cert_again) == (key, cert)

    ca = x509.load_pem_x509_certificate((tmp_path / "ca" / "ca.crt").read_bytes())
    issued = x509.load_pem_x509_certificate(cert.encode())
    issued.verify_directly_issued_by(ca)
    sans = issued.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sorted(str(v) for v in sans.get_values_for_type(x509.DNSName)) == ["gpu-1"]
    assert [str(v) for v in sans.get_values_for_type(x509.IPAddress)] == ["10.0.0.5"]
    usage = issued.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usage) == [ExtendedKeyUsageOID.SERVER_AUTH]
    basic = ca.extensions.get_extension_for_class(x509.BasicConstraints).value
    assert basic.ca is True

    assert stat.S_IMODE((tmp_path / "ca").stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "ca" / "ca.key").stat().st_mode) == 0o600
    ca_key = (tmp_path / "ca" / "ca.key").read_text().splitlines()[1]
    for run in (1, 2):
        assert not leaks(tmp_path / f"state-{run}", key.splitlines()[1])
        assert not leaks(tmp_path / f"state-{run}", ca_key)


def test_a_new_name_gets_a_new_certificate_for_the_same_key(tmp_path):
    key, cert = issue(tmp_path, 1, "server", ["DNS:gpu-1"])
    key_after, cert_after = issue(tmp_path, 2, "server", ["DNS:gpu-1", "DNS:gpu-1.lab"])
    assert key_after == key
    assert cert_after != cert
    issued = x509.load_pem_x509_certificate(cert_after.encode())
    sans = issued.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sorted(sans.get_values_for_type(x509.DNSName)) == ["gpu-1", "gpu-1.lab"]


def test_a_client_certificate_names_no_host(tmp_path):
    _, cert = issue(tmp_path, 1, "client", [])
    issued = x509.load_pem_x509_certificate(cert.encode())
    usage = issued.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usage) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    assert issued.subject.rfc4514_string() == "CN=dlfleet-client"
