//! Digital signatures for public-key authentication in IKE_AUTH (RFC 7296 section
//! 2.15, RFC 7427 "Signature Authentication in IKEv2", RFC 4754 for ECDSA, RFC 8420
//! for Ed25519).
//!
//! The octets signed are the same as for a PSK ([`super::keymat::signed_octets`]);
//! only the AUTH payload differs:
//!
//! - method 14 (RFC 7427): `length (1) | AlgorithmIdentifier (DER) | signature`, the
//!   scheme named by the AlgorithmIdentifier. This is what we send, and what
//!   strongSwan sends once both sides announced SIGNATURE_HASH_ALGORITHMS;
//! - the classic methods of peers without RFC 7427: 1 (RSA PKCS#1 v1.5 with SHA-1,
//!   verified only: we never create SHA-1 signatures) and 9/10/11 (ECDSA on P-256,
//!   P-384, P-521 with SHA-256/384/512, `r | s` of fixed length).
//!
//! AlgorithmIdentifiers are recognised by their exact DER bytes from a short table,
//! the forms strongSwan and RFC 7427 use (RSA PKCS#1 with and without NULL
//! parameters, RSASSA-PSS with the salt as long as the hash, ECDSA, Ed25519), so no
//! ASN.1 is parsed here. Signing and verifying are aws-lc-rs's (AWS-LC, constant time
//! where it matters; RSA in particular, where RustCrypto's `rsa` crate is not).

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeyPair as RsaKeyPair;
use aws_lc_rs::signature::{self as sig, EcdsaKeyPair, Ed25519KeyPair, KeyPair as _};

/// The hash algorithms of SIGNATURE_HASH_ALGORITHMS (RFC 7427 section 4; IANA "IKEv2
/// Hash Algorithms"), in the order of their IDs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum HashAlgorithm {
    Sha1,
    Sha256,
    Sha384,
    Sha512,
    /// "Identity" (RFC 8420): the data is signed as it is (Ed25519).
    Identity,
}

impl HashAlgorithm {
    /// The 2-octet ID of the notify.
    pub fn id(self) -> u16 {
        match self {
            Self::Sha1 => 1,
            Self::Sha256 => 2,
            Self::Sha384 => 3,
            Self::Sha512 => 4,
            Self::Identity => 5,
        }
    }

    pub fn from_id(id: u16) -> Option<Self> {
        Some(match id {
            1 => Self::Sha1,
            2 => Self::Sha256,
            3 => Self::Sha384,
            4 => Self::Sha512,
            5 => Self::Identity,
            _ => return None,
        })
    }

    /// What we announce: the hashes we verify signatures with (SHA-1 is not one of
    /// them, as with strongSwan).
    pub const ANNOUNCED: [HashAlgorithm; 4] = [
        HashAlgorithm::Sha256,
        HashAlgorithm::Sha384,
        HashAlgorithm::Sha512,
        HashAlgorithm::Identity,
    ];

    /// The notify's data for `hashes`.
    pub fn notify_data(hashes: &[HashAlgorithm]) -> Vec<u8> {
        hashes.iter().flat_map(|h| h.id().to_be_bytes()).collect()
    }

    /// The hashes a peer's notify names, unknown IDs skipped (an odd trailing octet
    /// too).
    pub fn parse_notify(data: &[u8]) -> Vec<HashAlgorithm> {
        data.chunks_exact(2)
            .filter_map(|c| Self::from_id(u16::from_be_bytes([c[0], c[1]])))
            .collect()
    }
}

impl core::fmt::Display for HashAlgorithm {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Self::Sha1 => "SHA-1",
            Self::Sha256 => "SHA-256",
            Self::Sha384 => "SHA-384",
            Self::Sha512 => "SHA-512",
            Self::Identity => "none (identity)",
        })
    }
}

/// A signature scheme of an AUTH payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SignatureScheme {
    /// RSASSA-PKCS1-v1_5 with this hash (SHA-1 only in method 1, from old peers).
    RsaPkcs1(HashAlgorithm),
    /// RSASSA-PSS with MGF1 over the same hash and a salt as long as the hash.
    RsaPss(HashAlgorithm),
    /// ECDSA with this hash, on the curve of the key.
    Ecdsa(HashAlgorithm),
    Ed25519,
}

