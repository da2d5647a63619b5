"""Bad role input fails before any change, naming the variable and what it accepts.

Each case runs the real role through the runner wrapper against this machine (local
connection, check mode), so argument specs and preflight asserts are exercised as users
meet them.
"""

import os

import pytest

from tests.machine import debian_family, nvidia_gpus
from tests.roleruns import local_inventory, run_role

# the cases read this machine as a GPU-less Debian/Ubuntu host (the roles' own detection)
pytestmark = [
    pytest.mark.skipif(
        not debian_family(),
        reason="the roles manage Debian/Ubuntu hosts; this control machine is another OS",
    ),
    pytest.mark.skipif(
        bool(nvidia_gpus()),
        reason="the cases expect a host without an NVIDIA GPU; this machine has one",
    ),
]


@pytest.fixture(scope="module")
def inventory(tmp_path_factory):
    return local_inventory(tmp_path_factory.mktemp("inv") / "inventory.yml")


CASES = [
    ("docker", {"docker_install_source": "snap"}, "docker_install_source must be one of: upstream, distro, mirror"),
    ("docker", {"docker_version": "latest"}, "docker_version must be empty"),
    ("docker", {"docker_daemon_options": "live-restore"}, "docker_daemon_options"),
    ("docker", {"docker_install_source": "mirror", "docker_mirror_url": "http://m/docker"}, "docker_mirror_key"),
    # build arguments stay in `docker history` of an image every host gets
    ("dl_image", {"dl_image_pip_index_url": "https://ci:s3cret@pypi.corp.example/simple"}, "dl_image_pip_index_url would carry a credential into the image"),
    ("dl_image", {"dl_image_build_args": {"HF_TOKEN": "hf_abc"}}, "dl_image_build_args.HF_TOKEN would carry a credential"),
    # signing keys over plain http can be swapped on the way: refused, derived ones too
    ("docker", {"docker_install_source": "mirror", "docker_mirror_url": "http://m/docker", "docker_mirror_key": "http://m/docker/gpg"}, "docker_mirror_key must be an https:// or file:// URL or an ASCII-armored key block"),
    ("docker", {"docker_install_source": "mirror", "docker_mirror_url": "http://m/docker", "docker_mirror_key": "/etc/key.asc"}, "docker_mirror_key must be an https:// or file:// URL"),
    ("docker", {"docker_upstream_url": "http://m/linux"}, "docker_upstream_key (empty: http://m/linux/"),
    ("nvidia_container_toolkit", {"nvidia_container_toolkit_force_install": True, "nvidia_container_toolkit_mirror_url": "http://m", "nvidia_container_toolkit_mirror_key": "http://m/gpgkey"}, "nvidia_container_toolkit_mirror_key must be an https://"),
    ("nvidia_container_toolkit", {"nvidia_container_toolkit_force_install": True, "nvidia_container_toolkit_repo_url": "http://m"}, "the key of nvidia_container_toolkit_repo_url (http://m/gpgkey"),
    ("nvidia_driver", {"nvidia_driver_force_install": True, "nvidia_driver_method": "cuda-repo", "nvidia_driver_branch": "580", "nvidia_driver_cuda_repo_key": "http://m/3bf863cc.pub"}, "nvidia_driver_cuda_repo_key must be an https://"),
    ("docker", {"docker_users": ["no-such-user-dlfleet"]}, "docker_users names users that do not exist"),
    ("docker", {"docker_daemon_options": {"hosts": ["tcp://0.0.0.0:2375"]}}, "must not set 'hosts'"),
    ("docker", {"docker_registry_ca_certs": {"https://reg:5000": "-----BEGIN CERTIFICATE-----"}}, "docker_registry_ca_certs must map a registry host[:port]"),
    ("docker", {"docker_registry_ca_certs": {"reg:5000": "not a certificate"}}, "PEM CA certificate"),
    ("dl_image", {"dl_image_distribution": "registry", "dl_image_registry": "https://reg"}, "dl_image_distribution=registry needs dl_image_registry as host[:port]"),
    ("apt_proxy", {"apt_proxy_url": 'http://cache:3142";\nAcquire::http::Pipeline-Depth "0'}, "apt_proxy_url must be empty or an http(s) URL"),
    ("apt_proxy", {"apt_proxy_direct_hosts": ['mirror" "DIRECT'] }, "apt_proxy_direct_hosts must list host names"),
    # proxy values reach apt's configuration and systemd: a crafted one would run commands as root
    ("nvidia_container_toolkit", {"nvidia_container_toolkit_apt_proxy": 'http://p:3128";\nAPT::Update::Pre-Invoke {"touch /tmp/pwned"'}, "nvidia_container_toolkit_apt_proxy must be empty or an http(s) URL"),
    ("docker", {"docker_http_proxy": "http://proxy:3128\nExecStartPre=/bin/sh -c id"}, "docker_http_proxy must be empty or an http(s) URL"),
    ("docker", {"docker_https_proxy": "http://u:p@proxy:3128", "docker_no_proxy": "localhost;touch /x"}, "docker_no_proxy must be a comma-separated list"),
    ("dl_image", {"dl_image_apt_proxy": 'http://cache:3142" ; rm'}, "dl_image_apt_proxy must be empty or an http(s) URL"),
    ("dl_image", {"dl_image_cuda": "10"}, "dl_image_cuda must be one of: , 13, 12, 11"),
    ("dl_image", {"dl_image_cuda": "11", "dl_image_frameworks": ["torch", "tensorflow"]}, "dl_image_frameworks has tensorflow, which the gpu image for CUDA 11 does not offer; choose from torch, sklearn, opencv"),
    # a GPU-less host gets the line of its driver branch: 384 (CUDA 9.0) runs none, said with the way out
    ("dl_image", {"nvidia_driver_branch": "384"}, "branch 384 runs CUDA 9.0 at most, older than every line the gpu image is built for (13, 12, 11"),
    ("nvidia_driver", {"nvidia_driver_method": "runfile"}, "nvidia_driver_method must be one of: , distro, ubuntu-drivers, cuda-repo"),
    ("nvidia_driver", {"nvidia_driver_force_install": True}, "needs nvidia_driver_branch"),
    ("nvidia_driver", {"nvidia_driver_force_install": True, "nvidia_driver_branch": "999"}, "nvidia_driver_branch=999 is not in this host's apt sources; branches offered"),
    ("nvidia_driver", {"nvidia_driver_force_install": True, "nvidia_driver_branch": "latest"}, "must be a driver branch such as"),
    ("nvidia_driver", {"nvidia_driver_force_install": True, "nvidia_driver_branch": "535", "nvidia_driver_method": "ubuntu-drivers"}, "nvidia_driver_method=ubuntu-drivers is not available on Debian"),
    ("nvidia_container_toolkit", {"nvidia_container_toolkit_version": "latest"}, "nvidia_container_toolkit_version must be empty or a version like 1.17.8"),
    ("nvidia_container_toolkit", {"nvidia_container_toolkit_mirror_url": "http://m/nvidia"}, "nvidia_container_toolkit_mirror_key"),
    ("nvidia_container_toolkit", {"nvidia_container_toolkit_default_runtime": True}, "nvidia_container_toolkit_default_runtime is set, but control has no NVIDIA GPU"),
    # the hub: a certificate without its key, a key of another certificate, an authenticator
    # that is not installed, a timeout that would stop servers mid-thought
    ("docker", {"docker_tls_api": "always", "docker_hub_sources": ["fd00::1"]}, "docker_hub_sources: 'fd00::1' is not an IPv4 address or network"),
    ("docker", {"docker_tls_api": "always", "docker_hub_sources": ["10.0.0.1"], "docker_hub_server_ports": "80-90"}, "docker_hub_server_ports: '80-90' is not a range LOW-HIGH"),
    ("dl_hub", {"dl_hub_tls_cert": "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----"}, "dl_hub_tls_cert and dl_hub_tls_key go together"),
    ("dl_hub", {"dl_hub_authenticator_class": "oauthenticator.generic.GenericOAuthenticator"}, "dl_hub_authenticator_class oauthenticator.generic.GenericOAuthenticator is not installed"),
    ("dl_hub", {"dl_hub_authenticator_class": "os.system"}, "dl_hub_authenticator_class os.system is not installed"),
    ("dl_hub", {"dl_hub_idle_timeout": 30}, "dl_hub_idle_timeout must be at least 60 seconds"),
    ("dl_hub", {"dl_hub_profiles": [{"slug": "big", "display_name": "Big", "gpus": 3}]}, "dl_hub_profiles[0] (big): asks for 3 GPUs; the most any of its hosts has is"),
    ("dl_hub", {"dl_hub_profiles": [{"slug": "pinned", "gpus": 0, "hosts": ["nowhere"]}]}, "dl_hub_profiles[0] (pinned): hosts nowhere are not GPU hosts of this fleet"),
    ("dl_hub", {"dl_hub_server_ports": "80-90"}, "dl_hub_server_ports must be a range of unprivileged ports FIRST-LAST, got 80-90"),
    ("dl_hub", {"dl_hub_port": "https"}, "dl_hub_port"),
]  # fmt: skip


