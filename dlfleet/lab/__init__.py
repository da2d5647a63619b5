"""The lab: a local fleet of simulated hosts on the control machine's Docker engine.

Each lab host is a container with systemd as PID 1, sshd and Python, built from a debootstrap
root filesystem (no registry is needed), with its own ``/var/lib/docker`` volume so that the
``docker`` role can run a real engine inside it. The lab's service containers serve its hosts
an apt cache, a wheelhouse, an image registry and stand-in NVIDIA repositories, and the lab
writes an Ansible inventory that groups hosts by OS.

- ``names``: labels and ports every part shares
- ``recipes``: what each OS is made from, and the ``--hosts`` spec
- ``images``: debootstrap root filesystems, host images, base archives
- ``hosts``: host containers, their SSH
- ``inventory``: the inventory, and the policy for sandboxed machines as data
- ``services``: the lab's service containers (apt cache, file servers, registry)
- ``sources``: what hosts get from them, as inventory variables
- ``gpu``: simulated GPU hosts
- ``core``: the ``Lab`` that ties them together
"""

from .core import Lab
from .hosts import LabHost
from .names import APT_CACHE_PORT, DEFAULT_NAME, LABEL, WHEELHOUSE_PORT
from .recipes import LINE_BASES, RECIPES, parse_hosts_spec
from .sources import wheelhouse_root

__all__ = [
    "APT_CACHE_PORT",
    "DEFAULT_NAME",
    "LABEL",
    "LINE_BASES",
    "RECIPES",
    "WHEELHOUSE_PORT",
    "Lab",
    "LabHost",
    "parse_hosts_spec",
    "wheelhouse_root",
]
