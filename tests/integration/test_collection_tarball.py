"""The collection tarball holds what a collection user needs and nothing else."""

import tarfile

from dlfleet import collection, paths


def test_the_tarball_lists_exactly_the_collection(tmp_path):
    tarball = collection.build(tmp_path)
    with tarfile.open(tarball) as archive:
        names = archive.getnames()
    assert sorted({n.split("/")[0] for n in names}) == [
        "CHANGELOG.md", "FILES.json", "MANIFEST.json", "README.md",
        "meta", "playbooks", "plugins", "roles",
    ]  # fmt: skip
    roles = sorted(p.name for p in paths.ROLES.iterdir() if (p / "tasks").is_dir())
    assert sorted({n.split("/")[1] for n in names if n.startswith("roles/")}) == roles
    assert sorted({n.split("/")[1] for n in names if n.startswith("plugins/")}) == [
        "filter", "modules", "plugin_utils",
    ]  # fmt: skip
    # every role's contract travels with it; its tests and caches do not
    for role in roles:
        assert f"roles/{role}/meta/argument_specs.yml" in names
    for name in names:
        parts = name.split("/")
        assert "molecule" not in parts and "__pycache__" not in parts, name
        assert not name.endswith((".pyc", ".tar.gz", ".log")), name