impl core::fmt::Display for SignatureScheme {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::RsaPkcs1(h) => write!(f, "RSA PKCS#1 v1.5 with {h}"),
            Self::RsaPss(h) => write!(f, "RSASSA-PSS with {h}"),
            Self::Ecdsa(h) => write!(f, "ECDSA with {h}"),
            Self::Ed25519 => f.write_str("Ed25519"),
        }
    }
}

// The DER AlgorithmIdentifiers (RFC 7427 Appendix A and its erratum; the same bytes as
// strongSwan's `signature_params_build`).
const RSA_SHA1_NULL: &[u8] = &[
    0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x05, 0x05, 0x00,
];
const RSA_SHA1: &[u8] = &[
    0x30, 0x0b, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x05,
];
const RSA_SHA256_NULL: &[u8] = &[
    0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0b, 0x05, 0x00,
];
const RSA_SHA256: &[u8] = &[
    0x30, 0x0b, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0b,
];
const RSA_SHA384_NULL: &[u8] = &[
    0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0c, 0x05, 0x00,
];
const RSA_SHA384: &[u8] = &[
    0x30, 0x0b, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0c,
];
const RSA_SHA512_NULL: &[u8] = &[
    0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0d, 0x05, 0x00,
];
const RSA_SHA512: &[u8] = &[
    0x30, 0x0b, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0d,
];
const ECDSA_SHA1: &[u8] = &[
    0x30, 0x09, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x01,
];
const ECDSA_SHA256: &[u8] = &[
    0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02,
];
const ECDSA_SHA384: &[u8] = &[
    0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x03,
];
const ECDSA_SHA512: &[u8] = &[
    0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x04,
];
const ED25519: &[u8] = &[0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70];
const PSS_SHA256: &[u8] = &[
    0x30, 0x41, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0a, 0x30, 0x34, 0xa0,
    0x0f, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00,
    0xa1, 0x1c, 0x30, 0x1a, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x08, 0x30,
    0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0xa2, 0x03,
    0x02, 0x01, 0x20,
];
const PSS_SHA384: &[u8] = &[
    0x30, 0x41, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0a, 0x30, 0x34, 0xa0,
    0x0f, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02, 0x05, 0x00,
    0xa1, 0x1c, 0x30, 0x1a, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x08, 0x30,
    0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02, 0x05, 0x00, 0xa2, 0x03,
    0x02, 0x01, 0x30,
];
const PSS_SHA512: &[u8] = &[
    0x30, 0x41, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0a, 0x30, 0x34, 0xa0,
    0x0f, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x03, 0x05, 0x00,
    0xa1, 0x1c, 0x30, 0x1a, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x08, 0x30,
    0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x03, 0x05, 0x00, 0xa2, 0x03,
    0x02, 0x01, 0x40,
];

/// Every AlgorithmIdentifier we recognise; the first of a scheme is the one we send.
const TABLE: &[(&[u8], SignatureScheme)] = {
    use HashAlgorithm::*;
    use SignatureScheme::*;
    &[
        (RSA_SHA256_NULL, RsaPkcs1(Sha256)),
        (RSA_SHA256, RsaPkcs1(Sha256)),
        (RSA_SHA384_NULL, RsaPkcs1(Sha384)),
        (RSA_SHA384, RsaPkcs1(Sha384)),
        (RSA_SHA512_NULL, RsaPkcs1(Sha512)),
        (RSA_SHA512, RsaPkcs1(Sha512)),
        (RSA_SHA1_NULL, RsaPkcs1(Sha1)),
        (RSA_SHA1, RsaPkcs1(Sha1)),
        (PSS_SHA256, RsaPss(Sha256)),
        (PSS_SHA384, RsaPss(Sha384)),
        (PSS_SHA512, RsaPss(Sha512)),
        (ECDSA_SHA256, Ecdsa(Sha256)),
        (ECDSA_SHA384, Ecdsa(Sha384)),
        (ECDSA_SHA512, Ecdsa(Sha512)),
        (ECDSA_SHA1, Ecdsa(Sha1)),
        (ED25519, Ed25519),
    ]
};

