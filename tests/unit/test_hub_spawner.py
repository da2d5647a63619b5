"""The hub's spawner's parts that need no engine: a hub server is the workspace dl_containers
defines (its resolve() and workspace()) with the GPUs placement chose as device requests; the
table of engines the role writes for it; the profiles offered by default."""

import docker

from dlfleet import plugins

spawner = plugins.role_file("dl_hub", "dl_hub_spawner")
containers = plugins.filter_plugin("dl_containers")
hub = plugins.filter_plugin("dl_hub")

SETTINGS = {
    "shared_root": "/srv/dlfleet/shared", "home_root": "/srv/dlfleet/home",
    "mount_path": "/workspace/shared", "common_folder": "", "shm_size": "8g",
    "ulimits": ["memlock:-1:-1", "stack:67108864:67108864"], "memory": "", "cpus": 0,
    "labels": {"team": "vision"}, "env": {"WANDB_MODE": "offline"},
}  # fmt: skip


def hub_server(gpus=("1",), gpu_count=2):
    settings = spawner.workspace_settings(SETTINGS)
    result = spawner.resolved("alice", "dlfleet-hub-alice", gpus, settings, 2101, 2101, gpu_count)
    assert result["errors"] == []
    spec = spawner.server_spec(
        result, "dlfleet-hub-alice", gpus, settings, {"JUPYTERHUB_API_TOKEN": "t"},
        "dlfleet/dl:x", "47000-47999",
    )  # fmt: skip
    return result, spec


def test_a_hub_server_is_the_workspace_standard_with_its_own_gpus():
    result, spec = hub_server()
    assert spec["user"] == "2101:2101"
    assert spec["command"] == ["hub"]
    assert spec["labels"]["io.dlfleet.gpus"] == "1"
    assert spec["labels"]["io.dlfleet.user"] == "alice"
    assert spec["labels"]["team"] == "vision"
    assert spec["labels"]["io.dlfleet.hub"] == "1"
    assert "io.dlfleet.jupyter_port" not in spec["labels"]  # its port is the range's
    assert spec["environment"]["JUPYTERHUB_API_TOKEN"] == "t"
    assert spec["environment"]["NVIDIA_VISIBLE_DEVICES"] == "1"
    assert spec["environment"]["WANDB_MODE"] == "offline"
    assert spec["environment"]["HOME"] == "/home/dlfleet"
    host = spec["host_config"]
    assert host["privileged"] is False
    assert host["binds"] == [
        "/srv/dlfleet/shared/alice:/workspace/shared:rw",
        "/srv/dlfleet/home/alice/dlfleet-hub-alice:/home/dlfleet:rw",
    ]
    assert host["port_bindings"] == {8888: ("0.0.0.0", "47000-47999")}
    [request] = host["device_requests"]
    assert request["DeviceIDs"] == ["1"] and request["Driver"] == "nvidia"
    assert [u["Name"] for u in host["ulimits"]] == ["memlock", "stack"]
    # the folders the hub makes on the GPU host are the ones mounted
    assert [f["path"] for f in result["folders"]] == [b.split(":")[0] for b in host["binds"]]


def test_a_cpu_only_server_gets_no_device_and_sees_no_gpu():
    _, spec = hub_server(gpus=(), gpu_count=2)
    assert spec["host_config"]["device_requests"] == []
    assert spec["environment"]["NVIDIA_VISIBLE_DEVICES"] == "void"
    assert spec["labels"]["io.dlfleet.gpus"] == "none"


def test_the_docker_sdk_takes_the_host_config():
    _, spec = hub_server()
    config = docker.APIClient(base_url="unix:///nonexistent", version="1.41").create_host_config(
        **spec["host_config"]
    )
    assert config["ShmSize"] == 8 * 1024**3
    assert config["PortBindings"] == {
        "8888/tcp": [{"HostIp": "0.0.0.0", "HostPort": "47000-47999"}]
    }
    assert config["RestartPolicy"] == {"Name": "no"}


def test_the_health_check_asks_under_the_servers_prefix():
    check = spawner.healthcheck()
    assert "os.environ['JUPYTERHUB_SERVICE_PREFIX'] + 'api'" in check["test"][-1]
    assert "8888/api'" not in check["test"][-1]
    assert check["interval"] == 30 * 10**9 and check["start_period"] == 60 * 10**9


def test_the_folder_script_is_dlfleet_folders_own_code_without_ansible():
    script = spawner._folders_script()
    compile(script, "folders", "exec")
    assert "AnsibleModule" not in script
    assert "def apply(folder, missing, parents_mode):" in script


class Host(dict):
    pass


def test_the_engine_table_takes_gpus_and_image_from_this_run_else_keeps_them():
    hostvars = {
        "gpu1": Host(ansible_host="10.0.0.5", nvidia_driver_gpu_count=2, dl_image_ref="dlfleet/dl:gpu-cu13-a",
                     dl_containers_shm_size="16g"),
        "gpu2": Host(),
    }  # fmt: skip
    previous = {"gpu2": {"gpus": ["0"], "image": "dlfleet/dl:gpu-cu12-b"}, "gone": {"gpus": ["0"]}}
    defaults = {"dl_containers_shm_size": "8g", "dl_containers_shared_root": "/srv/dlfleet/shared"}
    table = hub.engine_table(["gpu1", "gpu2"], hostvars, previous, defaults)
    assert sorted(table) == ["gpu1", "gpu2"]
    assert table["gpu1"]["url"] == "tcp://10.0.0.5:2376"
    assert table["gpu1"]["gpus"] == ["0", "1"]
    assert table["gpu1"]["image"] == "dlfleet/dl:gpu-cu13-a"
    assert table["gpu1"]["workspace"]["shm_size"] == "16g"
    assert table["gpu2"] == {
        "url": "tcp://gpu2:2376", "tls_hostname": "gpu2", "gpus": ["0"],
        "image": "dlfleet/dl:gpu-cu12-b",
        "workspace": {**dict.fromkeys(hub.WORKSPACE_KEYS), "shm_size": "8g",
                      "shared_root": "/srv/dlfleet/shared"},
    }  # fmt: skip


def test_default_profiles_follow_the_largest_gpu_host_and_given_ones_are_kept():
    table = {"a": {"gpus": ["0"]}, "b": {"gpus": ["0", "1"]}}
    assert [p["slug"] for p in hub.profiles([], table)] == ["1-gpu", "2-gpus", "cpu"]
    assert [p["slug"] for p in hub.profiles([], {"a": {"gpus": []}})] == ["cpu"]
    mine = [{"slug": "big", "gpus": 2}]
    assert hub.profiles(mine, table) == mine
    assert hub.profile_errors([{"slug": "big", "gpus": 4}], table) == [
        "dl_hub_profiles[0] (big): asks for 4 GPUs; the most any of its hosts has is 2"
    ]
    assert hub.profile_errors(hub.profiles([], table), table) == []
