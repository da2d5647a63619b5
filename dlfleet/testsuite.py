"""What the test tasks need: Molecule's scenarios in the site's role order, and the
environment every scenario runs in (lab images, base archives, the apt cache)."""

from __future__ import annotations

from . import paths
from .errors import DlfleetError
from .settings import Settings


def site_role_order() -> list[str]:
    """Roles in the order playbooks/site.yml applies them, then any others by name."""
    import yaml

    order: list[str] = []
    for play in yaml.safe_load((paths.PLAYBOOKS / "site.yml").read_text()) or []:
        for role in play.get("roles") or []:
            name = role["role"] if isinstance(role, dict) else role
            if name not in order:
                order.append(name)
    rest = sorted(p.name for p in paths.ROLES.iterdir() if p.is_dir() and p.name not in order)
    return [r for r in order if (paths.ROLES / r).is_dir()] + rest


# Scenarios that need real hardware: run only when asked for by name.
HARDWARE_SCENARIOS = {"gpu"}


def molecule_scenarios(
    role: str | None = None, scenario: str | None = None
) -> list[tuple[str, str]]:
    """(role, scenario) pairs under roles/*/molecule/, in role order; hardware ones by name."""
    roles = site_role_order()
    if role and role not in roles:
        raise DlfleetError(f"unknown role {role!r}: roles are {', '.join(roles)}")
    out = []
    for name in [role] if role else roles:
        mdir = paths.ROLES / name / "molecule"
        if mdir.is_dir():
            out.extend(
                (name, s.name) for s in sorted(mdir.iterdir()) if (s / "molecule.yml").is_file()
            )
    if scenario:
        return [p for p in out if p[1] == scenario]
    return [p for p in out if p[1] not in HARDWARE_SCENARIOS]


def molecule_env(settings: Settings) -> dict[str, str]:
    """What every Molecule scenario needs: roles path, base images, the shared apt cache."""
    from . import engine, registry
    from .lab import APT_CACHE_PORT, RECIPES

    lab = settings.lab()
    lab.services.apt_cache([])  # on loopback and the default bridge, where scenarios are
    bridge = engine.bridge_gateway(lab.client)
    for recipe in RECIPES.values():
        lab.images.ensure(recipe)
    base_ref, base_archive = lab.images.base_archive(RECIPES["bookworm"])
    # the gpu images' base (Ubuntu 24.04, Python 3.12), plain debootstrap, as the lab makes it
    ubuntu_ref, ubuntu_archive = lab.images.base_archive(RECIPES["noble"])
    # the registry scenarios' CA exists before Molecule reads inventories that trust it
    registry_root = paths.cache_dir() / "registry-molecule"
    registry.ensure_ca(registry_root)
    return {
        "DLFLEET_TEST_REGISTRY_ROOT": str(registry_root),
        # the cpu image's base (Debian 12, Python 3.11) as the lab builds it, and its archive
        "DLFLEET_IMAGE_BASE": base_ref,
        "DLFLEET_IMAGE_BASE_ARCHIVE": str(base_archive),
        "DLFLEET_UBUNTU_BASE": ubuntu_ref,
        "DLFLEET_UBUNTU_BASE_ARCHIVE": str(ubuntu_archive),
        "DLFLEET_CACHE": str(paths.cache_dir()),
        "ANSIBLE_ROLES_PATH": str(paths.ROLES),
        "ANSIBLE_COLLECTIONS_PATH": str(paths.COLLECTIONS),
        "DLFLEET_APT_PROXY": f"http://{bridge}:{APT_CACHE_PORT}",
        "DLFLEET_CONTROL_ADDR": bridge,
        "MOLECULE_GLOB": "molecule/*/molecule.yml",
    }
