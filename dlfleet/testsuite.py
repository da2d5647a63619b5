"""What the test tasks need: Molecule's scenarios in the site's role order, and the
environment every scenario runs in (lab images, base archives, the apt cache)."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
from rich.table import Table
from rich.text import Text

from . import paths
from .errors import DlfleetError
from .settings import Settings


def site_role_order() -> list[str]:
    """Roles in the order playbooks/site.yml applies them, then any others by name."""
    import yaml

    order: list[str] = []
    for play in yaml.safe_load((paths.PLAYBOOKS / "site.yml").read_text()) or []:
        for role in play.get("roles") or []:
            name = (role["role"] if isinstance(role, dict) else role).removeprefix("dlfleet.fleet.")
            if name not in order:
                order.append(name)
    rest = sorted(p.name for p in paths.ROLES.iterdir() if p.is_dir() and p.name not in order)
    return [r for r in order if (paths.ROLES / r).is_dir()] + rest


# Scenarios that need real hardware: run only when asked for by name.
HARDWARE_SCENARIOS = {"gpu"}
# Instances are named after their OS plus this variable's value (.config/molecule/config.yml;
# empty unless set): scenarios run beside others under names of their own.
SUFFIX_VAR = "DLFLEET_MOLECULE_SUFFIX"
# Scenarios the suite runs in its background lane, beside the others, each with the
# environment that makes its instances and ports its own (a test checks it): a suffix on
# their instance names (SUFFIX_VAR). The hub's scenario runs in the main lane after the image
# scenarios: its GPU host loads the cpu image they leave. The driver's scenario (its
# instances still take a suffix, for a run beside others by hand) runs in the main lane: the
# background lane, with both labs of the end-to-end test and the 2.19 site test, is the
# longer one.
BESIDE_SCENARIOS: dict[tuple[str, str], dict[str, str]] = {
    ("nvidia_container_toolkit", "default"): {SUFFIX_VAR: "-tk"},
}
# The scenarios that build the deep-learning images (CUDA 13's and 12's; the cpu image): the
# suite runs them first, and what uses the same images afterwards (the other scenarios, the
# labs of the e2e and the 2.19 site test) loads the archives they leave on the control machine
# instead of building them again. CUDA 13's comes first: it is the largest, and the e2e's GPU
# host, started in the background lane after the scenarios that need no image, loads it.
IMAGE_SCENARIOS = [("dl_image", "cuda"), ("dl_image", "default")]


# What the 2.19 line's scenarios run under, beside the 2.16 ones: instance names with a
# suffix, their own wheelhouse port.
MODERN_MOLECULE_ENV = {SUFFIX_VAR: "-219", "DLFLEET_WHEELHOUSE_PORT": "8791"}


def suite_order(pairs: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """pairs with the image scenarios first (IMAGE_SCENARIOS), the rest in their order."""
    first = [p for p in IMAGE_SCENARIOS if p in pairs]
    return first + [p for p in pairs if p not in first]


def scenario_config(role: str, scenario: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    """A scenario's molecule.yml over the shared configuration, as Molecule reads them: each
    file's ${VARIABLES} replaced from env (none set: their defaults), the scenario's platforms
    (the shared ones when it names none)."""
    import yaml
    from molecule import interpolation

    def read(path: Path) -> dict[str, Any]:
        text = interpolation.Interpolator(
            interpolation.TemplateWithDefaults, env or {}
        ).interpolate(path.read_text(), "MOLECULE_")
        return yaml.safe_load(text)

    shared = read(paths.ROOT / ".config" / "molecule" / "config.yml")
    own = read(paths.ROLES / role / "molecule" / scenario / "molecule.yml")
    return {**own, "platforms": own.get("platforms") or shared["platforms"]}


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
    lab.images.ensure_all(RECIPES.values())
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


# The end-to-end test's lab and the 2.19 site test's (tests/e2e and tests/modern read them
# from here).
E2E_LAB = "dlfleet-e2e"
E2E_HUB_LAB = "dlfleet-e2e-hub"
MODERN_LAB = "dlfleet-modern"


class Timings:
    """How long each part of the suite took, shown as a table at the end (failed or not)."""

    def __init__(self) -> None:
        self.rows: list[tuple[str, float, str]] = []

    @contextlib.contextmanager
    def part(self, name: str) -> Iterator[None]:
        started = time.monotonic()
        try:
            yield
        except BaseException:
            self.rows.append((name, time.monotonic() - started, "failed"))
            raise
        self.rows.append((name, time.monotonic() - started, "ok"))

    def add(self, name: str, seconds: float, outcome: str) -> None:
        self.rows.append((name, seconds, outcome))

    def table(self, total: float) -> Table:
        table = Table(title="test suite: time per part", title_justify="left")
        for column, justify in (("part", "left"), ("time", "right"), ("", "left")):
            table.add_column(column, justify=justify)
        for name, seconds, outcome in self.rows:
            table.add_row(Text(name), f"{seconds / 60:.1f} min", outcome)
        table.add_row(Text("whole suite (wall clock)"), f"{total / 60:.1f} min", "")
        return table


class Job:
    """A test tool running in the background, its output in a log file."""

    def __init__(self, name: str, proc: Any, log: Path, started: float) -> None:
        self.name, self.proc, self.log, self.started = name, proc, log, started
        self.finished = False

    def ended(self) -> bool:
        return self.proc.poll() is not None

    def seconds(self) -> float:
        # it ended when it last wrote its log (what runs in the foreground may have gone on)
        ended = self.log.stat().st_mtime if self.log.exists() else time.time()
        return max(0.0, ended - self.started)


class Background:
    """Test tools run beside the foreground ones; each one's time goes into timings."""

    def __init__(self, state: Path, timings: Timings) -> None:
        self.state, self.timings = state, timings
        self.jobs: list[Job] = []

    def start(
        self,
        name: str,
        argv: list[str],
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
    ) -> Job:
        from . import app

        slug = "".join(ch if ch.isalnum() else "-" for ch in name.split(" (")[0]).strip("-")
        log = self.state / f"test-{slug}.log"
        job = Job(name, app.start_logged(argv, log, env=env, cwd=cwd), log, time.time())
        self.jobs.append(job)
        return job

    def finish(self, job: Job) -> None:
        """Wait for job and show its output; DlfleetError if it failed (once: the time is
        recorded whatever the outcome)."""
        from . import app

        if job.finished:
            if job.proc.returncode != 0:
                raise DlfleetError(f"{job.name} failed: see {job.log}")
            return
        job.finished = True
        outcome = "failed"
        try:
            app.finish_logged(job.proc, job.log)
            outcome = "ok"
        finally:
            self.timings.add(job.name, job.seconds(), outcome)

    def finish_all(self) -> None:
        """Finish every job not finished yet (all of them, even after a failure); the first
        failure is raised."""
        failure: BaseException | None = None
        for job in [j for j in self.jobs if not j.finished]:
            try:
                self.finish(job)
            except Exception as exc:  # noqa: BLE001 - raised below, after the others
                failure = failure or exc
        if failure:
            raise failure


@contextlib.contextmanager
def apt_cache_held(client: Any) -> Iterator[None]:
    """Declare the shared apt cache in use for the block (a labelled container that does
    nothing), so a lab torn down meanwhile (the end-to-end test's) leaves it running for the
    Molecule scenarios that come next."""
    from .lab.services import APT_CACHE

    name = "dlfleet-suite-apt-cache-user"
    with contextlib.suppress(docker.errors.NotFound):
        client.containers.get(name).remove(force=True)
    image = client.containers.get(APT_CACHE).image
    client.containers.run(
        image,
        ["sleep", "infinity"],
        name=name,
        labels={"owner": "molecule", "io.dlfleet.suite": "apt-cache-user"},
        detach=True,
        network_mode="none",
        cap_drop=["ALL"],
        user="65534:65534",
    )
    try:
        yield
    finally:
        with contextlib.suppress(docker.errors.NotFound):
            client.containers.get(name).remove(force=True)
