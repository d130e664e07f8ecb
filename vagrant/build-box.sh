#!/usr/bin/env bash
# Builds the libvirt Vagrant box `ikev2d/SUITE` (bookworm: Debian 12, strongSwan 5.9.8;
# trixie: Debian 13, strongSwan 6.0.1) from the Debian mirror alone (no Vagrant
# Cloud): debootstrap SUITE onto a partitioned disk image, extlinux as the
# boot loader, a `vagrant` user with passwordless sudo and Vagrant's insecure public
# key, DHCP on eth0; then qcow2 + metadata.json + Vagrantfile in a .box, and
# `vagrant box add`. As root (loop devices, mount, chroot); run host-setup.sh first.
#
#   sudo vagrant/build-box.sh            # skips the build when the box is there
#   sudo vagrant/build-box.sh --force    # rebuilds and re-adds it
#
# Environment: IKEV2D_BOX_SUITE (bookworm, the default, or trixie), IKEV2D_BOX_DIR
# (build output and cache, default /var/tmp/ikev2d-box), IKEV2D_BOX_NAME (default
# ikev2d/SUITE), DEBIAN_MIRROR, IKEV2D_BOX_SIZE_GB (20).
set -euo pipefail

dir=${IKEV2D_BOX_DIR:-/var/tmp/ikev2d-box}
suite=${IKEV2D_BOX_SUITE:-bookworm}
case "$suite" in
    bookworm | trixie) ;;
    *) echo "error: IKEV2D_BOX_SUITE=$suite: bookworm or trixie" >&2; exit 1 ;;
esac
name=${IKEV2D_BOX_NAME:-ikev2d/$suite}
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
size_gb=${IKEV2D_BOX_SIZE_GB:-20}
force=0
[ "${1:-}" = --force ] && force=1

if [ "$(id -u)" -ne 0 ]; then
    echo "error: run as root" >&2
    exit 1
fi
box="$dir/ikev2d-$suite-libvirt.box"

box_added() { vagrant box list 2>/dev/null | grep "^$name *(libvirt" >/dev/null; }

if [ $force -eq 0 ] && [ -f "$box" ]; then
    if ! box_added; then
        vagrant box add --name "$name" "$box"
    fi
    echo "box $name present ($box); --force rebuilds it"
    exit 0
fi

# The insecure key pair Vagrant logs in with on first boot (it then swaps in a key of
# its own); the public half ships with the vagrant package.
pubkey=""
for f in /usr/share/rubygems-integration/all/gems/vagrant-*/keys/vagrant.pub \
         /usr/lib/ruby/vendor_ruby/vagrant/keys/vagrant.pub; do
    if [ -f "$f" ]; then pubkey=$f; break; fi
done
if [ -z "$pubkey" ]; then
    pubkey=$(dpkg -L vagrant | grep '/keys/vagrant.pub$' | head -n1 || true)
fi
if [ -z "$pubkey" ] || [ ! -f "$pubkey" ]; then
    echo "error: vagrant's insecure public key not found (is the vagrant package installed?)" >&2
    exit 1
fi

mkdir -p "$dir/debs-$suite"
raw="$dir/disk.raw"
mnt="$dir/mnt"
loop=""
cleanup() {
    set +e
    for m in dev/pts dev proc sys; do
        mountpoint -q "$mnt/$m" && umount -l "$mnt/$m"
    done
    mountpoint -q "$mnt" && umount "$mnt"
    [ -n "$loop" ] && losetup -d "$loop"
}
trap cleanup EXIT

start=$(date +%s)
rm -f "$raw" "$dir/box.img" "$box"
truncate -s "${size_gb}G" "$raw"
# One bootable partition from 1 MiB; extlinux loads from it, mbr.bin chains to it.
printf 'label: dos\nstart=2048, type=83, bootable\n' | sfdisk -q "$raw"
offset=$((2048 * 512))
loop=$(losetup -f --show -o "$offset" "$raw")
# extlinux reads ext4 without the 64bit feature.
mkfs.ext4 -q -F -L root -O ^64bit "$loop"
mkdir -p "$mnt"
mount "$loop" "$mnt"

include=linux-image-amd64,systemd-sysv,dbus,openssh-server,sudo,rsync,ifupdown,isc-dhcp-client,iproute2,iputils-ping,ca-certificates,locales,less,procps,curl,gnupg
debootstrap --include="$include" --cache-dir="$dir/debs-$suite" "$suite" "$mnt" "$mirror"

for m in dev dev/pts proc sys; do
    mount --bind "/$m" "$mnt/$m"
done
in_root() { chroot "$mnt" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive "$@"; }

