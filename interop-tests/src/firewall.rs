//! iptables rules inside a test namespace that remove themselves: [`DropRule`] drops
//! matching packets until it is dropped (also when the test panics). Used to lose a
//! chosen IKE message and so make a race (a rekey collision) certain.

use crate::cmd::{self, DEFAULT_TIMEOUT};
use crate::netns::Netns;

/// IKE exchange types (RFC 7296 §3.1).
pub const IKE_SA_INIT: u8 = 34;
pub const IKE_AUTH: u8 = 35;
pub const CREATE_CHILD_SA: u8 = 36;
pub const INFORMATIONAL: u8 = 37;

/// IKE header flags (RFC 7296 §3.1): sent by the original initiator, a response.
pub const FLAG_INITIATOR: u8 = 0x08;
pub const FLAG_RESPONSE: u8 = 0x20;

/// One `iptables -I OUTPUT ... -j DROP` rule in a namespace, deleted on drop.
#[derive(Debug)]
pub struct DropRule {
    ns: String,
    spec: Vec<String>,
}

impl DropRule {
    /// Drop `spec` (an iptables rule without chain and target) in `ns`'s OUTPUT chain.
    #[track_caller]
    pub fn output(ns: &Netns, spec: &[&str]) -> Self {
        let spec: Vec<String> = spec.iter().map(|s| (*s).to_owned()).collect();
        let rule = Self {
            ns: ns.name().to_owned(),
            spec,
        };
        rule.iptables("-I").expect_ok();
        rule
    }

    /// Drop IKE messages leaving on UDP 4500 through `dev` whose exchange type and
    /// flags byte are exactly `exchange` and `flags` (e.g. CREATE_CHILD_SA requests of
    /// the original initiator: `CREATE_CHILD_SA, FLAG_INITIATOR`). The u32 match reads
    /// past the IP header: the non-ESP marker (0) at UDP payload offset 0, the IKE
    /// header's exchange type and flags at payload offsets 22 and 23.
    #[track_caller]
    pub fn ike_4500(ns: &Netns, dev: &str, exchange: u8, flags: u8) -> Self {
        let m = format!(
            "0>>22&0x3C@8=0 && 0>>22&0x3C@28&0xFFFF=0x{:02x}{:02x}",
            exchange, flags
        );
        Self::output(
            ns,
            &[
                "-o", dev, "-p", "udp", "--dport", "4500", "-m", "u32", "--u32", &m,
            ],
        )
    }

    fn iptables(&self, op: &str) -> cmd::Output {
        let mut args: Vec<&str> = vec!["ip", "netns", "exec", &self.ns, "iptables", op, "OUTPUT"];
        args.extend(self.spec.iter().map(String::as_str));
        args.extend(["-j", "DROP"]);
        cmd::run_args(args[0], &args[1..], DEFAULT_TIMEOUT)
    }

    /// Remove the rule now (same as dropping it).
    pub fn remove(self) {}
}

impl Drop for DropRule {
    fn drop(&mut self) {
        let o = self.iptables("-D");
        if !o.ok() {
            eprintln!("cannot remove iptables rule: {o}");
        }
    }
}
