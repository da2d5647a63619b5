"""One provisioning run at a time: two real Ansible runs on one host are serialized by the
host's lock (dlfleet_lock), a run that waits too long names who holds the host and since when;
the control machine's lock of a fleet does the same for two runs started here."""

import sys
import textwrap
import threading
import time

import pytest
import yaml

from dlfleet import locks
from dlfleet.errors import DlfleetError
from dlfleet.runner import RunRequest, run_playbook


@pytest.fixture
def inventory(tmp_path):
    path = tmp_path / "inventory.yml"
    control = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}
    path.write_text(yaml.safe_dump({"all": {"hosts": {"control": control}}}))
    return path


def book(tmp_path, name, lockfile, log, wait=60, hold=3):
    """A run that takes the host's lock, works for `hold` seconds, logs when, gives it back."""
    path = tmp_path / f"{name}.yml"
    path.write_text(
        textwrap.dedent(
            f"""\
            - hosts: all
              gather_facts: false
              tasks:
                - dlfleet.fleet.dlfleet_lock:
                    run_id: {name}
                    holder: admin {name}
                    path: {lockfile}
                    wait: {wait}
                - ansible.builtin.shell: >-
                    echo "{name} start $(date +%s.%N)" >> {log}; sleep {hold};
                    echo "{name} end $(date +%s.%N)" >> {log}
                - dlfleet.fleet.dlfleet_lock:
                    state: absent
                    run_id: {name}
                    path: {lockfile}
            """
        )
    )
    return path


def run(tmp_path, inventory, playbook, out):
    out[playbook.stem] = run_playbook(
        RunRequest(playbook=playbook, inventory=inventory), state=tmp_path / playbook.stem
    )


def test_two_runs_on_one_host_take_turns(tmp_path, inventory):
    lockfile, log = tmp_path / "host.lock", tmp_path / "work.log"
    results = {}
    first = threading.Thread(
        target=run, args=(tmp_path, inventory, book(tmp_path, "first", lockfile, log), results)
    )
    first.start()
    while not lockfile.exists():  # the first run holds the host
        time.sleep(0.1)
    run(tmp_path, inventory, book(tmp_path, "second", lockfile, log), results)
    first.join()
    assert results["first"].ok and results["second"].ok
    # nothing to change on the host: taking and giving back the lock is no change
    assert results["first"].hosts["control"]["changed"] == 1  # the shell task alone
    events = {}
    for line in log.read_text().splitlines():
        name, what, when = line.split()
        events[(name, what)] = float(when)
    assert events[("second", "start")] >= events[("first", "end")], events
    assert not lockfile.exists()  # given back


def test_a_run_that_waits_too_long_names_the_holder(tmp_path, inventory):
    lockfile, log = tmp_path / "host.lock", tmp_path / "work.log"
    results = {}
    first = threading.Thread(
        target=run,
        args=(tmp_path, inventory, book(tmp_path, "first", lockfile, log, hold=8), results),
    )
    first.start()
    while not lockfile.exists():
        time.sleep(0.1)
    run(tmp_path, inventory, book(tmp_path, "second", lockfile, log, wait=2), results)
    first.join()
    second = results["second"]
    assert not second.ok
    message = " ".join(f.msg for f in second.failures)
    assert "another dlfleet run holds this host: admin first (run first) since" in message
    assert "second start" not in log.read_text()


def test_the_control_machines_lock_of_a_fleet(tmp_path):
    inv = tmp_path / "fleet.yml"
    inv.write_text("all: {}\n")
    held, release = threading.Event(), threading.Event()

    def holder():
        with locks.control_lock(tmp_path, inv, "alice@ctl (pid 1, invoke provision)", print):
            held.set()
            release.wait(10)

    thread = threading.Thread(target=holder)
    thread.start()
    held.wait(5)
    said = []
    with (
        pytest.raises(DlfleetError, match="another dlfleet run holds .* alice@ctl"),
        locks.control_lock(tmp_path, inv, "bob@ctl", said.append, wait_s=1.5),
    ):
        pass
    assert said and "alice@ctl" in said[0]
    release.set()
    thread.join()
    # given back when the block ends: the next run goes at once
    with locks.control_lock(tmp_path, inv, "bob@ctl", said.append, wait_s=0):
        pass