/// Why an AUTH payload's signature could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SignatureError {
    #[error("the AUTH data is too short for its AlgorithmIdentifier")]
    Truncated,
    #[error("unknown signature algorithm (AlgorithmIdentifier {0})")]
    UnknownAlgorithm(String),
    #[error("signature scheme not acceptable: the peer signed with {0}")]
    NotAcceptable(SignatureScheme),
    #[error("a {key} key cannot make or check {scheme} signatures")]
    WrongKeyType {
        key: &'static str,
        scheme: SignatureScheme,
    },
    #[error("the signature does not verify with the peer's public key")]
    BadSignature,
    #[error("the public key is not usable: {0}")]
    BadKey(&'static str),
    #[error("signing failed")]
    SigningFailed,
    #[error("no signature scheme both sides support for a {key} key (the peer announced {peer})")]
    NoCommonScheme { key: &'static str, peer: String },
}

impl SignatureScheme {
    /// Its DER AlgorithmIdentifier, as we send it.
    pub fn algorithm_identifier(self) -> &'static [u8] {
        TABLE
            .iter()
            .find(|(_, s)| *s == self)
            .map_or(&[][..], |(der, _)| der)
    }

    pub fn hash(self) -> HashAlgorithm {
        match self {
            Self::RsaPkcs1(h) | Self::RsaPss(h) | Self::Ecdsa(h) => h,
            Self::Ed25519 => HashAlgorithm::Identity,
        }
    }

    /// Method 14's AUTH data: `length | AlgorithmIdentifier | signature`.
    pub fn auth_data(self, signature: &[u8]) -> Vec<u8> {
        let alg = self.algorithm_identifier();
        let mut out = Vec::with_capacity(1 + alg.len() + signature.len());
        out.push(u8::try_from(alg.len()).unwrap_or(u8::MAX));
        out.extend_from_slice(alg);
        out.extend_from_slice(signature);
        out
    }

    /// The scheme and signature of method 14's AUTH data. The length octet is
    /// trusted for where the signature starts, as strongSwan does.
    pub fn parse_auth_data(data: &[u8]) -> Result<(Self, &[u8]), SignatureError> {
        let (&len, rest) = data.split_first().ok_or(SignatureError::Truncated)?;
        let len = usize::from(len);
        if rest.len() < len {
            return Err(SignatureError::Truncated);
        }
        let (alg, signature) = rest.split_at(len);
        let scheme = TABLE
            .iter()
            .find(|(der, _)| *der == alg)
            .map(|(_, s)| *s)
            .ok_or_else(|| {
                SignatureError::UnknownAlgorithm(alg.iter().map(|b| format!("{b:02x}")).collect())
            })?;
        Ok((scheme, signature))
    }
}

/// The kind of a key, for the schemes it can use and for messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    Rsa { bits: usize },
    EcdsaP256,
    EcdsaP384,
    EcdsaP521,
    Ed25519,
}

impl KeyKind {
    pub fn name(self) -> &'static str {
        match self {
            Self::Rsa { .. } => "RSA",
            Self::EcdsaP256 => "ECDSA P-256",
            Self::EcdsaP384 => "ECDSA P-384",
            Self::EcdsaP521 => "ECDSA P-521",
            Self::Ed25519 => "Ed25519",
        }
    }

    /// The schemes we sign with, in preference order (strongSwan's for the key type
    /// and size: RSA up to 3072 bits SHA-256 first, larger SHA-384 first).
    pub fn signing_schemes(self) -> Vec<SignatureScheme> {
        use HashAlgorithm::*;
        use SignatureScheme::*;
        match self {
            Self::Rsa { bits } if bits > 3072 => {
                vec![RsaPkcs1(Sha384), RsaPkcs1(Sha512), RsaPkcs1(Sha256)]
            }
            Self::Rsa { .. } => vec![RsaPkcs1(Sha256), RsaPkcs1(Sha384), RsaPkcs1(Sha512)],
            Self::EcdsaP256 => vec![Ecdsa(Sha256)],
            Self::EcdsaP384 => vec![Ecdsa(Sha384)],
            Self::EcdsaP521 => vec![Ecdsa(Sha512)],
            Self::Ed25519 => vec![SignatureScheme::Ed25519],
        }
    }

    /// The classic AUTH method (RFC 7296, RFC 4754) we sign with for a peer without
    /// RFC 7427: ECDSA only (method 1 would need SHA-1).
    pub fn classic_method(self) -> Option<crate::wire::AuthMethod> {
        use crate::wire::AuthMethod;
        match self {
            Self::EcdsaP256 => Some(AuthMethod::ECDSA_SHA256_P256),
            Self::EcdsaP384 => Some(AuthMethod::ECDSA_SHA384_P384),
            Self::EcdsaP521 => Some(AuthMethod::ECDSA_SHA512_P521),
            Self::Rsa { .. } | Self::Ed25519 => None,
        }
    }
}

