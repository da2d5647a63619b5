"""The suite's background jobs: every job is waited for, each one's time is recorded, and
the first failure is raised only after the others have ended."""

from __future__ import annotations

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


def _ports(config):
    """The fixed ports a scenario's inventory names (its file servers, registries)."""
    import re

    text = str(config.get("provisioner", {}).get("inventory", {}))
    return set(re.findall(r"'__\w*port': (\d+)", text))


def test_scenarios_run_beside_the_others_share_no_instance_name_or_port():
    everything = testsuite.molecule_scenarios()
    assert set(everything) >= testsuite.BESIDE_SCENARIOS
    for pair in testsuite.BESIDE_SCENARIOS:
        mine = testsuite.scenario_config(*pair)
        names = {p["name"] for p in mine["platforms"]}
        for other in everything:
            if other == pair:
                continue
            theirs = testsuite.scenario_config(*other)
            assert not names & {p["name"] for p in theirs["platforms"]}, (pair, other)
            assert not _ports(mine) & _ports(theirs), (pair, other)
        assert _ports(mine), "the scenario's own port is read"
