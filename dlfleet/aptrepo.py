"""A local, signed apt repository: what air-gapped fleets run, and what the tests serve.

``build`` writes a repository (pool, Packages, Release, InRelease, Release.gpg and the
armored public key) from .deb files; ``standins`` first makes STAND-IN packages that carry a
vendor package's real name and version but install nothing of it (they depend on the
distribution's package instead, e.g. a stand-in ``docker-ce`` depends on ``docker.io``), for
testing against vendor repositories that cannot be reached. The lab's service containers
serve the folder over HTTP (``dlfleet.lab.services``).

    python -m dlfleet.aptrepo build --spec standins.yml --root /srv/repo/linux
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import os
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from .errors import DlfleetError

STANDIN_NOTE = (
    "STAND-IN made by dlfleet for tests: carries the name and version of {name} but none of "
    "its files{depends_note}. Never install it on a real host."
)


@dataclass(frozen=True)
class StandIn:
    name: str
    version: str
    depends: str = ""
    architecture: str = "amd64"
    # stand-in programs: {absolute path: script}, installed executable (e.g. a runtime hook
    # that attaches nothing); each says in its own text that it is a stand-in
    files: dict[str, str] = field(default_factory=dict)

    def build(self, out: Path) -> Path:
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            (root / "DEBIAN").mkdir()
            note = STANDIN_NOTE.format(
                name=self.name,
                depends_note=f"; it depends on {self.depends} instead" if self.depends else "",
            )
            control = [
                f"Package: {self.name}",
                f"Version: {self.version}",
                f"Architecture: {self.architecture}",
                "Maintainer: dlfleet tests <tests@dlfleet.invalid>",
                "Section: admin",
                "Priority: optional",
            ]
            if self.depends:
                control.append(f"Depends: {self.depends}")
            control.append(f"Description: STAND-IN for {self.name} (dlfleet tests)\n {note}")
            (root / "DEBIAN" / "control").write_text("\n".join(control) + "\n")
            doc = root / "usr" / "share" / "doc" / self.name
            doc.mkdir(parents=True)
            (doc / "README.dlfleet-stand-in").write_text(note + "\n")
            for path, content in self.files.items():
                target = root / path.lstrip("/")
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(content)
                target.chmod(0o755)
            # Debian file names leave out the epoch
            upstream_version = self.version.partition(":")[2] or self.version
            deb = out / f"{self.name}_{upstream_version}_{self.architecture}.deb"
            out.mkdir(parents=True, exist_ok=True)
            _run(["dpkg-deb", "--root-owner-group", "--build", str(root), str(deb)])
        return deb


def _run(argv: list[str], env: dict[str, str] | None = None, stdin: bytes | None = None) -> bytes:
    proc = subprocess.run(argv, input=stdin, capture_output=True, env=env, check=False)
    if proc.returncode != 0:
        raise DlfleetError(f"{argv[0]} failed: {proc.stderr.decode(errors='replace').strip()}")
    return proc.stdout


def _control(deb: Path) -> str:
    return _run(["dpkg-deb", "-f", str(deb)]).decode().rstrip("\n")


def _hashes(data: bytes) -> dict[str, str]:
    return {
        "MD5Sum": hashlib.md5(data, usedforsecurity=False).hexdigest(),
        "SHA256": hashlib.sha256(data).hexdigest(),
    }


class Signer:
    """A throw-away signing key in its own GnuPG home (tests, or a fresh air-gapped mirror)."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.env = {**os.environ, "GNUPGHOME": str(home)}

    def ensure_key(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True, mode=0o700)
        if _run(["gpg", "--batch", "--list-secret-keys"], env=self.env).strip():
            return
        _run(
            ["gpg", "--batch", "--passphrase", "", "--quick-gen-key",
             "dlfleet test repository <repo@dlfleet.invalid>", "rsa3072", "sign", "never"],
            env=self.env,
        )  # fmt: skip

    def public_key(self) -> bytes:
        return _run(["gpg", "--batch", "--armor", "--export"], env=self.env)

    def sign(self, release: Path) -> None:
        data = release.read_bytes()
        base = ["gpg", "--batch", "--yes", "--digest-algo", "SHA256"]
        inrelease = _run([*base, "--clearsign", "-o", "-"], env=self.env, stdin=data)
        (release.parent / "InRelease").write_bytes(inrelease)
        detached = _run([*base, "--armor", "--detach-sign", "-o", "-"], env=self.env, stdin=data)
        (release.parent / "Release.gpg").write_bytes(detached)