enum Signer {
    Rsa(RsaKeyPair),
    Ecdsa(EcdsaKeyPair),
    Ed25519(Ed25519KeyPair),
}

/// Our private key. aws-lc keeps and wipes the secret; `Debug` shows only its kind.
pub struct PrivateKey {
    kind: KeyKind,
    signer: Signer,
    /// For the classic ECDSA methods (`r | s`), the same key as a fixed-length signer.
    fixed: Option<EcdsaKeyPair>,
    /// Its public half, as a SubjectPublicKeyInfo (to match it with our certificate).
    spki: Vec<u8>,
}

impl core::fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "PrivateKey({})", self.kind.name())
    }
}

impl PrivateKey {
    /// A private key from DER: PKCS#8 (any type), PKCS#1 (RSA) or SEC1 (ECDSA).
    pub fn from_der(der: &[u8]) -> Result<Self, SignatureError> {
        if let Ok(k) = RsaKeyPair::from_pkcs8(der).or_else(|_| RsaKeyPair::from_der(der)) {
            let bits = k.public_modulus_len() * 8;
            let spki = spki_of(k.public_key())?;
            return Ok(Self {
                kind: KeyKind::Rsa { bits },
                signer: Signer::Rsa(k),
                fixed: None,
                spki,
            });
        }
        for (kind, asn1, fixed) in [
            (
                KeyKind::EcdsaP256,
                &sig::ECDSA_P256_SHA256_ASN1_SIGNING,
                &sig::ECDSA_P256_SHA256_FIXED_SIGNING,
            ),
            (
                KeyKind::EcdsaP384,
                &sig::ECDSA_P384_SHA384_ASN1_SIGNING,
                &sig::ECDSA_P384_SHA384_FIXED_SIGNING,
            ),
            (
                KeyKind::EcdsaP521,
                &sig::ECDSA_P521_SHA512_ASN1_SIGNING,
                &sig::ECDSA_P521_SHA512_FIXED_SIGNING,
            ),
        ] {
            let load = |alg| {
                EcdsaKeyPair::from_pkcs8(alg, der)
                    .or_else(|_| EcdsaKeyPair::from_private_key_der(alg, der))
            };
            if let (Ok(k), Ok(f)) = (load(asn1), load(fixed)) {
                let spki = spki_of(k.public_key())?;
                return Ok(Self {
                    kind,
                    signer: Signer::Ecdsa(k),
                    fixed: Some(f),
                    spki,
                });
            }
        }
        if let Ok(k) = Ed25519KeyPair::from_pkcs8_maybe_unchecked(der) {
            let spki = spki_of(k.public_key())?;
            return Ok(Self {
                kind: KeyKind::Ed25519,
                signer: Signer::Ed25519(k),
                fixed: None,
                spki,
            });
        }
        Err(SignatureError::BadKey(
            "not an RSA, ECDSA (P-256/384/521) or Ed25519 private key in PKCS#8, PKCS#1 or SEC1 DER",
        ))
    }

    pub fn kind(&self) -> KeyKind {
        self.kind
    }

    /// The SubjectPublicKeyInfo (DER) of its public key.
    pub fn spki(&self) -> &[u8] {
        &self.spki
    }

    /// The scheme to sign with for a peer that announced `peer` hashes (RFC 7427):
    /// our first one whose hash the peer can verify.
    pub fn choose_scheme(&self, peer: &[HashAlgorithm]) -> Result<SignatureScheme, SignatureError> {
        self.choose_scheme_with(peer, false)
    }

