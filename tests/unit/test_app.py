"""Configuration, inventory choice, lab specs and the command line's input errors."""

import base64
import os
import re
import shlex
import subprocess
import sys
from types import SimpleNamespace

import pytest
import yaml

from dlfleet import app, cudalines, engine, lab, paths, runner, testsuite, views
from dlfleet.errors import DlfleetError
from dlfleet.lab import gpu as labgpu
from dlfleet.lab import recipes
from dlfleet.settings import Settings


def invoke(*args, env=None, cwd=paths.ROOT):
    return subprocess.run(
        [sys.executable, "-m", "invoke", *args],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_settings_from_invoke_config_shape():
    s = Settings.from_config(
        {"inventory": "x.yml", "forks": "7", "lab": {"hosts": "noble=2", "apt_cache": "false"}}
    )
    assert (s.inventory, s.forks, s.lab_hosts, s.lab_apt_cache) == ("x.yml", 7, "noble=2", False)
    assert Settings.from_config(None).lab_hosts == "xenial=1,noble=1"


def test_inventory_choice(tmp_path, monkeypatch):
    inv = tmp_path / "fleet.yml"
    inv.write_text("all: {}\n")
    s = Settings(state_dir=str(tmp_path / "state"))
    assert app.resolve_inventory(s, str(inv)) == inv.resolve()
    with pytest.raises(DlfleetError, match="inventory not found: .*nope.yml"):
        app.resolve_inventory(s, str(tmp_path / "nope.yml"))
    with pytest.raises(DlfleetError, match="no lab running"):
        app.resolve_inventory(s, None)
    s.inventory = str(inv)
    assert app.resolve_inventory(s, None) == inv.resolve()


def test_retry_failed_limits_to_last_failures(tmp_path):
    s = Settings(state_dir=str(tmp_path))
    with pytest.raises(DlfleetError, match="no earlier run"):
        app._retry_limit(s, None)
    (tmp_path / "runs").mkdir()
    (tmp_path / "runs" / "last.json").write_text('{"failed_hosts": ["noble-1", "xenial-2"]}')
    assert app._retry_limit(s, None) == "noble-1:xenial-2"
    (tmp_path / "runs" / "last.json").write_text('{"failed_hosts": []}')
    with pytest.raises(DlfleetError, match="no failed hosts"):
        app._retry_limit(s, None)


def test_molecule_scenarios_and_unknown_role():
    pairs = testsuite.molecule_scenarios()
    assert ("docker", "default") in pairs
    assert testsuite.molecule_scenarios("docker") == [p for p in pairs if p[0] == "docker"]
    with pytest.raises(DlfleetError, match="unknown role 'dockr': roles are .*docker"):
        testsuite.molecule_scenarios("dockr")
    # hardware scenarios never run unless named
    assert ("nvidia_driver", "gpu") not in pairs
    assert testsuite.molecule_scenarios("nvidia_driver", "gpu") == [("nvidia_driver", "gpu")]
    # the GPU image scenario runs in the lab, without a GPU: always
    assert ("dl_image", "cuda") in pairs


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("centos=1", "unknown lab OS 'centos': choose from bookworm, jammy, noble, xenial"),
        ("noble=two", "must be a number"),
        ("noble=0", "must be 1..64"),
        ("", "no lab hosts"),
        ("noble+tpu=1", "unknown lab host option \\+tpu: the only one is \\+gpu"),
        ("noble+gpu9=1", "unknown lab host option \\+gpu9: the only one is \\+gpu .* up to 8"),
    ],
)
def test_bad_lab_specs(spec, message):
    with pytest.raises(DlfleetError, match=message):
        lab.parse_hosts_spec(spec)


def test_lab_spec_parsing():
    assert lab.parse_hosts_spec("xenial=1, noble=2,bookworm,noble+gpu=1,noble+gpu2=2") == [
        ("xenial", 1, 0),
        ("noble", 2, 0),
        ("bookworm", 1, 0),
        ("noble", 1, 1),
        ("noble", 2, 2),
    ]


