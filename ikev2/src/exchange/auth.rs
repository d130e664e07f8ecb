//! The AUTH payload both ways, whatever the method: a PSK MAC or a signature (RFC
//! 7296 section 2.15, RFC 7427), and the CERT and CERTREQ payloads that go with
//! public-key authentication. [`super::ike_auth`] builds and checks the signed octets
//! and calls these for what depends on `local.auth` and `remote.auth`.

use crate::config::{ConnectionConfig, Identity, LocalAuth, RemoteAuth, SendCert};
use crate::crypto::keymat::{psk_auth, verify_psk_auth};
use crate::crypto::signature::{HashAlgorithm, SignatureScheme};
use crate::error::Cause;
use crate::ike_sa::IkeSa;
use crate::ike_sa::ctx::Ctx;
use crate::pki::Certificate;
use crate::wire::{AuthMethod, Cert, CertEncoding, CertReq, NotifyType, Payload};

use super::Chain;

/// Our AUTH over `octets`: the method, its data, and what it is for status.
pub(crate) struct OurAuth {
    pub method: AuthMethod,
    pub data: Vec<u8>,
    pub described: String,
}

/// How a signature authenticated, for status: the scheme and the certificate (or
/// raw key) it goes with.
fn describe(scheme: &str, chain: Option<&Certificate>) -> String {
    match chain {
        Some(c) => format!("{scheme}, certificate {}", c.subject),
        None => format!("{scheme}, raw public key"),
    }
}

/// The PSK both identities own (`[secrets]`), or why there is none.
fn psk_for<'c>(
    ctx: &'c Ctx<'_>,
    local_id: &Identity,
    peer_id: &Identity,
) -> Result<&'c crate::crypto::secret::SecretBytes, Cause> {
    ctx.config
        .find_psk(local_id, peer_id)
        .ok_or_else(|| Cause::NoPsk {
            local_id: local_id.clone(),
            peer_id: peer_id.clone(),
        })
}

/// Our AUTH data over `octets`.
pub(crate) fn ours(
    sa: &IkeSa,
    ctx: &Ctx<'_>,
    local_id: &Identity,
    peer_id: &Identity,
    octets: &[u8],
) -> Result<OurAuth, Cause> {
    let crypto = sa
        .crypto
        .as_ref()
        .ok_or_else(|| Cause::Internal("no keys".into()))?;
    match &sa.conn.local_auth {
        LocalAuth::Psk => {
            let psk = psk_for(ctx, local_id, peer_id)?;
            Ok(OurAuth {
                method: AuthMethod::SHARED_KEY_MIC,
                data: psk_auth(crypto.suite.prf, psk, octets),
                described: "pre-shared key".to_owned(),
            })
        }
        LocalAuth::Pubkey(cred) => {
            let fail =
                |e: crate::crypto::signature::SignatureError| Cause::OurPubkey(e.to_string());
            if sa.peer_hashes.is_empty() {
                // A peer without RFC 7427: the classic ECDSA methods; RSA would need
                // SHA-1 and Ed25519 has none.
                let method = cred.key.kind().classic_method().ok_or_else(|| {
                    Cause::OurPubkey(format!(
                        "the peer did not announce SIGNATURE_HASH_ALGORITHMS (RFC 7427), and a \
                         {} key has no classic method ikev2d signs with",
                        cred.key.kind().name()
                    ))
                })?;
                return Ok(OurAuth {
                    method,
                    data: cred.key.sign_classic(octets).map_err(fail)?,
                    described: describe(&format!("{method} (classic)"), cred.chain.first()),
                });
            }
            let scheme = cred
                .key
                .choose_scheme_with(&sa.peer_hashes, cred.rsa_pss)
                .map_err(fail)?;
            let signature = cred.key.sign(scheme, octets).map_err(fail)?;
            Ok(OurAuth {
                method: AuthMethod::DIGITAL_SIGNATURE,
                data: scheme.auth_data(&signature),
                described: describe(&scheme.to_string(), cred.chain.first()),
            })
        }
    }
}

