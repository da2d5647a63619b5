"""dl_image's archive cache: an archive is used only when it arrived whole."""

import hashlib

from dlfleet import plugins

plugin = plugins.filter_plugin("dl_image")


def stat(path, item):
    exists = path.exists()
    digest = hashlib.sha256(path.read_bytes()).hexdigest() if exists else None
    return {"item": item, "stat": {"exists": exists, "path": str(path), "checksum": digest}}


def test_only_archives_that_arrived_whole_count(tmp_path):
    whole = tmp_path / "whole.tar"
    whole.write_bytes(b"image layers" * 1000)
    (tmp_path / "whole.tar.sha256").write_text(hashlib.sha256(whole.read_bytes()).hexdigest())
    # an interrupted transfer an older dlfleet left: no record
    truncated = tmp_path / "truncated.tar"
    truncated.write_bytes(b"image la")
    # damaged after it arrived: the record says otherwise
    damaged = tmp_path / "damaged.tar"
    damaged.write_bytes(b"image layers" * 999)
    (tmp_path / "damaged.tar.sha256").write_text(hashlib.sha256(b"image layers").hexdigest())
    results = [
        stat(whole, "img:whole"),
        stat(truncated, "img:truncated"),
        stat(damaged, "img:damaged"),
        stat(tmp_path / "absent.tar", "img:absent"),
    ]
    assert plugin.whole_archives(results) == ["img:whole"]


def test_the_role_waits_on_the_lock_the_control_machine_builds_under(monkeypatch, tmp_path):
    """`invoke demo` builds the image into the control machine's cache holding
    paths.image_build_lock(); the role's wait reads __dl_image_control_lock: the same file."""
    import yaml

    from dlfleet import paths

    role_vars = yaml.safe_load((paths.ROLES / "dl_image" / "vars" / "main.yml").read_text())
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    folder = role_vars["__dl_image_control_dir"].strip()
    # the folder's expression, with the control machine's environment put in
    assert "lookup('ansible.builtin.env', 'XDG_CACHE_HOME')" in folder
    assert folder.endswith("}}/dlfleet/images")
    lock = role_vars["__dl_image_control_lock"]
    assert lock == "{{ __dl_image_control_dir }}/.building.lock"
    assert paths.image_build_lock() == tmp_path / "dlfleet" / "images" / ".building.lock"
