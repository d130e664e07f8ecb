//! The interop scenario list, written once and run by every backend: network
//! namespaces on this machine ([`crate::testbed::NetnsTestbed`], strongSwan with
//! kernel-libipsec) and two Vagrant VMs ([`crate::vagrant::VagrantTestbed`],
//! strongSwan with the kernel's own ESP). A scenario says what each side is
//! configured with, who initiates, what must come out (negotiated suites, or a
//! failure with its phase and cause) and what happens next (rekeys from either
//! side); [`run`] drives it through the [`Testbed`] interface, which is all a backend
//! implements. Nothing here knows which backend it talks to, so the two cannot drift.
//!
//! Scenarios a backend cannot run say so ([`Scenario::only`]) and the runner lists
//! them as not applicable with the reason, never as passed.

use std::fmt;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::certs::{CertSetup, Flaw};
use crate::cmd::Output;
use crate::conn::{ConnSpec, Sites};
use crate::ikev2d::conn_of;
use crate::pki::KeyType;
use crate::strongswan::{IkeSa, agreement, parse_list_sas};

/// Which daemon does something.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Ikev2d,
    StrongSwan,
}

impl fmt::Display for Side {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Side::Ikev2d => "ikev2d",
            Side::StrongSwan => "strongSwan",
        })
    }
}

/// Where the scenarios run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackendKind {
    /// Namespaces here; strongSwan's userspace ESP (always ESP in UDP, no ESN).
    Netns,
    /// Two VMs; strongSwan with the kernel's ESP (raw ESP, ESN).
    Vagrant,
}

impl BackendKind {
    /// `INTEROP_BACKEND` (`netns`, the default, or `vagrant`).
    pub fn from_env() -> Result<Self, String> {
        match std::env::var("INTEROP_BACKEND").as_deref() {
            Err(_) | Ok("") | Ok("netns") => Ok(Self::Netns),
            Ok("vagrant") => Ok(Self::Vagrant),
            Ok(other) => Err(format!(
                "INTEROP_BACKEND={other}: expected `netns` (default) or `vagrant`"
            )),
        }
    }
}

/// The strongSwan release a backend runs; scenarios name the ones they apply to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Release {
    /// 5.9.8, Debian 12: no RFC 9370 (cannot even parse `keN_`).
    V5_9,
    /// 6.0.1, Debian 13: additional key exchanges, no ML-KEM in Debian's build.
    V6_0,
    /// 6.1.0, Debian sid: ML-KEM through OpenSSL 3.6.
    V6_1,
}

impl Release {
    pub const ALL: [Release; 3] = [Release::V5_9, Release::V6_0, Release::V6_1];

    /// From a version string (`5.9.8`, `6.0.1-6`, `strongSwan 6.1.0`, ...).
    pub fn parse(version: &str) -> Option<Self> {
        let v = version.trim().trim_start_matches("strongSwan").trim();
        if v.starts_with("5.9") {
            Some(Self::V5_9)
        } else if v.starts_with("6.0") {
            Some(Self::V6_0)
        } else if v.starts_with("6.") {
            Some(Self::V6_1)
        } else {
            None
        }
    }
}

impl fmt::Display for Release {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::V5_9 => "5.9.8",
            Self::V6_0 => "6.0.1",
            Self::V6_1 => "6.1.0",
        })
    }
}

/// What a backend offers the runner: (re)configure and start both daemons, the two
/// control CLIs, and pings between the inner addresses.
pub trait Testbed {
    fn kind(&self) -> BackendKind;
    /// The strongSwan release it runs.
    fn strongswan(&self) -> Release;
    /// The addresses scenarios are written against.
    fn sites(&self) -> Sites;
    /// Stop whatever runs, then start ikev2d (site A) with `ours` and strongSwan
    /// (site B) with `theirs`, both idle (nothing initiated).
    fn load(&mut self, ours: &ConnSpec, theirs: &ConnSpec) -> Result<(), String>;
    /// The ikev2d control client (`ikev2d ARGS`) against the running daemon.
    fn ikev2d(&self, args: &[&str]) -> Output;
    /// `swanctl ARGS` against the running charon.
    fn swanctl(&self, args: &[&str]) -> Output;
    /// Pings from `from`'s inner address to the other's; how many were answered.
    fn ping(&self, from: Side, count: u32) -> u32;
    /// ESP mode strongSwan lists for a child of `ours` (`TUNNEL` or `TUNNEL-in-UDP`).
    fn expected_mode(&self, ours: &ConnSpec) -> &'static str;
    /// The last lines of both daemons' logs, for failure reports.
    fn logs(&self) -> String;
}

