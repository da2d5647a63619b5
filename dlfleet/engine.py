"""A usable Docker engine and the control machine's own tools.

The lab and the tests need a Docker engine on the control machine. On a Debian/Ubuntu
machine without one, dlfleet installs Debian's ``docker.io``; where nothing runs the daemon
(no systemd, e.g. in CI containers) it starts ``dockerd`` itself and waits for the socket.
The engine is then used through the Docker SDK for Python, never by parsing CLI output.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import docker
from docker.errors import DockerException

from .errors import DlfleetError

Say = Callable[[str], None]


def _quiet(_: str) -> None:
    pass


def missing_commands(commands: Iterable[str]) -> list[str]:
    return [c for c in commands if not shutil.which(c) and not Path("/usr/sbin", c).exists()]


def apt_install(packages: Iterable[str], say: Say = _quiet) -> None:
    """Install Debian packages on the control machine (only where apt and root are there)."""
    packages = list(packages)
    if not packages:
        return
    if not shutil.which("apt-get"):
        raise DlfleetError(
            f"{', '.join(packages)} missing and this machine has no apt-get: install them yourself"
        )
    if os.geteuid() != 0:
        raise DlfleetError(
            f"{', '.join(packages)} missing: run as root or `sudo apt-get install "
            f"{' '.join(packages)}`"
        )
    say(f"installing {' '.join(packages)} with apt-get")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for args in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", *packages]):
        proc = subprocess.run(args, env=env, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["?"]
            raise DlfleetError(f"`{' '.join(args)}` failed: {tail[0]}")


def ensure_packages(command_to_package: dict[str, str], say: Say = _quiet) -> None:
    """Install the Debian packages whose commands are missing."""
    missing = missing_commands(command_to_package)
    apt_install(sorted({command_to_package[c] for c in missing}), say)


def _client() -> docker.DockerClient | None:
    try:
        client = docker.from_env(timeout=300)
        client.ping()
        return client
    except DockerException:
        return None


def _systemd_is_init() -> bool:
    return Path("/run/systemd/system").is_dir()


def ensure_engine(say: Say = _quiet, *, install: bool = True) -> docker.DockerClient:
    """Return a client for a running Docker engine, installing and starting one if needed."""
    client = _client()
    if client:
        return client
    if missing_commands(["dockerd"]):
        if not install:
            raise DlfleetError("no Docker engine: install docker.io (or Docker CE) first")
        apt_install(["docker.io"], say)
        client = _client()  # a package with a working init system may have started it
        if client:
            return client
    if os.environ.get("DOCKER_HOST", "unix://").startswith(("tcp://", "ssh://")):
        raise DlfleetError(
            f"the Docker engine at DOCKER_HOST={os.environ['DOCKER_HOST']} does not answer"
        )
    if os.geteuid() != 0:
        raise DlfleetError("the Docker daemon is not running and starting it needs root")
    if _systemd_is_init():
        say("starting docker.service")
        subprocess.run(["systemctl", "start", "docker"], check=False, capture_output=True)
    else:
        _start_dockerd(say)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        client = _client()
        if client:
            return client
        time.sleep(1)
    raise DlfleetError("dockerd did not answer within 90s: see /var/log/dlfleet-dockerd.log")


def _start_dockerd(say: Say) -> None:
    """No init system manages dockerd here: start it in its own session, logging to a file."""
    say("starting dockerd (no systemd on this machine)")
    log = open("/var/log/dlfleet-dockerd.log", "ab")  # noqa: SIM115 - handed to the daemon
    subprocess.Popen(  # the daemon outlives us on purpose
        [shutil.which("dockerd") or "/usr/sbin/dockerd"],
        stdout=log,
        stderr=log,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )


def port_open(host: str, port: int, timeout: float = 1.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def _apt_cacher_config(cache_dir: Path, port: int, binds: list[str]) -> Path:
    """dlfleet's own apt-cacher-ng configuration (the system's stays untouched).

    No mirror remapping: each request goes to the host named in the URL, which is what the
    lab hosts' sources.list asks for, so the cache works wherever those hosts resolve. It
    listens on loopback and the Docker bridges' gateways only (never the LAN's addresses).
    """
    conf = cache_dir / "conf"
    conf.mkdir(parents=True, exist_ok=True)
    (conf / "acng.conf").write_text(
        f"CacheDir: {cache_dir}/cache\n"
        f"LogDir: {cache_dir}/log\n"
        "SupportDir: /usr/lib/apt-cacher-ng\n"
        f"Port: {port}\n"
        f"BindAddress: {' '.join(binds)}\n"
        "ExThreshold: 4\n"
    )
    for sub in ("cache", "log"):
        (cache_dir / sub).mkdir(exist_ok=True)
    return conf


def _apt_cacher_binds(conf: Path) -> list[str]:
    """The addresses a running dlfleet apt-cacher-ng was configured to listen on."""
    try:
        for line in (conf / "acng.conf").read_text().splitlines():
            if line.startswith("BindAddress:"):
                return line.split(":", 1)[1].split()
    except OSError:
        pass
    return []


def network_gateway(network: Any) -> str:
    """The host's address on a Docker network: IPAM's gateway, else the subnet's first address
    (the default bridge lists no gateway)."""
    for config in (network.attrs.get("IPAM") or {}).get("Config") or []:
        if config.get("Gateway"):
            return config["Gateway"]
        if config.get("Subnet"):
            return str(next(ipaddress.ip_network(config["Subnet"]).hosts()))
    raise DlfleetError(f"docker network {network.name} has no gateway address")


def _is_local_address(addr: str) -> bool:
    """Whether addr is still one of this machine's addresses (a removed lab network's is not)."""
    try:
        with socket.socket(socket.AF_INET6 if ":" in addr else socket.AF_INET) as sock:
            sock.bind((addr, 0))
    except OSError:
        return False
    return True


def ensure_apt_cacher(say: Say = _quiet, port: int = 3142, gateways: Iterable[str] = ()) -> bool:
    """Run apt-cacher-ng on the control machine so lab hosts share one apt cache.

    It listens on 127.0.0.1 and on ``gateways`` (the Docker bridges' host addresses, which
    only containers on this machine reach); asked for an address it does not listen on yet,
    dlfleet's instance restarts with the wider list (the cache on disk stays).
    """
    from .paths import cache_dir as user_cache

    cache_dir = user_cache() / "apt-cacher-ng"
    conf = cache_dir / "conf"
    pidfile = cache_dir / "apt-cacher-ng.pid"
    running = sorted(set(_apt_cacher_binds(conf)) - {"0.0.0.0", "::"})  # noqa: S104 - older versions bound all
    wanted = sorted({"127.0.0.1", *filter(_is_local_address, running), *gateways})
    if port_open("127.0.0.1", port):
        if running == wanted or not pidfile.is_file():  # not dlfleet's instance: leave it be
            return True
        say(f"apt-cacher-ng: listening on {', '.join(wanted)} from now on")
        stop_server(pidfile)
    ensure_packages({"apt-cacher-ng": "apt-cacher-ng"}, say)
    if port_open("127.0.0.1", port):
        return True
    say(f"starting apt-cacher-ng on {', '.join(wanted)} port {port} (cache in {cache_dir})")
    subprocess.run(
        [
            shutil.which("apt-cacher-ng") or "/usr/sbin/apt-cacher-ng",
            "-c",
            str(_apt_cacher_config(cache_dir, port, wanted)),
            "ForeGround=0",
            f"pidfile={pidfile}",
            f"SocketPath={cache_dir}/apt-cacher-ng.socket",
        ],
        check=False,
        capture_output=True,
    )
    for _ in range(30):
        if port_open("127.0.0.1", port):
            return True
        time.sleep(0.5)
    raise DlfleetError(f"apt-cacher-ng did not start on port {port}")


def has_cap_sys_resource() -> bool:
    """Whether this machine may grant CAP_SYS_RESOURCE (containerd 1.2 on xenial needs it)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("CapBnd:"):
                return bool(int(line.split()[1], 16) & (1 << 24))
    except OSError:
        pass
    return True


