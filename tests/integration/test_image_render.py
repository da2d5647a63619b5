"""The image's Dockerfile renders for every profile and CUDA line, as the role renders it
(the builds themselves run in the dl_image Molecule scenarios)."""

import sys
import textwrap

import pytest
import yaml

from dlfleet import paths
from dlfleet.runner import RunRequest, run_playbook

TEMPLATE = paths.ROLES / "dl_image" / "templates" / "Dockerfile.j2"


@pytest.fixture(scope="module")
def inventory(tmp_path_factory):
    path = tmp_path_factory.mktemp("inv") / "inventory.yml"
    host = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}
    path.write_text(yaml.safe_dump({"all": {"hosts": {"control": host}}}))
    return path


def render(tmp_path, inventory, profile, cuda=""):
    out = tmp_path / f"Dockerfile.{profile}{cuda}"
    book = tmp_path / "render.yml"
    book.write_text(
        textwrap.dedent(
            f"""\
            - hosts: all
              gather_facts: false
              vars:
                dl_image_profile: {profile}
                dl_image_cuda: "{cuda}"
              tasks:
                - ansible.builtin.include_role:
                    name: dl_image
                    tasks_from: name
                    public: true
                - ansible.builtin.copy:
                    dest: "{out}"
                    content: "{{{{ lookup('ansible.builtin.template', '{TEMPLATE}') }}}}"
                    mode: "0644"
                  vars:
                    __dl_image_spec: "{{{{ __dl_image }}}}"
            """
        )
    )
    result = run_playbook(RunRequest(playbook=book, inventory=inventory), state=tmp_path / "s")
    assert result.ok, result.failures
    return out.read_text()


ALL = ["torch", "tensorflow", "keras", "jax", "sklearn", "opencv"]


@pytest.mark.parametrize(
    ("profile", "cuda", "base", "frameworks"),
    [
        ("gpu", "13", "ubuntu:24.04", ALL),
        ("gpu", "12", "ubuntu:24.04", ALL),
        # CUDA 11: what still ships for it (torch 2.0), on Ubuntu 20.04
        ("gpu", "11", "ubuntu:20.04", ["torch", "sklearn", "opencv"]),
        ("cpu", "", "debian:bookworm-slim", ALL),
        ("classic", "13", "ubuntu:24.04", ["tensorflow", "keras", "sklearn", "opencv"]),
        ("classic", "11", "ubuntu:20.04", ["sklearn", "opencv"]),
    ],
)
def test_dockerfile_renders_for_each_profile(tmp_path, inventory, profile, cuda, base, frameworks):
    text = render(tmp_path, inventory, profile, cuda)
    lines = [line for line in text.splitlines() if line and not line.startswith("#")]
    assert lines[0] == f"FROM {base}"
    installs = [line for line in lines if line.startswith("RUN pip install")]
    assert [i.rsplit("/", 1)[-1] for i in installs] == [
        "base.txt",
        *(["cuda.txt"] if cuda else []),
        *[f"{f}.txt" for f in frameworks],
    ]
    assert all("--require-hashes" in i and "--no-deps" in i for i in installs)
    assert f'io.dlfleet.cuda="{cuda}"' in text
    assert f'io.dlfleet.frameworks="{",".join(frameworks)}"' in text
    # what the NVIDIA container runtime reads, in GPU images only
    assert ("NVIDIA_DRIVER_CAPABILITIES=compute,utility" in text) == bool(cuda)
    assert (f'NVIDIA_REQUIRE_CUDA="cuda>={cuda}.0"' in text) == bool(cuda)
    assert "USER 1000:1000" in lines
    assert lines[-1] == 'CMD ["lab"]'
    # every instruction is one Docker knows; continuation lines end with a backslash
    known = {
        "FROM",
        "ARG",
        "ENV",
        "RUN",
        "COPY",
        "LABEL",
        "USER",
        "WORKDIR",
        "EXPOSE",
        "ENTRYPOINT",
        "CMD",
    }
    continued = False
    for line in lines:
        if not continued:
            assert line.split()[0] in known, line
        continued = line.rstrip().endswith("\\")


NAMED_TWICE = """\
- hosts: all
  gather_facts: false
  vars:
    dl_image_profile: cpu
    dl_image_frameworks: [sklearn]
  tasks:
    - {include_role: {name: dl_image, tasks_from: name}}
    - {ansible.builtin.set_fact: {first: "{{ dl_image_ref }}"}}
    - {include_role: {name: dl_image, tasks_from: name}}
    - {ansible.builtin.set_fact: {second: "{{ dl_image_ref }}"}}
    - include_role: {name: dl_image, tasks_from: name}
      vars: {dl_image_uid: 2000}
    - ansible.builtin.set_stats:
        data: {refs: ["{{ first }}", "{{ second }}", "{{ dl_image_ref }}"]}
"""


def test_the_image_is_named_once_per_run_for_one_description(tmp_path, inventory):
    """site.yml, dl_image and dl_containers each ask for the image's name: the lock files are
    read and the Dockerfile rendered once per run, unless what the name depends on changed
    (here the image user's uid, which the Dockerfile bakes in)."""
    book = tmp_path / "named.yml"
    book.write_text(NAMED_TWICE)
    result = run_playbook(RunRequest(playbook=book, inventory=inventory), state=tmp_path / "state")
    assert result.ok, result.failures
    first, second, third = result.data["refs"]
    assert first == second and third != first
    assert ":cpu-" in first
    reads = [
        e for p in (result.run_dir / "artifacts").rglob("job_events/*.json")
        for e in [yaml.safe_load(p.read_text())]
        if e.get("event") == "runner_on_ok"
        and e["event_data"].get("task") == "Name the image after its inputs (same inputs, same tag)"
    ]  # fmt: skip
    assert len(reads) == 2  # the first description, then the changed one
