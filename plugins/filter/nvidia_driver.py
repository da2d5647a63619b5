"""Driver -> CUDA filters of the nvidia_driver role (the tables are in vars/cuda_compat.yml).

    {{ '580.95.05' | nvidia_driver_cuda_version(nvidia_driver_cuda_compat) }}  -> '13.0'
    {{ '535.247.01' | nvidia_driver_cuda_line(nvidia_driver_cuda_lines) }}    -> '12'
    {{ '460' | nvidia_driver_cuda_line(nvidia_driver_cuda_lines) }}           -> '11' (a branch)

A full version (``580.95.05``) is compared with each minimum as it is. A bare branch (``580``)
stands for that branch's releases: it runs a line when the branch is at least the branch of
the line's minimum driver. Anything too old, empty or unreadable gives ``''``.
"""

from __future__ import annotations

import re

_VERSION = re.compile(r"^[0-9]+(\.[0-9]+)*$")


def _parse(version):
    text = str(version or "").strip()
    if not _VERSION.match(text):
        return None
    return tuple(int(part) for part in text.split("."))


def _runs(driver, minimum):
    """Does the driver (a version or a bare branch) reach the minimum driver version?"""
    have, need = _parse(driver), _parse(minimum)
    if have is None or need is None:
        return False
    if len(have) == 1:  # a branch: compare branches
        return have[0] >= need[0]
    return have >= need


def _newest(driver, table, key):
    runnable = [row for row in table or [] if _runs(driver, row["driver"])]
    if not runnable:
        return ""
    return str(max(runnable, key=lambda row: _parse(row[key]) or ())[key])


def nvidia_driver_cuda_version(driver, compat):
    """The newest CUDA release (e.g. '12.2') the driver runs, from the release-minimum table."""
    return _newest(driver, compat, "cuda")


def nvidia_driver_cuda_line(driver, lines):
    """The newest CUDA line (major, e.g. '12') the driver runs under minor-version compatibility."""
    return _newest(driver, lines, "line")


class FilterModule:
    def filters(self):
        return {
            "nvidia_driver_cuda_version": nvidia_driver_cuda_version,
            "nvidia_driver_cuda_line": nvidia_driver_cuda_line,
        }
