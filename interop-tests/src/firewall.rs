//! iptables rules inside a test namespace that remove themselves: [`DropRule`] drops
//! matching packets until it is dropped (also when the test panics), and reads back
//! how many it dropped, so a test that means to lose a packet can check that it did.
//! Used to lose a chosen IKE message and so make a race (a rekey collision) or a
//! retransmission certain.

use std::sync::atomic::{AtomicU32, Ordering};

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

/// One `iptables -I OUTPUT ... -j DROP` rule in a namespace, deleted on drop. Each
/// rule carries a comment unique in this process, by which [`DropRule::dropped`] finds
/// its packet counter.
#[derive(Debug)]
pub struct DropRule {
    ns: String,
    spec: Vec<String>,
    tag: String,
}

impl DropRule {
    /// Drop `spec` (an iptables rule without chain and target) in `ns`'s OUTPUT chain.
    #[track_caller]
    pub fn output(ns: &Netns, spec: &[&str]) -> Self {
        static NEXT: AtomicU32 = AtomicU32::new(1);
        let tag = format!(
            "ikev2d-test-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let mut spec: Vec<String> = spec.iter().map(|s| (*s).to_owned()).collect();
        spec.extend(["-m", "comment", "--comment", &tag].map(str::to_owned));
        let rule = Self {
            ns: ns.name().to_owned(),
            spec,
            tag,
        };
        rule.iptables("-I").expect_ok();
        rule
    }

    /// Drop only the first packet matching `spec` (iptables `statistic --mode nth
    /// --every 1000 --packet 0` matches the 1st, 1001st, ... packet): a loss that is
    /// certain, unlike a random one, so the retransmission it causes is too.
    #[track_caller]
    pub fn first(ns: &Netns, spec: &[&str]) -> Self {
        let mut spec = spec.to_vec();
        spec.extend([
            "-m",
            "statistic",
            "--mode",
            "nth",
            "--every",
            "1000",
            "--packet",
            "0",
        ]);
        Self::output(ns, &spec)
    }

    /// How many packets this rule has dropped so far (its iptables packet counter).
    #[track_caller]
    pub fn dropped(&self) -> u64 {
        let o = cmd::run_args(
            "ip",
            &[
                "netns", "exec", &self.ns, "iptables", "-L", "OUTPUT", "-v", "-n", "-x",
            ],
            DEFAULT_TIMEOUT,
        )
        .expect_ok();
        parse_dropped(&o.stdout, &self.tag)
            .unwrap_or_else(|| panic!("no counter for rule {} in:\n{}", self.tag, o.stdout))
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

    /// Remove the rule now; returns how many packets it dropped.
    #[track_caller]
    pub fn remove(self) -> u64 {
        self.dropped()
    }
}

/// The packet counter (first column of `iptables -L -v -n -x`) of the rule whose
/// comment is `tag`.
fn parse_dropped(listing: &str, tag: &str) -> Option<u64> {
    let marker = format!("/* {tag} */");
    listing
        .lines()
        .find(|l| l.contains(&marker))
        .and_then(|l| l.split_whitespace().next()?.parse().ok())
}

impl Drop for DropRule {
    fn drop(&mut self) {
        let o = self.iptables("-D");
        if !o.ok() {
            eprintln!("cannot remove iptables rule: {o}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_counter_of_the_tagged_rule() {
        let listing = "\
Chain OUTPUT (policy ACCEPT 0 packets, 0 bytes)
    pkts      bytes target     prot opt in     out     source               destination
       3      252 DROP       17   --  *      veth0   0.0.0.0/0            0.0.0.0/0            udp dpt:500 /* ikev2d-test-7-1 */
       0        0 DROP       17   --  *      veth0   0.0.0.0/0            0.0.0.0/0            udp dpt:4500 /* ikev2d-test-7-12 */
";
        assert_eq!(parse_dropped(listing, "ikev2d-test-7-1"), Some(3));
        assert_eq!(parse_dropped(listing, "ikev2d-test-7-12"), Some(0));
        assert_eq!(parse_dropped(listing, "ikev2d-test-7-2"), None);
    }
}
