"""Filters the roles share (roles/dlfleet_common): signing keys and GPU device requests."""

import pytest
from ansible.errors import AnsibleFilterError

from dlfleet import paths, plugins

plugin = plugins.filter_plugin("dlfleet_common")

ARMORED = (
    "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nmQINBF...\n=abcd\n-----END PGP PUBLIC KEY BLOCK-----\n"
)


@pytest.mark.parametrize(
    ("key", "kind"),
    [
        ("https://download.docker.com/linux/ubuntu/gpg", "url"),
        ("file:///srv/mirror/key.asc", "url"),
        (ARMORED, "inline"),
        ("  " + ARMORED, "inline"),
        ("http://download.docker.com/linux/ubuntu/gpg", "invalid"),  # swappable on the way
        ("/etc/apt/keyrings/key.asc", "invalid"),  # a bare path: neither fetched nor copied
        ("ftp://m/key", "invalid"),
        ("-----BEGIN PGP PUBLIC KEY BLOCK-----\nno end", "invalid"),
        (
            "-----BEGIN PGP PRIVATE KEY BLOCK-----\nx\n-----END PGP PRIVATE KEY BLOCK-----",
            "invalid",
        ),
        ("", "invalid"),
        (None, "invalid"),
        (["https://m/key"], "invalid"),
    ],
)
def test_signing_key_kind(key, kind):
    assert plugin.signing_key_kind(key) == kind


def test_gpu_device_requests():
    assert plugin.gpu_device_requests("all") == [
        {"driver": "nvidia", "count": -1, "capabilities": [["gpu"]]}
    ]
    assert plugin.gpu_device_requests(["0", 1, "GPU-8e3c"]) == [
        {"driver": "nvidia", "device_ids": ["0", "1", "GPU-8e3c"], "capabilities": [["gpu"]]}
    ]
    for nothing in (None, "", "none", []):
        assert plugin.gpu_device_requests(nothing) == []


@pytest.mark.parametrize("bad", ["two", 2, [True], {"0": 1}, [["0"]]])
def test_gpu_device_requests_refuses_other_values(bad):
    with pytest.raises(AnsibleFilterError, match="GPUs must be 'all', 'none' or a list"):
        plugin.gpu_device_requests(bad)


def test_one_copy_of_the_shared_steps():
    """The engine check, the GPU device request and the apt-source steps live only here."""
    roots = [paths.ROLES, paths.ROOT / "playbooks"]
    texts = {
        p: p.read_text()
        for root in roots
        for p in root.rglob("*.yml")
        if "molecule" not in p.parts and "dlfleet_common" not in p.parts
    }
    for path, text in texts.items():
        assert "/lib/systemd/system/docker.service" not in text, path
        assert "capabilities': [['gpu']]" not in text, path
        assert "ansible.builtin.deb822_repository" not in text, path
        assert "first_found" not in text, path


def test_records_name_the_fields_and_follow_paths():
    items = [
        {"Labels": {"a": "1"}, "State": "running", "item": {"Labels": {"b": "2"}}},
        {"State": "exited"},
    ]
    rows = plugin.records(items, {"labels": "Labels", "state": "State", "inner": "item.Labels"})
    assert rows == [
        {"labels": {"a": "1"}, "state": "running", "inner": {"b": "2"}},
        {"labels": None, "state": "exited", "inner": None},
    ]
    assert plugin.records(None, {"x": "X"}) == []


@pytest.mark.parametrize(
    "url",
    [
        'http://p:3128";\nAPT::Update::Pre-Invoke {"id"',
        "http://proxy:3128\n",
        "http://proxy:3128 x",
        "ftp://proxy",
        "http://p:1/a\\b",
        "http://p:1/;x",
    ],
)
def test_proxy_urls_that_would_inject_are_refused_unshown(url):
    [error] = plugin.proxy_errors({"docker_http_proxy": url})
    assert error.startswith("docker_http_proxy must be empty or an http(s) URL")
    assert url not in error


def test_good_proxy_settings_pass():
    urls = {"a": "http://cache:3142", "b": "https://u:p%40ss@proxy.corp:8443/", "c": ""}
    assert plugin.proxy_errors(urls, {"n": "localhost,127.0.0.1,.corp,10.0.0.0/8,[::1]"}) == []
    assert plugin.proxy_errors({}, {"n": "a b"})
    assert plugin.has_credentials("http://u:p@proxy:3128")
    assert not plugin.has_credentials("http://proxy:3128/path@x")