/// What must come out of the establishment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expect {
    /// Both sides agree on one IKE SA and one CHILD SA with these suites (strongSwan
    /// notation, as `ikev2d status` prints them), and pings pass both ways.
    Up { ike: String, esp: String },
    /// ikev2d's `up` fails and `last_error` names this phase and contains `reason`.
    Fails {
        phase: &'static str,
        reason: &'static str,
    },
}

/// What happens once the tunnel is up; each must end with both sides agreeing on
/// new SPIs and pings passing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    RekeyChild(Side),
    RekeyIke(Side),
    /// On a quiet tunnel, what one side counts out the other counts in (packets and
    /// octets, `ikev2d status --json` against `swanctl --list-sas`).
    CountersAgree,
    /// IKE fragmentation was used both ways: ikev2d's `ike_fragmented_messages` and
    /// `ike_reassembled_messages` counters are not zero.
    Fragmented,
    /// ikev2d's status says how strongSwan authenticated (`remote_auth` contains
    /// this, e.g. `RSASSA-PSS`), and that we signed the same way (`local_auth`).
    Signed(&'static str),
}

#[derive(Debug, Clone)]
pub struct Scenario {
    pub name: String,
    /// ikev2d's connection (site A's view).
    pub ours: ConnSpec,
    /// strongSwan's connection (site B's view).
    pub theirs: ConnSpec,
    pub initiator: Side,
    pub expect: Expect,
    pub then: Vec<Action>,
    /// Runs only on this backend; the reason the others cannot.
    pub only: Option<(BackendKind, &'static str)>,
    /// Runs only against these strongSwan releases; the reason the others cannot.
    pub releases: Option<(&'static [Release], &'static str)>,
    /// Certificates instead of the PSK, made when the scenario runs.
    pub certs: Option<CertSetup>,
}

impl Scenario {
    fn up(name: &str, sites: &Sites, initiator: Side, ike: &str, esp: &str, got: &str) -> Self {
        let ours = ConnSpec::site_a_at(sites).with_proposals(ike, esp);
        Self {
            name: name.to_owned(),
            theirs: ours.mirrored(),
            ours,
            initiator,
            expect: Expect::Up {
                ike: ike.to_owned(),
                esp: got.to_owned(),
            },
            then: Vec::new(),
            only: None,
            releases: None,
            certs: None,
        }
    }

    fn certs(mut self, setup: CertSetup) -> Self {
        self.certs = Some(setup);
        self
    }

    /// The IKE suite as ikev2d's status shows it, where it differs from the proposal.
    fn expect_ike(mut self, ike: &str) -> Self {
        if let Expect::Up { ike: i, .. } = &mut self.expect {
            *i = ike.to_owned();
        }
        self
    }

    fn then(mut self, actions: &[Action]) -> Self {
        self.then = actions.to_vec();
        self
    }

    fn only(mut self, kind: BackendKind, why: &'static str) -> Self {
        self.only = Some((kind, why));
        self
    }

    fn releases(mut self, releases: &'static [Release], why: &'static str) -> Self {
        self.releases = Some((releases, why));
        self
    }

    /// Whether it runs on backend `kind` against strongSwan `release`; the reason why
    /// not otherwise.
    pub fn applies_to(&self, kind: BackendKind, release: Release) -> Result<(), &'static str> {
        match (self.only, self.releases) {
            (Some((k, why)), _) if k != kind => Err(why),
            (_, Some((r, why))) if !r.contains(&release) => Err(why),
            _ => Ok(()),
        }
    }

    /// The strongSwan releases it applies to (on a backend it runs on).
    pub fn release_list(&self) -> Vec<Release> {
        Release::ALL
            .into_iter()
            .filter(|r| self.releases.is_none_or(|(l, _)| l.contains(r)))
            .collect()
    }
}

