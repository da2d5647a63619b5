"""The tasks that work on dlfleet itself: the roles' generated docs, the collection and its
execution environment, and the test suite."""

from __future__ import annotations

import os
import sys
import tempfile
import time

from invoke import Collection, task

from . import app, collection, paths, testsuite
from .errors import DlfleetError
from .taskkit import settings_of, user_errors


# -- docs ---------------------------------------------------------------------------
@task
def docs(c):
    """Regenerate the variable tables in roles/*/README.md from meta/argument_specs.yml."""
    from dlfleet import roledoc

    for role in sorted(paths.ROLES.iterdir()):
        if (role / "README.md").is_file() and roledoc.update(role):
            app.say(f"updated {role / 'README.md'}")


# -- tests --------------------------------------------------------------------------
def _pytest(*args: str) -> None:
    app.run_checked([sys.executable, "-m", "pytest", *args])


@task
@user_errors
def test_unit(c):
    """Unit tests: pure, on any machine (fake facts, a fake sysfs tree for GPU detection)."""
    _pytest("tests/unit", "-q")


@task
@user_errors
def test_integration(c):
    """Integration tests: real Ansible runs, the roles' preflights and the control machine's
    servers on this machine (skipped, with the reason, where the machine differs)."""
    from . import engine

    # the tests that need an engine run on a fresh machine too, instead of skipping
    engine.ensure_engine(app.say)
    _pytest("tests/integration", "-q")


@task
@user_errors
def test_lint(c):
    """ruff, yamllint and ansible-lint (profile: production)."""
    app.run_checked(["ruff", "check", "."])
    app.run_checked(["ruff", "format", "--check", "."])
    app.run_checked(["yamllint", "--strict", "."])
    # a fresh Ansible home: ansible-lint puts ~/.ansible/collections first, where Molecule
    # leaves an installed copy of the collection that may be older than this tree
    with tempfile.TemporaryDirectory(prefix="dlfleet-lint-") as home:
        app.run_checked(["ansible-lint", "--offline"], env={"ANSIBLE_HOME": home})


@task(
    help={
        "role": "Only this role's scenarios.",
        "scenario": "Only this scenario (hardware scenarios such as gpu run only when named).",
    }
)
@user_errors
def test_molecule(c, role=None, scenario=None):
    """Molecule scenarios of every role (or one role): check, converge, idempotence, verify."""
    settings = settings_of(c)
    pairs = _scenarios(role, scenario)
    env = testsuite.molecule_env(settings)
    for role_name, scenario_name in pairs:
        _scenario(role_name, scenario_name, env)


def _scenarios(role: str | None, scenario: str | None) -> list[tuple[str, str]]:
    pairs = testsuite.molecule_scenarios(role, scenario)
    if not pairs:
        raise DlfleetError(f"no Molecule scenario matches role={role} scenario={scenario}")
    return pairs


def _scenario(role: str, scenario: str, env: dict[str, str]) -> None:
    app.run_checked(["molecule", "test", "-s", scenario], cwd=paths.ROLES / role, env=env)


# installs (or keeps) the 2.19 toolchain; pip only, so it can run beside anything
_TOOLCHAIN = [
    sys.executable,
    "-c",
    "from dlfleet import collection; print(collection.modern_toolchain(print))",
]


def _suite_lanes(c, timings: testsuite.Timings) -> None:
    """Every Molecule scenario, then the 2.19 line's, one after another (their instances share
    names); beside them, in the background, the end-to-end test, then the 2.19 site test (their
    labs are apart from the instances), then the scenarios whose instances no other scenario
    uses (testsuite.BESIDE_SCENARIOS). The shared images and the apt cache are made first,
    once. A lab coming up changes what the apt cache publishes (the cache is started again), so
    each lab starts only between two scenarios and the next scenario waits until that lab is
    served: the cache never restarts under a scenario's apt."""
    settings = settings_of(c)
    everything = _scenarios(None, None)
    pairs = [p for p in everything if p not in testsuite.BESIDE_SCENARIOS]
    beside = [p for p in everything if p in testsuite.BESIDE_SCENARIOS]
    with timings.part("lab images and apt cache (once, for all)"):
        env = testsuite.molecule_env(settings)
    lab = settings.lab()
    jobs = testsuite.Background(settings.state, timings)

    def start_beside() -> None:
        for role, scenario in beside:
            jobs.start(
                f"molecule {role}/{scenario} (beside)",
                ["molecule", "test", "-s", scenario],
                env=env,
                cwd=paths.ROLES / role,
            )
        beside.clear()

    with testsuite.apt_cache_held(lab.client):
        try:
            e2e = jobs.start(
                "e2e (beside the scenarios)",
                [sys.executable, "-m", "pytest", "tests/e2e", "-q", "-m", "e2e"],
            )
            # the 2.19 toolchain installs meanwhile (pip only), ready for the 2.19 site test
            toolchain = jobs.start("2.19 toolchain (beside)", _TOOLCHAIN)
            testsuite.wait_for_lab(lab.services, testsuite.E2E_LAB, e2e.proc)
            site = None
            for role, scenario in pairs:
                if site is None and e2e.ended() and toolchain.ended():
                    site = _start_modern_site(settings, jobs, toolchain)
                elif site is not None and site.ended():
                    start_beside()
                lab.services.apt_cache([])  # made again if a lab network went meanwhile
                with timings.part(f"molecule {role}/{scenario}"):
                    _scenario(role, scenario, env)
            if site is None:
                jobs.finish(e2e)  # its lab is down before the next one comes up
                site = _start_modern_site(settings, jobs, toolchain)
            start_beside()  # their instances are apart from the 2.19 scenarios' too
            with timings.part("ansible-core 2.19 scenarios"):
                jobs.finish(toolchain)
                _modern_scenarios(settings, collection.MODERN_VENV / "bin")
        finally:
            jobs.finish_all()


