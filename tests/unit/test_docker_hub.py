"""Who may open a hub's server ports on an engine (the docker role's DOCKER-USER rules):
the hub hosts' addresses as the inventory or their facts give them, the range the hub
publishes on, and every bad value refused naming the variable to set."""

import pytest

from dlfleet import plugins

firewall = plugins.filter_plugin("docker_hub").docker_hub_firewall


def test_the_hubs_inventory_addresses_and_the_default_range():
    hostvars = {
        "hub-1": {"ansible_host": "10.20.0.5"},
        "hub-2": {"ansible_host": "hub2.example", "dl_hub_api_address": "10.20.0.6"},
        "gpu-1": {"ansible_host": "10.20.0.7"},
    }
    plan = firewall([], "", ["hub-1", "hub-2"], hostvars)
    assert plan == {
        "sources": ["10.20.0.5/32", "10.20.0.6/32"],
        "ports": "47000:47999",
        "unknown": [],
        "errors": [],
    }


def test_a_hub_known_by_name_alone_is_asked_then_its_facts_answer():
    hostvars = {"hub": {"ansible_host": "hub"}}
    plan = firewall([], "", ["hub"], hostvars)
    assert plan["unknown"] == ["hub"]
    assert "set docker_hub_sources" in plan["errors"][0]
    hostvars["hub"]["ansible_facts"] = {"default_ipv4": {"address": "172.18.0.3"}}
    plan = firewall([], "", ["hub"], hostvars)
    assert (plan["sources"], plan["unknown"], plan["errors"]) == (["172.18.0.3/32"], [], [])


def test_the_hubs_range_from_the_inventory_and_its_own_setting_win():
    hostvars = {"hub": {"ansible_host": "10.0.0.1", "dl_hub_server_ports": "48000-48099"}}
    assert firewall([], "", ["hub"], hostvars)["ports"] == "48000:48099"
    assert firewall([], "49000-49010", ["hub"], hostvars)["ports"] == "49000:49010"
    hostvars["hub2"] = {"ansible_host": "10.0.0.2", "dl_hub_server_ports": "47000-47999"}
    errors = firewall([], "", ["hub", "hub2"], hostvars)["errors"]
    assert errors and "set docker_hub_server_ports" in errors[0]


def test_given_sources_are_normalized_as_iptables_prints_them():
    plan = firewall(["10.1.2.3", "10.9.8.7/8", "10.1.2.3"], "47000-47999", [], {})
    assert plan["sources"] == ["10.1.2.3/32", "10.0.0.0/8"]
    assert plan["errors"] == []


@pytest.mark.parametrize(
    ("sources", "ports", "variable"),
    [
        (["fd00::1"], "", "docker_hub_sources"),
        (["0.0.0.0/0"], "", "docker_hub_sources"),
        (["hub.example"], "", "docker_hub_sources"),
        (["10.0.0.1"], "47999-47000", "docker_hub_server_ports"),
        (["10.0.0.1"], "80-90", "docker_hub_server_ports"),
        (["10.0.0.1"], "47000", "docker_hub_server_ports"),
    ],
)
def test_bad_values_are_refused_naming_the_variable(sources, ports, variable):
    errors = firewall(sources, ports, [], {})["errors"]
    assert len(errors) == 1
    assert variable in errors[0]


def test_no_hub_in_the_inventory_and_none_named_closes_the_range_to_everybody():
    plan = firewall([], "", [], {})
    assert (plan["sources"], plan["ports"], plan["errors"]) == ([], "47000:47999", [])
