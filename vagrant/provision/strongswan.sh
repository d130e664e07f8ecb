#!/usr/bin/env bash
# The strongSwan VM: charon with the kernel's own IPsec (kernel-netlink, XFRM): ESP
# in the kernel, raw ESP without NAT, ESN supported. Scenarios load their own
# swanctl.conf through `swanctl --load-all --file`.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
apt-get install -y -qq --no-install-recommends charon-systemd strongswan-swanctl \
    libstrongswan-standard-plugins libstrongswan-extra-plugins
# Wireshark-readable keys for the wire check (strongSwan's save-keys plugin).
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