def _start_modern_site(
    settings, jobs: testsuite.Background, toolchain: testsuite.Job
) -> testsuite.Job:
    """Start the 2.19 site test and wait until its lab is served by the apt cache."""
    jobs.finish(toolchain)
    bindir = collection.MODERN_VENV / "bin"
    job = jobs.start(
        "2.19 site test (beside)",
        [str(bindir / "python"), "-m", "pytest", "tests/modern", "-q", "-m", "modern"],
        env={"PATH": _modern_path(bindir)},
    )
    testsuite.wait_for_lab(settings.lab().services, testsuite.MODERN_LAB, job.proc)
    return job


def _modern_path(bindir) -> str:
    return f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}"


def _modern_scenarios(settings, bindir) -> None:
    """The 2.19 line's Molecule scenarios and the collection's AWX build context."""
    collection.ee_context(app.say)
    env = {**testsuite.molecule_env(settings), "PATH": _modern_path(bindir)}
    for role, scenario, platform in collection.MODERN_SCENARIOS:
        only = ["--platform-name", platform] if platform else []
        app.run_checked(
            [str(bindir / "molecule"), "test", "-s", scenario, *only],
            cwd=paths.ROLES / role,
            env=env,
        )


@task
@user_errors
def collection_build(c):
    """Build the collection tarball dlfleet.fleet into dist/ (ansible-galaxy collection build)."""
    app.say(f"built {collection.build()}")


@task
@user_errors
def collection_ee(c):
    """Build the collection and the AWX execution environment's build context (ee/context)."""
    collection.ee_context(app.say)


@task
@user_errors
def test_modern(c):
    """The ansible-core 2.19 line (installed into .venv-2.19): the collection's build context
    for AWX, chosen Molecule scenarios on non-xenial platforms and, beside them, the site
    twice on a noble GPU + bookworm lab and the built collection used from outside."""
    settings = settings_of(c)
    timings = testsuite.Timings()
    started = time.monotonic()
    jobs = testsuite.Background(settings.state, timings)
    toolchain = jobs.start("2.19 toolchain", _TOOLCHAIN)
    try:
        _start_modern_site(settings, jobs, toolchain)
        with timings.part("ansible-core 2.19 scenarios"):
            _modern_scenarios(settings, collection.MODERN_VENV / "bin")
    finally:
        jobs.finish_all()
        app.console.print(timings.table(time.monotonic() - started))


@task
@user_errors
def test_e2e(c):
    """Bring up a lab, provision it twice (second run changed=0), tear it down."""
    _pytest("tests/e2e", "-q", "-m", "e2e")


@task(default=True)
@user_errors
def test_all(c):
    """Everything CI runs: lint, unit, integration, every Molecule scenario beside the
    end-to-end test, and the ansible-core 2.19 line; then the time each part took."""
    timings = testsuite.Timings()
    started = time.monotonic()
    try:
        with timings.part("lint"):
            test_lint(c)
        with timings.part("unit"):
            test_unit(c)
        with timings.part("integration"):
            test_integration(c)
        _suite_lanes(c, timings)
    finally:
        app.console.print(timings.table(time.monotonic() - started))
    app.say("all tests passed")


def test_collection() -> Collection:
    return Collection(
        "test",
        test_all,
        unit=test_unit,
        integration=test_integration,
        lint=test_lint,
        molecule=test_molecule,
        e2e=test_e2e,
        modern=test_modern,
    )


def collection_collection() -> Collection:
    return Collection("collection", build=collection_build, ee=collection_ee)