const BASE_IKE: &str = "aes256-sha256-modp2048";
const BASE_ESP: &str = "aes256gcm16";
const NO_ESN_HERE: &str = "strongSwan's kernel-libipsec (the only ESP strongSwan has in \
                           namespaces here) does not implement ESN";

/// The scenario list (docs/interop.md has it as a table, with results).
pub fn matrix(sites: &Sites) -> Vec<Scenario> {
    use Action::*;
    use Release::{V6_0, V6_1};
    use Side::*;
    let mut v = vec![
        Scenario::up(
            "basic, ikev2d initiates",
            sites,
            Ikev2d,
            BASE_IKE,
            BASE_ESP,
            BASE_ESP,
        )
        .then(&[CountersAgree]),
        Scenario::up(
            "basic, strongSwan initiates",
            sites,
            StrongSwan,
            BASE_IKE,
            BASE_ESP,
            BASE_ESP,
        )
        .then(&[CountersAgree]),
    ];
    // Suites: (IKE proposal, ESP proposal, ESP suite as negotiated for the IKE_AUTH
    // child, where a PFS group does not apply).
    let suites = [
        ("aes128-sha256-modp2048", "aes128-sha256", "aes128-sha256"),
        ("aes256-sha384-ecp384", "aes256-sha384", "aes256-sha384"),
        ("aes256-sha512-modp3072", "aes256gcm16", "aes256gcm16"),
        (
            "aes256-sha256-modp4096",
            "aes256-sha256-modp4096",
            "aes256-sha256",
        ),
        ("aes128gcm16-prfsha256-ecp256", "aes128gcm16", "aes128gcm16"),
        (
            "aes256gcm16-prfsha384-ecp521",
            "aes256gcm16-ecp521",
            "aes256gcm16",
        ),
        (
            "chacha20poly1305-prfsha256-curve25519",
            "chacha20poly1305",
            "chacha20poly1305",
        ),
    ];
    for (ike, esp, got) in suites {
        v.push(Scenario::up(
            &format!("suite {ike} / {esp}"),
            sites,
            Ikev2d,
            ike,
            esp,
            got,
        ));
    }
    v.push(Scenario::up(
        "suite aes128-sha384-modp3072 / aes128gcm16, strongSwan initiates",
        sites,
        StrongSwan,
        "aes128-sha384-modp3072",
        "aes128gcm16",
        "aes128gcm16",
    ));

    // INVALID_KE_PAYLOAD both ways: the initiator's first group is refused, the
    // responder names the one it takes.
    let mut ike_guess = Scenario::up(
        "INVALID_KE: ikev2d guesses modp2048, strongSwan wants ecp256",
        sites,
        Ikev2d,
        "aes256-sha256-ecp256",
        BASE_ESP,
        BASE_ESP,
    );
    ike_guess.ours.proposals = vec!["aes256-sha256-modp2048-ecp256".to_owned()];
    v.push(ike_guess);
    let mut sw_guess = Scenario::up(
        "INVALID_KE: strongSwan guesses modp2048, ikev2d wants ecp256",
        sites,
        StrongSwan,
        "aes256-sha256-ecp256",
        BASE_ESP,
        BASE_ESP,
    );
    sw_guess.theirs.proposals = vec!["aes256-sha256-modp2048-ecp256".to_owned()];
    v.push(sw_guess);

    // PFS rekeys and IKE rekeys, requested by either side.
    for by in [Ikev2d, StrongSwan] {
        v.push(
            Scenario::up(
                &format!("PFS CHILD rekey (curve25519) by {by}"),
                sites,
                Ikev2d,
                BASE_IKE,
                "aes256gcm16-curve25519",
                BASE_ESP,
            )
            .then(&[RekeyChild(by), RekeyChild(by)]),
        );
        v.push(
            Scenario::up(
                &format!("IKE rekey by {by}"),
                sites,
                Ikev2d,
                BASE_IKE,
                BASE_ESP,
                BASE_ESP,
            )
            .then(&[RekeyIke(by), RekeyChild(by)]),
        );
    }

    // Narrowing: ikev2d asks for /16s, strongSwan allows the /24s.
    let mut narrow = Scenario::up(
        "TS narrowed by strongSwan",
        sites,
        Ikev2d,
        BASE_IKE,
        BASE_ESP,
        BASE_ESP,
    );
    narrow.ours.children[0].local_ts = vec![widen(&sites.net_a)];
    narrow.ours.children[0].remote_ts = vec![widen(&sites.net_b)];
    v.push(narrow);

    // Failures ikev2d must explain.
    let fail = |name: &str, phase: &'static str, reason: &'static str| {
        let mut s = Scenario::up(name, sites, Ikev2d, BASE_IKE, BASE_ESP, BASE_ESP);
        s.expect = Expect::Fails { phase, reason };
        s
    };
    let mut psk = fail("PSK mismatch", "IKE_AUTH", "");
    psk.theirs.psk = "a-Different-Pre-Shared-Key-9#qWx2zT".to_owned();
    v.push(psk);
    let mut prop = fail("IKE proposal mismatch", "IKE_SA_INIT", "NO_PROPOSAL_CHOSEN");
    prop.theirs.proposals = vec!["aes128-sha256-ecp256".to_owned()];
    v.push(prop);
    let mut ts = fail("TS mismatch", "IKE_AUTH", "TS_UNACCEPTABLE");
    ts.ours.children[0].remote_ts = vec!["10.3.0.0/24".to_owned()];
    v.push(ts);

    // Extended sequence numbers: the kernel's ESP has them, libipsec does not.
    for initiator in [Ikev2d, StrongSwan] {
        v.push(
            Scenario::up(
                &format!("ESN, {initiator} initiates"),
                sites,
                initiator,
                BASE_IKE,
                "aes256gcm16-esn",
                "aes256gcm16-esn",
            )
            .then(&[RekeyChild(Ikev2d)])
            .only(BackendKind::Vagrant, NO_ESN_HERE),
        );
    }
    // ESP in UDP although no NAT is between the VMs (raw ESP is the default there).
    let mut encap = Scenario::up(
        "forced UDP encapsulation (encap = yes)",
        sites,
        Ikev2d,
        BASE_IKE,
        BASE_ESP,
        BASE_ESP,
    );
    encap.ours.encap = true;
    encap.theirs.encap = true;
    v.push(encap);

    // RFC 9370 additional key exchanges: IKE_INTERMEDIATE at setup (the CHILD SA of
    // IKE_AUTH has no key exchange), IKE_FOLLOWUP_KE in every rekey, by both sides.
    let all_rekeys = [
        RekeyChild(Ikev2d),
        RekeyChild(StrongSwan),
        RekeyIke(Ikev2d),
        RekeyIke(StrongSwan),
    ];
    for initiator in [Ikev2d, StrongSwan] {
        v.push(
            Scenario::up(
                &format!("post-quantum hybrid x25519-ke1_mlkem768, {initiator} initiates"),
                sites,
                initiator,
                "aes256gcm16-prfsha384-x25519-ke1_mlkem768",
                "aes256gcm16-x25519-ke1_mlkem768",
                BASE_ESP,
            )
            .expect_ike("aes256gcm16-prfsha384-curve25519-ke1_mlkem768")
            .then(&all_rekeys)
            .releases(&[V6_1], NO_ML_KEM),
        );
    }
    v.push(
        Scenario::up(
            "additional key exchange x25519-ke1_ecp384",
            sites,
            Ikev2d,
            "aes256gcm16-prfsha384-x25519-ke1_ecp384",
            "aes256gcm16-x25519-ke1_ecp384",
            BASE_ESP,
        )
        .expect_ike("aes256gcm16-prfsha384-curve25519-ke1_ecp384")
        .then(&all_rekeys)
        .releases(&[V6_0, V6_1], NO_RFC_9370),
    );
    certificate_scenarios(sites, &mut v);
    v
}

