"""dl_image's filters: which build arguments would carry credentials into the image, which
archives on the control machine arrived whole, and the play's image plan (who builds each
image, how it travels, what each host does)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

# names that say "secret" (HF_TOKEN, PIP_PASSWORD, AWS_SECRET_ACCESS_KEY, NPM_AUTH...)
SECRET_NAME = re.compile(r"(?i)(token|passw|secret|credential|api_?key|auth)")


def _has_userinfo(value: str) -> bool:
    """Whether any URL in value (pip accepts several, space-separated) has user[:pass]@."""
    for part in str(value).split():
        try:
            parts = urlsplit(part)
        except ValueError:
            continue
        if parts.scheme and (parts.username or parts.password):
            return True
    return False


def leaky_build_args(args: dict[str, Any]) -> list[str]:
    """The names of build arguments that would put a credential into the image's history
    (`docker history` shows every build argument a RUN step used, on every host)."""
    return sorted(
        name
        for name, value in (args or {}).items()
        if value not in (None, "") and (_has_userinfo(value) or SECRET_NAME.search(str(name)))
    )


def whole_archives(stat_results: list[dict[str, Any]]) -> list[str]:
    """The images (loop items) whose archive on the control machine is whole: its sha256 (the
    stat's checksum, sha256) is the one recorded beside it (ARCHIVE.sha256) once it had
    arrived and been checked. An archive without that record (an interrupted transfer, one
    an older dlfleet left) or with another digest (damaged) is not used. Reads the records on
    the control machine, where filters run and the archives are."""
    whole = []
    for result in stat_results or []:
        stat = result.get("stat") or {}
        if not stat.get("exists") or not stat.get("checksum"):
            continue
        record = Path(stat["path"] + ".sha256")
        try:
            recorded = record.read_text().strip()
        except OSError:
            continue
        if recorded == stat["checksum"]:
            whole.append(result["item"])
    return whole


def plan(
    play_hosts: list[str],
    hostvars: Any,
    build_host: str,
    distribution: str,
    cached: list[str],
) -> dict[str, Any]:
    """Who builds each image of the play and how it reaches the hosts that lack it.

    play_hosts: the play's hosts in order; hostvars: each host's ``dl_image_ref`` (its image)
    and ``__dl_image_have`` (which of the play's images it holds already); build_host:
    dl_image_build_host; distribution: archive, registry or build (every host builds its own);
    cached: images with a whole archive on the control machine (dl_image_whole_archives).

    Returns ``builders`` (image -> its builder: build_host when it is in the play, else the
    first host that runs the image), ``via`` (image -> archive, registry, build, or cache: its
    archive is used, never a build; with a registry a cached archive only seeds the builder,
    which pushes it), ``missing`` (images some host lacks) and ``hosts``: per host, ``build``
    (images it builds), ``seed`` (cached archives it loads to push) and ``share`` (images it
    is the builder of that another host lacks: saved and relayed, or pushed).
    """
    if distribution not in ("archive", "registry", "build"):
        raise ValueError(
            f"dl_image_distribution must be archive, registry or build, not {distribution!r}"
        )
    ref = {h: hostvars[h]["dl_image_ref"] for h in play_hosts}
    have = {h: set(hostvars[h].get("__dl_image_have") or []) for h in play_hosts}
    refs = list(dict.fromkeys(ref[h] for h in play_hosts))
    first = {}
    for h in play_hosts:
        first.setdefault(ref[h], h)
    builders = {r: build_host if build_host in play_hosts else first[r] for r in refs}
    whole = set(cached or [])
    cached = [r for r in refs if r in whole]
    via = {r: distribution for r in refs}
    if distribution != "registry":
        via.update(dict.fromkeys(cached, "cache"))
    lacking = {h for h in play_hosts if ref[h] not in have[h]}
    missing = list(dict.fromkeys(ref[h] for h in play_hosts if h in lacking))
    hosts = {}
    for h in play_hosts:
        mine = [ref[h]] if distribution == "build" else [r for r in refs if builders[r] == h]
        needed = [r for r in mine if r in missing and r not in have[h]]
        others_lack = {ref[o] for o in lacking if o != h}
        hosts[h] = {
            "build": [r for r in needed if r not in cached],
            "seed": [r for r in needed if r in cached] if distribution == "registry" else [],
            "share": [
                r for r in refs
                if builders[r] == h and r in others_lack and via[r] in ("archive", "registry")
            ],
        }  # fmt: skip
    return {"builders": builders, "via": via, "missing": missing, "hosts": hosts}


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {
            "dl_image_leaky_build_args": leaky_build_args,
            "dl_image_whole_archives": whole_archives,
            "dl_image_plan": plan,
        }
