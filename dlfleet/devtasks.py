"""The tasks that work on dlfleet itself: the roles' generated docs, the collection and its
execution environment, and the test suite."""

from __future__ import annotations

import json
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
# the suite's slow parts print their slowest tests (setup, call and teardown apart): where
# the time goes, in every log
_SLOWEST = ("--durations=12", "--durations-min=5")


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


_SANITY = "from dlfleet import app, collection; collection.sanity(app.say)"


@task
@user_errors
def test_sanity(c):
    """ansible-test sanity on the collection as users get it (its tarball, unpacked)."""
    collection.sanity(app.say)


@task
@user_errors
def test_lint(c):
    """ruff, yamllint and ansible-lint (profile: production)."""
    lint()


def lint() -> None:
    """What test.lint runs (test_all runs it beside the unit tests)."""
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
    """Two lanes from the start. In the foreground, the Molecule scenarios whose instances
    share names, one after another, the image scenarios first (testsuite.IMAGE_SCENARIOS:
    what comes later loads their archives); in the background, one chain (beside_chain):
    the integration tests, ansible-test sanity, testsuite.BESIDE_SCENARIOS under instance
    names of their own, the end-to-end test, then the 2.19 site test. The shared images and the
    apt cache are made first, once; a lab coming up joins the apt cache's network without
    restarting it, so nothing waits for another."""
    settings = settings_of(c)
    everything = _scenarios(None, None)
    pairs = testsuite.suite_order([p for p in everything if p not in testsuite.BESIDE_SCENARIOS])
    beside = [p for p in everything if p in testsuite.BESIDE_SCENARIOS]
    with timings.part("lab images and apt cache (once, for all)"):
        env = testsuite.molecule_env(settings)
    lab = settings.lab()
    jobs = testsuite.Background(settings.state, timings)
    names = ", ".join(f"{r}/{s}" for r, s in beside)
    with testsuite.apt_cache_held(lab.client):
        try:
            jobs.start(
                f"beside: integration, sanity, {names}, the e2e, the 2.19 site test",
                [
                    sys.executable,
                    "-c",
                    "import sys, json; from dlfleet import devtasks; "
                    "devtasks.beside_chain(*map(json.loads, sys.argv[1:]))",
                    json.dumps(beside),
                    json.dumps(env),
                ],
            )
            for role, scenario in pairs:
                with timings.part(f"molecule {role}/{scenario}"):
                    _scenario(role, scenario, env)
        finally:
            jobs.finish_all()


def beside_chain(beside: list[list[str]], molecule_env: dict[str, str]) -> None:
    """The suite's background lane, one part after another, each one's time printed: the
    integration tests (nothing in them disturbs a scenario or a lab, the shared apt cache
    included, and they write nothing the scenarios read); ansible-test sanity on the
    collection; the scenarios in beside (role, scenario) under molecule_env and their own
    testsuite.BESIDE_SCENARIOS environment; the collection's AWX build context; the
    end-to-end test; the 2.19 toolchain and its site test (the 2.19 line's own scenarios,
    which cover less than it does, run in `invoke test.modern`). The first failure ends the
    chain."""

    def timed(name: str, argv: list[str], **kwargs) -> None:
        started = time.monotonic()
        app.run_checked(argv, **kwargs)
        app.say(f"{name}: {(time.monotonic() - started) / 60:.1f} min")

    timed("integration", [sys.executable, "-m", "pytest", "tests/integration", "-q", *_SLOWEST])
    timed("ansible-test sanity", [sys.executable, "-c", _SANITY])
    for role, scenario in beside:
        timed(
            f"molecule {role}/{scenario}",
            ["molecule", "test", "-s", scenario],
            cwd=paths.ROLES / role,
            env={**molecule_env, **testsuite.BESIDE_SCENARIOS[(role, scenario)]},
        )
    collection.ee_context(app.say)
    timed("e2e", [sys.executable, "-m", "pytest", "tests/e2e", "-q", "-m", "e2e", *_SLOWEST])
    timed("2.19 toolchain", _TOOLCHAIN)
    argv, env = _modern_site()
    timed("2.19 site test", argv, env=env)


def _start_modern_site(jobs: testsuite.Background, toolchain: testsuite.Job) -> testsuite.Job:
    """Start the 2.19 site test in the background (its toolchain installed first)."""
    jobs.finish(toolchain)
    argv, env = _modern_site()
    return jobs.start("2.19 site test (beside)", argv, env=env)


def _modern_site() -> tuple[list[str], dict[str, str]]:
    """The 2.19 site test's command line and environment (the 2.19 tools first on PATH)."""
    bindir = collection.MODERN_VENV / "bin"
    argv = [str(bindir / "python"), "-m", "pytest", "tests/modern", "-q", "-m", "modern", *_SLOWEST]
    return argv, {"PATH": _modern_path(bindir)}


def _modern_path(bindir) -> str:
    return f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}"


def _modern_env(env: dict[str, str]) -> dict[str, str]:
    """The 2.19 line's scenarios' environment: env, the 2.19 tools first on PATH, and the
    instance names and wheelhouse port that let them run beside the 2.16 ones."""
    return {
        **env,
        **testsuite.MODERN_MOLECULE_ENV,
        "PATH": _modern_path(collection.MODERN_VENV / "bin"),
    }


def modern_scenarios(env: dict[str, str] | None = None) -> None:
    """The 2.19 line's Molecule scenarios and the collection's AWX build context. env: what
    _modern_env gives (default: this process's environment). Each scenario keeps its state in
    a folder of its own, apart from its 2.16 run's."""
    env = dict(os.environ if env is None else env)
    collection.ee_context(app.say)
    suffix = env[testsuite.SUFFIX_VAR]
    for role, scenario, platform in collection.MODERN_SCENARIOS:
        only = ["--platform-name", platform + suffix] if platform else []
        state = paths.cache_dir() / "molecule-2.19" / f"{role}-{scenario}"
        app.run_checked(
            [str(collection.MODERN_VENV / "bin" / "molecule"), "test", "-s", scenario, *only],
            cwd=paths.ROLES / role,
            env={**env, "MOLECULE_EPHEMERAL_DIRECTORY": str(state)},
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
        _start_modern_site(jobs, toolchain)
        with timings.part("ansible-core 2.19 scenarios"):
            modern_scenarios(_modern_env(testsuite.molecule_env(settings)))
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
    """Everything CI runs: lint beside the unit tests; then every Molecule scenario beside the
    integration tests, the end-to-end test and the site test on ansible-core 2.19; then the
    time each part took."""
    timings = testsuite.Timings()
    started = time.monotonic()
    try:
        # lint reads the tree and writes nothing the tests read: it runs beside them
        jobs = testsuite.Background(settings_of(c).state, timings)
        linting = jobs.start(
            "lint (beside the unit tests)",
            [sys.executable, "-c", "from dlfleet import devtasks; devtasks.lint()"],
        )
        try:
            with timings.part("unit"):
                test_unit(c)
        finally:
            jobs.finish(linting)  # its output shown; a lint failure raised here
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
        sanity=test_sanity,
        molecule=test_molecule,
        e2e=test_e2e,
        modern=test_modern,
    )


def collection_collection() -> Collection:
    return Collection("collection", build=collection_build, ee=collection_ee)
