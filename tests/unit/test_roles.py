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
    for task_file in role.rglob("tasks/*.yml"):
        for registered in re.findall(r"^\s+register: (\S+)", task_file.read_text(), re.M):
            assert registered.startswith("__" + prefix), f"{task_file.name}: register {registered}"


@pytest.mark.parametrize("role", ROLES, ids=lambda p: p.name)
def test_readme_documents_the_spec(role):
    readme = role / "README.md"
    assert readme.is_file(), f"{role.name} has no README.md"
    assert roledoc.render(role) in readme.read_text(), "README is stale: run `invoke docs`"