/// The CERT payloads of our chain (end entity first), with public-key authentication,
/// as `send_cert` says.
pub(crate) fn push_certs(sa: &IkeSa, c: &mut Chain) -> Result<(), Cause> {
    let wanted = match sa.conn.send_cert {
        SendCert::Always => true,
        SendCert::IfAsked => sa.peer_certreq,
        SendCert::Never => false,
    };
    if !wanted {
        return Ok(());
    }
    if let LocalAuth::Pubkey(cred) = &sa.conn.local_auth {
        for cert in &cred.chain {
            c.push(&Payload::Cert(Cert {
                encoding: CertEncoding::X509_SIGNATURE,
                data: cert.der(),
            }))?;
        }
    }
    Ok(())
}

/// A CERTREQ naming the CAs we trust for the peer, when the peer must sign and
/// `send_certreq` is on (as responder in IKE_SA_INIT, for every connection the peer
/// may be for): without one, strongSwan (`send_cert = ifasked`) sends no
/// certificate.
pub(crate) fn push_certreq<'r>(
    conns: impl IntoIterator<Item = &'r ConnectionConfig>,
    c: &mut Chain,
) -> Result<(), Cause> {
    let mut hashes: Vec<[u8; 20]> = Vec::new();
    let mut any = false;
    for conn in conns.into_iter().filter(|c| c.send_certreq) {
        if let RemoteAuth::Pubkey { trust, .. } = &conn.remote_auth {
            any = true;
            for h in trust.anchors.iter().map(Certificate::certreq_hash) {
                if !hashes.contains(&h) {
                    hashes.push(h);
                }
            }
        }
    }
    if any {
        c.push(&Payload::CertReq(CertReq {
            encoding: CertEncoding::X509_SIGNATURE,
            data: &hashes.concat(),
        }))?;
    }
    Ok(())
}

/// The SIGNATURE_HASH_ALGORITHMS notify (RFC 7427 section 4) we send in IKE_SA_INIT.
pub(crate) fn push_hash_algorithms(c: &mut Chain) -> Result<(), Cause> {
    c.notify(
        NotifyType::SIGNATURE_HASH_ALGORITHMS,
        &HashAlgorithm::notify_data(&HashAlgorithm::ANNOUNCED),
    )
}

