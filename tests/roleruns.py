"""Running a role the way users meet it, against this machine: the real role through dlfleet's
runner wrapper, local connection, check mode; a module of the collection through ansible's
ad-hoc command."""

import json
import os
import subprocess
import sys
import textwrap

import yaml

from dlfleet import paths
from dlfleet.runner import RunRequest, RunResult, run_playbook


def run_module(module, args, check=False):
    """dlfleet.fleet.<module> with args, as Ansible runs it (ad hoc, local connection, one
    line of output): (exit status, stdout, stderr)."""
    ansible = paths.ROOT / ".venv" / "bin" / "ansible"
    out = subprocess.run(
        [
            str(ansible) if ansible.exists() else "ansible",
            "localhost",
            "-c",
            "local",
            "-e",
            f"ansible_python_interpreter={sys.executable}",
            "-m",
            f"dlfleet.fleet.{module}",
            "-a",
            json.dumps(args),
            "-o",
            *(["--check"] if check else []),
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "ANSIBLE_COLLECTIONS_PATH": str(paths.COLLECTIONS)},
    )
    return out.returncode, out.stdout, out.stderr


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