    /// [`choose_scheme`](Self::choose_scheme), RSA keys signing with RSASSA-PSS
    /// instead of PKCS#1 v1.5 when `rsa_pss` (swanctl `auth = rsa/pss`, strongSwan's
    /// `charon.rsa_pss`).
    pub fn choose_scheme_with(
        &self,
        peer: &[HashAlgorithm],
        rsa_pss: bool,
    ) -> Result<SignatureScheme, SignatureError> {
        self.kind
            .signing_schemes()
            .into_iter()
            .map(|s| match s {
                SignatureScheme::RsaPkcs1(h) if rsa_pss => SignatureScheme::RsaPss(h),
                s => s,
            })
            .find(|s| peer.contains(&s.hash()))
            .ok_or_else(|| SignatureError::NoCommonScheme {
                key: self.kind.name(),
                peer: if peer.is_empty() {
                    "nothing".to_owned()
                } else {
                    peer.iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join(", ")
                },
            })
    }

    /// Signs `octets` with `scheme` (method 14's signature value).
    pub fn sign(&self, scheme: SignatureScheme, octets: &[u8]) -> Result<Vec<u8>, SignatureError> {
        use HashAlgorithm::*;
        use SignatureScheme::*;
        let rng = SystemRandom::new();
        let wrong = || SignatureError::WrongKeyType {
            key: self.kind.name(),
            scheme,
        };
        match (&self.signer, scheme) {
            (Signer::Rsa(k), RsaPkcs1(h) | RsaPss(h)) => {
                let pad: &'static dyn sig::RsaEncoding = match (scheme, h) {
                    (RsaPkcs1(_), Sha256) => &sig::RSA_PKCS1_SHA256,
                    (RsaPkcs1(_), Sha384) => &sig::RSA_PKCS1_SHA384,
                    (RsaPkcs1(_), Sha512) => &sig::RSA_PKCS1_SHA512,
                    (RsaPss(_), Sha256) => &sig::RSA_PSS_SHA256,
                    (RsaPss(_), Sha384) => &sig::RSA_PSS_SHA384,
                    (RsaPss(_), Sha512) => &sig::RSA_PSS_SHA512,
                    _ => return Err(SignatureError::NotAcceptable(scheme)),
                };
                let mut out = vec![0; k.public_modulus_len()];
                k.sign(pad, &rng, octets, &mut out)
                    .map_err(|_| SignatureError::SigningFailed)?;
                Ok(out)
            }
            (Signer::Ecdsa(k), Ecdsa(h)) if Some(h) == self.natural_hash() => k
                .sign(&rng, octets)
                .map(|s| s.as_ref().to_vec())
                .map_err(|_| SignatureError::SigningFailed),
            (Signer::Ed25519(k), Ed25519) => Ok(k.sign(octets).as_ref().to_vec()),
            _ => Err(wrong()),
        }
    }

    /// Signs `octets` for a classic ECDSA method (9/10/11): `r | s`.
    pub fn sign_classic(&self, octets: &[u8]) -> Result<Vec<u8>, SignatureError> {
        let k = self.fixed.as_ref().ok_or(SignatureError::WrongKeyType {
            key: self.kind.name(),
            scheme: SignatureScheme::RsaPkcs1(HashAlgorithm::Sha1),
        })?;
        k.sign(&SystemRandom::new(), octets)
            .map(|s| s.as_ref().to_vec())
            .map_err(|_| SignatureError::SigningFailed)
    }

    fn natural_hash(&self) -> Option<HashAlgorithm> {
        match self.kind {
            KeyKind::EcdsaP256 => Some(HashAlgorithm::Sha256),
            KeyKind::EcdsaP384 => Some(HashAlgorithm::Sha384),
            KeyKind::EcdsaP521 => Some(HashAlgorithm::Sha512),
            _ => None,
        }
    }
}

/// A peer's public key: the SubjectPublicKeyInfo of its certificate (or a raw key).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKey {
    kind: KeyKind,
    /// The key as aws-lc-rs verifies it: the RSA public key (PKCS#1 DER), the EC point,
    /// or the Ed25519 key.
    key: Vec<u8>,
}

// OIDs inside SubjectPublicKeyInfo (DER of the OBJECT IDENTIFIER's content).
const OID_RSA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
const OID_EC: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
const OID_P256: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
const OID_P384: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x22];
const OID_P521: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x23];