def start_server(module: str, args: list[str], log_path: Path, ready: Callable[[], bool],
                 seconds: float = 15) -> bool:  # fmt: skip
    """Start ``python -m dlfleet.<module> serve ARGS`` in its own session (it runs on after
    dlfleet exits, like the apt cache), logging to log_path; wait until ready() holds."""
    import sys

    log_path.parent.mkdir(parents=True, exist_ok=True)
    log = open(log_path, "ab")  # noqa: SIM115 - handed to the server
    subprocess.Popen(
        [sys.executable, "-m", f"dlfleet.{module}", "serve", *args],
        stdout=log, stderr=log, stdin=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if ready():
            return True
        time.sleep(0.25)
    return False


def stop_server(pidfile: Path) -> bool:
    """Stop a server started by start_server (SIGTERM to the pid in pidfile); True if one was."""
    try:
        pid = int(pidfile.read_text().strip())
        os.kill(pid, signal.SIGTERM)
    except (OSError, ValueError):
        return False
    for _ in range(40):
        with contextlib.suppress(ChildProcessError):  # started by this process: reap it
            if os.waitpid(pid, os.WNOHANG)[0] == pid:
                break
        try:
            os.kill(pid, 0)
        except OSError:
            break
        time.sleep(0.25)
    pidfile.unlink(missing_ok=True)
    return True


def file_server_pidfile(root: Path, bind: str, port: int) -> Path:
    return root.parent / f"{root.name}-{bind}-{port}.pid"


def ensure_file_server(root: Path, bind: str, port: int, say: Say = _quiet) -> str:
    """Serve a folder over HTTP (dlfleet.aptrepo serve) in the background; return its URL."""
    url = f"http://{bind}:{port}/"
    if port_open(bind, port):
        return url
    say(f"serving {root} on {url}")
    pidfile = file_server_pidfile(root, bind, port)
    args = ["--root", str(root), "--bind", bind, "--port", str(port), "--pidfile", str(pidfile)]
    log = root.parent / f"{root.name}-http.log"
    if not start_server("aptrepo", args, log, lambda: port_open(bind, port), seconds=10):
        raise DlfleetError(f"the file server for {root} did not start on {url}: see {log}")
    return url


def stop_file_server(root: Path, bind: str, port: int) -> bool:
    """Stop the file server ensure_file_server started on bind:port for root."""
    return stop_server(file_server_pidfile(root, bind, port))
