"""Running a role the way users meet it, against this machine: the real role through dlfleet's
runner wrapper, local connection, check mode."""

import sys
import textwrap

import yaml

from dlfleet.runner import RunRequest, RunResult, run_playbook


def local_inventory(path):
    """An inventory of this machine alone (host `control`), written to path."""
    control = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}
    path.write_text(yaml.safe_dump({"all": {"hosts": {"control": control}}}))
    return path


def run_role(tmp_path, inventory, role, role_vars) -> RunResult:
    """One play applying role with role_vars in check mode; run state under tmp_path/state."""
    book = tmp_path / "play.yml"
    book.write_text(
        textwrap.dedent(
            f"""\
            - hosts: all
              gather_facts: false
              roles:
                - role: {role}
                  vars: {yaml.safe_dump(role_vars, default_flow_style=True, width=1000).strip()}
            """
        )
    )
    return run_playbook(
        RunRequest(playbook=book, inventory=inventory, check=True), state=tmp_path / "state"
    )