impl PublicKey {
    /// From a SubjectPublicKeyInfo (DER), parsed by RustCrypto's `spki`.
    pub fn from_spki(der: &[u8]) -> Result<Self, SignatureError> {
        use x509_cert::der::Decode as _;
        let info = x509_cert::spki::SubjectPublicKeyInfoRef::from_der(der)
            .map_err(|_| SignatureError::BadKey("not a SubjectPublicKeyInfo"))?;
        let curve = info
            .algorithm
            .parameters
            .as_ref()
            .and_then(|p| p.decode_as::<x509_cert::der::asn1::ObjectIdentifier>().ok());
        let key = info
            .subject_public_key
            .as_bytes()
            .ok_or(SignatureError::BadKey("public key with unused bits"))?;
        Self::from_spki_parts(
            info.algorithm.oid.as_bytes(),
            curve.as_ref().map(|c| c.as_bytes()),
            key,
        )
    }

    /// From a certificate's SubjectPublicKeyInfo as a certificate parser gave it:
    /// the algorithm OID, its parameters (the curve OID for EC) and the key bits.
    pub fn from_spki_parts(
        algorithm: &[u8],
        curve: Option<&[u8]>,
        key: &[u8],
    ) -> Result<Self, SignatureError> {
        let kind = match (algorithm, curve) {
            (a, _) if a == OID_RSA => {
                let bits = rsa_modulus_bits(key).ok_or(SignatureError::BadKey("RSA key"))?;
                KeyKind::Rsa { bits }
            }
            (a, Some(c)) if a == OID_EC && c == OID_P256 => KeyKind::EcdsaP256,
            (a, Some(c)) if a == OID_EC && c == OID_P384 => KeyKind::EcdsaP384,
            (a, Some(c)) if a == OID_EC && c == OID_P521 => KeyKind::EcdsaP521,
            (a, _) if a == &ED25519[4..] => KeyKind::Ed25519,
            _ => {
                return Err(SignatureError::BadKey(
                    "not an RSA, ECDSA (P-256/384/521) or Ed25519 key",
                ));
            }
        };
        Ok(Self {
            kind,
            key: key.to_vec(),
        })
    }

    pub fn kind(&self) -> KeyKind {
        self.kind
    }

