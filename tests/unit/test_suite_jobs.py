"""The suite's background jobs: every job is waited for, each one's time is recorded, and
the first failure is raised only after the others have ended."""

from __future__ import annotations

import re
import sys

import pytest

from dlfleet import testsuite
from dlfleet.errors import DlfleetError


def _py(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def test_every_job_is_waited_for_and_timed(tmp_path):
    timings = testsuite.Timings()
    jobs = testsuite.Background(tmp_path, timings)
    fast = jobs.start("fast one (beside)", _py("print('fast done')"))
    slow = jobs.start("slow one", _py("import time; time.sleep(0.5); print('slow done')"))
    jobs.finish(fast)
    jobs.finish(fast)  # a second wait is harmless and records nothing more
    jobs.finish_all()
    assert slow.ended() and slow.finished
    assert [row[0] for row in timings.rows] == ["fast one (beside)", "slow one"]
    assert all(outcome == "ok" for _, _, outcome in timings.rows)
    assert timings.rows[1][1] >= 0.4
    assert (tmp_path / "test-fast-one.log").read_text().strip() == "fast done"
    assert (tmp_path / "test-slow-one.log").read_text().strip() == "slow done"


def test_a_failure_is_raised_after_the_others_ended(tmp_path):
    timings = testsuite.Timings()
    jobs = testsuite.Background(tmp_path, timings)
    jobs.start("broken", _py("raise SystemExit(3)"))
    later = jobs.start("later", _py("import time; time.sleep(0.3); print('still ran')"))
    with pytest.raises(DlfleetError, match="exit 3"):
        jobs.finish_all()
    assert later.finished and later.proc.returncode == 0
    assert [(name, outcome) for name, _, outcome in timings.rows] == [
        ("broken", "failed"),
        ("later", "ok"),
    ]
    # asked again, a failed job still fails
    with pytest.raises(DlfleetError, match="broken failed"):
        jobs.finish(jobs.jobs[0])


# a host named by its instance's OS name, which carries a suffix when run beside the others
BY_INSTANCE = re.compile(
    r"hostvars\[['\"](xenial|jammy|noble|bookworm)['\"]\]"
    r"|inventory_hostname\s*(==|!=)\s*['\"](xenial|jammy|noble|bookworm)['\"]"
)


def _ports(config):
    """The fixed ports a scenario's inventory names (its file servers, registries)."""
    import re

    text = str(config.get("provisioner", {}).get("inventory", {}))
    return set(re.findall(r"'__\w*port': (\d+)", text))


def test_scenarios_run_beside_the_others_share_no_instance_name_or_port():
    everything = testsuite.molecule_scenarios()
    assert set(everything) >= set(testsuite.BESIDE_SCENARIOS)
    for pair in testsuite.BESIDE_SCENARIOS:
        mine = testsuite.scenario_config(*pair, testsuite.BESIDE_SCENARIOS[pair])
        names = {p["name"] for p in mine["platforms"]}
        for other in everything:
            if other == pair:
                continue
            theirs = testsuite.scenario_config(*other)
            assert not names & {p["name"] for p in theirs["platforms"]}, (pair, other)
            assert not _ports(mine) & _ports(theirs), (pair, other)
            if other in testsuite.BESIDE_SCENARIOS:  # and apart from each other
                theirs = testsuite.scenario_config(*other, testsuite.BESIDE_SCENARIOS[other])
                assert not names & {p["name"] for p in theirs["platforms"]}, (pair, other)
                assert not _ports(mine) & _ports(theirs), (pair, other)
        # they name hosts by group only (an instance's name carries the suffix)
        assert "host_vars" not in mine["provisioner"]["inventory"], pair
        folder = testsuite.paths.ROLES / pair[0] / "molecule" / pair[1]
        for playbook in folder.glob("*.yml"):
            assert not BY_INSTANCE.search(playbook.read_text()), playbook


def test_scenarios_follow_the_site_and_the_image_scenarios_come_first():
    roles = testsuite.site_role_order()
    assert roles.index("docker") < roles.index("nvidia_driver") < roles.index("dl_image")
    assert roles.index("dl_image") < roles.index("dl_containers")
    pairs = testsuite.molecule_scenarios()
    ordered = testsuite.suite_order(pairs)
    assert ordered[: len(testsuite.IMAGE_SCENARIOS)] == testsuite.IMAGE_SCENARIOS
    assert sorted(ordered) == sorted(pairs)
    rest = [p for p in pairs if p not in testsuite.IMAGE_SCENARIOS]
    assert ordered[len(testsuite.IMAGE_SCENARIOS) :] == rest


def test_the_labs_gpu_images_are_the_ones_the_cuda_scenario_leaves_on_the_control_machine():
    """The e2e's and the 2.19 site test's GPU hosts (jammy, noble) run the CUDA line that the
    cuda scenario's builder ships to its other host: an archive kept on the control machine,
    which those labs load instead of building (on the same base: the lab's Ubuntu 24.04)."""
    from dlfleet.lab import RECIPES, gpu
    from dlfleet.lab.recipes import LINE_BASES

    base = {"DLFLEET_UBUNTU_BASE": "the lab's Ubuntu 24.04 base"}
    inventory = testsuite.scenario_config("dl_image", "cuda", base)["provisioner"]["inventory"]
    settings = inventory["group_vars"]["all"]
    builder = settings["dl_image_build_host"]
    shipped = {line for host, line in settings["__expected_line"].items() if host != builder}
    assert {gpu.line_for(RECIPES["jammy"]), gpu.line_for(RECIPES["noble"])} <= shipped
    for line in shipped:
        assert settings["dl_image_base"][line] == base["DLFLEET_UBUNTU_BASE"]
        assert LINE_BASES[line] is RECIPES["noble"]


def test_the_2_19_scenarios_run_beside_the_others_under_names_and_ports_of_their_own():
    """The suite runs the 2.19 line's scenarios beside the 2.16 ones: with
    MODERN_MOLECULE_ENV their instances and file servers are apart from every scenario's,
    and they name their hosts by group only (an instance's name carries the suffix)."""
    from dlfleet import collection

    everything = testsuite.molecule_scenarios()
    for role, scenario, platform in collection.MODERN_SCENARIOS:
        mine = testsuite.scenario_config(role, scenario, testsuite.MODERN_MOLECULE_ENV)
        names = {p["name"] for p in mine["platforms"]}
        assert all(n.endswith(testsuite.MODERN_MOLECULE_ENV[testsuite.SUFFIX_VAR]) for n in names)
        if platform:
            assert platform + testsuite.MODERN_MOLECULE_ENV[testsuite.SUFFIX_VAR] in names
        for other in everything:
            theirs = testsuite.scenario_config(*other)
            assert not names & {p["name"] for p in theirs["platforms"]}, (role, scenario, other)
            assert not _ports(mine) & _ports(theirs), (role, scenario, other)
        assert "host_vars" not in mine["provisioner"]["inventory"]
        folder = testsuite.paths.ROLES / role / "molecule" / scenario
        for playbook in folder.glob("*.yml"):
            assert not BY_INSTANCE.search(playbook.read_text()), playbook
