"""Every filter and module of the collection documents itself the way ansible-doc reads it,
and a filter's documented arguments are its real ones."""

import inspect
import json
import subprocess

from dlfleet import paths, plugins


def _filters():
    return plugins.all_filters()


def _doc(kind, names):
    proc = subprocess.run(
        ["ansible-doc", "-t", kind, "-j", *[f"dlfleet.fleet.{n}" for n in names]],
        capture_output=True, text=True, check=True,
        env={"ANSIBLE_COLLECTIONS_PATH": str(paths.COLLECTIONS), "PATH": paths.venv_path()},
    )  # fmt: skip
    return json.loads(proc.stdout)


def test_every_filter_is_documented_with_its_real_arguments():
    filters = _filters()
    docs = _doc("filter", sorted(filters))
    for name, function in filters.items():
        entry = docs.get(f"dlfleet.fleet.{name}") or {}
        doc = entry.get("doc") or {}
        assert doc.get("short_description"), f"{name}: no DOCUMENTATION"
        assert entry.get("examples") and f"dlfleet.fleet.{name}" in entry["examples"], name
        assert (entry.get("return") or {}).get("_value"), f"{name}: no RETURN"
        params = list(inspect.signature(function).parameters)
        documented = set(doc.get("options") or {})
        assert documented == {"_input", *params[1:]}, f"{name}: documented {sorted(documented)}"
        positional = [p.strip() for p in (doc.get("positional") or "").split(",") if p.strip()]
        assert positional == params[1:], f"{name}: positional {positional} != {params[1:]}"


def test_every_module_is_documented():
    modules = sorted(p.stem for p in paths.MODULES.glob("*.py"))
    docs = _doc("module", modules)
    for name in modules:
        entry = docs[f"dlfleet.fleet.{name}"]
        assert entry["doc"].get("short_description") and entry.get("examples"), name