@pytest.mark.parametrize(("role", "role_vars", "message"), CASES)
def test_bad_input_fails_before_changes(tmp_path, inventory, role, role_vars, message):
    result = run_role(tmp_path, inventory, role, role_vars)
    assert not result.ok
    assert result.hosts["control"]["changed"] == 0
    messages = " | ".join(f.msg for f in result.failures)
    assert message in messages, messages


def test_gpu_less_host_is_skipped_with_a_message(tmp_path, inventory):
    result = run_role(tmp_path, inventory, "nvidia_driver", {})
    assert result.ok, result.failures
    assert result.hosts["control"]["changed"] == 0
    events = (result.run_dir / "artifacts").rglob("*.json")
    assert any(b"has no NVIDIA GPU" in p.read_bytes() for p in events)


@pytest.mark.skipif(os.geteuid() != 0, reason="planting a folder of another account needs root")
def test_image_folders_planted_by_another_account_are_refused(tmp_path, inventory):
    planted = tmp_path / "planted"
    planted.mkdir()
    os.chown(planted, 65534, 65534)  # nobody's, as a local user could make it in /var/tmp
    result = run_role(tmp_path, inventory, "dl_image", {"dl_image_archive_dir": str(planted)})
    assert not result.ok
    messages = " | ".join(f.msg for f in result.failures)
    assert f"{planted} exists but is not a folder that belongs to root" in messages, messages
    assert result.hosts["control"]["changed"] == 0


def test_good_apt_proxy_settings_pass(tmp_path, inventory):
    good = {
        "apt_proxy_url": "http://172.18.0.1:3142",
        "apt_proxy_direct_hosts": ["172.18.0.1", "mirror.lab.example"],
    }
    result = run_role(tmp_path, inventory, "apt_proxy", good)
    assert result.ok, result.failures


def test_a_refused_proxy_url_is_not_shown(tmp_path, inventory):
    """A proxy URL may carry a login: the refusal names the variable, never the value."""
    secret = "s3cretProxyPass"  # noqa: S105 - looked for in the output
    result = run_role(
        tmp_path, inventory, "docker", {"docker_http_proxy": f"http://u:{secret}@p:1 x"}
    )
    assert not result.ok
    assert "docker_http_proxy must be" in " ".join(f.msg for f in result.failures)
    assert not [
        p
        for p in (tmp_path / "state").rglob("*")
        if p.is_file() and secret.encode() in p.read_bytes()
    ]