/// Public-key authentication (docs/pubkey-auth.md): key types and chains both ways,
/// fragmented IKE_AUTH, CERTREQ absent, and the flaws ikev2d must name.
fn certificate_scenarios(sites: &Sites, v: &mut Vec<Scenario>) {
    use Action::*;
    use Side::*;
    let up = |name: &str, initiator: Side, setup: CertSetup| {
        Scenario::up(name, sites, initiator, BASE_IKE, BASE_ESP, BASE_ESP).certs(setup)
    };
    let ecdsa = CertSetup::chains(KeyType::Ecdsa(384), KeyType::Ecdsa(256));
    for initiator in [Ikev2d, StrongSwan] {
        v.push(
            up(
                &format!("certificates ECDSA P-256 (3-level chains), {initiator} initiates"),
                initiator,
                ecdsa,
            )
            .then(&[
                Signed("ECDSA with SHA-256, certificate C=CH, O=ikev2d interop, CN=gw-"),
                RekeyIke(StrongSwan),
                RekeyChild(Ikev2d),
                Signed("ECDSA with SHA-256"),
            ]),
        );
        // 4096-bit RSA chains make IKE_AUTH about 5 kB: fragmented both ways.
        v.push(
            up(
                &format!("certificates RSA-PSS 4096 (fragmented IKE_AUTH), {initiator} initiates"),
                initiator,
                CertSetup::chains(KeyType::RsaPss(4096), KeyType::RsaPss(4096)),
            )
            .then(&[Fragmented, Signed("RSASSA-PSS")]),
        );
    }
    v.push(
        up(
            "certificates Ed25519 (root-signed, 2 levels)",
            StrongSwan,
            CertSetup {
                intermediate: false,
                ..CertSetup::chains(KeyType::Ed25519, KeyType::Ed25519)
            },
        )
        .then(&[Signed("Ed25519")]),
    );
    v.push(
        up(
            "certificates RSA 3072 (PKCS#1 v1.5), no CERTREQ from ikev2d, strongSwan send_cert = always",
            Ikev2d,
            CertSetup {
                ours_send_certreq: Some(false),
                theirs_send_cert: Some("always"),
                ..CertSetup::chains(KeyType::Rsa(3072), KeyType::Rsa(3072))
            },
        )
        .then(&[Signed("RSA PKCS#1 v1.5 with SHA-256")]),
    );
    // Raw public keys (swanctl `pubkeys`; strongSwan sends no CERT, RFC 7670's
    // encoding 15 is never on the wire).
    for initiator in [Ikev2d, StrongSwan] {
        v.push(
            up(
                &format!("raw public keys ECDSA P-256 (pubkeys), {initiator} initiates"),
                initiator,
                CertSetup::raw_keys(KeyType::Ecdsa(256)),
            )
            .then(&[Signed("ECDSA with SHA-256, raw public key")]),
        );
    }
    let fails = |name: &str, setup: CertSetup, reason: &'static str| {
        let mut s = up(name, Ikev2d, setup);
        s.expect = Expect::Fails {
            phase: "IKE_AUTH",
            reason,
        };
        s
    };
    v.push(fails(
        "certificate: no CERTREQ from ikev2d, strongSwan sends no certificate",
        CertSetup {
            ours_send_certreq: Some(false),
            ..ecdsa
        },
        "sent no certificate and we have no public key for it",
    ));
    v.push(fails(
        "certificate: strongSwan's certificate expired",
        CertSetup {
            flaw: Flaw::Expired,
            ..ecdsa
        },
        "peer certificate C=CH, O=ikev2d interop, CN=gw-b.ikev2d.test expired on",
    ));
    v.push(fails(
        "certificate: strongSwan's CA is not trusted",
        CertSetup {
            flaw: Flaw::UnknownCa,
            ..ecdsa
        },
        "no trust anchor for issuer C=CH, O=ikev2d interop, CN=X Intermediate CA",
    ));
    v.push(fails(
        "certificate: strongSwan's ID is not in its certificate",
        CertSetup {
            flaw: Flaw::IdNotInCert,
            ..ecdsa
        },
        "ID gw-b.ikev2d.test does not match the certificate's subjectAltName (DNS:gw-x.ikev2d.test)",
    ));
    v.push(fails(
        "certificate: strongSwan's certificate is revoked",
        CertSetup {
            flaw: Flaw::Revoked,
            ..ecdsa
        },
        "revoked",
    ));
}

