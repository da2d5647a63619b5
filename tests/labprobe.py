"""Probes the end-to-end tests run on lab hosts."""

from __future__ import annotations

import subprocess
import time
from typing import Any

JUPYTER_PROBE = """
import urllib.error, urllib.request

def status(url, headers={}):
    try:
        request = urllib.request.Request(url, headers=headers)
        return urllib.request.urlopen(request, timeout=5).status
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return 0

token = open("/etc/dlfleet/jupyter/dl-lab.token").read().strip()
url = "http://127.0.0.1:8888/api/contents"
print(status(url), status(url, {"Authorization": "token " + token}))
"""


def assert_jupyter_needs_its_token(the_lab: Any, host: str, workspace: str = "dl-lab") -> None:
    """The workspace's Jupyter on host answers 403 without its token and 200 with it (it may
    still be starting: tried for up to two minutes)."""
    probe = JUPYTER_PROBE.replace("dl-lab.token", f"{workspace}.token")
    for _ in range(60):
        proc = subprocess.run(
            [*the_lab.ssh_argv(host), "python3 -"],
            input=probe, capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        if proc.stdout.split() == ["403", "200"]:
            return
        time.sleep(2)
    raise AssertionError(f"{host}: {proc.stdout} {proc.stderr}")