def test_simulated_gpu_hosts_get_their_own_group(tmp_path):
    the_lab = lab.Lab(tmp_path, say=lambda _: None, client=ExplodingClient())
    hosts = [
        lab.LabHost("noble-1", "noble", "c1", "running", "172.30.0.2", "img"),
        lab.LabHost("noble-gpu-1", "noble", "c2", "running", "172.30.0.3", "img", gpu=True),
    ]
    key = "-----BEGIN PGP PUBLIC KEY BLOCK-----\nstand-in\n-----END PGP PUBLIC KEY BLOCK-----\n"
    gpu_vars = labgpu.inventory_vars("http://172.30.0.1:8783/", key, {"13": ("base", "/b.tar")})
    inv = yaml.safe_load(
        the_lab.write_inventory(hosts, False, None, gpu_vars, sandboxed=False).read_text()
    )
    groups = inv["all"]["children"]["lab"]["children"]
    assert set(groups["noble"]["hosts"]) == {"noble-1", "noble-gpu-1"}
    assert set(groups["lab_gpu"]["hosts"]) == {"noble-gpu-1"}
    assert groups["lab_gpu"]["vars"]["dl_image_profile"] == "gpu"
    assert groups["lab_gpu"]["vars"]["dl_image_base"] == {"13": "base"}
    # what the sandbox cannot do is switched off on these hosts, nothing else
    assert groups["lab_gpu"]["vars"]["nvidia_container_toolkit_cdi"] is False
    assert groups["lab_gpu"]["vars"]["nvidia_driver_cuda_repo_key"] == key


def test_simulated_gpu_sysfs_is_what_detection_reads(tmp_path):
    """The planted PCI device is an NVIDIA 3D controller to the driver role's module."""
    module = cudalines.detection()
    root = labgpu.sysfs_tree(tmp_path)
    (sysfs := tmp_path / "sys" / "bus" / "pci").mkdir(parents=True)
    (sysfs / "devices").symlink_to(root)
    gpus = module.pci_gpus(str(tmp_path / "sys"))
    assert [g["pci_address"] for g in gpus] == [labgpu.pci_address(0)]
    assert gpus[0]["class"] == "0x0302"
    two = labgpu.sysfs_tree(tmp_path, 2)
    (sysfs / "devices").unlink()
    (sysfs / "devices").symlink_to(two)
    found = module.pci_gpus(str(tmp_path / "sys"))
    assert [g["pci_address"] for g in found] == [labgpu.pci_address(0), labgpu.pci_address(1)]


@pytest.mark.parametrize(
    ("os_name", "line"), [("xenial", "11"), ("noble", "13"), ("bookworm", "12")]
)
def test_simulated_gpu_hosts_get_their_os_default_line(os_name, line):
    assert labgpu.line_for(lab.RECIPES[os_name]) == line


class ExplodingClient:
    def __getattr__(self, name):
        raise AssertionError(f"the Docker engine was used ({name}) before the input was checked")


def test_bad_lab_spec_touches_nothing(tmp_path):
    the_lab = lab.Lab(tmp_path, say=lambda _: None, client=ExplodingClient())
    with pytest.raises(DlfleetError, match="unknown lab OS"):
        the_lab.up("solaris=1")
    assert not any(tmp_path.iterdir())


