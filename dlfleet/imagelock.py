"""Lock files of the deep-learning image, and a wheelhouse to build it without PyPI.

Each flavour (``cpu``, and one per CUDA line: ``gpu-cu13``, ``gpu-cu12``, ``gpu-cu11``) has
``requirements/<flavour>/*.in``: ``base.in`` (always installed), ``cuda.in`` in the gpu
flavours (the line's CUDA runtime, cuBLAS and cuDNN wheels, always installed there) and one
file per selectable framework. ``lock`` resolves all of them together first, then each layer
against that joint resolution, so every package has one version and one set of hashes across
all layers of a flavour: any selection of frameworks installs consistently, one Docker layer
per framework. ``wheelhouse`` downloads the wheels a selection needs, checked against the
lock's hashes, for air-gapped builds and the lab.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import sys
import tempfile
from functools import cache
from pathlib import Path

from packaging.markers import Marker

from . import locks, paths
from .errors import DlfleetError

ROLE_FILES = paths.ROLES / "dl_image" / "files"


@cache
def role_data() -> dict:
    """roles/dl_image/vars/main.yml: the one home of the profiles and the CUDA lines."""
    import yaml

    return yaml.safe_load((paths.ROLES / "dl_image" / "vars" / "main.yml").read_text())


def image_kinds() -> dict[str, dict]:
    """flavour -> the role's data for it (base, python, wheels): the cpu profile and one
    flavour per CUDA line."""
    data = role_data()
    kinds = [p for p in data["__dl_image_profiles"].values() if p.get("flavour")]
    kinds += list(data["__dl_image_cuda_lines"].values())
    return {k["flavour"]: k for k in kinds}


# uv's extra arguments per flavour (the cpu image's base layer has a local wheel folder)
_UV_EXTRA = {"cpu": ["--find-links", "/opt/wheels"]}
# flavour: (python version of the image, platform of its wheels, extra uv arguments)
FLAVOURS = {
    flavour: (kind["python"], kind["wheels"], _UV_EXTRA.get(flavour, []))
    for flavour, kind in image_kinds().items()
}


def requirements_dir(flavour: str) -> Path:
    return ROLE_FILES / "requirements" / flavour


def locks_dir(flavour: str) -> Path:
    return ROLE_FILES / "locks" / flavour


def layers(flavour: str) -> list[str]:
    return sorted(p.stem for p in requirements_dir(flavour).glob("*.in"))


def _uv_compile(inputs: list[Path], output: Path, flavour: str, constraint: Path | None) -> None:
    python, platform, extra = FLAVOURS[flavour]
    uv = shutil.which("uv") or str(Path(sys.executable).parent / "uv")
    argv = [
        uv, "pip", "compile", "--quiet", "--generate-hashes", "--no-header",
        "--python-version", python, "--python-platform", platform, *extra,
        *map(str, inputs), "-o", str(output),
    ]  # fmt: skip
    if constraint:
        argv += ["--constraint", str(constraint)]
    proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise DlfleetError(f"uv pip compile failed for {output.name}: {proc.stderr.strip()}")


def lock(flavour: str, upgrade: bool = False) -> list[Path]:
    """Write locks/<flavour>/<layer>.txt for every layer; return them.

    Versions already locked are kept where the inputs allow (uv prefers the pins of an
    existing output file), so adding a package changes only what it needs; ``upgrade``
    resolves everything afresh.
    """
    if flavour not in FLAVOURS:
        raise DlfleetError(f"unknown flavour {flavour!r}: choose from {', '.join(FLAVOURS)}")
    src, out = requirements_dir(flavour), locks_dir(flavour)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    with tempfile.TemporaryDirectory() as tmp:
        joint = Path(tmp) / "joint.txt"
        locked = (
            {} if upgrade else {k: v for f in sorted(out.glob("*.txt")) for k, v in pins(f).items()}
        )
        joint.write_text(
            "".join(f"{name}=={version}\n" for name, version in sorted(locked.items()))
        )
        if upgrade:
            for stale in out.glob("*.txt"):
                stale.unlink()
        _uv_compile(sorted(src.glob("*.in")), joint, flavour, None)
        for layer in layers(flavour):
            inputs = [src / "base.in"] + ([src / f"{layer}.in"] if layer != "base" else [])
            target = out / f"{layer}.txt"
            _uv_compile(inputs, target, flavour, joint)
            written.append(target)
    return written


_PIN = re.compile(r"^([A-Za-z0-9_.\-]+(?:\[[^\]]*\])?)==([^\s\\]+)", re.M)


def pins(lock_file: Path) -> dict[str, str]:
    """{normalized name: version} of a lock file."""
    return {
        re.sub(r"[-_.]+", "-", name.split("[")[0]).lower(): version
        for name, version in _PIN.findall(lock_file.read_text())
    }


_MANYLINUX = [  # newest first, as (glibc minor, pip platform tags)
    (28, ["manylinux_2_28_x86_64"]),
    (27, ["manylinux_2_27_x86_64"]),
    (17, ["manylinux_2_17_x86_64", "manylinux2014_x86_64"]),
    (12, ["manylinux2010_x86_64"]),
    (5, ["manylinux1_x86_64"]),
]


def _wheel_platforms(platform: str) -> list[str]:
    """pip's platform tags for wheels an image of this uv platform can install."""
    glibc = int(re.search(r"manylinux_2_(\d+)", platform).group(1))
    return [tag for minor, tags in _MANYLINUX if minor <= glibc for tag in tags]


