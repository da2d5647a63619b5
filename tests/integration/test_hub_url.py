"""`invoke hub.url` reads the hub's address from the inventory as a run reads it (through
ansible-inventory): its inventory address and dl_hub_port, or a clear word when the inventory
declares no hub."""

import subprocess
import sys

from dlfleet import paths


def hub_url(inventory):
    return subprocess.run(
        [sys.executable, "-m", "invoke", "hub.url", "--inventory", str(inventory)],
        cwd=paths.ROOT, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def test_the_hubs_address_comes_from_the_inventory(tmp_path):
    inventory = tmp_path / "hosts.yml"
    inventory.write_text(
        "all:\n  children:\n    dlfleet_hub:\n      hosts:\n"
        "        hub-a: {ansible_host: 10.0.0.9, dl_hub_port: 8443}\n"
        "        hub-b: {ansible_host: 10.0.0.10}\n"
        "    gpus:\n      hosts:\n        gpu-1: {ansible_host: 10.0.0.11}\n"
    )
    group_vars = tmp_path / "group_vars"
    group_vars.mkdir()
    (group_vars / "dlfleet_hub.yml").write_text("dl_hub_admins: [alice]\n")
    proc = hub_url(inventory)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [
        "hub-a: https://10.0.0.9:8443/",
        "hub-b: https://10.0.0.10/",
    ]


def test_an_inventory_without_a_hub_says_so(tmp_path):
    inventory = tmp_path / "hosts.yml"
    inventory.write_text("all:\n  hosts:\n    gpu-1: {ansible_host: 10.0.0.11}\n")
    proc = hub_url(inventory)
    assert proc.returncode == 0, proc.stderr
    assert "no hub in" in proc.stdout and "dlfleet_hub" in proc.stdout
