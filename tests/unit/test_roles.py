"""Role inputs are a contract: argument specs, defaults and READMEs agree, names are prefixed."""

import re

import pytest
import yaml

from dlfleet import paths, roledoc

ROLES = sorted(p for p in paths.ROLES.iterdir() if (p / "meta" / "argument_specs.yml").is_file())


@pytest.mark.parametrize("role", ROLES, ids=lambda p: p.name)
def test_defaults_match_argument_spec(role):
    options = roledoc.spec(role).get("options") or {}
    defaults = roledoc.defaults(role)
    assert set(defaults) == set(options), "defaults/main.yml and the argument spec differ"
    for name, value in defaults.items():
        assert options[name].get("default") == value, f"{name}: spec and defaults disagree"
        assert options[name].get("description"), f"{name} has no description"


@pytest.mark.parametrize("role", ROLES, ids=lambda p: p.name)
def test_variables_carry_the_role_name(role):
    prefix = role.name + "_"
    names = set()
    for point in roledoc.entry_points(role).values():
        names |= set(point.get("options") or {})
    for vars_file in (role / "vars").glob("*.yml") if (role / "vars").is_dir() else []:
        names |= set(yaml.safe_load(vars_file.read_text()) or {})
    for name in names:
        assert name.startswith((prefix, "__" + prefix)), f"{name} does not start with {prefix}"
    for task_file in (role / "tasks").rglob("*.yml"):  # the role's own, not its tests'
        for registered in re.findall(r"^\s+register: (\S+)", task_file.read_text(), re.M):
            assert registered.startswith("__" + prefix), f"{task_file.name}: register {registered}"


@pytest.mark.parametrize("role", ROLES, ids=lambda p: p.name)
def test_readme_documents_the_spec(role):
    readme = role / "README.md"
    assert readme.is_file(), f"{role.name} has no README.md"
    assert roledoc.render(role) in readme.read_text(), "README is stale: run `invoke docs`"


INCLUDE_KEYS = {
    f"{prefix}{action}"
    for prefix in ("", "ansible.builtin.")
    for action in ("include_role", "import_role")
}


def _role_includes(node, found):
    """(role, tasks_from) of every include_role/import_role found in a YAML tree."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in INCLUDE_KEYS and isinstance(value, dict) and value.get("tasks_from"):
                found.append((str(value["name"]).rsplit(".", 1)[-1], value["tasks_from"]))
            else:
                _role_includes(value, found)
    elif isinstance(node, list):
        for item in node:
            _role_includes(item, found)
    return found


def _yaml_files():
    roots = [paths.ROLES, paths.PLAYBOOKS]
    return sorted(f for root in roots for f in root.rglob("*.yml") if "/meta/" not in str(f))


def test_includes_found_are_real():
    # the scanner itself: it sees the entry points the roles are known to call
    found = set()
    for path in _yaml_files():
        found.update(_role_includes(yaml.safe_load(path.read_text()), []))
    assert {("nvidia_driver", "detect"), ("dl_image", "name"), ("docker", "contribute")} <= found


@pytest.mark.parametrize("path", _yaml_files(), ids=lambda p: str(p.relative_to(paths.ROOT)))
def test_every_included_entry_point_is_declared(path):
    """A role's tasks_from entry points are its contract with other roles and playbooks: each
    one included anywhere (roles, playbooks, Molecule scenarios) is declared in that role's
    argument specs, so Ansible checks its inputs and the README documents it."""
    for role, entry in _role_includes(yaml.safe_load(path.read_text()), []):
        declared = roledoc.entry_points(paths.ROLES / role)
        assert entry in declared, (
            f"{path.relative_to(paths.ROOT)} includes {role}:{entry}, which "
            f"roles/{role}/meta/argument_specs.yml does not declare (declared: {sorted(declared)})"
        )
        assert (paths.ROLES / role / "tasks" / f"{entry}.yml").is_file()


def test_the_hub_and_the_engines_compose_by_default():
    """A hub declared in the inventory and nothing else set: the engines open their TLS API on
    the port the hub dials, and the hub's client certificate comes from the engines' CA."""
    docker = roledoc.defaults(paths.ROLES / "docker")
    hub = roledoc.defaults(paths.ROLES / "dl_hub")
    hub_vars = (paths.ROLES / "dl_hub" / "vars" / "main.yml").read_text()
    docker_vars = (paths.ROLES / "docker" / "vars" / "main.yml").read_text()
    assert hub["dl_hub_fleet_ca_dir"] == docker["docker_tls_ca_dir"]
    assert docker["docker_tls_api"] == "auto" and hub["dl_hub_engines"] == []
    # the hub dials docker_tls_api_port, its default where a host does not set it, and shapes
    # its servers with dl_containers' defaults where a host sets none of its own
    from dlfleet import plugins

    containers = roledoc.defaults(paths.ROLES / "dl_containers")
    hub_filters = plugins.filter_plugin("dl_hub")
    table = hub_filters.engine_table(["gpu1"], {"gpu1": {}}, {}, containers)
    assert table["gpu1"]["url"] == f"tcp://gpu1:{docker['docker_tls_api_port']}"
    assert table["gpu1"]["workspace"]["shared_root"] == containers["dl_containers_shared_root"]
    assert "role_path ~ '/../dl_containers/defaults/main.yml'" in hub_vars
    # the default profiles fit any fleet: a GPU-less one gets CPU only
    offered = hub_filters.profiles(hub["dl_hub_profiles"], table)
    assert hub_filters.profile_errors(offered, table) == []
    # both sides mean the same hosts: every host outside the group dlfleet_hub
    assert "difference(groups['dlfleet_hub'] | default([]))" in hub_vars
    assert "inventory_hostname not in groups['dlfleet_hub'] | default([])" in docker_vars
    # the engines let the hub in on the range its servers publish on, nothing set on either
    plan = plugins.filter_plugin("docker_hub").docker_hub_firewall(
        docker["docker_hub_sources"], docker["docker_hub_server_ports"], ["hub"],
        {"hub": {"ansible_host": "10.0.0.9"}},
    )  # fmt: skip
    assert docker["docker_hub_firewall"] is True and plan["errors"] == []
    assert plan["ports"] == hub["dl_hub_server_ports"].replace("-", ":")
    assert plan["sources"] == ["10.0.0.9/32"]
    # and the hub's own setting, where users put it (the hub's group_vars), reaches them
    plan = plugins.filter_plugin("docker_hub").docker_hub_firewall(
        [], "", ["hub"], {"hub": {"ansible_host": "10.0.0.9", "dl_hub_server_ports": "48000-48099"}}
    )
    assert plan["ports"] == "48000:48099"
