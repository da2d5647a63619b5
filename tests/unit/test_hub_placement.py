"""The hub's placement: which host and GPUs a new server gets, from the containers' labels
on the hosts (the truth), never a GPU to two servers, and what is busy when nothing fits."""

import pytest

from dlfleet import plugins

placement = plugins.util("dl_hub_placement")

Host, Profile, place, NoRoom = placement.Host, placement.Profile, placement.place, placement.NoRoom
ONE = Profile("1gpu", "1 GPU", gpus=1)
TWO = Profile("2gpu", "2 GPUs", gpus=2)
CPU = Profile("cpu", "CPU only", gpus=0)


def server(user, gpus, state="running", name=None):
    return {
        "Names": [f"/{name or 'jupyter-' + user}"],
        "State": state,
        "Labels": {"io.dlfleet.container": name or f"jupyter-{user}",
                   "io.dlfleet.user": user, "io.dlfleet.gpus": gpus},
    }  # fmt: skip


def fleet(**held):
    """Two hosts of 2 GPUs: gpu-a and gpu-b, with the given containers."""
    return [
        Host(name, ["0", "1"], list(held.get(name.replace("-", "_"), [])))
        for name in ("gpu-a", "gpu-b")
    ]


def test_three_users_land_on_three_distinct_host_gpu_pairs_and_a_fourth_asking_two_is_told_no():
    hosts = fleet()
    pairs = []
    for user in ("alice", "bob", "carol"):
        p = place(user, ONE, hosts)
        pairs.append((p.host, p.gpus))
        next(h for h in hosts if h.name == p.host).containers.append(server(user, ",".join(p.gpus)))
    assert len(set(pairs)) == 3
    assert pairs[0] == ("gpu-a", ("0",)) and pairs[1] == ("gpu-b", ("0",))  # most free first
    with pytest.raises(NoRoom) as no:
        place("dave", TWO, hosts)
    message = str(no.value)
    assert "no host has 2 free GPUs" in message
    assert "gpu-a has 0 of 2 free (GPU 0 held by alice; GPU 1 held by carol)" in message
    assert "gpu-b has 1 of 2 free (GPU 0 held by bob)" in message


def test_a_stopped_server_gives_its_gpus_back_and_a_declared_workspace_holds_all():
    hosts = fleet(gpu_a=[server("alice", "0,1", state="exited")],
                  gpu_b=[server("team", "all", name="dl-team")])  # fmt: skip
    p = place("bob", TWO, hosts)
    assert (p.host, p.gpus) == ("gpu-a", ("0", "1"))
    assert hosts[1].holders() == {"0": ["team"], "1": ["team"]}


def test_labels_the_host_supplies_name_gpus_it_lacks_they_are_still_held():
    # a container holding GPU 7 on a 2-GPU host: counted, never handed out again
    hosts = [Host("gpu-a", ["0", "1"], [server("mallory", "1,7")])]
    assert hosts[0].holders()["7"] == ["mallory"]
    assert hosts[0].free() == ["0"]


def test_back_to_the_home_host_while_it_has_room_else_the_most_free():
    hosts = fleet(gpu_b=[server("carol", "0")])
    assert place("alice", ONE, hosts, home="gpu-b").host == "gpu-b"
    hosts[1].containers.append(server("dave", "1"))
    assert place("alice", ONE, hosts, home="gpu-b").host == "gpu-a"


def test_cpu_only_goes_home_or_to_the_host_running_fewest_servers():
    hosts = fleet(gpu_a=[server("x", "none"), server("y", "none")], gpu_b=[server("z", "0,1")])
    p = place("alice", CPU, hosts)
    assert (p.host, p.gpus) == ("gpu-b", ())
    assert place("alice", CPU, hosts, home="gpu-a").host == "gpu-a"


def test_a_host_that_does_not_answer_is_skipped_and_named():
    hosts = [Host("gpu-a", ["0", "1"], None), Host("gpu-b", ["0"], [])]
    p = place("alice", ONE, hosts, home="gpu-a")
    assert (p.host, p.skipped) == ("gpu-b", ("gpu-a",))
    with pytest.raises(NoRoom, match="gpu-a does not answer; gpu-b has 1 of 1 free"):
        place("alice", TWO, hosts)


def test_sharing_only_when_allowed_least_held_first():
    hosts = [Host("gpu-a", ["0", "1"], [server("a", "0"), server("b", "1"), server("c", "0")])]
    with pytest.raises(NoRoom):
        place("d", ONE, hosts)
    assert place("d", ONE, hosts, share=2).gpus == ("1",)


def test_profiles_limited_to_hosts_and_users():
    pinned = Profile("big", "2 GPUs on gpu-b", gpus=2, hosts=("gpu-b",), users=("alice",))
    hosts = fleet()
    assert place("alice", pinned, hosts).host == "gpu-b"
    with pytest.raises(PermissionError):
        place("bob", pinned, hosts)
    hosts[1].containers.append(server("carol", "1"))
    with pytest.raises(NoRoom, match="gpu-b has 1 of 2 free") as no:
        place("alice", pinned, hosts)
    assert "gpu-a" not in str(no.value)  # the pin is kept even when another host has room


def test_profile_errors_name_the_variable_and_what_fits():
    gpus = {"gpu-a": 2, "gpu-b": 4}
    assert placement.profile_errors(
        [{"slug": "1gpu", "gpus": 1}, {"slug": "cpu", "gpus": 0},
         {"slug": "4", "gpus": 4, "hosts": ["gpu-b"]}], gpus) == []  # fmt: skip
    errors = placement.profile_errors(
        [
            {"slug": "huge", "gpus": 8},
            {"slug": "pinned", "gpus": 4, "hosts": ["gpu-a"]},
            {"slug": "nowhere", "gpus": 1, "hosts": ["gpu-z"]},
            {"slug": "huge", "gpus": 1},
            {"slug": "odd", "gpus": "two"},
            {"gpus": 1},
            {"slug": "neg", "gpus": -1},
        ],
        gpus,
    )
    assert errors == [
        "dl_hub_profiles[0] (huge): asks for 8 GPUs; the most any of its hosts has is 4",
        "dl_hub_profiles[1] (pinned): asks for 4 GPUs; the most any of its hosts has is 2",
        "dl_hub_profiles[2] (nowhere): hosts gpu-z are not GPU hosts of this fleet "
        "(known: gpu-a, gpu-b)",
        "dl_hub_profiles[3] (huge): slug is used by another profile",
        "dl_hub_profiles[4] (odd): gpus must be a whole number, got 'two'",
        "dl_hub_profiles[5]: each profile needs a slug (and gpus, display_name)",
        "dl_hub_profiles[6] (neg): gpus must be 0 (CPU only) or more, got -1",
    ]
