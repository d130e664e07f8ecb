//! The certificate setups of the interop scenarios: what a scenario asks for
//! ([`CertSetup`]: key types, chain depth, one flaw in strongSwan's certificate,
//! CERTREQ and `send_cert` settings) and the credentials it becomes, made with
//! strongSwan's `pki` ([`crate::pki`]) once per process and setup.
//!
//! Each side has its own PKI (root, optional intermediate, gateway), so that neither
//! daemon holds the other's intermediate as a CA: the peer's CERT payloads must carry
//! it. ikev2d is `gw-a.ikev2d.test`, strongSwan `gw-b.ikev2d.test` (FQDN IDs, carried
//! as dNSName subjectAltNames).

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use crate::conn::{ConnSpec, Credentials};
use crate::pki::{Cert, Issuer, KeyType, Pki, Validity};

/// ikev2d's and strongSwan's IDs with certificates.
pub const ID_A: &str = "gw-a.ikev2d.test";
pub const ID_B: &str = "gw-b.ikev2d.test";

/// What is wrong with strongSwan's certificate (ikev2d must say so).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Flaw {
    None,
    /// Valid until yesterday.
    Expired,
    /// Issued by a root ikev2d does not trust.
    UnknownCa,
    /// Listed in the CRL of its issuer, which ikev2d has.
    Revoked,
    /// Its subjectAltName is another name than the ID strongSwan sends.
    IdNotInCert,
}

/// The certificates of a scenario.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CertSetup {
    /// The CAs' keys (they sign the certificates and CRLs).
    pub ca: KeyType,
    /// The gateways' keys (they sign AUTH; an `RsaPss` key signs AUTH with
    /// RSASSA-PSS too, `auth = rsa/pss` on both sides).
    pub gateway: KeyType,
    /// Root → intermediate → gateway (3 levels) instead of root → gateway.
    pub intermediate: bool,
    pub flaw: Flaw,
    /// ikev2d's `send_certreq` (`None`: default, yes).
    pub ours_send_certreq: Option<bool>,
    /// strongSwan's `send_cert` (`None`: default, ifasked).
    pub theirs_send_cert: Option<&'static str>,
    /// No certificates: each side trusts the other's raw public key (`pubkeys`);
    /// `ca`, `intermediate` and `flaw` do not apply.
    pub raw_keys: bool,
}

impl CertSetup {
    /// Both sides with `gateway` keys under 3-level chains signed with `ca` keys.
    pub fn chains(ca: KeyType, gateway: KeyType) -> Self {
        Self {
            ca,
            gateway,
            intermediate: true,
            flaw: Flaw::None,
            ours_send_certreq: None,
            theirs_send_cert: None,
            raw_keys: false,
        }
    }

    /// Raw public keys of type `key` on both sides, no certificates.
    pub fn raw_keys(key: KeyType) -> Self {
        Self {
            raw_keys: true,
            ..Self::chains(key, key)
        }
    }

    /// Sets both connections' IDs and credentials (ikev2d's `ours`, strongSwan's
    /// `theirs`); makes the PKI the first time a setup is used.
    pub fn apply(&self, ours: &mut ConnSpec, theirs: &mut ConnSpec) {
        let (a, b) = made(self);
        ours.local_id = ID_A.to_owned();
        ours.remote_id = ID_B.to_owned();
        theirs.local_id = ID_B.to_owned();
        theirs.remote_id = ID_A.to_owned();
        ours.pubkey = Some(a);
        theirs.pubkey = Some(b);
    }
}

/// The credentials of every setup used so far (keys are slow to make).
fn made(setup: &CertSetup) -> (Credentials, Credentials) {
    static MADE: OnceLock<Mutex<HashMap<CertSetup, (Credentials, Credentials)>>> = OnceLock::new();
    let mut m = MADE
        .get_or_init(|| Mutex::new(HashMap::new()))
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    m.entry(*setup).or_insert_with(|| make(setup)).clone()
}

fn read(p: &std::path::Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("read {}: {e}", p.display()))
}

