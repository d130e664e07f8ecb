#!/usr/bin/env bash
# Both VMs: test tools, the inner network address on lo, IP forwarding.
# $1: the inner address of this VM (10.1.0.1/24 or 10.2.0.1/24).
set -euo pipefail
inner=$1
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends iproute2 iputils-ping iperf3 tcpdump tshark jq
ip addr replace "$inner" dev lo
# Keep the inner address across reboots.
cat >/etc/systemd/system/inner-addr.service <<UNIT
[Unit]
Description=inner test network on lo
After=network.target
[Service]
Type=oneshot
ExecStart=/usr/sbin/ip addr replace $inner dev lo
RemainAfterExit=yes
[Install]
WantedBy=multi-user.target
UNIT
systemctl daemon-reload
systemctl enable --now inner-addr.service
echo 'net.ipv4.ip_forward = 1' >/etc/sysctl.d/60-ikev2d-interop.conf
sysctl -qw net.ipv4.ip_forward=1
