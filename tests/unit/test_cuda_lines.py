"""The driver -> CUDA line table, and the promise that the roles' defaults compose: on every
supported OS the default driver branch runs a CUDA line the default image is built for."""

import pytest
import yaml

from dlfleet import cudalines, imagelock, paths

DRIVER = paths.ROLES / "nvidia_driver"
IMAGE = paths.ROLES / "dl_image"


F = cudalines.filters()
TABLES = cudalines.tables()
COMPAT, LINES = TABLES["nvidia_driver_cuda_compat"], TABLES["nvidia_driver_cuda_lines"]
IMAGE_VARS = yaml.safe_load((IMAGE / "vars" / "main.yml").read_text())
IMAGE_DEFAULTS = yaml.safe_load((IMAGE / "defaults" / "main.yml").read_text())


@pytest.mark.parametrize(
    ("driver", "line"),
    [
        ("580.65.06", "13"),  # the first 580 release: CUDA 13.0
        ("580.95.05", "13"),
        ("580", "13"),  # a branch stands for its releases
        ("575.51.03", "12"),  # CUDA 12.9 driver: the 12 line, not 13
        ("570.26", "12"),
        ("535.247.01", "12"),  # Debian 12's driver: CUDA 12.2, runs any 12.x (minor compatibility)
        ("525.60.13", "12"),  # the minimum of minor-version compatibility for 12.x
        ("525.53", "11"),  # older 525 releases: below it
        ("470.256.02", "11"),
        ("460", "11"),
        ("450.80.02", "11"),
        ("450.51.06", ""),  # CUDA 11.0 GA driver, before 11.x minor compatibility
        ("384.130", ""),  # Ubuntu 16.04's archive driver: CUDA 9.0
        ("384", ""),
        ("", ""),
        ("not-a-version", ""),
    ],
)
def test_driver_to_cuda_line(driver, line):
    assert F.nvidia_driver_cuda_line(driver, LINES) == line


@pytest.mark.parametrize(
    ("driver", "cuda"),
    [
        ("580.95.05", "13.0"),
        ("575.51.03", "12.9"),
        ("535.247.01", "12.2"),
        ("384.130", "9.0"),
        ("384", "9.0"),
        ("300.1", ""),
        ("", ""),
    ],
)
def test_driver_to_newest_cuda_release(driver, cuda):
    assert F.nvidia_driver_cuda_version(driver, COMPAT) == cuda


def test_tables_agree():
    """A line's minimum driver runs the line's first release (x.0) by the release table."""
    first = {row["cuda"]: row["driver"] for row in COMPAT}
    for row in LINES:
        assert F._parse(row["driver"]) >= F._parse(first[f"{row['line']}.0"]), row


# every supported OS, with the vars file the role picks for it (first_found order)
SUPPORTED = {
    "Ubuntu 16.04": "Ubuntu-16.yml",
    "Ubuntu 22.04": "Ubuntu.yml",
    "Ubuntu 24.04": "Ubuntu.yml",
    "Debian 12": "Debian.yml",
}


@pytest.mark.parametrize("os_name", sorted(SUPPORTED))
def test_default_driver_runs_the_default_image(os_name):
    os_vars = yaml.safe_load((DRIVER / "vars" / SUPPORTED[os_name]).read_text())
    defaults = yaml.safe_load((DRIVER / "defaults" / "main.yml").read_text())
    method = defaults["nvidia_driver_method"] or os_vars["__nvidia_driver_default_method"]
    assert method in os_vars["__nvidia_driver_methods"]
    branch = defaults["nvidia_driver_branch"] or os_vars["__nvidia_driver_default_branches"][method]
    line = F.nvidia_driver_cuda_line(branch, LINES)
    assert line, f"{os_name}: default branch {branch} runs no CUDA line"

    profile = IMAGE_VARS["__dl_image_profiles"][IMAGE_DEFAULTS["dl_image_profile"]]
    assert profile["cuda"], "the default image is a GPU image"
    image = IMAGE_VARS["__dl_image_cuda_lines"].get(line)
    assert image, f"{os_name}: no image for CUDA line {line}"
    # the image for that line has locks for its always-there layers and its frameworks
    layers = set(imagelock.layers(image["flavour"]))
    assert {"base", "cuda"} <= layers
    offered = [f for f in profile["frameworks"] if f in image["frameworks"]]
    assert offered and set(offered) <= layers


@pytest.mark.parametrize(
    ("distribution", "version", "line"),
    [
        ("Ubuntu", "16", "11"),
        ("Ubuntu", "22", "13"),
        ("Ubuntu", "24", "13"),
        ("Debian", "12", "12"),
    ],
)
def test_default_lines_per_os(distribution, version, line):
    """The line each OS's default driver gets (the README's table says the same)."""
    assert cudalines.default_line(distribution, version) == line


@pytest.mark.parametrize("line", sorted(IMAGE_VARS["__dl_image_cuda_lines"]))
def test_each_line_image_locks_its_cuda_libraries(line):
    image = IMAGE_VARS["__dl_image_cuda_lines"][line]
    pins = imagelock.pins(imagelock.locks_dir(image["flavour"]) / "cuda.txt")
    suffix = "" if line == "13" else f"-cu{line}"  # CUDA 13 wheels dropped the suffix
    for lib in ("nvidia-cuda-runtime", "nvidia-cublas"):
        assert pins.get(lib + suffix, "").startswith(f"{line}."), (lib, pins)
    assert f"nvidia-cudnn-cu{line}" in pins
    # no other line's CUDA runtime creeps into the layer
    assert not [
        p
        for p in pins
        if p.startswith("nvidia-cuda-runtime") and p != "nvidia-cuda-runtime" + suffix
    ]
