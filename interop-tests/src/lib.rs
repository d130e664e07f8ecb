//! Interop harness: ikev2d against strongSwan (and against itself) in Linux network
//! namespaces. Tests live in `tests/`; this crate gives them
//!
//! - [`prereq`]: root, TUN, strongSwan and the ikev2d binary, with [`require!`]
//!   (missing: fail under `CI=true`, skip elsewhere);
//! - [`netns`], [`topology`]: namespaces, veth pairs and the two-site [`topology::Pair`],
//!   removed on drop even when a test panics;
//! - [`conn`]: one tunnel description rendered for both daemons;
//! - [`firewall`]: self-removing iptables drop rules, to lose a chosen IKE message;
//! - [`dns`]: a dnsmasq whose answers a test changes, as another namespace's resolver;
//! - [`strongswan`]: charon with kernel-libipsec (the host's 5.9.8, or strongSwan 6 from
//!   a chroot: `scripts/strongswan6-chroot`), swanctl, `--list-sas` parsing;
//! - [`certs`]: the certificate setups of scenarios, made with [`pki`];
//! - [`scenario`]: the interop scenario list shared by both backends, and its runner;
//!   [`testbed`] (namespaces, the default) and [`vagrant`] (two VMs,
//!   `INTEROP_BACKEND=vagrant`) implement [`scenario::Testbed`];
//! - [`ikev2d`]: `ikev2d run` with a generated TOML configuration and its control CLI;
//! - [`iperf`]: iperf3 TCP runs through a tunnel;
//! - [`pki`]: CAs, certificates, keys and CRLs made with strongSwan's `pki` tool;
//! - [`ping`](mod@ping), [`cmd`], [`proc`], [`cleanup`]: commands with time limits,
//!   daemons with log files, and a per-test time bound.
//!
//! It never touches the host's network: everything happens in namespaces it creates.
//! Everything needs root.

pub mod certs;
pub mod cleanup;
pub mod cmd;
pub mod conn;
pub mod dns;
pub mod firewall;
pub mod ikev2d;
pub mod iperf;
pub mod netns;
pub mod ping;
pub mod pki;
pub mod prereq;
pub mod proc;
pub mod scenario;
pub mod strongswan;
pub mod testbed;
pub mod topology;
pub mod vagrant;

pub use cleanup::TimeBound;
pub use conn::{ChildSpec, ConnSpec, Sites, StartAction};
pub use ikev2d::{Ikev2d, Ikev2dConfig};
pub use netns::Netns;
pub use ping::{ping, ping_until};
pub use strongswan::{Charon, CharonOptions};
pub use topology::{NatPair, Pair, RoutedPair, TwoGateways};
