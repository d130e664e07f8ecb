#!/usr/bin/env bash
# The ikev2d VM: the binary built on the host (target/release/ikev2d, synced to
# /ikev2d), installed with the systemd unit but not started: each scenario writes its
# own /etc/ikev2d/ikev2d.toml and (re)starts the service.
set -euo pipefail
bin=/ikev2d/target/release/ikev2d
if [ ! -x "$bin" ]; then
    echo "error: $bin missing: run 'cargo build --release -p ikev2d' on the host, then 'vagrant provision ikev2d'" >&2
    exit 1
fi
install -m 0755 "$bin" /usr/local/sbin/ikev2d
install -d -m 0700 /etc/ikev2d
install -m 0644 /ikev2d/daemon/systemd/ikev2d.service /etc/systemd/system/ikev2d.service
systemctl daemon-reload
/usr/local/sbin/ikev2d --version
