//! Parsing strongSwan proposal strings and building the `default` proposals; the
//! rules and the differences from strongSwan are documented in the parent module.

use crate::wire::{DhGroup, EsnId, ProtocolId, TransformType};

use super::keywords;
use super::{Proposal, Transform};

/// Why a proposal string was rejected. `Display` gives a sentence for the operator.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProposalError {
    #[error("empty proposal")]
    Empty,
    #[error("empty keyword at position {index} in '{input}'")]
    EmptyKeyword { index: usize, input: String },
    /// A keyword strongSwan does not know; `index` counts keywords from 1.
    #[error(
        "unknown algorithm keyword '{keyword}' at position {index} in '{input}'{}",
        hint.as_ref().map(|h| format!(" ({h})")).unwrap_or_default()
    )]
    UnknownKeyword {
        keyword: String,
        index: usize,
        input: String,
        hint: Option<String>,
    },
    #[error("an encryption algorithm is mandatory in {protocol} proposals")]
    MissingEncryption { protocol: ProtocolId },
    #[error(
        "classic ({classic}) and combined-mode/AEAD ({aead}) encryption algorithms can't be \
         in the same {protocol} proposal; put them in two proposals separated by a comma"
    )]
    MixedAead {
        protocol: ProtocolId,
        aead: String,
        classic: String,
    },
    #[error(
        "integrity algorithm {integ} can't be combined with AEAD {aead} in an {protocol} \
         proposal: the AEAD protects integrity itself (strongSwan silently ignores {integ}); \
         remove it"
    )]
    AeadWithIntegrity {
        protocol: ProtocolId,
        aead: String,
        integ: String,
    },
    #[error("{encr} needs an integrity algorithm (e.g. sha256) in {protocol} proposals")]
    MissingIntegrity { protocol: ProtocolId, encr: String },
    #[error(
        "a PRF is mandatory in IKE proposals: {}",
        if *aead {
            "with an AEAD add a PRF keyword, e.g. prfsha256"
        } else {
            "none can be derived from the integrity algorithms, add e.g. prfsha256"
        }
    )]
    MissingPrf { aead: bool },
    #[error("a DH group is mandatory in IKE proposals (e.g. ecp256, curve25519, modp3072)")]
    MissingDh,
    #[error("PRF {prf} has no meaning in ESP proposals (strongSwan ignores it); remove it")]
    PrfInEsp { prf: String },
    #[error("{esn} only applies to ESP proposals")]
    EsnInIke { esn: String },
    #[error("{0} proposals are not supported (only IKE and ESP)")]
    UnsupportedProtocol(ProtocolId),
    #[error("'default' expands to several proposals; parse it as a proposal list")]
    DefaultNotSingle,
    #[error("a proposal string needs a protocol prefix here: 'ike:' or 'esp:'")]
    MissingProtocol,
}

/// A proposal list was rejected: which proposal (from 1) and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("proposal {index} '{proposal}': {error}")]
pub struct ProposalListError {
    pub index: usize,
    pub proposal: String,
    #[source]
    pub error: ProposalError,
}

pub(super) fn parse(protocol: ProtocolId, input: &str) -> Result<Proposal, ProposalError> {
    if protocol != ProtocolId::IKE && protocol != ProtocolId::ESP {
        return Err(ProposalError::UnsupportedProtocol(protocol));
    }
    let input = input.trim();
    if input.is_empty() {
        return Err(ProposalError::Empty);
    }
    if input.eq_ignore_ascii_case("default") {
        return Err(ProposalError::DefaultNotSingle);
    }
    let mut transforms: Vec<Transform> = Vec::new();
    for (i, word) in input.split('-').enumerate() {
        let word = word.trim();
        let index = i + 1;
        if word.is_empty() {
            return Err(ProposalError::EmptyKeyword {
                index,
                input: input.to_string(),
            });
        }
        let t = keywords::lookup(word).ok_or_else(|| ProposalError::UnknownKeyword {
            keyword: word.to_string(),
            index,
            input: input.to_string(),
            hint: keywords::suggest(word),
        })?;
        // Aliases and repeats add nothing; keep the first (preferred) position.
        if !transforms.contains(&t) {
            transforms.push(t);
        }
    }
    let p = Proposal::from_transforms(1, protocol, transforms);
    if protocol == ProtocolId::IKE {
        check_ike(p)
    } else {
        check_esp(p)
    }
}