    /// Checks a method-14 signature: `scheme` as the AlgorithmIdentifier named it.
    /// SHA-1 is refused unless `allow_sha1`.
    pub fn verify(
        &self,
        scheme: SignatureScheme,
        octets: &[u8],
        signature: &[u8],
        allow_sha1: bool,
    ) -> Result<(), SignatureError> {
        use HashAlgorithm::*;
        use SignatureScheme::*;
        if scheme.hash() == Sha1 && !allow_sha1 {
            return Err(SignatureError::NotAcceptable(scheme));
        }
        let alg: &'static dyn sig::VerificationAlgorithm = match (self.kind, scheme) {
            (KeyKind::Rsa { .. }, RsaPkcs1(Sha1)) => {
                &sig::RSA_PKCS1_2048_8192_SHA1_FOR_LEGACY_USE_ONLY
            }
            (KeyKind::Rsa { .. }, RsaPkcs1(Sha256)) => &sig::RSA_PKCS1_2048_8192_SHA256,
            (KeyKind::Rsa { .. }, RsaPkcs1(Sha384)) => &sig::RSA_PKCS1_2048_8192_SHA384,
            (KeyKind::Rsa { .. }, RsaPkcs1(Sha512)) => &sig::RSA_PKCS1_2048_8192_SHA512,
            (KeyKind::Rsa { .. }, RsaPss(Sha256)) => &sig::RSA_PSS_2048_8192_SHA256,
            (KeyKind::Rsa { .. }, RsaPss(Sha384)) => &sig::RSA_PSS_2048_8192_SHA384,
            (KeyKind::Rsa { .. }, RsaPss(Sha512)) => &sig::RSA_PSS_2048_8192_SHA512,
            (KeyKind::EcdsaP256, Ecdsa(Sha1)) => &sig::ECDSA_P256_SHA1_ASN1,
            (KeyKind::EcdsaP256, Ecdsa(Sha256)) => &sig::ECDSA_P256_SHA256_ASN1,
            (KeyKind::EcdsaP256, Ecdsa(Sha384)) => &sig::ECDSA_P256_SHA384_ASN1,
            (KeyKind::EcdsaP256, Ecdsa(Sha512)) => &sig::ECDSA_P256_SHA512_ASN1,
            (KeyKind::EcdsaP384, Ecdsa(Sha256)) => &sig::ECDSA_P384_SHA256_ASN1,
            (KeyKind::EcdsaP384, Ecdsa(Sha384)) => &sig::ECDSA_P384_SHA384_ASN1,
            (KeyKind::EcdsaP384, Ecdsa(Sha512)) => &sig::ECDSA_P384_SHA512_ASN1,
            (KeyKind::EcdsaP521, Ecdsa(Sha1)) => &sig::ECDSA_P521_SHA1_ASN1,
            (KeyKind::EcdsaP521, Ecdsa(Sha256)) => &sig::ECDSA_P521_SHA256_ASN1,
            (KeyKind::EcdsaP521, Ecdsa(Sha384)) => &sig::ECDSA_P521_SHA384_ASN1,
            (KeyKind::EcdsaP521, Ecdsa(Sha512)) => &sig::ECDSA_P521_SHA512_ASN1,
            (KeyKind::Ed25519, Ed25519) => &sig::ED25519,
            (kind, scheme) => {
                return Err(SignatureError::WrongKeyType {
                    key: kind.name(),
                    scheme,
                });
            }
        };
        sig::UnparsedPublicKey::new(alg, &self.key)
            .verify(octets, signature)
            .map_err(|_| SignatureError::BadSignature)
    }

    /// Checks a classic signature (method 1: RSA PKCS#1 with SHA-1, only when
    /// `allow_sha1`; 9/10/11: ECDSA `r | s` on the curve the method names).
    pub fn verify_classic(
        &self,
        method: crate::wire::AuthMethod,
        octets: &[u8],
        signature: &[u8],
        allow_sha1: bool,
    ) -> Result<(), SignatureError> {
        use crate::wire::AuthMethod;
        let alg: &'static dyn sig::VerificationAlgorithm = match (method, self.kind) {
            (AuthMethod::RSA_SIG, KeyKind::Rsa { .. }) => {
                return self.verify(
                    SignatureScheme::RsaPkcs1(HashAlgorithm::Sha1),
                    octets,
                    signature,
                    allow_sha1,
                );
            }
            (AuthMethod::ECDSA_SHA256_P256, KeyKind::EcdsaP256) => &sig::ECDSA_P256_SHA256_FIXED,
            (AuthMethod::ECDSA_SHA384_P384, KeyKind::EcdsaP384) => &sig::ECDSA_P384_SHA384_FIXED,
            (AuthMethod::ECDSA_SHA512_P521, KeyKind::EcdsaP521) => &sig::ECDSA_P521_SHA512_FIXED,
            (_, kind) => {
                return Err(SignatureError::WrongKeyType {
                    key: kind.name(),
                    scheme: SignatureScheme::Ecdsa(HashAlgorithm::Sha256),
                });
            }
        };
        sig::UnparsedPublicKey::new(alg, &self.key)
            .verify(octets, signature)
            .map_err(|_| SignatureError::BadSignature)
    }
}

/// The bits of an RSA modulus from its PKCS#1 RSAPublicKey DER (the key as aws-lc
/// takes it), by aws-lc's own parser.
fn rsa_modulus_bits(pkcs1: &[u8]) -> Option<usize> {
    sig::RsaParameters::public_modulus_len(pkcs1)
        .ok()
        .and_then(|b| usize::try_from(b).ok())
}

/// The SubjectPublicKeyInfo (DER) of a key pair's public key, as aws-lc encodes it.
fn spki_of<K>(public: &K) -> Result<Vec<u8>, SignatureError>
where
    K: aws_lc_rs::encoding::AsDer<aws_lc_rs::encoding::PublicKeyX509Der<'static>>,
{
    public
        .as_der()
        .map(|d| d.as_ref().to_vec())
        .map_err(|_| SignatureError::BadKey("public key encoding"))
}