cat >"$mnt/etc/apt/sources.list" <<EOF
deb $mirror $suite main
deb $mirror $suite-updates main
deb ${mirror%/debian}/debian-security $suite-security main
EOF
# A mirror that serves an older snapshot has Release files past Valid-Until.
cat >"$mnt/etc/apt/apt.conf.d/90ikev2d-box" <<'EOF'
Acquire::Check-Valid-Until "false";
APT::Install-Recommends "false";
EOF
in_root apt-get update -qq
# The tools provision/common.sh installs, baked in so both VMs come up faster.
in_root apt-get install -y -qq iperf3 tcpdump tshark jq
in_root apt-get clean

echo ikev2d-box >"$mnt/etc/hostname"
printf '127.0.0.1\tlocalhost\n127.0.1.1\tikev2d-box\n::1\tlocalhost ip6-localhost ip6-loopback\n' >"$mnt/etc/hosts"
printf 'LABEL=root\t/\text4\terrors=remount-ro\t0\t1\n' >"$mnt/etc/fstab"
# eth0 (net.ifnames=0) takes DHCP; Vagrant appends the private network's stanza.
cat >"$mnt/etc/network/interfaces" <<'EOF'
source /etc/network/interfaces.d/*

auto lo
iface lo inet loopback

allow-hotplug eth0
iface eth0 inet dhcp
EOF

in_root useradd -m -s /bin/bash -U vagrant
echo 'vagrant:vagrant' | in_root chpasswd
echo 'vagrant ALL=(ALL) NOPASSWD: ALL' >"$mnt/etc/sudoers.d/vagrant"
chmod 0440 "$mnt/etc/sudoers.d/vagrant"
install -d -m 0700 -o 1000 -g 1000 "$mnt/home/vagrant/.ssh"
install -m 0600 -o 1000 -g 1000 "$pubkey" "$mnt/home/vagrant/.ssh/authorized_keys"
in_root chown -R vagrant:vagrant /home/vagrant
cat >"$mnt/etc/ssh/sshd_config.d/ikev2d-box.conf" <<'EOF'
UseDNS no
PasswordAuthentication no
EOF
# Every VM gets its own host keys and machine id at first boot.
rm -f "$mnt"/etc/ssh/ssh_host_*
cat >"$mnt/etc/systemd/system/ssh-hostkeys.service" <<'EOF'
[Unit]
Description=generate the SSH host keys on first boot
Before=ssh.service
ConditionPathExists=!/etc/ssh/ssh_host_ed25519_key
[Service]
Type=oneshot
ExecStart=/usr/bin/ssh-keygen -A
[Install]
WantedBy=multi-user.target
EOF
in_root systemctl enable ssh-hostkeys.service ssh.service
: >"$mnt/etc/machine-id"
rm -f "$mnt/var/lib/dbus/machine-id"

# Boot: mbr.bin -> extlinux on the partition -> /vmlinuz, /initrd.img (the symlinks
# the kernel package keeps current).
test -e "$mnt/vmlinuz" && test -e "$mnt/initrd.img"
mkdir -p "$mnt/boot/extlinux"
cat >"$mnt/boot/extlinux/extlinux.conf" <<'EOF'
SERIAL 0 115200
DEFAULT debian
PROMPT 0
TIMEOUT 1
LABEL debian
    LINUX /vmlinuz
    INITRD /initrd.img
    APPEND root=LABEL=root ro net.ifnames=0 biosdevname=0 console=tty0 console=ttyS0,115200n8
EOF
extlinux --install "$mnt/boot/extlinux"
rm -rf "$mnt"/var/lib/apt/lists/* "$mnt"/tmp/* "$mnt"/var/log/*.log
# Give the freed blocks (apt's downloads) back as holes, so the qcow2 stays small.
fstrim "$mnt" || true

cleanup
loop=""
trap - EXIT
dd if=/usr/lib/syslinux/mbr/mbr.bin of="$raw" bs=440 count=1 conv=notrunc status=none

qemu-img convert -O qcow2 "$raw" "$dir/box.img"
rm -f "$raw"
virtual_size=$size_gb
cat >"$dir/metadata.json" <<EOF
{"provider": "libvirt", "format": "qcow2", "virtual_size": $virtual_size}
EOF
# The driver (kvm or qemu) is the project Vagrantfile's choice, not the box's.
cat >"$dir/Vagrantfile" <<'EOF'
Vagrant.configure("2") do |config|
  config.vm.provider :libvirt do |lv|
    lv.disk_bus = "virtio"
  end
end
EOF
tar -C "$dir" -cf "$box" metadata.json Vagrantfile box.img
rm -f "$dir/box.img"
vagrant box add --force --name "$name" "$box"
echo "built and added box $name in $(( $(date +%s) - start ))s: $box ($(du -h "$box" | cut -f1))"