/// Encryption checks shared by IKE and ESP; returns whether the ciphers are AEADs.
fn check_encr(p: &Proposal) -> Result<bool, ProposalError> {
    let protocol = p.protocol;
    let encr: Vec<&Transform> = p.transforms_of(TransformType::ENCR).collect();
    if encr.is_empty() {
        return Err(ProposalError::MissingEncryption { protocol });
    }
    let aead = encr.iter().find(|t| t.is_aead());
    let classic = encr.iter().find(|t| !t.is_aead());
    match (aead, classic) {
        (Some(a), Some(c)) => Err(ProposalError::MixedAead {
            protocol,
            aead: a.to_string(),
            classic: c.to_string(),
        }),
        (Some(_), None) => Ok(true),
        _ => Ok(false),
    }
}

fn check_ike(p: Proposal) -> Result<Proposal, ProposalError> {
    if let Some(esn) = p.transforms_of(TransformType::ESN).next() {
        return Err(ProposalError::EsnInIke {
            esn: esn.to_string(),
        });
    }
    let aead = check_encr(&p)?;
    let first_integ = p.transforms_of(TransformType::INTEG).next().copied();
    let has_prf = p.has_type(TransformType::PRF);
    if let (true, Some(integ), true) = (aead, first_integ, has_prf) {
        return Err(ProposalError::AeadWithIntegrity {
            protocol: p.protocol,
            aead: first_of(&p, TransformType::ENCR),
            integ: integ.to_string(),
        });
    }
    if !aead && first_integ.is_none() {
        return Err(ProposalError::MissingIntegrity {
            protocol: p.protocol,
            encr: first_of(&p, TransformType::ENCR),
        });
    }
    let mut transforms = p.transforms.clone();
    if !has_prf {
        // strongSwan: no explicit PRF, assume the integrity algorithms' hashes.
        transforms.extend(p.derived_prfs());
    }
    if aead {
        // An AEAD IKE proposal must not carry integrity algorithms (RFC 5282 section 8).
        transforms.retain(|t| t.ty != TransformType::INTEG);
    }
    // strongSwan removes `none` from IKE proposals: a DH group is mandatory.
    transforms.retain(|t| !(t.ty == TransformType::DH && t.id == DhGroup::NONE.0));
    let p = Proposal::from_transforms(p.number, p.protocol, transforms);
    if !p.has_type(TransformType::PRF) {
        return Err(ProposalError::MissingPrf { aead });
    }
    if !p.has_type(TransformType::DH) {
        return Err(ProposalError::MissingDh);
    }
    Ok(p)
}

fn check_esp(p: Proposal) -> Result<Proposal, ProposalError> {
    if let Some(prf) = p.transforms_of(TransformType::PRF).next() {
        return Err(ProposalError::PrfInEsp {
            prf: prf.to_string(),
        });
    }
    let aead = check_encr(&p)?;
    let first_integ = p.transforms_of(TransformType::INTEG).next();
    match (aead, first_integ) {
        (true, Some(integ)) => {
            return Err(ProposalError::AeadWithIntegrity {
                protocol: p.protocol,
                aead: first_of(&p, TransformType::ENCR),
                integ: integ.to_string(),
            });
        }
        (false, None) => {
            return Err(ProposalError::MissingIntegrity {
                protocol: p.protocol,
                encr: first_of(&p, TransformType::ENCR),
            });
        }
        _ => {}
    }
    if p.has_type(TransformType::ESN) {
        return Ok(p);
    }
    // strongSwan: ESN not specified, assume not supported.
    let mut transforms = p.transforms;
    transforms.push(Transform::esn(EsnId::NO_ESN));
    Ok(Proposal::from_transforms(p.number, p.protocol, transforms))
}

fn first_of(p: &Proposal, ty: TransformType) -> String {
    p.transforms_of(ty)
        .next()
        .map(ToString::to_string)
        .unwrap_or_default()
}

