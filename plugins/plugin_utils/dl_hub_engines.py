"""The GPU hosts' engines as the hub reaches them.

DockerSpawner keeps one Docker client and one worker thread for every server, so one slow
host stalls every user's spawn. The hub's spawner uses this instead: one client per engine
(Docker's API over mutual TLS: the fleet CA, the hub's client certificate, both written by
the dl_hub role), each engine asked on a worker of its own with a deadline, and a survey of
the fleet's dlfleet containers from which dl_hub_placement rebuilds who holds which GPU. An
engine that does not answer in time is named, never taken for an empty host: the servers it
runs are still running as far as the hub knows.

The table of engines is the role's /etc/dlfleet/hub/engines.json:
``{name: {"url": "tcp://ADDRESS:2376", "tls_hostname": name}}``.

Plain Python (3.9+) with the Docker SDK, no Ansible import: it runs on the hub host.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ENGINES_FILE = "/etc/dlfleet/hub/engines.json"
CERT_DIR = "/etc/dlfleet/hub/docker"
# every container dlfleet starts carries it (dl_containers' workspaces, the hub's servers)
CONTAINER_LABEL = "io.dlfleet.container"


@dataclass(frozen=True)
class Engine:
    """One GPU host's engine: its inventory name and its API's address."""

    name: str
    url: str
    tls_hostname: str = ""


def read_table(path: str | Path = ENGINES_FILE) -> list[Engine]:
    """The engines of the role's table, by name."""
    table = json.loads(Path(path).read_text())
    if not isinstance(table, dict):
        raise ValueError(f"{path}: expected a mapping of engine names, got {type(table).__name__}")
    out = []
    for name, entry in sorted(table.items()):
        if not isinstance(entry, dict) or not str(entry.get("url", "")).startswith("tcp://"):
            raise ValueError(f"{path}: {name} needs a url tcp://ADDRESS:PORT, got {entry!r}")
        out.append(Engine(str(name), str(entry["url"]), str(entry.get("tls_hostname") or "")))
    return out


def tls_client(engine: Engine, cert_dir: str | Path = CERT_DIR, timeout: float = 10) -> Any:
    """A Docker client for engine over mutual TLS: the server's certificate checked against
    the fleet CA only (never the system's bundle), the hub's certificate presented. Nothing
    else is ever used: an engine's plain TCP socket does not exist."""
    import docker

    folder = Path(cert_dir)
    tls = docker.tls.TLSConfig(
        client_cert=(str(folder / "client-cert.pem"), str(folder / "client-key.pem")),
        ca_cert=str(folder / "ca.pem"),
        verify=str(folder / "ca.pem"),
    )
    url = "https://" + engine.url[len("tcp://") :]
    return docker.DockerClient(base_url=url, tls=tls, timeout=timeout)


class Fleet:
    """The hub's engines: a client and a worker thread per engine, made on first use.

    connect: how a client for an engine is made (default tls_client with cert_dir); a test
    or a single-host setup may hand another. deadline: seconds an engine has to answer a
    survey."""

    def __init__(
        self,
        engines: list[Engine],
        connect: Callable[[Engine], Any] | None = None,
        cert_dir: str | Path = CERT_DIR,
        deadline: float = 10,
    ) -> None:
        self.engines = {e.name: e for e in engines}
        self.deadline = deadline
        self._connect = connect or (lambda e: tls_client(e, cert_dir, timeout=deadline))
        self._clients: dict[str, Any] = {}
        self._workers = {
            name: ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"engine-{name}")
            for name in self.engines
        }

    def client(self, name: str) -> Any:
        """The engine's client (runs on that engine's worker: connecting may be slow too)."""
        if name not in self._clients:
            self._clients[name] = self._connect(self.engines[name])
        return self._clients[name]

    def submit(self, name: str, call: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run call(client, *args, **kwargs) on the engine's own worker; a Future."""
        if name not in self.engines:
            raise KeyError(
                f"{name} is not an engine of this hub (known: {', '.join(self.engines)})"
            )
        return self._workers[name].submit(lambda: call(self.client(name), *args, **kwargs))

    def survey(self) -> tuple[dict[str, list | None], dict[str, str]]:
        """Every engine's dlfleet containers (the API's list, all states), asked side by
        side: ({name: containers, or None where the engine did not answer within the
        deadline}, {name: why not} for those)."""
        asked = {name: self.submit(name, _dlfleet_containers) for name in sorted(self.engines)}
        found: dict[str, list | None] = {}
        silent: dict[str, str] = {}
        for name, future in asked.items():
            try:
                found[name] = future.result(timeout=self.deadline)
            except FutureTimeout:
                found[name], silent[name] = None, f"no answer within {self.deadline:g} s"
            except Exception as exc:  # noqa: BLE001 - any failure means: not answering now
                found[name], silent[name] = None, reason(exc)
                self._clients.pop(name, None)  # connect again next time
        return found, silent

    def close(self) -> None:
        for worker in self._workers.values():
            worker.shutdown(wait=False, cancel_futures=True)
        for client in self._clients.values():
            client.close()


def _dlfleet_containers(client: Any) -> list:
    return client.api.containers(all=True, filters={"label": CONTAINER_LABEL})


def address(url: str) -> str:
    """The host part of an engine's url (tcp://ADDRESS:PORT): where its servers' ports are."""
    return urlsplit(url).hostname or ""


def reason(exc: BaseException) -> str:
    """One line saying why an engine did not answer."""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:200] if text else ''}".rstrip(": ")
