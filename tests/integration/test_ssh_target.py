"""`containers.exec` reaches a host the way the inventory says, read by the same reader as
every other inventory setting (ansible-inventory): group_vars folders, host variables, a
host named exactly (never taken as a pattern)."""

import re

import pytest
import yaml

from dlfleet import app
from dlfleet.errors import DlfleetError
from dlfleet.settings import Settings


@pytest.fixture
def settings(tmp_path):
    inv = tmp_path / "inv"
    (inv / "group_vars").mkdir(parents=True)
    (inv / "hosts.yml").write_text(
        yaml.safe_dump(
            {
                "all": {
                    "children": {
                        "gpu": {
                            "hosts": {
                                "gpu1": {"ansible_host": "10.0.0.11"},
                                "gpu2": {"ansible_port": 2200, "ansible_user": "ops"},
                            }
                        }
                    },
                    "hosts": {"ws": {}},
                }
            }
        )
    )
    (inv / "group_vars" / "gpu.yml").write_text(
        yaml.safe_dump(
            {"ansible_user": "admin", "ansible_port": 2222, "ansible_ssh_private_key_file": "~/k"}
        )
    )
    return Settings(state_dir=str(tmp_path / "state"), inventory=str(inv))


def test_the_inventory_says_how_each_host_is_reached(settings):
    assert app.ssh_target(settings, None, "gpu1") == [
        "ssh", "-t", "-p", "2222", "-i", "~/k", "admin@10.0.0.11",
    ]  # fmt: skip
    # a host's own variables win over its group's
    assert app.ssh_target(settings, None, "gpu2") == [
        "ssh", "-t", "-p", "2200", "-i", "~/k", "ops@gpu2",
    ]  # fmt: skip
    assert app.ssh_target(settings, None, "ws") == ["ssh", "-t", "ws"]


@pytest.mark.parametrize("name", ["gpu3", "gpu*", "gpu"])
def test_a_host_not_in_the_inventory_is_named(settings, name):
    with pytest.raises(DlfleetError, match=re.escape(f"no host {name!r} in ")):
        app.ssh_target(settings, None, name)