const NO_RFC_9370: &str = "strongSwan 5.9 has no RFC 9370 additional key exchanges (it \
                           cannot parse keN_ in its configuration)";
const NO_ML_KEM: &str = "ML-KEM needs strongSwan 6.1 (Debian 13's 6.0.1 openssl plugin has \
                         none; 5.9 has no RFC 9370)";

/// `10.1.0.0/24` -> `10.1.0.0/16` (a wider selector for the narrowing scenario).
fn widen(net: &str) -> String {
    let addr = net.split('/').next().unwrap_or(net);
    format!("{addr}/16")
}

/// Run one scenario; the error names the step and carries both daemons' logs.
pub fn run(tb: &mut dyn Testbed, sc: &Scenario) -> Result<(), String> {
    let fail = |tb: &dyn Testbed, what: String| format!("{what}\n{}", tb.logs());
    let (mut ours, mut theirs) = (sc.ours.clone(), sc.theirs.clone());
    if let Some(c) = &sc.certs {
        c.apply(&mut ours, &mut theirs);
    }
    tb.load(&ours, &theirs)?;
    let conn = sc.ours.name.as_str();
    let child = sc.ours.child().name.clone();
    let started = match sc.initiator {
        Side::Ikev2d => tb.ikev2d(&["up", conn, "--timeout", "25"]),
        Side::StrongSwan => tb.swanctl(&["--initiate", "--child", &child, "--timeout", "25"]),
    };
    match &sc.expect {
        Expect::Fails { phase, reason } => {
            if started.ok() {
                return Err(fail(
                    tb,
                    format!("up succeeded against a misconfigured peer: {started}"),
                ));
            }
            let st = ikev2d_conn(tb, conn)
                .ok_or_else(|| fail(tb, "no status for the connection".into()))?;
            let err = &st["last_error"];
            let got_phase = err["phase"].as_str().unwrap_or_default();
            let got_reason = err["reason"].as_str().unwrap_or_default();
            if got_phase != *phase || got_reason.is_empty() || !got_reason.contains(reason) {
                return Err(fail(
                    tb,
                    format!(
                        "last_error {err}: expected phase {phase} and a reason containing {reason:?}\nup said: {started}"
                    ),
                ));
            }
            Ok(())
        }
        Expect::Up { ike, esp } => {
            if !started.ok() {
                return Err(fail(
                    tb,
                    format!("{} could not establish: {started}", sc.initiator),
                ));
            }
            let (ours, theirs) = agreed(tb, conn, None).map_err(|e| fail(tb, e))?;
            let got_ike = ours["ike_sa"]["proposal"].as_str().unwrap_or_default();
            let got_esp = ours["children"][0]["proposal"].as_str().unwrap_or_default();
            if got_ike != ike || got_esp != esp {
                return Err(fail(
                    tb,
                    format!("negotiated {got_ike} / {got_esp}, expected {ike} / {esp}"),
                ));
            }
            let mode = tb.expected_mode(&sc.ours);
            if theirs.children[0].mode != mode {
                return Err(fail(
                    tb,
                    format!(
                        "strongSwan lists ESP mode {}, expected {mode}: {theirs:?}",
                        theirs.children[0].mode
                    ),
                ));
            }
            pings(tb).map_err(|e| fail(tb, e))?;
            let mut before = (ours, theirs);
            for action in &sc.then {
                before = act(tb, conn, &child, *action, &before.0)
                    .map_err(|e| fail(tb, format!("{action:?}: {e}")))?;
                pings(tb).map_err(|e| fail(tb, format!("after {action:?}: {e}")))?;
            }
            Ok(())
        }
    }
}

