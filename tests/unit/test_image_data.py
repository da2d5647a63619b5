"""The image's data: lock layers agree within a flavour; build arguments that would leak."""

import subprocess
from pathlib import Path

from dlfleet import imagelock, paths, plugins


def test_every_lock_layer_of_a_flavour_agrees():
    for flavour in imagelock.FLAVOURS:
        seen = {}
        for layer in imagelock.layers(flavour):
            for name, version in imagelock.pins(
                imagelock.locks_dir(flavour) / f"{layer}.txt"
            ).items():
                assert seen.setdefault(name, version) == version, f"{flavour}/{layer}: {name}"
        assert "numpy" in seen and "jupyterlab" in seen


def test_build_args_with_credentials_are_named():

    plugin = plugins.filter_plugin("dl_image")
    leaky = plugin.leaky_build_args(
        {
            "PIP_INDEX_URL": "https://ci:s3cret@pypi.corp.example/simple",
            "PIP_FIND_LINKS": "http://172.17.0.1:8781/ https://user@mirror/wheels",
            "APT_PROXY": "http://172.17.0.1:3142",
            "HF_TOKEN": "hf_abc",
            "GITHUB_TOKEN": "",  # empty: nothing to leak
            "AWS_SECRET_ACCESS_KEY": "x",
            "BUILD_DATE": "2026-11-30",
        }
    )
    assert leaky == ["AWS_SECRET_ACCESS_KEY", "HF_TOKEN", "PIP_FIND_LINKS", "PIP_INDEX_URL"]


def test_each_lines_base_and_python_have_one_home():
    """The dl_image role's table of lines is the one home of each flavour's base, Python and
    wheel platform: the lock tool and the lab read it, and hold no copy of their own."""
    import re

    import yaml

    from dlfleet.lab import recipes

    data = yaml.safe_load((paths.ROLES / "dl_image" / "vars" / "main.yml").read_text())
    lines = data["__dl_image_cuda_lines"]
    assert {f: kind[0] for f, kind in imagelock.FLAVOURS.items()} == {
        "cpu": data["__dl_image_profiles"]["cpu"]["python"],
        **{spec["flavour"]: spec["python"] for spec in lines.values()},
    }
    assert {line: f"{r.distro}:{r.version}" for line, r in recipes.LINE_BASES.items()} == {
        line: spec["base"] for line, spec in lines.items()
    }
    for module in (imagelock, recipes):
        source = Path(module.__file__).read_text()
        assert not re.search(r'"3\.\d+"|manylinux_2_\d+"', source), module.__name__


LOCK = """\
absl-py==2.5.1 \\
    --hash=sha256:aa
python-dateutil==3.0.0 ; python_full_version < '3.11' \\
    --hash=sha256:bb
python-dateutil==4.0.0 ; python_full_version >= '3.11' \\
    --hash=sha256:cc
"""


def _wheel(dest, name, size=3):
    (dest / name).write_bytes(b"x" * size)


def test_a_completed_download_is_not_asked_again_while_its_wheels_are_there(tmp_path, monkeypatch):
    """pip download hashes every wheel it finds again: once a lock's download for a Python
    has completed, the wheelhouse's record of its wheels stands in for it, until one is gone
    or changed."""
    lock = tmp_path / "base.txt"
    lock.write_text(LOCK)
    dest = tmp_path / "wheels"
    dest.mkdir()
    calls = []

    def pip(argv, **kwargs):
        calls.append(argv)
        _wheel(dest, "absl_py-2.5.1-py3-none-any.whl")
        _wheel(dest, "python_dateutil-4.0.0-py3-none-any.whl")
        return subprocess.CompletedProcess(argv, 0, "", "")

    monkeypatch.setattr(imagelock.subprocess, "run", pip)
    imagelock.pip_download(lock, "3.12", "x86_64-manylinux_2_28", dest)
    imagelock.pip_download(lock, "3.12", "x86_64-manylinux_2_28", dest)
    assert len(calls) == 1
    # another Python reads the markers otherwise (dateutil 3.0.0): its own download
    imagelock.pip_download(lock, "3.10", "x86_64-manylinux_2_28", dest)
    assert len(calls) == 2
    # a wheel cut short or removed: pip again
    _wheel(dest, "absl_py-2.5.1-py3-none-any.whl", size=1)
    imagelock.pip_download(lock, "3.12", "x86_64-manylinux_2_28", dest)
    assert len(calls) == 3
    (dest / "python_dateutil-4.0.0-py3-none-any.whl").unlink()
    imagelock.pip_download(lock, "3.12", "x86_64-manylinux_2_28", dest)
    assert len(calls) == 4


def test_the_record_names_only_the_pinned_wheels_and_needs_all_of_them(tmp_path):
    _wheel(tmp_path, "absl_py-2.5.1-py3-none-any.whl")
    _wheel(tmp_path, "absl_py-2.4.0-py3-none-any.whl")  # another version: not this lock's
    assert imagelock.lock_wheels(LOCK, tmp_path, "3.12") is None  # dateutil 4.0.0 missing
    _wheel(tmp_path, "python_dateutil-4.0.0-py3-none-any.whl", size=5)
    assert imagelock.lock_wheels(LOCK, tmp_path, "3.12") == {
        "absl_py-2.5.1-py3-none-any.whl": 3,
        "python_dateutil-4.0.0-py3-none-any.whl": 5,
    }