def wheelhouse(flavour: str, frameworks: list[str], dest: Path) -> Path:
    """Download (with hash checks) the wheels for base (+ cuda) + frameworks into dest."""
    available = layers(flavour)
    always = [layer for layer in ("base", "cuda") if layer in available]
    unknown = [f for f in frameworks if f not in available]
    if unknown:
        raise DlfleetError(f"unknown framework(s) {unknown}: choose from {available}")
    dest.mkdir(parents=True, exist_ok=True)
    python, platform, _ = FLAVOURS[flavour]
    # one download into a wheelhouse at a time: another process's half-written wheel would
    # fail this one's hash check
    with locks.file_lock(dest / ".dlfleet-download.lock"):
        _download(flavour, [*always, *frameworks], python, platform, dest)
    return dest


def _download(flavour: str, layers: list[str], python: str, platform: str, dest: Path) -> None:
    for layer in layers:
        pip_download(locks_dir(flavour) / f"{layer}.txt", python, platform, dest)


def pip_download(requirements: Path, python: str, platform: str, dest: Path) -> None:
    """The wheels of a hash-pinned requirements file for one Python and wheel platform, into
    dest (every file checked against its hash; no source builds). Once a download of the same
    file for the same Python and platform has completed, dest keeps a record of the wheels it
    holds for it: while they are all there, whole, pip is not asked again (it would hash every
    wheel once more: half a minute of CPU for the cpu image's wheels)."""
    text = requirements.read_text()
    key = hashlib.sha256(f"{python}\0{platform}\0{text}".encode()).hexdigest()[:16]
    record = dest / f".dlfleet-downloaded-{key}.json"
    if _still_there(record, dest):
        return
    argv = [
        sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--require-hashes",
        "--only-binary", ":all:", "--python-version", python,
        *[arg for tag in _wheel_platforms(platform) for arg in ("--platform", tag)],
        "-r", str(requirements), "-d", str(dest),
    ]  # fmt: skip
    proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise DlfleetError(
            f"pip download of {requirements.name} failed: {proc.stderr.strip()[-800:]}"
        )
    held = lock_wheels(text, dest, python)
    if held is not None:
        record.write_text(json.dumps(held, sort_keys=True))


# name==version, then an environment marker if any, up to the line's continuation
_PINNED = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)[ \t]*(?:;([^\\\n]*))?", re.M)


def _project(name: str) -> str:
    """A project name as wheel file names spell it (PEP 427: runs of -_. as _, lower case)."""
    return re.sub(r"[-_.]+", "_", name).lower()


def lock_wheels(text: str, dest: Path, python: str) -> dict[str, int] | None:
    """{wheel file: size} of dest's wheels of the versions text pins for python (its
    environment markers read as pip reads them for --python-version), or None when one of
    them has no wheel there."""
    env = {"python_version": python, "python_full_version": f"{python}.0"}
    wanted = {
        (_project(name), version)
        for name, version, marker in _PINNED.findall(text)
        if not marker.strip() or Marker(marker.strip()).evaluate(env)
    }
    held: dict[str, int] = {}
    found = set()
    for path in dest.glob("*.whl"):
        parts = path.name.split("-")
        pin = (_project(parts[0]), parts[1]) if len(parts) > 2 else None
        if pin in wanted:
            held[path.name] = path.stat().st_size
            found.add(pin)
    return held if found == wanted else None


def _still_there(record: Path, dest: Path) -> bool:
    try:
        held = json.loads(record.read_text())
    except (OSError, ValueError):
        return False
    try:
        return bool(held) and all((dest / n).stat().st_size == size for n, size in held.items())
    except OSError:  # a wheel removed since
        return False


def main(argv: list[str] | None = None) -> None:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m dlfleet.imagelock")
    sub = parser.add_subparsers(dest="command", required=True)
    lk = sub.add_parser("lock", help="resolve the image's lock files")
    lk.add_argument("--flavour", choices=sorted(FLAVOURS), action="append")
    lk.add_argument("--upgrade", action="store_true", help="resolve every version afresh")
    wh = sub.add_parser("wheelhouse", help="download the wheels a selection needs")
    wh.add_argument("--flavour", choices=sorted(FLAVOURS), required=True)
    wh.add_argument("--frameworks", default="", help="comma-separated")
    wh.add_argument("--dest", type=Path, required=True)
    args = parser.parse_args(argv)
    if args.command == "lock":
        for flavour in args.flavour or sorted(FLAVOURS):
            for path in lock(flavour, upgrade=args.upgrade):
                print(path)
    else:
        frameworks = [f for f in args.frameworks.split(",") if f]
        print(wheelhouse(args.flavour, frameworks, args.dest))


if __name__ == "__main__":
    main()
