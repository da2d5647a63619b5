"""Where a hub user's server goes and which GPUs it gets.

One module for both sides of the fleet's front door: the hub's spawner places servers with
it, and the dl_hub role's checks use it to refuse profiles no host can serve before any
change. The truth about who holds which GPU is on the hosts: every running container dlfleet
started carries the label ``io.dlfleet.gpus`` (device IDs, ``all`` or ``none``), whether the
hub started it or the dl_containers role did, so the ledger is rebuilt from the engines'
container lists, never only from the hub's database. A stopped container holds nothing.

Plain Python (3.8+), no Ansible import: it runs on the control machine and on the hub host.
"""

from __future__ import annotations

from dataclasses import dataclass, field

GPUS_LABEL = "io.dlfleet.gpus"
USER_LABEL = "io.dlfleet.user"
CONTAINER_LABEL = "io.dlfleet.container"


class NoRoom(Exception):
    """Nothing fits; the message says what is busy, for the spawn page."""


@dataclass(frozen=True)
class Profile:
    """What a user may ask for: a GPU count (0: CPU only), optionally only on some hosts or
    for some users (None: any)."""

    slug: str
    display_name: str
    gpus: int = 0
    hosts: tuple | None = None
    users: tuple | None = None

    @classmethod
    def from_dict(cls, spec: dict) -> Profile:
        hosts, users = spec.get("hosts"), spec.get("users")
        return cls(
            slug=str(spec["slug"]),
            display_name=str(spec.get("display_name") or spec["slug"]),
            gpus=int(spec.get("gpus", 0)),
            hosts=tuple(hosts) if hosts else None,
            users=tuple(users) if users else None,
        )

    def offered_to(self, user: str) -> bool:
        return self.users is None or user in self.users


@dataclass
class Host:
    """A GPU host as the hub sees it now: its GPUs' device IDs and its engine's containers
    (the Docker API's list, all states); containers None: the engine did not answer."""

    name: str
    gpus: list = field(default_factory=list)
    containers: list | None = None

    @property
    def answered(self) -> bool:
        return self.containers is not None

    def holders(self) -> dict:
        """{GPU id: [who holds it]} for every GPU of the host (an empty list: free)."""
        held: dict = {gpu: [] for gpu in self.gpus}
        for c in self.containers or []:
            labels = c.get("Labels") or {}
            if GPUS_LABEL not in labels or c.get("State") != "running":
                continue
            value = str(labels[GPUS_LABEL]).strip()
            ids = (
                list(self.gpus)
                if value == "all"
                else []
                if value in ("", "none")
                else [i.strip() for i in value.split(",")]
            )
            who = labels.get(USER_LABEL) or labels.get(CONTAINER_LABEL) or _name(c)
            for gpu in ids:
                held.setdefault(gpu, []).append(who)
        return held

    def free(self, share: int = 1) -> list:
        """GPU ids with room for one more server (share: servers per GPU), least held first,
        then in device order."""
        held = self.holders()
        room = [g for g in self.gpus if len(held.get(g, [])) < share]
        return sorted(room, key=lambda g: (len(held.get(g, [])), _device_order(g)))

    def servers(self) -> int:
        return sum(
            1
            for c in self.containers or []
            if c.get("State") == "running" and CONTAINER_LABEL in (c.get("Labels") or {})
        )


@dataclass(frozen=True)
class Placement:
    host: str
    gpus: tuple  # device ids, empty for CPU only
    skipped: tuple = ()  # hosts whose engine did not answer (for the hub's log)


def _name(container: dict) -> str:
    return (container.get("Names") or ["?"])[0].lstrip("/")


def _device_order(gpu: str):
    return (0, int(gpu), "") if str(gpu).isdigit() else (1, 0, str(gpu))


def place(
    user: str,
    profile: Profile,
    hosts: list,
    home: str | None = None,
    share: int = 1,
) -> Placement:
    """The host and GPUs for user's new server. Back to home (the host holding the user's
    home) while it has what the profile asks; otherwise, for GPUs, the host with the most free
    GPUs; for CPU only, the host running the fewest servers. Ties go to the host named first.
    Raises NoRoom with what is busy when nothing fits, and PermissionError when the profile
    is not offered to user."""
    if not profile.offered_to(user):
        raise PermissionError(f"profile {profile.slug!r} is not offered to {user}")
    allowed = [h for h in hosts if profile.hosts is None or h.name in profile.hosts]
    skipped = tuple(sorted(h.name for h in allowed if not h.answered))
    fits = [h for h in allowed if h.answered and len(h.free(share)) >= profile.gpus]
    if not fits:
        raise NoRoom(_busy(profile, allowed, share))
    by_name = sorted(fits, key=lambda h: h.name)
    chosen = next((h for h in by_name if h.name == home), None)
    if chosen is None:
        if profile.gpus:
            chosen = max(by_name, key=lambda h: len(h.free(share)))  # first of the best
        else:
            chosen = min(by_name, key=lambda h: h.servers())
    return Placement(chosen.name, tuple(chosen.free(share)[: profile.gpus]), skipped)


def _busy(profile: Profile, hosts: list, share: int) -> str:
    want = f"{profile.gpus} free GPU{'s' if profile.gpus != 1 else ''}"
    if not hosts:
        return f"no host can serve {profile.display_name!r}"
    parts = []
    for h in sorted(hosts, key=lambda h: h.name):
        if not h.answered:
            parts.append(f"{h.name} does not answer")
            continue
        held = {g: who for g, who in h.holders().items() if who}
        detail = "; ".join(
            f"GPU {g} held by {', '.join(who)}"
            for g, who in sorted(held.items(), key=lambda kv: _device_order(kv[0]))
        )
        parts.append(
            f"{h.name} has {len(h.free(share))} of {len(h.gpus)} free"
            + (f" ({detail})" if detail else "")
        )
    return f"no host has {want} for {profile.display_name!r} now: " + "; ".join(parts)


def profile_errors(profiles: list, host_gpus: dict, variable: str = "dl_hub_profiles") -> list:
    """What is wrong with the inventory's profiles, each naming the variable: host_gpus is
    {GPU host: its GPU count}. A profile must fit on some host it may use."""
    errors = []
    seen = set()
    for i, spec in enumerate(profiles or []):
        where = f"{variable}[{i}]"
        if not isinstance(spec, dict) or not spec.get("slug"):
            errors.append(f"{where}: each profile needs a slug (and gpus, display_name)")
            continue
        where = f"{variable}[{i}] ({spec['slug']})"
        if spec["slug"] in seen:
            errors.append(f"{where}: slug is used by another profile")
        seen.add(spec["slug"])
        try:
            profile = Profile.from_dict(spec)
        except (TypeError, ValueError):
            errors.append(f"{where}: gpus must be a whole number, got {spec.get('gpus')!r}")
            continue
        if profile.gpus < 0:
            errors.append(f"{where}: gpus must be 0 (CPU only) or more, got {profile.gpus}")
            continue
        unknown = sorted(set(profile.hosts or ()) - set(host_gpus))
        if unknown:
            errors.append(
                f"{where}: hosts {', '.join(unknown)} are not GPU hosts of this fleet "
                f"(known: {', '.join(sorted(host_gpus)) or 'none'})"
            )
            continue
        usable = {h: n for h, n in host_gpus.items() if profile.hosts is None or h in profile.hosts}
        most = max(usable.values(), default=0)
        if profile.gpus > most:
            errors.append(
                f"{where}: asks for {profile.gpus} GPUs; the most any of its hosts has is {most}"
            )
    return errors
