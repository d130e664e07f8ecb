//! A DNS server in one namespace (dnsmasq) that another namespace resolves with,
//! whose answers a test changes while daemons run ([`LocalDns::set`]).
//!
//! The client namespace gets `/etc/netns/<name>/resolv.conf`, which `ip netns exec`
//! mounts over `/etc/resolv.conf` for every process started in it (so ikev2d's
//! getaddrinfo asks this server). Removed on drop.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::netns::Netns;
use crate::proc::Proc;

#[derive(Debug)]
pub struct LocalDns {
    proc: Proc,
    hosts: PathBuf,
    netns_dir: PathBuf,
    _dir: tempfile::TempDir,
}

impl LocalDns {
    /// dnsmasq in `server` on `listen`:53 answering from its own table only (TTL 0),
    /// and `client` resolving with it.
    #[track_caller]
    pub fn start(server: &Netns, listen: IpAddr, client: &Netns) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let hosts = dir.path().join("hosts");
        std::fs::write(&hosts, "").expect("hosts file");
        let netns_dir = PathBuf::from("/etc/netns").join(client.name());
        std::fs::create_dir_all(&netns_dir).expect("/etc/netns/<ns>");
        std::fs::write(
            netns_dir.join("resolv.conf"),
            format!("nameserver {listen}\noptions timeout:1 attempts:2\n"),
        )
        .expect("resolv.conf");
        let proc = server.spawn(
            "dnsmasq",
            &[
                "dnsmasq",
                "--keep-in-foreground",
                "--no-resolv",
                "--no-hosts",
                "--no-poll",
                "--user=root",
                "--pid-file=",
                "--local-ttl=0",
                "--log-queries",
                "--log-facility=-",
                "--bind-interfaces",
                &format!("--listen-address={listen}"),
                &format!("--addn-hosts={}", hosts.display()),
            ],
            &dir.path().join("dnsmasq.log"),
        );
        let dns = Self {
            proc,
            hosts,
            netns_dir,
            _dir: dir,
        };
        let up = crate::cmd::wait_for(Duration::from_secs(5), Duration::from_millis(100), || {
            dns.proc.log().contains("started").then_some(())
        });
        assert!(up.is_some(), "dnsmasq did not start:\n{}", dns.proc.log());
        dns
    }

    /// From now on `name` resolves to `addrs` (none: the name does not exist).
    #[track_caller]
    pub fn set(&mut self, name: &str, addrs: &[IpAddr]) {
        let table: String = addrs.iter().map(|a| format!("{a} {name}\n")).collect();
        std::fs::write(&self.hosts, table).expect("hosts file");
        // dnsmasq reads its hosts files again and clears its cache on SIGHUP.
        self.proc.signal(nix::sys::signal::Signal::SIGHUP);
        std::thread::sleep(Duration::from_millis(200));
    }

    /// The queries dnsmasq answered (its log).
    pub fn log(&self) -> String {
        self.proc.log()
    }
}

impl Drop for LocalDns {
    fn drop(&mut self) {
        self.proc.stop(Duration::from_secs(2));
        let _ = std::fs::remove_dir_all(&self.netns_dir);
    }
}
