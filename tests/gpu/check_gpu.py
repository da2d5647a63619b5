#!/usr/bin/env python3
"""dlfleet on a real GPU machine, without Ansible or Docker: run it where an NVIDIA driver
and GPU are present (a workstation, or a GPU CI machine) with `python3 tests/gpu/check_gpu.py`.

1. GPU detection: the nvidia_driver role's own module code (PCI sysfs, /proc driver version,
   nvidia-smi) reports the GPUs and the loaded driver.
2. The CUDA line dlfleet picks for that driver (the role's filter and tables).
3. The image's smoke check (the role's dlfleet-smoke) on this Python: the line's CUDA runtime,
   cuBLAS and cuDNN from the nvidia-* wheels, and GPU compute with the frameworks present.

Prints one JSON document; exits 0 only when a GPU was found, a line was chosen and every
smoke check passed. Not part of CI, which has no GPU.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import json
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))  # dlfleet from this checkout, installed or not

from dlfleet import cudalines  # noqa: E402

SMOKE = ROOT / "roles" / "dl_image" / "files" / "dlfleet-smoke.py"


class _Runner:
    """What the detection module needs of AnsibleModule, for nvidia-smi."""

    def get_bin_path(self, name):
        return shutil.which(name)

    def run_command(self, argv):
        proc = subprocess.run(argv, capture_output=True, text=True, check=False)
        return proc.returncode, proc.stdout, proc.stderr


def detect() -> dict:
    facts = cudalines.detection()
    smi = facts.smi(_Runner())
    return {
        "pci_gpus": facts.pci_gpus("/sys"),
        "loaded_version": facts.loaded_version("/proc")
        or (smi[0]["driver_version"] if smi else ""),
        "smi": smi,
    }


def main() -> int:
    found = detect()
    driver = found["loaded_version"]
    line = cudalines.line_of(driver)
    cuda = cudalines.filters().nvidia_driver_cuda_version(
        driver, cudalines.tables()["nvidia_driver_cuda_compat"]
    )
    smoke = cudalines._load("dlfleet_smoke", SMOKE)
    names = ["cuda", "numpy"]
    for framework in ("torch", "jax", "tensorflow"):
        if importlib.util.find_spec(framework):
            names.append(framework)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        status = smoke.main([*names, "--json"])
    report = json.loads(out.getvalue().strip().splitlines()[-1])
    gpus = len(found["smi"]) or len(found["pci_gpus"])
    result = {
        "detection": found,
        "gpu_count": gpus,
        "driver": driver,
        "cuda_supported": cuda,
        "cuda_line": line,
        "smoke": report,
        "ok": bool(gpus and line and status == 0),
    }
    print(json.dumps(result, indent=2))
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
