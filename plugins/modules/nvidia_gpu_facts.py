#!/usr/bin/python
# -*- coding: utf-8 -*-
# Runs on every target, Python 2.7 (Ubuntu 16.04) included: keep it 2/3 compatible.
from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: nvidia_gpu_facts
short_description: Find NVIDIA GPUs and the driver state of a host
description:
  - Lists PCI functions of vendor 0x10de with a display (0x0300) or 3D (0x0302) class from
    sysfs, reads the loaded driver's version from /proc/driver/nvidia/version, the Secure
    Boot state from EFI variables, and, where nvidia-smi works, the GPUs it reports.
  - Read-only; supports check mode.
options:
  sysfs_root:
    description: Root of sysfs (for tests).
    type: path
    default: /sys
  proc_root:
    description: Root of procfs (for tests).
    type: path
    default: /proc
author: dlfleet maintainers (@dlfleet)
"""

EXAMPLES = r"""
- name: Find NVIDIA GPUs and the loaded driver
  dlfleet.fleet.nvidia_gpu_facts:

- name: Say what was found
  ansible.builtin.debug:
    msg: "{{ nvidia_driver_gpu_count }} GPU(s), driver {{ nvidia_driver_loaded_version or '-' }}"
"""

RETURN = r"""
ansible_facts:
  description: nvidia_driver_gpus, nvidia_driver_gpu_count, nvidia_driver_loaded_version,
    nvidia_driver_secure_boot, nvidia_driver_smi
  returned: always
  type: dict
"""

import glob
import os
import re

from ansible.module_utils.basic import AnsibleModule

NVIDIA = "0x10de"
GPU_CLASSES = ("0x0300", "0x0302")
SECURE_BOOT_VAR = "SecureBoot-8be4df61-93ca-11d2-aa0d-e98c3b3d7b8c"


def _read(path):
    try:
        with open(path, "rb") as fh:
            return fh.read()
    except (IOError, OSError):
        return None


def pci_gpus(sysfs_root):
    gpus = []
    for dev in sorted(glob.glob(os.path.join(sysfs_root, "bus/pci/devices/*"))):
        vendor = (_read(os.path.join(dev, "vendor")) or b"").decode().strip()
        klass = (_read(os.path.join(dev, "class")) or b"").decode().strip()
        if vendor != NVIDIA or klass[:6] not in GPU_CLASSES:
            continue
        device = (_read(os.path.join(dev, "device")) or b"").decode().strip()
        gpus.append(
            {
                "pci_address": os.path.basename(dev),
                "device_id": device.replace("0x", ""),
                "class": klass[:6],
                "name": "NVIDIA [10de:%s]" % device.replace("0x", ""),
            }
        )
    return gpus


def loaded_version(proc_root):
    text = (_read(os.path.join(proc_root, "driver/nvidia/version")) or b"").decode(
        "utf-8", "replace"
    )
    match = re.search(r"Kernel Module(?: for \S+)?\s+([0-9]+\.[0-9]+(?:\.[0-9]+)?)", text)
    return match.group(1) if match else ""


def secure_boot(sysfs_root):
    data = _read(os.path.join(sysfs_root, "firmware/efi/efivars", SECURE_BOOT_VAR))
    if data is None:
        return False
    # 4 bytes of attributes, then the value
    return bytearray(data)[-1:] == bytearray(b"\x01")


def smi(module):
    path = module.get_bin_path("nvidia-smi")
    if not path:
        return []
    rc, out, _err = module.run_command(
        [
            path,
            "--query-gpu=index,pci.bus_id,name,memory.total,driver_version,persistence_mode",
            "--format=csv,noheader,nounits",
        ]
    )
    if rc != 0:
        return []
    gpus = []
    for line in out.splitlines():
        fields = [f.strip() for f in line.split(",")]
        if len(fields) == 6:
            gpus.append(
                {
                    "index": int(fields[0]),
                    "pci_bus_id": fields[1],
                    "name": fields[2],
                    "memory_mib": int(fields[3]) if fields[3].isdigit() else None,
                    "driver_version": fields[4],
                    "persistence_mode": fields[5],
                }
            )
    return gpus


def main():
    module = AnsibleModule(
        argument_spec=dict(
            sysfs_root=dict(type="path", default="/sys"),
            proc_root=dict(type="path", default="/proc"),
        ),
        supports_check_mode=True,
    )
    gpus = pci_gpus(module.params["sysfs_root"])
    smi_gpus = smi(module)
    # nvidia-smi knows the marketing names; sysfs only ids
    by_bus = dict((g["pci_bus_id"].lower()[-12:], g["name"]) for g in smi_gpus)
    for gpu in gpus:
        gpu["name"] = by_bus.get(gpu["pci_address"].lower()[-12:], gpu["name"])
    if not gpus and smi_gpus:
        # containers and VMs may hide PCI: trust the driver
        gpus = [
            {"pci_address": g["pci_bus_id"], "device_id": "", "class": "", "name": g["name"]}
            for g in smi_gpus
        ]
    module.exit_json(
        changed=False,
        ansible_facts=dict(
            nvidia_driver_gpus=gpus,
            nvidia_driver_gpu_count=len(gpus),
            nvidia_driver_loaded_version=loaded_version(module.params["proc_root"])
            or (smi_gpus[0]["driver_version"] if smi_gpus else ""),
            nvidia_driver_secure_boot=secure_boot(module.params["sysfs_root"]),
            nvidia_driver_smi=smi_gpus,
        ),
    )


if __name__ == "__main__":
    main()
