"""The tree as the collection dlfleet.fleet: metadata that agrees with itself, plugins where a
collection loads them, and every reference to them by fully-qualified name."""

from __future__ import annotations

import re

import yaml
from packaging.specifiers import SpecifierSet

from dlfleet import collection, paths, plugins

FQCN = "dlfleet.fleet."


def _filters() -> set[str]:
    return set(plugins.all_filters())


def _ansible_files():
    for base in (paths.ROLES, paths.ROOT / "playbooks"):
        for path in sorted(base.rglob("*.yml")):
            if "molecule" not in path.parts:
                yield path


def test_versions_agree():
    meta = collection.galaxy()
    pyproject = (paths.ROOT / "pyproject.toml").read_text()
    assert re.search(r'^version = "(.+)"$', pyproject, re.M).group(1) == meta["version"]
    ee = yaml.safe_load(collection.EE_FILE.read_text())
    assert ee["additional_build_files"][0]["src"].endswith(collection.tarball_name())
    wanted = yaml.safe_load((collection.EE_FILE.parent / "requirements.yml").read_text())
    assert wanted["collections"][0]["name"].endswith(collection.tarball_name())
    # the execution environment runs the line the suite tests besides 2.16
    core = ee["dependencies"]["ansible_core"]["package_pip"]
    assert core in collection.MODERN_REQUIREMENTS.read_text().splitlines()


def test_requires_ansible_covers_both_tested_lines():
    runtime = yaml.safe_load((paths.ROOT / "meta" / "runtime.yml").read_text())
    allowed = SpecifierSet(runtime["requires_ansible"])
    assert "2.16.19" in allowed and "2.19.14" in allowed


def test_plugins_live_where_a_collection_loads_them():
    for role in paths.ROLES.iterdir():
        for folder in ("filter_plugins", "library", "module_utils"):
            assert not (role / folder).exists(), f"{role.name}/{folder}: move it to plugins/"
    assert (paths.MODULES / "nvidia_gpu_facts.py").is_file()


def test_filters_and_roles_are_called_by_their_full_names():
    filters = _filters()
    assert "docker_daemon_merge" in filters
    short = re.compile(r"\|\s*(" + "|".join(sorted(filters)) + r")\b")
    role_names = {p.name for p in paths.ROLES.iterdir() if p.is_dir()}
    for path in _ansible_files():
        text = path.read_text()
        assert not short.search(text), f"{path}: call the filter as {FQCN}NAME"
        for used in re.findall(r"\|\s*dlfleet\.fleet\.(\w+)", text):
            assert used in filters, f"{path}: no filter {used} in plugins/filter"
        for name in re.findall(r"(?:- role:|_role:\n\s+name:)\s*(\S+)", text):
            if name.removeprefix(FQCN) in role_names:
                assert name.startswith(FQCN), f"{path}: use the role as {FQCN}{name}"


def test_the_checkout_is_the_collection_under_its_name():
    link = paths.COLLECTIONS / "ansible_collections" / "dlfleet" / "fleet"
    assert link.is_symlink() and link.resolve() == paths.ROOT.resolve()


def test_no_list_written_as_text():
    """`[{% for ... %}...,{% endfor %}]` was a list on ansible-core 2.16 and is a string on
    2.19 (no more literal_eval of a template's text): build lists with one expression."""
    pattern = re.compile(r"\[\{%|\{% endfor %\}\]")
    for base in (paths.ROLES, paths.ROOT / "playbooks"):
        for path in sorted(base.rglob("*.yml")):
            assert not pattern.search(path.read_text()), f"{path}: a list written as text"