/// Carry out `action`: for a rekey, request it and wait until both sides agree on
/// SAs whose SPIs differ from `before`'s (IKE SPIs for an IKE rekey, ESP SPIs for a
/// CHILD rekey).
fn act(
    tb: &mut dyn Testbed,
    conn: &str,
    child: &str,
    action: Action,
    before: &Value,
) -> Result<(Value, IkeSa), String> {
    let (out, spis): (Output, SpiPair) = match action {
        Action::CountersAgree => return counters_agree(tb, conn),
        Action::Fragmented => return fragmented(tb, conn),
        Action::Signed(how) => return signed(tb, conn, how),
        Action::RekeyChild(Side::Ikev2d) => {
            (tb.ikev2d(&["rekey", conn, "--child", child]), spis_child)
        }
        Action::RekeyChild(Side::StrongSwan) => {
            (tb.swanctl(&["--rekey", "--child", child]), spis_child)
        }
        Action::RekeyIke(Side::Ikev2d) => (tb.ikev2d(&["rekey", conn, "--ike"]), spis_ike),
        Action::RekeyIke(Side::StrongSwan) => (tb.swanctl(&["--rekey", "--ike", conn]), spis_ike),
    };
    if !out.ok() {
        return Err(format!("request refused: {out}"));
    }
    let key = spis(before);
    let changed = move |v: &Value| spis(v) != key;
    agreed(tb, conn, Some(&changed))
}