pub(super) fn parse_list(
    protocol: ProtocolId,
    input: &str,
) -> Result<Vec<Proposal>, ProposalListError> {
    let mut out: Vec<Proposal> = Vec::new();
    for (i, item) in input.split(',').enumerate() {
        let item = item.trim();
        if item.eq_ignore_ascii_case("default") {
            out.extend(defaults(protocol, false));
            continue;
        }
        let p = parse(protocol, item).map_err(|error| ProposalListError {
            index: i + 1,
            proposal: item.to_string(),
            error,
        })?;
        out.push(p);
    }
    Ok(renumber(out))
}

/// Number proposals 1, 2, ... as RFC 7296 section 3.3.1 requires.
fn renumber(mut list: Vec<Proposal>) -> Vec<Proposal> {
    for (i, p) in list.iter_mut().enumerate() {
        p.number = u8::try_from(i + 1).unwrap_or(u8::MAX);
    }
    list
}

/// The DH groups of strongSwan's defaults we implement: ECC round, MODP >= 3072 round,
/// then MODP 2048 (`add_supported_ke_methods`).
const DEFAULT_GROUPS: [DhGroup; 7] = [
    DhGroup::ECP_256,
    DhGroup::ECP_384,
    DhGroup::ECP_521,
    DhGroup::CURVE25519,
    DhGroup::MODP_3072,
    DhGroup::MODP_4096,
    DhGroup::MODP_2048,
];

const DEFAULT_IKE_CLASSIC: &str = "aes128-aes192-aes256-sha256-sha384-sha512-sha1\
    -prfsha256-prfsha384-prfsha512-prfsha1";
const DEFAULT_IKE_AEAD: &str = "aes128gcm16-aes192gcm16-aes256gcm16-chacha20poly1305\
    -aes128gcm12-aes192gcm12-aes256gcm12-aes128gcm8-aes192gcm8-aes256gcm8\
    -prfsha256-prfsha384-prfsha512-prfsha1";
const DEFAULT_ESP_CLASSIC: &str = "aes128-aes192-aes256-sha256-sha384-sha512-sha1-noesn";
const DEFAULT_ESP_AEAD: &str = "aes128gcm16-aes192gcm16-aes256gcm16-noesn";

/// strongSwan 5.9's default proposals restricted to what we implement; `implicit`
/// selects the order used when a connection configures no ESP proposals.
pub(super) fn defaults(protocol: ProtocolId, implicit: bool) -> Vec<Proposal> {
    let build = |s: &str, groups: &[DhGroup]| {
        let mut words: Vec<String> = vec![s.to_string()];
        words.extend(groups.iter().map(|&g| Transform::dh(g).to_string()));
        parse(protocol, &words.join("-")).ok()
    };
    let list: Vec<Option<Proposal>> = match protocol {
        ProtocolId::IKE => vec![
            build(DEFAULT_IKE_CLASSIC, &DEFAULT_GROUPS),
            build(DEFAULT_IKE_AEAD, &DEFAULT_GROUPS),
        ],
        ProtocolId::ESP if implicit => {
            vec![
                build(DEFAULT_ESP_AEAD, &[]),
                build(DEFAULT_ESP_CLASSIC, &[]),
            ]
        }
        ProtocolId::ESP => vec![
            build(DEFAULT_ESP_CLASSIC, &[]),
            build(DEFAULT_ESP_AEAD, &[]),
        ],
        _ => Vec::new(),
    };
    renumber(list.into_iter().flatten().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_parse_and_are_implemented() {
        for proto in [ProtocolId::IKE, ProtocolId::ESP] {
            let d = defaults(proto, false);
            assert_eq!(d.len(), 2);
            assert_eq!((d[0].number, d[1].number), (1, 2));
            for p in &d {
                assert!(p.unsupported().is_empty(), "{p}");
            }
            assert!(!d[0].is_aead() && d[1].is_aead());
            let implicit = defaults(proto, true);
            if proto == ProtocolId::ESP {
                assert!(implicit[0].is_aead());
            } else {
                assert_eq!(implicit, d);
            }
        }
    }
}
