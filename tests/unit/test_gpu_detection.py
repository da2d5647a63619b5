"""The driver role's GPU detection on fake sysfs/procfs trees: the same answers on any
machine, GPU workstation or not."""

from dlfleet.cudalines import detection
from tests.machine import debian_family, nvidia_gpus

module = detection()
PROC_VERSION = (
    "NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  580.65.06  Release Build  "
    "(dvs-builder@U16-I3-B03-4-3)  Sun Jul 27 06:54:38 UTC 2025\nGCC version:  gcc 12.3.0\n"
)


def pci_device(sysfs, address, vendor, klass, device="0x2335"):
    folder = sysfs / "bus" / "pci" / "devices" / address
    folder.mkdir(parents=True)
    for name, value in (("vendor", vendor), ("class", klass), ("device", device)):
        (folder / name).write_text(value + "\n")


def test_nvidia_gpus_only(tmp_path):
    sysfs = tmp_path / "sys"
    pci_device(sysfs, "0000:17:00.0", "0x10de", "0x030200")  # H200: 3D controller
    pci_device(sysfs, "0000:65:00.0", "0x10de", "0x030000", "0x2204")  # VGA controller
    pci_device(sysfs, "0000:65:00.1", "0x10de", "0x040300")  # its HDMI audio function
    pci_device(sysfs, "0000:03:00.0", "0x1002", "0x030000")  # an AMD GPU
    gpus = module.pci_gpus(str(sysfs))
    assert [g["pci_address"] for g in gpus] == ["0000:17:00.0", "0000:65:00.0"]
    assert nvidia_gpus(str(sysfs)) == gpus
    assert module.pci_gpus(str(tmp_path / "empty")) == []


def test_loaded_driver_and_secure_boot(tmp_path):
    proc = tmp_path / "proc"
    (proc / "driver" / "nvidia").mkdir(parents=True)
    (proc / "driver" / "nvidia" / "version").write_text(PROC_VERSION)
    assert module.loaded_version(str(proc)) == "580.65.06"
    assert module.loaded_version(str(tmp_path / "none")) == ""
    efivars = tmp_path / "sys" / "firmware" / "efi" / "efivars"
    efivars.mkdir(parents=True)
    (efivars / module.SECURE_BOOT_VAR).write_bytes(b"\x06\x00\x00\x00\x01")
    assert module.secure_boot(str(tmp_path / "sys")) is True
    (efivars / module.SECURE_BOOT_VAR).write_bytes(b"\x06\x00\x00\x00\x00")
    assert module.secure_boot(str(tmp_path / "sys")) is False


def test_machine_facts_for_skips(tmp_path):
    (tmp_path / "etc").mkdir()
    for content, expected in [
        ('ID=ubuntu\nID_LIKE=debian\nVERSION_ID="24.04"\n', True),
        ("ID=debian\n", True),
        ('ID="rocky"\nID_LIKE="rhel centos fedora"\n', False),
    ]:
        (tmp_path / "etc" / "os-release").write_text(content)
        assert debian_family(tmp_path) is expected
