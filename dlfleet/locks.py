"""One at a time: provisioning runs per fleet on the control machine (an flock, released by
the kernel when the run's process ends, however it ends) and per host (the dlfleet_lock
module, taken by playbooks/bootstrap.yml and given back by playbooks/unlock.yml); and the
control machine's caches (root filesystems, lab images, wheelhouses), which several
processes may want to fill at once (file_lock)."""

from __future__ import annotations

import contextlib
import fcntl
import getpass
import hashlib
import json
import os
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

from .errors import DlfleetError

WAIT_S = 600


def run_identity(command: str) -> tuple[str, str]:
    """(run id, holder): the id a run's host locks carry, and who it is, for the message
    another run shows."""
    holder = f"{getpass.getuser()}@{socket.gethostname()} (pid {os.getpid()}, {command})"
    return uuid.uuid4().hex, holder


def _holder_text(path: Path) -> str:
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        return "another run"
    since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(record.get("since", 0)))
    return f"{record.get('holder', 'another run')} since {since}"


@contextlib.contextmanager
def control_lock(
    state: Path,
    inventory: Path,
    holder: str,
    say: Callable[[str], None],
    wait_s: float = WAIT_S,
) -> Iterator[None]:
    """Hold the control machine's lock of this inventory for the block: a second run on the
    same fleet (another admin, cron) waits, saying who holds it, and gives up after wait_s."""
    folder = state / "locks"
    folder.mkdir(parents=True, exist_ok=True)
    key = hashlib.sha256(str(inventory.resolve()).encode()).hexdigest()[:16]
    path = folder / f"provision-{key}.lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        deadline = time.monotonic() + wait_s
        told = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise DlfleetError(
                        f"another dlfleet run holds {inventory}: {_holder_text(path)}; waited "
                        f"{wait_s:.0f}s (try again when it is done)"
                    ) from None
                if not told:
                    say(f"waiting for {_holder_text(path)} to finish with {inventory}")
                    told = True
                time.sleep(1)
        record = json.dumps({"holder": holder, "since": int(time.time())})
        os.ftruncate(fd, 0)
        os.pwrite(fd, record.encode(), 0)
        yield
    finally:
        os.close(fd)  # closing releases the lock


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive flock on path for the block, waiting for another process's: what
    one process builds into a cache, the other then finds there instead of building again."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)
