#!/usr/bin/env bash
# Host side of the Vagrant VMs (libvirt + KVM), as root, idempotent: installs
# vagrant, vagrant-libvirt, libvirt, QEMU and the tools build-box.sh needs, starts
# virtlogd/libvirtd (directly when systemd is not PID 1, as in a container), and makes
# sure the libvirt `default` network and `default` storage pool exist and are active.
#
#   sudo vagrant/host-setup.sh
set -euo pipefail
# (No `cmd | grep -q` below: with pipefail, grep -q leaving early can fail the pipeline
# through SIGPIPE; grep >/dev/null reads everything.)

if [ "$(id -u)" -ne 0 ]; then
    echo "error: run as root" >&2
    exit 1
fi
if [ ! -e /dev/kvm ]; then
    echo "warning: /dev/kvm missing: the VMs would run without KVM (very slow)" >&2
fi

export DEBIAN_FRONTEND=noninteractive
pkgs=(vagrant vagrant-libvirt libvirt-daemon-system libvirt-clients libvirt-daemon-driver-qemu
      qemu-system-x86 qemu-utils debootstrap dnsmasq-base rsync iptables ebtables
      fdisk extlinux syslinux-common e2fsprogs)
missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep '^install ok installed' >/dev/null || missing+=("$p")
done
# A qemu-utils from bookworm-backports (newer than qemu-system-x86 in bookworm) Breaks
# bookworm's qemu-system-common: take both from the same release.
release=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
qemu_utils=qemu-utils
if [ -n "$release" ] && dpkg-query -W -f='${Version}\n' qemu-utils 2>/dev/null | grep '~bpo' >/dev/null \
   && ! dpkg-query -W -f='${Version}\n' qemu-system-x86 2>/dev/null | grep '~bpo' >/dev/null; then
    qemu_utils="qemu-utils/$release"
    missing+=(qemu-utils)
fi
if [ ${#missing[@]} -gt 0 ]; then
    apt-get update -qq
    args=()
    for p in "${missing[@]}"; do
        if [ "$p" = qemu-utils ]; then args+=("$qemu_utils"); else args+=("$p"); fi
    done
    # shellcheck disable=SC2207
    args=($(printf '%s\n' "${args[@]}" | sort -u))
    apt-get install -y -qq --allow-downgrades --no-install-recommends "${args[@]}"
fi

# Daemons. With systemd as PID 1 the packages' units do it; otherwise (a container)
# start them by hand, once.
if [ "$(ps -p 1 -o comm= | tr -d ' ')" = systemd ]; then
    systemctl start virtlogd.socket libvirtd.socket libvirtd.service
else
    mkdir -p /var/log/libvirt /run/libvirt
    pgrep -x virtlogd >/dev/null || virtlogd -d
    pgrep -x libvirtd >/dev/null || libvirtd -d
fi
for _ in $(seq 1 30); do
    virsh -c qemu:///system version >/dev/null 2>&1 && break
    sleep 1
done
virsh -c qemu:///system version >/dev/null

# The `default` NAT network (vagrant-libvirt makes its own management network, but
# a host with it active is the usual setup) and the `default` storage pool, where
# vagrant-libvirt uploads the box image.
if ! virsh -q net-info default >/dev/null 2>&1; then
    virsh net-define /usr/share/libvirt/networks/default.xml
fi
virsh net-info default | grep '^Active: *yes' >/dev/null || virsh net-start default
virsh net-autostart default >/dev/null
if ! virsh -q pool-info default >/dev/null 2>&1; then
    mkdir -p /var/lib/libvirt/images
    virsh pool-define-as default dir --target /var/lib/libvirt/images
fi
virsh pool-info default | grep '^State: *running' >/dev/null || virsh pool-start default
virsh pool-autostart default >/dev/null

echo "host ready: $(vagrant --version), $(vagrant plugin list 2>/dev/null | grep libvirt), libvirt $(virsh version --daemon | sed -n 's/^Running against daemon: *//p')"
