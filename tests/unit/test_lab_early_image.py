"""`invoke demo`'s image, built on the control machine while the lab's hosts start: lab.up
hands the build the variables the hosts get, returns while it goes on, and holds the image
build lock (what the site's dl_image play waits on) from before it returns until the build
ends, also when the build fails."""

import fcntl
import os
import threading
from types import SimpleNamespace

import pytest

from dlfleet import lab, paths
from dlfleet.lab import core, sources
from dlfleet.lab.recipes import RECIPES


def lock_is_held() -> bool:
    fd = os.open(paths.image_build_lock(), os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        return False
    except BlockingIOError:
        return True
    finally:
        os.close(fd)


@pytest.fixture
def the_lab(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    the_lab = lab.Lab(tmp_path / "state", say=lambda _: None, client=object(), name="t")
    made = []
    the_lab.__dict__["images"] = SimpleNamespace(
        exists=lambda recipe: True,
        rootfs_tars=lambda recipes, ready: [made.append(r.name) or ready(r) for r in recipes],
        ensure_all=lambda recipes: {r.name: r.image for r in recipes},
    )
    the_lab.__dict__["services"] = SimpleNamespace(apt_cache=lambda nets: {"t": "172.30.0.9"})
    monkeypatch.setattr(the_lab, "gateway", lambda: "172.30.0.1")
    monkeypatch.setattr(the_lab, "ensure_key", lambda: tmp_path / "key")
    (tmp_path / "key.pub").write_text("ssh-ed25519 AAAA test")
    monkeypatch.setattr(the_lab, "_ensure_host", lambda *a, **k: None)
    monkeypatch.setattr(the_lab, "hosts", lambda: [])
    monkeypatch.setattr(core.hosts, "wait_ssh", lambda found: None)
    written = {}
    monkeypatch.setattr(the_lab, "write_inventory", lambda *a, **k: written.update(extra=a[2]))
    monkeypatch.setattr(sources, "prefetch_wheels", lambda *a: None)
    served = {"dl_image_profile": "cpu", "dl_image_pip_find_links": "http://172.30.0.1:8781/"}
    monkeypatch.setattr(sources, "image_sources", lambda *a: dict(served))
    the_lab.test = SimpleNamespace(made=made, written=written, served=served)
    return the_lab


def test_the_build_gets_the_hosts_variables_and_holds_the_lock_past_lab_up(the_lab):
    release, seen = threading.Event(), {}

    def build(image_vars):
        seen.update(image_vars)
        seen["held"] = lock_is_held()
        release.wait(10)

    the_lab.up("noble=1", image_frameworks=["sklearn"], build_image=build)
    assert lock_is_held()  # lab.up returned, the build goes on and the site would wait
    release.set()
    for _ in range(100):
        if not lock_is_held():
            break
        threading.Event().wait(0.05)
    assert not lock_is_held()
    assert seen["held"] is True
    # what the hosts get, plus where the build reaches the wheelhouse and the apt cache
    assert {k: v for k, v in seen.items() if k in the_lab.test.served} == the_lab.test.served
    assert seen["dl_image_apt_proxy"] == "http://172.30.0.9:3142"
    assert seen["dl_image_build_network"] == "t"
    assert the_lab.test.written["extra"] == the_lab.test.served
    assert "bookworm" in the_lab.test.made


def test_a_failed_build_gives_the_lock_back_and_says_so(the_lab):
    done, said = threading.Event(), []
    the_lab.say = said.append

    def build(image_vars):
        try:
            raise RuntimeError("no space left")
        finally:
            done.set()

    the_lab.up("noble=1", image_frameworks=["sklearn"], build_image=build)
    assert done.wait(10)
    for _ in range(100):
        if not lock_is_held():
            break
        threading.Event().wait(0.05)
    assert not lock_is_held()
    assert any("no space left" in line for line in said), said


def test_no_early_build_with_the_lab_registry(the_lab, monkeypatch):
    called = []
    monkeypatch.setattr(sources, "registry_vars", lambda *a: {"dl_image_distribution": "registry"})
    the_lab.up(
        "noble=1", image_frameworks=["sklearn"], image_registry=True, build_image=called.append
    )
    assert called == []
    assert RECIPES["noble"].name in the_lab.test.made