/// One side's PKI: the issuer of its gateway, the chain it sends, its root.
struct Side {
    root: Issuer,
    issuer: Issuer,
    sent: Vec<Cert>,
}

fn side(pki: &Pki, tag: &str, s: &CertSetup) -> Side {
    let root = pki.ca(
        &format!("{tag}-root"),
        &format!("C=CH, O=ikev2d interop, CN={tag} Root CA"),
        s.ca,
    );
    if !s.intermediate {
        return Side {
            issuer: root.clone(),
            root,
            sent: Vec::new(),
        };
    }
    let im = pki.intermediate(
        &root,
        &format!("{tag}-im"),
        &format!("C=CH, O=ikev2d interop, CN={tag} Intermediate CA"),
        s.ca,
    );
    Side {
        root,
        sent: vec![im.cert.clone()],
        issuer: im,
    }
}

fn make(s: &CertSetup) -> (Credentials, Credentials) {
    // Removed on return: the credentials carry the files' contents.
    let dir = tempfile::Builder::new()
        .prefix("ikev2d-interop-pki-")
        .tempdir()
        .unwrap_or_else(|e| panic!("temp dir: {e}"));
    let pki = Pki::new(dir.path());
    if s.raw_keys {
        // Self-signed certificates only for their keys: nothing but the public
        // keys is configured.
        let key = |tag: &str| {
            pki.ca(&format!("{tag}-key"), &format!("CN={tag}"), s.gateway)
                .cert
                .key
        };
        let (ka, kb) = (key("A"), key("B"));
        let (pa, pb) = (crate::pki::public_key(&ka), crate::pki::public_key(&kb));
        let creds = |key: &std::path::Path, ours: &String, peer: &String| Credentials {
            key: read(key),
            pubkey: Some(ours.clone()),
            peer_pubkeys: vec![peer.clone()],
            ..Credentials::default()
        };
        return (creds(&ka, &pa, &pb), creds(&kb, &pb, &pa));
    }
    let (a, b) = (side(&pki, "A", s), side(&pki, "B", s));
    let gw_a = pki.end_entity(
        &a.issuer,
        "gw-a",
        &format!("C=CH, O=ikev2d interop, CN={ID_A}"),
        &[ID_A],
        s.gateway,
        Validity::Days(365),
    );
    let b_issuer = match s.flaw {
        Flaw::UnknownCa => side(&pki, "X", s).issuer,
        _ => b.issuer.clone(),
    };
    let san_b = if s.flaw == Flaw::IdNotInCert {
        "gw-x.ikev2d.test"
    } else {
        ID_B
    };
    let gw_b = pki.end_entity(
        &b_issuer,
        "gw-b",
        &format!("C=CH, O=ikev2d interop, CN={ID_B}"),
        &[san_b],
        s.gateway,
        if s.flaw == Flaw::Expired {
            Validity::Expired
        } else {
            Validity::Days(365)
        },
    );
    let chain = |gw: &Cert, sent: &[Cert]| -> Vec<String> {
        std::iter::once(gw)
            .chain(sent)
            .map(|c| read(&c.pem))
            .collect()
    };
    let mut ours = Credentials {
        certs: chain(&gw_a, &a.sent),
        key: read(&gw_a.key),
        cacerts: vec![read(&b.root.cert.pem)],
        send_certreq: s.ours_send_certreq,
        rsa_pss: matches!(s.gateway, KeyType::RsaPss(_)),
        ..Credentials::default()
    };
    if s.flaw == Flaw::Revoked {
        ours.crls = vec![read(&pki.crl(&b.issuer, &[&gw_b]).pem)];
    }
    let theirs = Credentials {
        certs: chain(&gw_b, &b.sent),
        key: read(&gw_b.key),
        cacerts: vec![read(&a.root.cert.pem)],
        send_cert: s.theirs_send_cert.map(str::to_owned),
        rsa_pss: matches!(s.gateway, KeyType::RsaPss(_)),
        ..Credentials::default()
    };
    (ours, theirs)
}
