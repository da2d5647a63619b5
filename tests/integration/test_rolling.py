"""Rolling settings reach the play wherever the README says they can be set, and do what
they say: a batch really is one host, and the play really stops."""

import sys
import textwrap

import pytest
import yaml

from dlfleet import app, inventory
from dlfleet.errors import DlfleetError
from dlfleet.settings import Settings

PLAY = """\
- hosts: all
  gather_facts: false
  serial: "{{ dlfleet_serial | default('100%') }}"
  max_fail_percentage: "{{ dlfleet_max_fail_percentage | default(100) }}"
  tasks:
    - name: Record the batch
      ansible.builtin.set_stats:
        data: {batches: ["{{ ansible_play_batch | join(',') }}"]}
      run_once: true
    - name: Fail on h1 when asked
      ansible.builtin.fail:
      when: inventory_hostname == 'h1' and fail_h1 | default(false) | bool
"""


def lab(tmp_path, group_vars=None):
    local = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}
    inv = {"all": {"hosts": {h: dict(local) for h in ("h1", "h2", "h3")}}}
    (tmp_path / "inv").mkdir()
    (tmp_path / "inv" / "hosts.yml").write_text(yaml.safe_dump(inv))
    if group_vars:
        (tmp_path / "inv" / "group_vars").mkdir()
        (tmp_path / "inv" / "group_vars" / "all.yml").write_text(yaml.safe_dump(group_vars))
    (tmp_path / "play.yml").write_text(textwrap.dedent(PLAY))
    return Settings(state_dir=str(tmp_path / "state"), inventory=str(tmp_path / "inv"))


def run(settings, tmp_path, **kwargs):
    return app.provision(settings, playbook=str(tmp_path / "play.yml"), **kwargs)


def batches(result):
    return result.data.get("batches")


def test_default_is_one_batch(tmp_path):
    assert batches(run(lab(tmp_path), tmp_path)) == ["h1,h2,h3"]


def test_serial_from_inventory_group_vars(tmp_path):
    settings = lab(tmp_path, {"dlfleet_serial": 1})
    assert batches(run(settings, tmp_path)) == ["h1", "h2", "h3"]


def test_flag_and_configuration_override_the_inventory(tmp_path):
    settings = lab(tmp_path, {"dlfleet_serial": 1})
    assert batches(run(settings, tmp_path, serial="2")) == ["h1,h2", "h3"]
    settings.serial = "100%"
    assert batches(run(settings, tmp_path)) == ["h1,h2,h3"]


def test_max_fail_percentage_from_inventory_stops_the_play(tmp_path):
    settings = lab(tmp_path, {"dlfleet_serial": 1, "dlfleet_max_fail_percentage": 0})
    result = run(settings, tmp_path, extra_vars=["fail_h1=true"])
    assert not result.ok
    assert batches(result) == ["h1"]  # h2 and h3 were never started
    assert all(result.hosts.get(h, {"ok": 0})["ok"] == 0 for h in ("h2", "h3"))


def test_one_value_for_the_whole_fleet(tmp_path):
    hostvars = {"a": {"dlfleet_serial": 1}, "b": {"dlfleet_serial": 2}, "c": {}}
    with pytest.raises(DlfleetError, match="dlfleet_serial differs between hosts"):
        inventory.rolling(hostvars)
    assert inventory.rolling({"a": {"dlfleet_serial": "20%"}, "b": {}}) == {"dlfleet_serial": "20%"}


def test_retry_failed_with_limit_is_the_intersection(tmp_path):
    settings = lab(tmp_path)
    (tmp_path / "state" / "runs").mkdir(parents=True)
    (tmp_path / "state" / "runs" / "last.json").write_text('{"failed_hosts": ["h1", "h2"]}')
    inv = app.resolve_inventory(settings, None)
    assert app._retry_limit(settings, "h2:h3", app._Selected(inv, "h2:h3")) == "h2"
    with pytest.raises(DlfleetError, match="no host that failed last time is in h3"):
        app._retry_limit(settings, "h3", app._Selected(inv, "h3"))


def test_retry_failed_with_limit_reads_the_inventory_once(tmp_path, monkeypatch):
    """--retry-failed --limit and rolling settings from the inventory: one ansible-inventory
    read serves both (the hosts --limit selects), and the run is the intersection."""
    settings = lab(tmp_path, {"dlfleet_serial": 1})
    (tmp_path / "state" / "runs").mkdir(parents=True)
    (tmp_path / "state" / "runs" / "last.json").write_text('{"failed_hosts": ["h1", "h2", "h3"]}')
    reads = []
    real = inventory.hostvars
    monkeypatch.setattr(inventory, "hostvars", lambda *a: reads.append(a) or real(*a))
    result = run(settings, tmp_path, retry_failed=True, limit="h2:h3", keep=False)
    assert result.ok, result.failures
    assert batches(result) == ["h2", "h3"]  # serial 1 from group_vars, h1 left out
    assert len(reads) == 1
