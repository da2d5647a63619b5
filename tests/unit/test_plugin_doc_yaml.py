"""The documentation blocks of the collection's modules and filters parse as YAML (ansible-doc
reads none of a block that does not; the integration tests then ask ansible-doc itself)."""

import ast

import pytest
import yaml

from dlfleet import paths

MODULES = sorted((paths.ROOT / "plugins" / "modules").glob("*.py"))
FILTER_DOCS = sorted((paths.ROOT / "plugins" / "filter").glob("*.yml"))


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.stem)
def test_module_doc_blocks_are_yaml(path):
    tree = ast.parse(path.read_text())
    blocks = {
        target.id: node.value.value
        for node in tree.body
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant)
        for target in node.targets
        if isinstance(target, ast.Name) and target.id in ("DOCUMENTATION", "EXAMPLES", "RETURN")
    }
    assert "DOCUMENTATION" in blocks
    for name, text in blocks.items():
        assert yaml.safe_load(text) is not None, f"{path.name}: {name} is empty"


@pytest.mark.parametrize("path", FILTER_DOCS, ids=lambda p: p.stem)
def test_filter_docs_are_yaml(path):
    assert yaml.safe_load(path.read_text())