def test_recipe_digest_follows_recipe_files_rootfs_does_not(tmp_path, monkeypatch):
    recipe = lab.RECIPES["noble"]
    image_digest, rootfs_digest = recipe.digest(), recipe.rootfs_digest()
    for f in recipes.RECIPE_DIR.iterdir():
        (tmp_path / f.name).write_bytes(f.read_bytes())
    (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    monkeypatch.setattr(recipes, "RECIPE_DIR", tmp_path)
    assert recipe.digest() != image_digest
    assert recipe.rootfs_digest() == rootfs_digest
    assert lab.RECIPES["xenial"].rootfs_digest() != rootfs_digest


def test_lab_inventory_groups_hosts_by_os(tmp_path):
    the_lab = lab.Lab(tmp_path, say=lambda _: None, client=ExplodingClient())
    hosts = [
        lab.LabHost("xenial-1", "xenial", "c1", "running", "172.30.0.2", "img"),
        lab.LabHost("noble-1", "noble", "c2", "running", "172.30.0.3", "img"),
        lab.LabHost("noble-2", "noble", "c3", "running", "172.30.0.4", "img"),
    ]
    path = the_lab.write_inventory(hosts, apt_cache=False, sandboxed=False)
    inv = yaml.safe_load(path.read_text())
    groups = inv["all"]["children"]["lab"]["children"]
    assert groups["xenial"]["hosts"] == {"xenial-1": {"ansible_host": "172.30.0.2"}}
    assert set(groups["noble"]["hosts"]) == {"noble-1", "noble-2"}
    lab_vars = inv["all"]["children"]["lab"]["vars"]
    assert lab_vars["ansible_ssh_private_key_file"] == str(the_lab.key)
    assert lab_vars["docker_install_source"] == "distro"
    assert "apt_proxy_url" not in lab_vars
    assert "vars" not in groups["xenial"] and "dl_containers_ulimits" not in lab_vars
    # a machine without CAP_SYS_RESOURCE: the sandbox policy, as the data says
    sandboxed = yaml.safe_load(the_lab.write_inventory(hosts, False, sandboxed=True).read_text())
    lab_group = sandboxed["all"]["children"]["lab"]
    assert lab_group["children"]["xenial"]["vars"] == lab.inventory.SANDBOX_GROUP_VARS["xenial"]
    assert lab_group["children"]["noble"]["vars"] == {"docker_version": "24.0.7"}
    assert lab_group["vars"]["dl_containers_ulimits"] == ["stack:67108864:67108864"]


def test_xenial_interpreter_comes_from_group_vars():
    group_vars = yaml.safe_load((paths.PLAYBOOKS / "group_vars" / "xenial.yml").read_text())
    assert group_vars["ansible_python_interpreter"] == "/usr/bin/python2.7"


def test_no_engine_and_no_way_to_install(monkeypatch):
    monkeypatch.setattr(engine, "_client", lambda: None)
    monkeypatch.setattr(engine.shutil, "which", lambda _: None)
    monkeypatch.setattr(engine.Path, "exists", lambda self: False)
    with pytest.raises(DlfleetError, match="has no apt-get"):
        engine.ensure_engine()
    with pytest.raises(DlfleetError, match="no Docker engine"):
        engine.ensure_engine(install=False)


# -- the command line -------------------------------------------------------------------
def test_invoke_list_shows_every_area():
    proc = invoke("--list")
    assert proc.returncode == 0, proc.stderr
    for name in (
        "provision",
        "demo",
        "lab.up",
        "lab.down",
        "lab.status",
        "lab.ssh",
        "hub.url",
        "hub.users",
        "test.unit",
        "test.lint",
        "test.molecule",
        "test.e2e",
    ):
        assert name in proc.stdout


EXTRA_ENV = {"report": {"INVOKE_DLFLEET_STRATEGY": "fast"}}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["provision", "--inventory", "does-not-exist.yml"], "dlfleet: inventory not found"),
        (["lab.up", "--hosts", "centos=1"], "dlfleet: unknown lab OS 'centos'"),
        (["test.molecule", "--role", "nope"], "dlfleet: unknown role 'nope'"),
        (["provision", "-e", "novalue"], "dlfleet: -e 'novalue': expected key=value"),
        (["report"], "dlfleet: dlfleet.strategy must be one of linear, free, mitogen, got 'fast'"),
    ],
)
def test_bad_input_is_one_clear_line(args, message, tmp_path):
    proc = invoke(
        *args, env={"INVOKE_DLFLEET_STATE_DIR": str(tmp_path), **EXTRA_ENV.get(args[0], {})}
    )
    assert proc.returncode == 2
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert lines == [lines[0]] and lines[0].startswith(message), proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    assert not (tmp_path / "runs").exists()


