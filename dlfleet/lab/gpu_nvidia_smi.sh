#!/bin/sh
# STAND-IN nvidia-smi of a simulated GPU host in the dlfleet lab: there is no GPU and no
# kernel module here. It answers the queries dlfleet makes with the simulated GPUs (the PCI
# devices the lab planted in /sys/bus/pci/devices, one per GPU) and the version of the NVIDIA driver
# package that is installed, as the real one would once that driver is loaded.
# installed (ii) or installed and held (hi): the second letter of the status
version=$(dpkg-query -W -f='${db:Status-Abbrev} ${Version}\n' 'nvidia-utils-*' nvidia-smi 'nvidia-[0-9]*' 2>/dev/null \
    | awk 'substr($1, 2, 1) == "i" { print $2 }' | sed -E 's/^[0-9]+://; s/^([0-9]+\.[0-9]+(\.[0-9]+)?).*/\1/' | sort -V | tail -n 1)
if [ -z "$version" ]; then
    echo "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. (dlfleet lab stand-in: no driver package installed)"
    exit 9
fi
name="dlfleet lab stand-in GPU"
count=$(grep -l '^0x10de$' /sys/bus/pci/devices/*/vendor 2>/dev/null | wc -l)
i=0
while [ "$i" -lt "$count" ]; do
    bus=$(printf '00000000:00:%02X.0' $((0x1e + i)))
    case "$*" in
    *--query-gpu=*) echo "$i, $bus, $name, 81559, $version, Enabled" ;;
    *-L*) printf 'GPU %d: %s (UUID: GPU-00000000-0000-0000-0000-%012d)\n' "$i" "$name" "$i" ;;
    esac
    i=$((i + 1))
done
case "$*" in
*--query-gpu=* | *-L*) ;;
*) echo "dlfleet lab STAND-IN nvidia-smi (no real GPU): driver $version, $count simulated GPU(s) ($name)" ;;
esac
