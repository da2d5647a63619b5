"""This tree as the Ansible collection ``dlfleet.fleet``: the tarball, the execution
environment's build context, and the second Ansible line the suite runs it on.

- ``build``: ``ansible-galaxy collection build`` (galaxy.yml says what stays out).
- ``ee_context``: ``ansible-builder create`` for ``ee/execution-environment.yml`` (the build
  context AWX / Automation Platform images are made from; no registry needed).
- ``sanity``: ``ansible-test sanity`` on the collection as users get it (the tarball,
  unpacked under ``ansible_collections/dlfleet/fleet``, with ``tests/sanity``'s ignore files).
- ``modern_toolchain``: the ansible-core 2.19 toolchain in ``.venv-2.19``
  (``tests/toolchains/ansible-2.19.txt``, dlfleet itself from this tree without its 2.16
  pins), made again only when that file changes.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import urllib.request
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import yaml

from . import paths
from .errors import DlfleetError

DIST = paths.ROOT / "dist"
EE_FILE = paths.ROOT / "ee" / "execution-environment.yml"
EE_CONTEXT = paths.ROOT / "ee" / "context"
MODERN_VENV = paths.ROOT / ".venv-2.19"
MODERN_REQUIREMENTS = paths.ROOT / "tests" / "toolchains" / "ansible-2.19.txt"
# Molecule scenarios the 2.19 line runs (role, scenario, platform or None for all): the docker
# role on the newest Ubuntu, and the workspace scenario (docker + dl_image + dl_containers on
# noble). The rest of 2.19's coverage is tests/modern (the site on a simulated GPU host on
# noble and a bookworm host, the collection from outside); the 2.16 suite runs every
# scenario on every platform.
MODERN_SCENARIOS = [("docker", "default", "noble"), ("dl_containers", "default", None)]

Say = Callable[[str], None]


def galaxy() -> dict:
    return yaml.safe_load((paths.ROOT / "galaxy.yml").read_text())


def tarball_name() -> str:
    meta = galaxy()
    return f"{meta['namespace']}-{meta['name']}-{meta['version']}.tar.gz"


def _tool(name: str, bindir: Path | None = None) -> str:
    here = (bindir or Path(sys.executable).parent) / name
    found = str(here) if here.exists() else shutil.which(name)
    if not found:
        raise DlfleetError(f"{name} not found: install dlfleet with its dev extras")
    return found


def build(dest: Path = DIST, bindir: Path | None = None) -> Path:
    """The collection tarball in dest (replaced if there)."""
    dest.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(
        [_tool("ansible-galaxy", bindir), "collection", "build", "--force",
         "--output-path", str(dest), str(paths.ROOT)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if proc.returncode != 0:
        raise DlfleetError(f"ansible-galaxy collection build failed: {proc.stderr.strip()[-500:]}")
    match = re.search(r"(/\S+\.tar\.gz)", proc.stdout)
    if not match:
        raise DlfleetError(f"ansible-galaxy collection build said: {proc.stdout.strip()}")
    return Path(match.group(1))


def ee_context(say: Say) -> Path:
    """Build the collection, then the execution environment's build context."""
    tarball = build()
    wanted = yaml.safe_load(EE_FILE.read_text())["additional_build_files"][0]["src"]
    if Path(wanted).name != tarball.name:
        raise DlfleetError(
            f"{EE_FILE.name} copies {Path(wanted).name}, the build made {tarball.name}: "
            "give the execution environment galaxy.yml's version"
        )
    shutil.rmtree(EE_CONTEXT, ignore_errors=True)
    proc = subprocess.run(
        [_tool("ansible-builder"), "create", "-f", str(EE_FILE), "-c", str(EE_CONTEXT),
         "--output-filename", "Containerfile"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if proc.returncode != 0:
        raise DlfleetError(f"ansible-builder create failed: {(proc.stderr or proc.stdout)[-800:]}")
    say(f"execution environment build context: {EE_CONTEXT} (from {tarball.name})")
    return EE_CONTEXT


SANITY_IGNORES = paths.ROOT / "tests" / "sanity"
PIP_BOOTSTRAP_URL = "https://ci-files.testing.ansible.com/ansible-test/get-pip-{version}.py"


def sanity(say: Say) -> None:
    """``ansible-test sanity`` (every test, this Python) on the collection as users get it:
    the tarball unpacked under ansible_collections/dlfleet/fleet, with tests/sanity's ignore
    files beside it."""
    from . import engine

    python = f"{sys.version_info.major}.{sys.version_info.minor}"
    engine.ensure_packages({"shellcheck": "shellcheck"}, say)  # its test skips without it
    _pip_bootstrap(python, say)
    with tempfile.TemporaryDirectory(prefix="dlfleet-sanity-") as tmp:
        root = Path(tmp) / "ansible_collections" / "dlfleet" / "fleet"
        root.mkdir(parents=True)
        with tarfile.open(build(Path(tmp))) as tar:
            tar.extractall(root, filter="data")
        shutil.copytree(SANITY_IGNORES, root / "tests" / "sanity")
        argv = [_tool("ansible-test"), "sanity", "--local", "--python", python, "--color", "no"]
        say(f"$ {' '.join(argv[1:])}  (in {root})")
        if subprocess.run(argv, cwd=root, check=False).returncode != 0:
            raise DlfleetError("ansible-test sanity failed: see above")


def _pip_bootstrap(python: str, say: Say) -> None:
    """ansible-test puts pip into its test environments with a get-pip script from
    ci-files.testing.ansible.com. Where that host cannot be reached but the package index can
    (a PyPI mirror), a stand-in named as such takes its place in ansible-test's cache: it
    does what get-pip does, pip's own `install`, run from the wheel of the same pip version."""
    from ansible_test._internal.python_requirements import get_venv_packages

    version = get_venv_packages(SimpleNamespace(version=python))["pip"]
    script = Path.home() / ".ansible" / "test" / "cache" / f"get_pip_{version.replace('.', '_')}.py"
    if script.is_file():
        text = script.read_text()
        wheel = re.search(r"sys\.path\.insert\(0, '([^']+)'\)", text)
        if "dlfleet's stand-in" not in text or (wheel and Path(wheel.group(1)).is_file()):
            return
    try:
        url = PIP_BOOTSTRAP_URL.format(version=version)
        with urllib.request.urlopen(url, timeout=10):  # noqa: S310 - a fixed https URL
            return  # reachable: ansible-test fetches the real one
    except OSError:
        pass
    wheels = paths.cache_dir() / "ansible-test"
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "-d", str(wheels),
         f"pip=={version}"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    found = sorted(wheels.glob(f"pip-{version}-*.whl"))
    if proc.returncode != 0 or not found:
        raise DlfleetError(f"cannot fetch pip {version} for ansible-test: {proc.stderr[-300:]}")
    say(f"ansible-test's pip bootstrap: a stand-in from {found[0].name} ({script})")
    script.parent.mkdir(parents=True, exist_ok=True)
    script.write_text(
        f"# dlfleet's stand-in for get-pip {version} ({PIP_BOOTSTRAP_URL.format(version=version)}"
        " cannot be reached):\n# pip's own install, run from its wheel, as get-pip does.\n"
        f"import sys\nsys.path.insert(0, {str(found[0])!r})\n"
        "from pip._internal.cli.main import main\n"
        'sys.exit(main(["install", "--upgrade", "--force-reinstall", *sys.argv[1:]]))\n'
    )


def modern_toolchain(say: Say) -> Path:
    """The 2.19 toolchain's bin folder, installed or brought up to date."""
    stamp = MODERN_VENV / "dlfleet-requirements.txt"
    wanted = MODERN_REQUIREMENTS.read_text()
    bindir = MODERN_VENV / "bin"
    if stamp.is_file() and stamp.read_text() == wanted and (bindir / "ansible-playbook").exists():
        return bindir
    say(f"installing the ansible-core 2.19 toolchain into {MODERN_VENV}")
    steps = [
        [sys.executable, "-m", "venv", "--clear", str(MODERN_VENV)],
        [str(bindir / "pip"), "install", "-q", "-r", str(MODERN_REQUIREMENTS)],
        [str(bindir / "pip"), "install", "-q", "--no-deps", "-e", str(paths.ROOT)],
    ]
    for argv in steps:
        proc = subprocess.run(argv, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise DlfleetError(f"{' '.join(argv[:4])} failed: {proc.stderr.strip()[-500:]}")
    stamp.write_text(wanted)
    return bindir