def test_settings_take_frameworks_as_a_comma_list():
    s = Settings.from_config({"lab": {"image_frameworks": "torch, sklearn"}})
    assert s.lab_image_frameworks == ["torch", "sklearn"]


def test_env_overrides_configured_inventory(tmp_path):
    proc = invoke("provision", env={"INVOKE_DLFLEET_INVENTORY": str(tmp_path / "env-inv.yml")})
    assert proc.returncode == 2
    assert "env-inv.yml" in proc.stderr


def test_lab_registry_setting_and_inventory_keep_its_ca(tmp_path):
    assert Settings.from_config({"lab": {"registry": "true"}}).lab_registry is True
    assert Settings.from_config(None).lab_registry is False
    the_lab = lab.Lab(tmp_path, say=lambda _: None, client=ExplodingClient())
    hosts = [lab.LabHost("noble-1", "noble", "c2", "running", "172.30.0.3", "img")]
    pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
    extra = {
        "dl_image_distribution": "registry",
        "dl_image_registry": "172.30.0.1:5000",
        "docker_registry_ca_certs": {"172.30.0.1:5000": pem},
    }
    the_lab.write_inventory(hosts, apt_cache=False, extra=extra)
    # the lab keeps its own record: an inventory edited (or lost) meanwhile changes nothing
    the_lab.inventory_path.write_text("# edited by hand\n")
    moved = [lab.LabHost("noble-1", "noble", "c2", "running", "172.30.0.9", "img")]
    the_lab.refresh_inventory(moved)  # lab.start after an outage: new address, same choices
    inv = yaml.safe_load(the_lab.inventory_path.read_text())
    lab_vars = inv["all"]["children"]["lab"]["vars"]
    assert {k: lab_vars[k] for k in extra} == extra
    assert inv["all"]["children"]["lab"]["children"]["noble"]["hosts"]["noble-1"] == {
        "ansible_host": "172.30.0.9"
    }
    the_lab.choices_path.unlink()  # a lab without the record: it says what to do
    with pytest.raises(DlfleetError, match="run `invoke lab.up` again"):
        the_lab.refresh_inventory(moved)


def test_strategies_become_ansible_settings(monkeypatch):
    assert runner.strategy_envvars("linear") == {}
    assert runner.strategy_envvars("free") == {"ANSIBLE_STRATEGY": "free"}
    monkeypatch.setitem(sys.modules, "ansible_mitogen", None)  # not installed
    with pytest.raises(DlfleetError, match=r"pip install -e '.\[speed\]'"):
        runner.strategy_envvars("mitogen")


def test_printed_tunnels_work_as_printed_and_do_not_collide():
    ssh = {
        "target": "root@172.30.0.2",
        "port": "",
        "key": "/home/me/.dlfleet/lab key/id_ed25519",
        "args": "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null",
    }
    labels = {"io.dlfleet.container": "dl-lab", "io.dlfleet.jupyter_port": "8888",
              "io.dlfleet.bind": "127.0.0.1"}  # fmt: skip
    data = {
        "urls": {
            "A": {
                "workspaces": [
                    {"labels": labels, "token_b64": base64.b64encode(b"tok-a\n").decode()}
                ],
                "ssh": ssh,
            },
            # a host may be called anything, "_ssh" too: it is a host like the others
            "_ssh": {
                "workspaces": [
                    {"labels": labels, "token_b64": base64.b64encode(b"tok-b").decode()}
                ],
                "ssh": {**ssh, "target": "me@b.example", "port": 2222, "key": ""},
            },
        }
    }
    result = SimpleNamespace(data=data)
    lines = views.container_urls(result)
    assert lines[0] == (
        "A dl-lab: http://localhost:8888/lab?token=tok-a"
        "  (TensorBoard: http://localhost:8888/proxy/6006/?token=tok-a)"
    )
    assert shlex.split(lines[1].split("tunnel: ", 1)[1]) == [
        "ssh", "-N", "-L", "8888:127.0.0.1:8888",
        "-i", "/home/me/.dlfleet/lab key/id_ed25519",
        "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "root@172.30.0.2",
    ]  # fmt: skip
    # the second host publishes the same ports: other local ports, same remote ones
    assert lines[2].startswith("_ssh dl-lab: http://localhost:8889/lab?token=tok-b  (TensorBoard:")
    assert "-L 8889:127.0.0.1:8888 -p 2222" in lines[3]
    assert lines[3].endswith("me@b.example")


