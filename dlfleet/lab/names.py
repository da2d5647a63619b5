"""Names and ports every part of the lab shares."""

LABEL = "io.dlfleet.lab"
IMAGE_REPO = "dlfleet-lab"
DEFAULT_NAME = "dlfleet-lab"
APT_CACHE_PORT = 3142
WHEELHOUSE_PORT = 8781
# The options machines without CAP_SYS_RESOURCE (nested engines, CI sandboxes) accept for a
# systemd container that runs its own dockerd: every capability but SYS_RESOURCE.
CAP_DROP = ["SYS_RESOURCE"]