/// Wait (5 s: the data plane reports its counters with a delay) until ikev2d's
/// outbound packets and octets equal strongSwan's inbound ones and the other way round.
fn signed(tb: &dyn Testbed, conn: &str, how: &str) -> Result<(Value, IkeSa), String> {
    let (ours, theirs) = agreed(tb, conn, None)?;
    for k in ["remote_auth", "local_auth"] {
        let got = ours["ike_sa"][k].as_str().unwrap_or_default();
        if !got.contains(how) {
            return Err(format!("ike_sa.{k} is {got:?}, expected {how:?} in it"));
        }
    }
    Ok((ours, theirs))
}

fn fragmented(tb: &dyn Testbed, conn: &str) -> Result<(Value, IkeSa), String> {
    let o = tb.ikev2d(&["status", "--json"]);
    let st: Value = serde_json::from_str(&o.stdout).map_err(|e| format!("status: {e}: {o}"))?;
    for k in ["ike_fragmented_messages", "ike_reassembled_messages"] {
        if st["counters"][k].as_u64().unwrap_or(0) == 0 {
            return Err(format!("{k} is 0: {}", st["counters"]));
        }
    }
    agreed(tb, conn, None)
}

fn counters_agree(tb: &dyn Testbed, conn: &str) -> Result<(Value, IkeSa), String> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let (ours, theirs) = agreed(tb, conn, None)?;
        let ch = &ours["children"][0];
        let n = |f: &str| ch[f].as_u64().unwrap_or(u64::MAX);
        let sw = &theirs.children[0];
        let mine = (
            n("packets_out"),
            n("bytes_out"),
            n("packets_in"),
            n("bytes_in"),
        );
        let peer = (sw.packets_in, sw.bytes_in, sw.packets_out, sw.bytes_out);
        if mine == peer && mine.0 > 0 {
            return Ok((ours, theirs));
        }
        if Instant::now() >= deadline {
            return Err(format!(
                "counters differ (packets out, octets out, packets in, octets in): ikev2d {mine:?}, strongSwan (in, out) {peer:?}"
            ));
        }
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// The SPIs a rekey must change, read from ikev2d's connection status.
type SpiPair = fn(&Value) -> (String, String);

fn spis_child(v: &Value) -> (String, String) {
    let c = &v["children"][0];
    (c["spi_in"].to_string(), c["spi_out"].to_string())
}

fn spis_ike(v: &Value) -> (String, String) {
    (
        v["ike_sa"]["spi_i"].to_string(),
        v["ike_sa"]["spi_r"].to_string(),
    )
}

fn ikev2d_conn(tb: &dyn Testbed, conn: &str) -> Option<Value> {
    let o = tb.ikev2d(&["status", "--json"]);
    serde_json::from_str::<Value>(&o.stdout)
        .ok()
        .and_then(|s| conn_of(&s, conn))
}

