"""daemon.json merge: dlfleet owns the values it wrote, wherever they are nested; the host's
own values survive every run."""

from dlfleet import plugins

plugin = plugins.filter_plugin("docker_daemon")
merge = plugin.docker_daemon_merge

DEFAULTS = {
    "log-driver": "json-file",
    "log-opts": {"max-size": "100m", "max-file": "5"},
    "live-restore": True,
}
HOST = {
    "log-opts": {"max-file": "9"},
    "runtimes": {"kata": {"path": "/usr/bin/kata-runtime"}},
}
OPTIONS = {"log-opts": {"max-size": "50m"}, "runtimes": {"crun": {"path": "/usr/bin/crun"}}}
NVIDIA = {"runtimes": {"nvidia": {"path": "nvidia-container-runtime", "runtimeArgs": []}}}


def paths(result):
    return [entry["path"] for entry in result["managed"]]


def run_twice(existing, options, contributions=()):
    first = merge(existing, [], DEFAULTS, options, list(contributions))
    second = merge(first["config"], first["managed"], DEFAULTS, options, list(contributions))
    return first, second


def test_nested_host_values_survive_the_second_run():
    first, second = run_twice(HOST, OPTIONS, [NVIDIA])
    assert second["config"] == first["config"]  # nothing changes: no restart
    config = second["config"]
    assert config["log-opts"] == {"max-file": "9", "max-size": "50m"}
    assert set(config["runtimes"]) == {"kata", "crun", "nvidia"}
    assert config["live-restore"] is True
    assert ["log-opts", "max-file"] not in paths(second)
    assert ["runtimes", "kata"] not in paths(second)
    assert ["runtimes", "nvidia", "path"] in paths(second)


def test_a_value_no_longer_asked_for_is_removed_and_the_hosts_stay():
    first, _ = run_twice(HOST, OPTIONS, [NVIDIA])
    after = merge(first["config"], first["managed"], DEFAULTS, {}, [])
    config = after["config"]
    assert config["runtimes"] == {"kata": {"path": "/usr/bin/kata-runtime"}}
    # the host's own max-file stays; dlfleet's default max-size comes back in place of 50m
    assert config["log-opts"] == {"max-file": "9", "max-size": "100m"}


def test_an_emptied_mapping_goes_with_its_last_value():
    first = merge({}, [], {}, {"features": {"buildkit": True}}, [])
    after = merge(first["config"], first["managed"], {}, {}, [])
    assert after["config"] == {}


def test_the_hosts_own_log_driver_gets_no_json_file_options():
    config = merge({"log-driver": "journald"}, [], DEFAULTS, {}, [])["config"]
    assert config == {"log-driver": "journald", "live-restore": True}
    # the same when the driver is asked for
    config = merge({}, [], DEFAULTS, {"log-driver": "syslog"}, [])["config"]
    assert "log-opts" not in config


def test_asked_values_win_over_the_hosts_and_defaults_do_not():
    config = merge({"live-restore": False, "debug": True}, [], DEFAULTS, {"debug": False}, [])
    assert config["config"]["live-restore"] is False  # the host turned it off: kept
    assert config["config"]["debug"] is False  # asked for: set
    assert ["live-restore"] not in paths(config)


def test_older_records_of_top_level_keys_still_read():
    existing = {"log-driver": "json-file", "log-opts": {"max-size": "100m", "max-file": "5"}}
    after = merge(existing, ["log-driver", "log-opts"], DEFAULTS, {}, [])
    assert after["config"] == {**DEFAULTS}
    assert ["log-opts", "max-size"] in paths(after)


def test_an_admins_later_edit_of_a_default_is_kept_over_two_runs():
    first = merge({}, [], DEFAULTS, {}, [])
    assert first["config"]["log-driver"] == "json-file"
    # the admin changes what dlfleet had written as defaults
    edited = {**first["config"], "live-restore": False, "log-driver": "journald"}
    second = merge(edited, first["managed"], DEFAULTS, {}, [])
    assert second["config"]["live-restore"] is False
    assert second["config"]["log-driver"] == "journald"
    assert "log-opts" not in second["config"]  # journald takes none of json-file's options
    third = merge(second["config"], second["managed"], DEFAULTS, {}, [])
    assert third["config"] == second["config"]  # nothing to write: no restart
    # what the inventory asks for is still enforced over an edit
    asked = merge(edited, first["managed"], DEFAULTS, {"live-restore": True}, [])
    assert asked["config"]["live-restore"] is True


def test_older_records_without_values_still_read():
    first = merge({}, [], DEFAULTS, {}, [])
    old = [entry["path"] for entry in first["managed"]]
    after = merge(first["config"], old, DEFAULTS, {}, [])
    assert after["config"] == first["config"]
