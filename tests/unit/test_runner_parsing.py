"""The runner's pure parts: -e values as Ansible reads them, and the event collector."""

import pytest

from dlfleet.errors import DlfleetError
from dlfleet.extravars import parse_extravars
from dlfleet.runner import EventCollector


@pytest.mark.parametrize(
    ("items", "expected"),
    [
        (["a=1", "b=x=y"], {"a": "1", "b": "x=y"}),
        (['{"n": 3, "l": [1]}'], {"n": 3, "l": [1]}),
        (["a=1", "a=2"], {"a": "2"}),
        # several pairs in one -e, quoting as Ansible reads it
        (["a=1 b=2"], {"a": "1", "b": "2"}),
        (["msg='two words' n=3"], {"msg": "two words", "n": "3"}),
        (["dl_containers_users: [alice, bob]"], None),
        (["{dl_containers_users: [alice, bob]}"], {"dl_containers_users": ["alice", "bob"]}),
    ],
)
def test_parse_extravars(items, expected):
    if expected is None:  # neither key=value nor a mapping in braces: refused, as Ansible does
        with pytest.raises(DlfleetError):
            parse_extravars(items)
        return
    assert parse_extravars(items) == expected


def test_parse_extravars_file_and_errors(tmp_path):
    f = tmp_path / "vars.yml"
    f.write_text("docker_version: '24.0'\n")
    assert parse_extravars([f"@{f}"]) == {"docker_version": "24.0"}
    with pytest.raises(DlfleetError, match="expected key=value"):
        parse_extravars(["novalue"])
    with pytest.raises(DlfleetError, match="not found"):
        parse_extravars([f"@{tmp_path}/missing.yml"])
    listing = tmp_path / "list.yml"
    listing.write_text("- 1\n- 2\n")
    with pytest.raises(DlfleetError, match="must be a mapping"):
        parse_extravars([f"@{listing}"])


def test_collector_censors_no_log_and_skips_ignored():
    c = EventCollector()
    c(
        {
            "event": "runner_on_failed",
            "event_data": {"host": "h", "task": "t", "ignore_errors": True, "res": {"msg": "x"}},
        }
    )
    c(
        {
            "event": "runner_on_failed",
            "event_data": {
                "host": "h",
                "task": "secret",
                "res": {
                    "msg": "pw=hunter2",
                    "_ansible_no_log": True,
                    "censored": "the output has been hidden",
                },
            },
        }
    )
    c(
        {
            "event": "runner_on_unreachable",
            "event_data": {"host": "g", "task": "ping", "res": {"msg": "ssh: no route"}},
        }
    )
    assert [(f.host, f.msg, f.unreachable) for f in c.failures] == [
        ("h", "the output has been hidden", False),
        ("g", "ssh: no route", True),
    ]