@pytest.mark.parametrize("name", ["dl-alice; rm -rf /", "../etc", "$(id)", "", "-it", "x" * 64])
def test_container_names_that_would_reach_a_shell_are_refused(name):
    with pytest.raises(DlfleetError, match="is not a container name"):
        app.check_container_name(name)
    assert app.check_container_name("dl-alice") == "dl-alice"
    assert app.check_container_name("x" * 63) == "x" * 63


def test_the_container_name_rule_has_one_home():
    """The rule lives in the dl_containers filter; the CLI and the playbooks call it."""
    rule = re.compile(r"\[a-zA-Z0-9\]\[a-zA-Z0-9_.-\]|\[A-Za-z0-9\]\[A-Za-z0-9_.-\]")
    homes = [
        str(path.relative_to(paths.ROOT))
        for folder in ("dlfleet", "plugins", "playbooks", "roles", "tasks.py")
        for path in (
            [paths.ROOT / folder] if folder.endswith(".py") else (paths.ROOT / folder).rglob("*")
        )
        if path.is_file()
        and path.suffix in (".py", ".yml", ".j2")
        and rule.search(path.read_text())
    ]
    assert homes == ["plugins/filter/dl_containers.py"]


def test_defaults_live_in_invoke_yaml_only():
    shipped = yaml.safe_load((paths.ROOT / "invoke.yaml").read_text())["dlfleet"]
    assert Settings() == Settings.from_config(shipped)
    assert Settings().lab_image_frameworks == ["sklearn"]
    assert Settings().keep_runs == shipped["keep_runs"]


def test_whether_a_reboot_is_due_has_one_home():
    """The driver role decides it (reboot_state.yml, through detection); the report and the
    role's own load step read that decision instead of asking modinfo themselves."""
    homes = sorted(
        str(path.relative_to(paths.ROOT))
        for folder in ("playbooks", "roles")
        for path in (paths.ROOT / folder).rglob("*.yml")
        if "molecule" not in path.parts and "modinfo " in path.read_text()
    )
    assert homes == ["roles/nvidia_driver/tasks/reboot_state.yml"]
    detect = (paths.ROLES / "nvidia_driver" / "tasks" / "detect_host.yml").read_text()
    assert "import_tasks: reboot_state.yml" in detect
    report = (paths.PLAYBOOKS / "report.yml").read_text()
    assert "'reboot_required': nvidia_driver_reboot_required" in report


def test_the_secrets_folder_and_the_ssh_tunnel_have_one_home():
    """The secrets folder's default is the role's (defaults, which its argument specs must
    match); the tunnel command is the dl_containers filter's, which the CLI calls."""
    folder = yaml.safe_load((paths.ROLES / "dl_containers" / "defaults" / "main.yml").read_text())[
        "dl_containers_secrets_dir"
    ]
    code = [
        path
        for pattern in ("dlfleet/**/*.py", "plugins/**/*.py", "playbooks/**/*.yml",
                        "roles/*/tasks/*.yml", "roles/*/templates/*", "tasks.py")
        for path in paths.ROOT.glob(pattern)
    ]  # fmt: skip
    assert len(code) > 50
    assert [str(p.relative_to(paths.ROOT)) for p in code if folder in p.read_text()] == []
    tunnel = re.compile(r"""["']ssh["'],\s*["']-N["']""")
    assert [str(p.relative_to(paths.ROOT)) for p in code if tunnel.search(p.read_text())] == [
        "plugins/filter/dl_containers.py"
    ]
