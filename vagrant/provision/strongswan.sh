#!/usr/bin/env bash
# The strongSwan VM: charon with the kernel's own IPsec (kernel-netlink, XFRM): ESP
# in the kernel, raw ESP without NAT, ESN supported. Scenarios load their own
# swanctl.conf through `swanctl --load-all --file`.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
apt-get install -y -qq --no-install-recommends charon-systemd strongswan-swanctl \
    libstrongswan-standard-plugins libstrongswan-extra-plugins
# Wireshark-readable keys for the wire check (strongSwan's save-keys plugin), when the
# package has it: Debian's strongSwan 5.9.8 (bookworm) and 6.0.1 (trixie) are built
# without it. The ESP keys of the kernel's SAs are readable anyway: `sudo ip xfrm state`.
if [ ! -e /usr/lib/ipsec/plugins/libstrongswan-save-keys.so ]; then
    echo "note: this strongSwan has no save-keys plugin (not built by Debian): no IKE key export; ESP keys: ip xfrm state"
fi
cat >/etc/strongswan.d/charon/zz-ikev2d-interop.conf <<CONF
charon-systemd {
    plugins {
        save-keys {
            load = yes
            esp = yes
            ike = yes
            wireshark_keys = /var/lib/strongswan/keys
        }
    }
}
CONF
install -d -m 0700 /var/lib/strongswan/keys
systemctl enable --now strongswan
swanctl --version
# charon is up (vici answers) with the kernel's IPsec backend.
for _ in $(seq 1 30); do
    swanctl --stats >/dev/null 2>&1 && break
    sleep 1
done
swanctl --stats | grep 'kernel-netlink' >/dev/null || { echo "error: charon not up with kernel-netlink" >&2; exit 1; }
