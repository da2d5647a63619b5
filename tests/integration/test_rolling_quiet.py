"""A quiet provisioning run keeps the fleet's rolling settings (read from the inventory by
Ansible's own ansible-inventory); read-only queries run without them."""

import pytest

from dlfleet import app
from dlfleet.settings import Settings


def test_a_quiet_provisioning_run_keeps_the_fleets_rolling_settings(tmp_path, monkeypatch):
    """quiet hides the progress display only: the inventory's rolling settings still reach
    the run; read-only queries (which change nothing) run without them."""
    inv = tmp_path / "fleet.yml"
    inv.write_text(
        "all:\n  vars:\n    dlfleet_serial: 2\n  hosts:\n    a: {ansible_connection: local}\n"
    )
    seen = []

    def fake_run(request, **kwargs):
        seen.append((request.extravars, kwargs.get("display")))
        raise SystemExit  # stop before anything runs

    monkeypatch.setattr(app, "run_playbook", fake_run)
    s = Settings(state_dir=str(tmp_path / "state"))
    for quiet in (False, True):
        with pytest.raises(SystemExit):
            app.provision(s, inventory=str(inv), quiet=quiet, lock=False)
    with pytest.raises(SystemExit):
        app.query(s, "playbooks/containers_ps.yml", inventory=str(inv))
    assert [extravars.get("dlfleet_serial") for extravars, _ in seen] == [2, 2, None]
    assert [display is None for _, display in seen] == [False, True, True]
