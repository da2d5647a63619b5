"""dl_image's plan (plugins/filter/dl_image.py: plan): who builds each image of a play and
how it reaches the hosts that lack it, for one host, many hosts on one line, several CUDA
lines, archive, registry and build distribution, and archives cached on the control machine."""

import pytest

from dlfleet import plugins

plan = plugins.filter_plugin("dl_image").plan

CPU = "dlfleet/dl:cpu-1a2b"
CU13 = "dlfleet/dl:gpu-cu13-3c4d"
CU12 = "dlfleet/dl:gpu-cu12-5e6f"


def play(**hosts):
    """The play's hosts and hostvars: name=(its image, the play's images it holds already)."""
    return list(hosts), {
        h: {"dl_image_ref": ref, "__dl_image_have": have} for h, (ref, have) in hosts.items()
    }


def test_one_host_builds_its_image_and_shares_it_with_nobody():
    hosts, hv = play(noble=(CPU, []))
    out = plan(hosts, hv, "", "archive", [])
    assert out["builders"] == {CPU: "noble"}
    assert out["via"] == {CPU: "archive"}
    assert out["hosts"] == {"noble": {"build": [CPU], "seed": [], "share": []}}


def test_one_line_many_hosts_the_build_host_builds_and_shares_by_archive():
    hosts, hv = play(xenial=(CPU, []), noble=(CPU, []), bookworm=(CPU, []))
    out = plan(hosts, hv, "noble", "archive", [])
    assert out["builders"] == {CPU: "noble"}
    assert out["hosts"]["noble"] == {"build": [CPU], "seed": [], "share": [CPU]}
    for other in ("xenial", "bookworm"):
        assert out["hosts"][other] == {"build": [], "seed": [], "share": []}
    assert out["missing"] == [CPU]


def test_without_the_build_host_in_the_play_the_first_host_that_runs_the_image_builds():
    hosts, hv = play(xenial=(CPU, []), bookworm=(CPU, []))  # --limit left noble out
    out = plan(hosts, hv, "noble", "archive", [])
    assert out["builders"] == {CPU: "xenial"}
    assert out["hosts"]["xenial"]["build"] == [CPU]


def test_several_cuda_lines_one_image_each_all_from_the_build_host():
    hosts, hv = play(noble=(CU13, []), bookworm=(CU12, []), jammy=(CU13, []))
    out = plan(hosts, hv, "bookworm", "archive", [])
    assert out["builders"] == {CU13: "bookworm", CU12: "bookworm"}
    # bookworm builds both; it shares CUDA 13's (noble and jammy lack it), keeps 12's
    assert out["hosts"]["bookworm"] == {"build": [CU13, CU12], "seed": [], "share": [CU13]}
    assert out["hosts"]["noble"]["build"] == [] and out["hosts"]["jammy"]["build"] == []


def test_several_lines_without_a_build_host_each_line_has_its_first_host_as_builder():
    hosts, hv = play(noble=(CU13, []), bookworm=(CU12, []), jammy=(CU13, []))
    out = plan(hosts, hv, "", "archive", [])
    assert out["builders"] == {CU13: "noble", CU12: "bookworm"}
    assert out["hosts"]["noble"] == {"build": [CU13], "seed": [], "share": [CU13]}
    assert out["hosts"]["bookworm"] == {"build": [CU12], "seed": [], "share": []}


def test_a_cached_archive_replaces_the_build_everywhere():
    hosts, hv = play(noble=(CPU, []), bookworm=(CPU, []))
    out = plan(hosts, hv, "noble", "archive", [CPU])
    assert out["via"] == {CPU: "cache"}
    assert out["hosts"]["noble"] == {"build": [], "seed": [], "share": []}
    assert out["hosts"]["bookworm"] == {"build": [], "seed": [], "share": []}


def test_with_a_registry_a_cached_archive_seeds_the_builder_and_the_others_pull():
    hosts, hv = play(noble=(CPU, []), bookworm=(CPU, []), xenial=(CPU, []))
    out = plan(hosts, hv, "noble", "registry", [CPU])
    assert out["via"] == {CPU: "registry"}
    assert out["hosts"]["noble"] == {"build": [], "seed": [CPU], "share": [CPU]}
    assert out["hosts"]["xenial"] == {"build": [], "seed": [], "share": []}


def test_registry_without_a_cache_builds_once_and_pushes():
    hosts, hv = play(noble=(CPU, []), bookworm=(CPU, []))
    out = plan(hosts, hv, "noble", "registry", [])
    assert out["hosts"]["noble"] == {"build": [CPU], "seed": [], "share": [CPU]}


def test_build_distribution_every_host_builds_its_own_and_shares_nothing():
    hosts, hv = play(noble=(CU13, []), bookworm=(CU12, []), jammy=(CU13, []))
    out = plan(hosts, hv, "noble", "build", [])
    for host, ref in (("noble", CU13), ("bookworm", CU12), ("jammy", CU13)):
        assert out["hosts"][host]["build"] == [ref]
        assert out["hosts"][host]["share"] == []  # nothing travels


def test_hosts_that_hold_their_image_make_nothing_and_a_second_run_plans_nothing():
    hosts, hv = play(noble=(CPU, [CPU]), bookworm=(CPU, []))
    out = plan(hosts, hv, "noble", "archive", [])
    # noble holds it: nothing to build, but bookworm lacks it, so noble saves and shares it
    assert out["hosts"]["noble"] == {"build": [], "seed": [], "share": [CPU]}
    hosts, hv = play(noble=(CPU, [CPU]), bookworm=(CPU, [CPU]))
    out = plan(hosts, hv, "noble", "archive", [])
    assert out["missing"] == []
    assert all(v == {"build": [], "seed": [], "share": []} for v in out["hosts"].values())


def test_the_builder_builds_an_image_only_others_lack():
    hosts, hv = play(bookworm=(CU12, [CU12]), noble=(CU13, []))
    out = plan(hosts, hv, "bookworm", "archive", [])
    assert out["hosts"]["bookworm"] == {"build": [CU13], "seed": [], "share": [CU13]}


def test_an_unknown_distribution_is_refused():
    hosts, hv = play(noble=(CPU, []))
    with pytest.raises(
        ValueError, match="dl_image_distribution must be archive, registry or build"
    ):
        plan(hosts, hv, "", "torrent", [])
