"""The image's data: lock layers agree within a flavour; build arguments that would leak."""

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