/// Checks the peer's AUTH over `octets` for identity `peer_id`, as `remote.auth`
/// asks: the PSK, or the signature of the certificate the peer sent, which must
/// chain to our CAs and carry `peer_id`. What it checked, for status.
pub(crate) fn check_peer(
    sa: &IkeSa,
    ctx: &Ctx<'_>,
    peer_id: &Identity,
    method: AuthMethod,
    data: &[u8],
    payloads: &[Payload<'_>],
    octets: &[u8],
) -> Result<String, Cause> {
    let crypto = sa
        .crypto
        .as_ref()
        .ok_or_else(|| Cause::Internal("no keys".into()))?;
    match &sa.conn.remote_auth {
        RemoteAuth::Psk => {
            if method != AuthMethod::SHARED_KEY_MIC {
                return Err(Cause::AuthKindMismatch {
                    expected: "psk",
                    got: method,
                });
            }
            let psk = psk_for(ctx, &sa.local_id, peer_id)?;
            if verify_psk_auth(crypto.suite.prf, psk, octets, data) {
                Ok("pre-shared key".to_owned())
            } else {
                Err(Cause::AuthMismatch {
                    peer_id: peer_id.clone(),
                })
            }
        }
        RemoteAuth::Pubkey { trust, revocation } => {
            if method == AuthMethod::SHARED_KEY_MIC {
                return Err(Cause::AuthKindMismatch {
                    expected: "pubkey",
                    got: method,
                });
            }
            let pk = Cause::PeerPubkey;
            // The scheme's name when the signature verifies.
            let signed_by = |key: &crate::crypto::signature::PublicKey| {
                if method == AuthMethod::DIGITAL_SIGNATURE {
                    let (scheme, signature) = SignatureScheme::parse_auth_data(data)?;
                    key.verify(scheme, octets, signature, false)
                        .map(|()| scheme.to_string())
                } else {
                    key.verify_classic(method, octets, data, false)
                        .map(|()| format!("{method} (classic)"))
                }
            };
            let sent = |encoding: CertEncoding| {
                payloads.iter().filter_map(move |p| match p {
                    Payload::Cert(c) if c.encoding == encoding => Some(c.data),
                    _ => None,
                })
            };
            let mut certs = sent(CertEncoding::X509_SIGNATURE);
            let Some(ee) = certs.next() else {
                let sent_raw = sent(CertEncoding::RAW_PUBLIC_KEY).next();
                return check_raw_key(trust, sent_raw, peer_id, sa.conn.send_certreq).and_then(
                    |keys| {
                        let mut last = None;
                        for key in &keys {
                            match signed_by(key) {
                                Ok(scheme) => return Ok(describe(&scheme, None)),
                                Err(e) => last = Some(e),
                            }
                        }
                        Err(pk(format!(
                            "signature of {peer_id} does not verify with any key of remote \
                             pubkeys{}",
                            last.map(|e| format!(" ({e})")).unwrap_or_default()
                        )))
                    },
                );
            };
            let ee = Certificate::from_der(ee).map_err(|e| pk(format!("peer certificate: {e}")))?;
            if trust.anchors.is_empty() && trust.raw_keys.contains(&ee.spki) {
                // A certificate around a key we trust as such (`pubkeys` only).
                let key = ee.public_key().map_err(|e| pk(e.to_string()))?;
                return signed_by(&key)
                    .map(|scheme| describe(&scheme, Some(&ee)))
                    .map_err(|e| pk(format!("signature of {peer_id}: {e}")));
            }
            let intermediates = certs
                .map(Certificate::from_der)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| pk(format!("peer intermediate certificate: {e}")))?;
            let now = ctx.sh.unix_time(ctx.now).ok_or_else(|| {
                Cause::Internal("the wall clock was not set (Endpoint::set_wall_clock)".into())
            })?;
            trust
                .verify(&ee, &intermediates, now, *revocation)
                .map_err(|e| pk(e.to_string()))?;
            crate::pki::ids::check(&ee, peer_id).map_err(|e| pk(format!("ID {e}")))?;
            let key = ee.public_key().map_err(|e| pk(e.to_string()))?;
            signed_by(&key)
                .map(|scheme| describe(&scheme, Some(&ee)))
                .map_err(|e| {
                    pk(format!(
                        "signature of {peer_id} (certificate {}): {e}",
                        ee.subject
                    ))
                })
        }
    }
}

/// The keys a peer without a certificate may have signed with: the raw public key it
/// sent (RFC 7670), which must be one of `remote pubkeys`, or else all of them.
fn check_raw_key(
    trust: &crate::pki::TrustStore,
    sent: Option<&[u8]>,
    peer_id: &Identity,
    asked: bool,
) -> Result<Vec<crate::crypto::signature::PublicKey>, Cause> {
    use crate::crypto::signature::PublicKey;
    let pk = Cause::PeerPubkey;
    if trust.raw_keys.is_empty() {
        let why = if asked {
            "our CERTREQ named the CAs of remote cacerts: check the peer's send_cert and \
             that its certificate is from one of them"
        } else {
            "send_certreq is off, and a peer with send_cert = ifasked then sends none"
        };
        return Err(pk(format!(
            "peer {peer_id} sent no certificate and we have no public key for it ({why})"
        )));
    }
    let keys: Vec<&Vec<u8>> = match sent {
        Some(spki) => {
            let known = trust.raw_keys.iter().find(|k| k.as_slice() == spki);
            vec![known.ok_or_else(|| {
                pk(format!(
                    "peer {peer_id} sent a raw public key that is not among remote pubkeys"
                ))
            })?]
        }
        None => trust.raw_keys.iter().collect(),
    };
    keys.into_iter()
        .map(|k| PublicKey::from_spki(k).map_err(|e| pk(format!("remote pubkeys: {e}"))))
        .collect()
}