/// Wait (20 s) until ikev2d's `conn` passes `extra` and both sides agree on one
/// tunnel ([`agreement`]).
fn agreed(
    tb: &dyn Testbed,
    conn: &str,
    extra: Option<&dyn Fn(&Value) -> bool>,
) -> Result<(Value, IkeSa), String> {
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut last = String::new();
    while Instant::now() < deadline {
        let ours = ikev2d_conn(tb, conn);
        let sas = parse_list_sas(&tb.swanctl(&["--list-sas"]).stdout);
        match ours {
            Some(ours) if extra.is_none_or(|f| f(&ours)) => {
                if let Some(sw) = agreement(&ours, &sas) {
                    return Ok((ours, sw));
                }
                last = format!("ikev2d: {ours}\nstrongSwan: {sas:?}");
            }
            other => last = format!("ikev2d: {other:?}\nstrongSwan: {sas:?}"),
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    Err(format!(
        "the two sides do not agree on one tunnel after 20 s\n{last}"
    ))
}

/// One answered ping within 10 s, then 5 of 5 from A and 3 of 3 from B.
fn pings(tb: &dyn Testbed) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(10);
    while tb.ping(Side::Ikev2d, 1) == 0 {
        if Instant::now() >= deadline {
            return Err("no ping answered through the tunnel within 10 s".into());
        }
    }
    let a = tb.ping(Side::Ikev2d, 5);
    let b = tb.ping(Side::StrongSwan, 3);
    if a != 5 || b != 3 {
        return Err(format!(
            "pings lost: {a}/5 from ikev2d's side, {b}/3 from strongSwan's"
        ));
    }
    Ok(())
}

/// Run every scenario that applies to the testbed; returns one line per scenario
/// (`ok`, `FAILED`, or `n/a` with the reason) and the failures in full.
pub fn run_all(tb: &mut dyn Testbed, filter: Option<&str>) -> (Vec<String>, Vec<String>) {
    let mut table = Vec::new();
    let mut failures = Vec::new();
    for sc in matrix(&tb.sites()) {
        if filter.is_some_and(|f| !sc.name.contains(f)) {
            continue;
        }
        if let Err(why) = sc.applies_to(tb.kind(), tb.strongswan()) {
            table.push(format!("n/a     {} ({why})", sc.name));
            continue;
        }
        let t = Instant::now();
        match run(tb, &sc) {
            Ok(()) => table.push(format!(
                "ok      {} ({:.1} s)",
                sc.name,
                t.elapsed().as_secs_f64()
            )),
            Err(e) => {
                table.push(format!(
                    "FAILED  {} ({:.1} s)",
                    sc.name,
                    t.elapsed().as_secs_f64()
                ));
                failures.push(format!("=== {}\n{e}", sc.name));
            }
        }
    }
    (table, failures)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_every_backend_has_work() {
        let m = matrix(&Sites::netns());
        let mut names: Vec<&str> = m.iter().map(|s| s.name.as_str()).collect();
        names.sort_unstable();
        let n = names.len();
        names.dedup();
        assert_eq!(names.len(), n, "duplicate scenario names");
        for kind in [BackendKind::Netns, BackendKind::Vagrant] {
            for release in Release::ALL {
                assert!(
                    m.iter()
                        .filter(|s| s.applies_to(kind, release).is_ok())
                        .count()
                        >= 20,
                    "{kind:?} {release}"
                );
            }
        }
        let netns = |r| {
            m.iter()
                .filter(move |s| s.applies_to(BackendKind::Netns, r).is_ok())
        };
        assert!(netns(Release::V5_9).count() < netns(Release::V6_0).count());
        assert!(netns(Release::V6_0).count() < netns(Release::V6_1).count());
        assert!(
            m.iter()
                .any(|s| s.applies_to(BackendKind::Netns, Release::V6_1).is_err())
        );
    }

    #[test]
    fn releases_parse_from_version_strings() {
        assert_eq!(Release::parse("5.9.8-5+deb12u6"), Some(Release::V5_9));
        assert_eq!(Release::parse("strongSwan 6.0.1"), Some(Release::V6_0));
        assert_eq!(Release::parse("6.1.0-2"), Some(Release::V6_1));
        assert_eq!(Release::parse("4.6"), None);
    }

    #[test]
    fn both_sides_initiate_and_rekey() {
        let m = matrix(&Sites::netns());
        for side in [Side::Ikev2d, Side::StrongSwan] {
            assert!(m.iter().any(|s| s.initiator == side));
            assert!(m.iter().any(|s| s.then.contains(&Action::RekeyChild(side))));
            assert!(m.iter().any(|s| s.then.contains(&Action::RekeyIke(side))));
        }
    }

    #[test]
    fn widen_keeps_the_address() {
        assert_eq!(widen("10.1.0.0/24"), "10.1.0.0/16");
    }
}
