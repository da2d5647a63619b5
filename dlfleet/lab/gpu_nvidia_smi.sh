#!/bin/sh
# STAND-IN nvidia-smi of a simulated GPU host in the dlfleet lab: there is no GPU and no
# kernel module here. It answers the queries dlfleet makes with one simulated GPU (the PCI
# device the lab planted in /sys/bus/pci/devices) and the version of the NVIDIA driver
# package that is installed, as the real one would once that driver is loaded.
# installed (ii) or installed and held (hi): the second letter of the status
version=$(dpkg-query -W -f='${db:Status-Abbrev} ${Version}\n' 'nvidia-utils-*' nvidia-smi 'nvidia-[0-9]*' 2>/dev/null \
    | awk 'substr($1, 2, 1) == "i" { print $2 }' | sed -E 's/^[0-9]+://; s/^([0-9]+\.[0-9]+(\.[0-9]+)?).*/\1/' | sort -V | tail -n 1)
if [ -z "$version" ]; then
    echo "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. (dlfleet lab stand-in: no driver package installed)"
    exit 9
fi
name="dlfleet lab stand-in GPU"
uuid="GPU-00000000-0000-0000-0000-000000000000"
case "$*" in
*--query-gpu=*)
    echo "0, 00000000:00:1E.0, $name, 81559, $version, Enabled"
    ;;
*-L*)
    echo "GPU 0: $name (UUID: $uuid)"
    ;;
*)
    echo "dlfleet lab STAND-IN nvidia-smi (no real GPU): driver $version, 1 simulated GPU ($name)"
    ;;
esac