def _write_index(
    debs: list[Path], pool: Path, filename_prefix: str, index_dir: Path, release: Path,
    release_fields: list[str], index_rel: str, signer: Signer,
) -> None:  # fmt: skip
    """Copy the .debs into pool, write Packages(.gz) into index_dir and a signed Release whose
    checksums name the index files as index_rel/Packages(.gz)."""
    pool.mkdir(parents=True, exist_ok=True)
    index_dir.mkdir(parents=True, exist_ok=True)
    entries = []
    for deb in debs:
        target = pool / deb.name
        if deb != target:
            target.write_bytes(deb.read_bytes())
        data = target.read_bytes()
        h = _hashes(data)
        entries.append(
            f"{_control(target)}\nFilename: {filename_prefix}{deb.name}\nSize: {len(data)}\n"
            f"MD5sum: {h['MD5Sum']}\nSHA256: {h['SHA256']}\n"
        )
    packages = "\n".join(entries).encode()
    files = {"Packages": packages, "Packages.gz": gzip.compress(packages, mtime=0)}
    lines = ["Origin: dlfleet-test", "Label: dlfleet-test", *release_fields]
    lines.append("Date: Thu, 01 Jan 2026 00:00:00 UTC")
    for name, data in files.items():
        (index_dir / name).write_bytes(data)
    for algo in ("MD5Sum", "SHA256"):
        lines.append(f"{algo}:")
        for name, data in files.items():
            lines.append(f" {_hashes(data)[algo]} {len(data)} {index_rel}{name}")
    release.write_text("\n".join(lines) + "\n")
    signer.sign(release)


def build_repo(root: Path, suites: dict[str, list[Path]], component: str, signer: Signer) -> Path:
    """Write dists/<suite>/ and pool/ under root for the given .debs; return the key file."""
    signer.ensure_key()
    for suite, debs in suites.items():
        dist = root / "dists" / suite
        _write_index(
            debs, root / "pool" / suite, f"pool/{suite}/", dist / component / "binary-amd64",
            dist / "Release",
            [f"Suite: {suite}", f"Codename: {suite}", "Architectures: amd64",
             f"Components: {component}"],
            f"{component}/binary-amd64/", signer,
        )  # fmt: skip
    key = root / "gpg"
    key.write_bytes(signer.public_key())
    return key


def build_flat_repo(directory: Path, debs: list[Path], signer: Signer) -> None:
    """A flat repository (``Suites: /`` in deb822): Packages and Release beside the .debs,
    the layout of NVIDIA's libnvidia-container and CUDA repositories."""
    signer.ensure_key()
    _write_index(debs, directory, "./", directory, directory / "Release", [], "", signer)


def build_from_spec(spec_path: Path, root: Path, gnupg_home: Path) -> list[Path]:
    """Build stand-ins and repositories from a YAML spec, all signed by one key:

    - ``distributions: {name: {suite: [package, ...]}}`` makes ``root/<name>/dists/<suite>``
      (component ``component``) and writes the key to ``root/<name>/gpg``;
    - ``flat: {relative/dir: [package, ...]}`` makes flat repositories and writes the key to
      ``root/<key>`` (``key`` defaults to ``gpgkey``).

    Each package is a mapping of StandIn's fields. Returns the key files written."""
    spec = yaml.safe_load(spec_path.read_text())
    component = spec.get("component", "main")
    signer = Signer(gnupg_home)
    keys = []
    with tempfile.TemporaryDirectory() as tmp:
        for distribution, suites in (spec.get("distributions") or {}).items():
            debs = {
                suite: [StandIn(**p).build(Path(tmp) / distribution / suite) for p in packages]
                for suite, packages in suites.items()
            }
            keys.append(build_repo(root / distribution, debs, component, signer))
        for rel, packages in (spec.get("flat") or {}).items():
            built = [StandIn(**p).build(Path(tmp) / "flat" / rel) for p in packages]
            build_flat_repo(root / rel, built, signer)
        if spec.get("flat"):
            key = root / spec.get("key", "gpgkey")
            key.write_bytes(signer.public_key())
            keys.append(key)
    return keys


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m dlfleet.aptrepo", description=__doc__.split("\n")[0]
    )
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="build stand-in packages and a signed repository")
    b.add_argument("--spec", type=Path, required=True)
    b.add_argument("--root", type=Path, required=True)
    b.add_argument("--gnupg-home", type=Path)
    args = parser.parse_args(argv)
    home = args.gnupg_home or args.root.parent / "gnupg"
    for key in build_from_spec(args.spec, args.root, home):
        print(key)


if __name__ == "__main__":
    main()
