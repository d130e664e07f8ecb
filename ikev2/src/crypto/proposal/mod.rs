//! SA proposals (RFC 7296 section 3.3): what we offer, what a peer offers, and the one
//! proposal negotiation picks.
//!
//! - [`Proposal`] and [`Transform`] mirror the proposal substructure of an SA payload,
//!   owned and algorithm-aware. The wire layer has its own borrowed types; converting
//!   between them is glue outside this module.
//! - strongSwan proposal strings (`aes256-sha256-modp2048`, `aes256gcm16-prfsha384-ecp384`,
//!   `default`) parse with [`Proposal::parse_ike`], [`Proposal::parse_esp`] and
//!   [`Proposal::parse_list`], with strongSwan's keywords and defaults. `Display` prints
//!   the canonical keyword string and [`Proposal::describe`] the long form of
//!   `swanctl --list-sas` (`AES_CBC-256/HMAC_SHA2_256_128/PRF_HMAC_SHA2_256/MODP_2048`).
//! - [`select`] negotiates like strongSwan's `proposal_select` and, when nothing matches,
//!   returns [`NoProposalChosen`] naming the first mismatching transform type of the
//!   closest pair of proposals.
//!
//! Keywords of algorithms ikev2d does not implement (`3des`, `md5`, `modp1024` ...) parse
//! into transforms with their IANA IDs so that configuration checks can name them
//! ([`Proposal::unsupported`], [`Proposal::weaknesses`]); selection never picks them.
//!
//! # Parsing
//!
//! Keywords are separated by dashes, proposals by commas; keywords are case-sensitive
//! and repeated keywords or aliases collapse into one transform. Rules follow
//! strongSwan's `proposal_create_from_string` and `check_proposal`
//! (libstrongswan/crypto/proposal/proposal.c), except where strongSwan silently ignores
//! a keyword or accepts something ikev2d cannot run. Each of these is an error here, so
//! an operator never believes a keyword does something it does not:
//!
//! | input | strongSwan | ikev2d |
//! |---|---|---|
//! | ESP AEAD with an integrity keyword (`aes256gcm16-sha256`) | drops the integrity algorithm | [`ProposalError::AeadWithIntegrity`] |
//! | IKE AEAD with an integrity *and* a PRF keyword | drops the integrity algorithm | [`ProposalError::AeadWithIntegrity`] |
//! | ESP classic cipher without integrity (`aes128`) | encryption-only ESP | [`ProposalError::MissingIntegrity`] |
//! | PRF keyword in ESP | dropped | [`ProposalError::PrfInEsp`] |
//! | `esn`/`noesn` in IKE | kept (sent in the IKE proposal) | [`ProposalError::EsnInIke`] |
//!
//! An IKE AEAD proposal with an integrity keyword but no PRF keyword
//! (`aes128gcm16-sha256-modp3072`) is accepted as strongSwan does: the PRF is derived
//! from the integrity algorithm (PRF_HMAC_SHA2_256), which is then dropped.
//!
//! # `default`
//!
//! strongSwan 5.9 builds its default proposals from the algorithms its plugins provide
//! (`proposal_create_default`, `proposal_create_default_aead`), in rounds of decreasing
//! strength. Restricted to what ikev2d implements, in strongSwan's round order:
//!
//! - IKE classic: `aes128-aes192-aes256-sha256-sha384-sha512-sha1-prfsha256-prfsha384-prfsha512-prfsha1-ecp256-ecp384-ecp521-curve25519-modp3072-modp4096-modp2048`
//!   (strongSwan also has AES-CTR, Camellia, 3DES, AES-XCBC/CMAC, Brainpool, Curve448,
//!   MODP 6144/8192)
//! - IKE AEAD: `aes128gcm16-aes192gcm16-aes256gcm16-chacha20poly1305-aes128gcm12-aes192gcm12-aes256gcm12-aes128gcm8-aes192gcm8-aes256gcm8-prfsha256-prfsha384-prfsha512-prfsha1` + the same groups
//!   (strongSwan also has AES-CCM, Camellia-CCM, AES-XCBC/CMAC PRFs)
//! - ESP classic: `aes128-aes192-aes256-sha256-sha384-sha512-sha1-noesn` (strongSwan also
//!   has AES-XCBC), no PFS
//! - ESP AEAD: `aes128gcm16-aes192gcm16-aes256gcm16-noesn`, no PFS
//!
//! The keyword `default` gives [classic, AEAD] for both protocols (vici's
//! `parse_proposal`). A connection without `esp_proposals` gets [AEAD, classic] for ESP
//! ([`Proposal::implicit_defaults`]). strongSwan 6.0 adds every supported group
//! and `none` to the ESP defaults (optional PFS); 5.9 has no PFS in them.

mod keywords;
mod parse;
mod select;
mod wire_conv;

use core::fmt;

use crate::crypto::algorithms::{
    EncrAlgorithm, EspSuite, IkeSuite, IntegAlgorithm, PrfAlgorithm, dh_supported,
};
use crate::wire::{DhGroup, EncrId, EsnId, IntegId, PrfId, ProtocolId, TransformType};

pub use keywords::{Severity, keywords};
pub use parse::{ProposalError, ProposalListError};
pub use select::{Mismatch, NoProposalChosen, Preference, SelectOptions, select, select_with};
pub use wire_conv::UnsupportedAttribute;

/// One transform of a proposal: a type, an ID in that type's registry and the
/// KEY_LENGTH attribute in bits, if any.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Transform {
    pub ty: TransformType,
    pub id: u16,
    pub key_length: Option<u16>,
}

impl Transform {
    pub const fn new(ty: TransformType, id: u16, key_length: Option<u16>) -> Self {
        Self { ty, id, key_length }
    }

    pub fn encr(alg: EncrAlgorithm) -> Self {
        let (id, key_length) = alg.to_transform();
        Self::new(TransformType::ENCR, id.0, key_length)
    }

    pub fn integ(alg: IntegAlgorithm) -> Self {
        Self::new(TransformType::INTEG, alg.id().0, None)
    }

    pub fn prf(alg: PrfAlgorithm) -> Self {
        Self::new(TransformType::PRF, alg.id().0, None)
    }

    /// A DH group; [`DhGroup::NONE`] in an ESP proposal means "no PFS" is acceptable.
    pub fn dh(group: DhGroup) -> Self {
        Self::new(TransformType::DH, group.0, None)
    }

    pub fn esn(esn: EsnId) -> Self {
        Self::new(TransformType::ESN, esn.0, None)
    }

    /// The transform a single strongSwan keyword stands for (`aes256`, `sha256`,
    /// `prfsha384`, `x25519`, `esn`, `ke1_mlkem768` ...). Keywords are case-sensitive.
    pub fn from_keyword(keyword: &str) -> Option<Self> {
        keywords::lookup(keyword)
    }

    /// Whether `Display` prints a strongSwan keyword (rather than a `encr#1234` form
    /// for transforms strongSwan has no keyword for).
    pub fn has_keyword(&self) -> bool {
        keywords::canonical(self.ty, self.id, self.key_length).is_some()
    }

    /// strongSwan's long name as `swanctl --list-sas` prints it: `AES_CBC-256`,
    /// `HMAC_SHA2_256_128`, `PRF_HMAC_SHA2_256`, `MODP_2048`, `CURVE_25519`,
    /// `KE1_ML_KEM_768`; `UNKNOWN_<type>_<id>` for IDs without a name.
    pub fn describe(&self) -> String {
        let mut s = String::new();
        if let Some(n) = keywords::addke_number(self.ty) {
            s.push_str(&format!("KE{n}_"));
        }
        match keywords::long_name(self.ty, self.id) {
            Some(name) => s.push_str(name),
            None => s.push_str(&format!("UNKNOWN_{}_{}", self.ty.0, self.id)),
        }
        if let Some(k) = self.key_length {
            s.push_str(&format!("-{k}"));
        }
        s
    }

    /// Whether ikev2d implements this transform (so [`select`] may pick it).
    pub fn is_implemented(&self) -> bool {
        keywords::implemented(self)
    }

    /// An encryption transform of a combined-mode (AEAD) cipher, by strongSwan's list.
    pub fn is_aead(&self) -> bool {
        self.ty == TransformType::ENCR && keywords::is_aead_encr(self.id)
    }

    /// "None" for an optional key exchange (ESP PFS, RFC 9370 additional exchanges).
    fn is_ke_none(&self) -> bool {
        keywords::is_key_exchange(self.ty) && self.id == 0
    }
}

/// The canonical strongSwan keyword (`aes256`, `aes128gcm16`, `sha1`, `curve25519`,
/// `ke1_mlkem768`), or `<type>#<id>[_<key length>]` for transforms without a keyword.
impl fmt::Display for Transform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let addke = keywords::addke_number(self.ty);
        if let Some(name) = keywords::canonical(self.ty, self.id, self.key_length) {
            return match addke {
                Some(n) => write!(f, "ke{n}_{name}"),
                None => f.write_str(name),
            };
        }
        match (self.ty, addke) {
            (_, Some(n)) => write!(f, "ke{n}#{}", self.id)?,
            (TransformType::ENCR, _) => write!(f, "encr#{}", self.id)?,
            (TransformType::PRF, _) => write!(f, "prf#{}", self.id)?,
            (TransformType::INTEG, _) => write!(f, "integ#{}", self.id)?,
            (TransformType::DH, _) => write!(f, "ke#{}", self.id)?,
            (TransformType::ESN, _) => write!(f, "esn#{}", self.id)?,
            (ty, _) => write!(f, "type{}#{}", ty.0, self.id)?,
        }
        if let Some(k) = self.key_length {
            write!(f, "_{k}")?;
        }
        Ok(())
    }
}

/// A weak transform found in a proposal, for configuration checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Weakness {
    pub transform: Transform,
    pub severity: Severity,
    pub reason: &'static str,
}

impl fmt::Display for Weakness {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} ({}): {}",
            self.transform,
            self.transform.describe(),
            self.reason
        )
    }
}

/// A proposal: number, protocol, SPI and transforms (RFC 7296 section 3.3.1).
///
/// Transforms are kept grouped by type (encryption, integrity, PRF, DH, additional key
/// exchanges, ESN, then unknown types); within a type the order is the preference
/// order. The order between types carries no meaning (strongSwan agrees), so
/// [`Proposal::from_transforms`] sorts by type, stably.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Proposal {
    /// Proposal number; the first proposal of an SA payload is 1.
    pub number: u8,
    /// [`ProtocolId::IKE`] or [`ProtocolId::ESP`].
    pub protocol: ProtocolId,
    /// The sender's SPI: empty in configuration, filled in by the state machine.
    pub spi: Vec<u8>,
    transforms: Vec<Transform>,
}

impl Proposal {
    /// A proposal with these transforms (sorted by type, order within a type kept) and
    /// no SPI.
    pub fn from_transforms(
        number: u8,
        protocol: ProtocolId,
        transforms: impl IntoIterator<Item = Transform>,
    ) -> Self {
        let mut transforms: Vec<Transform> = transforms.into_iter().collect();
        transforms.sort_by_key(|t| type_rank(t.ty));
        Self {
            number,
            protocol,
            spi: Vec::new(),
            transforms,
        }
    }

    /// Parse an IKE proposal string such as `aes256-sha256-modp2048` or
    /// `aes256gcm16-prfsha384-ecp384`, with strongSwan's rules: no PRF keyword means
    /// one PRF per integrity algorithm, a DH group is required, `none` is dropped.
    pub fn parse_ike(s: &str) -> Result<Self, ProposalError> {
        parse::parse(ProtocolId::IKE, s)
    }

    /// Parse an ESP proposal string such as `aes256gcm16-modp2048` (the DH group is the
    /// PFS group), `aes128-sha256-esn` or `aes256gcm16`. No ESN keyword means `noesn`.
    pub fn parse_esp(s: &str) -> Result<Self, ProposalError> {
        parse::parse(ProtocolId::ESP, s)
    }

    /// Parse one proposal of the given protocol (IKE or ESP).
    pub fn parse(protocol: ProtocolId, s: &str) -> Result<Self, ProposalError> {
        parse::parse(protocol, s)
    }

    /// Parse a comma-separated list as in swanctl.conf (`proposals`, `esp_proposals`),
    /// where `default` expands to [`Proposal::defaults`]. Proposals are numbered from 1.
    pub fn parse_list(protocol: ProtocolId, s: &str) -> Result<Vec<Self>, ProposalListError> {
        parse::parse_list(protocol, s)
    }

    /// What strongSwan 5.9's `default` keyword expands to, restricted to the algorithms
    /// ikev2d implements: a classic proposal, then an AEAD one (see the module docs).
    pub fn defaults(protocol: ProtocolId) -> Vec<Self> {
        parse::defaults(protocol, false)
    }

    /// What strongSwan 5.9 uses when a connection sets no proposals at all. For IKE
    /// this equals [`Proposal::defaults`]; for ESP the AEAD proposal comes first.
    pub fn implicit_defaults(protocol: ProtocolId) -> Vec<Self> {
        parse::defaults(protocol, true)
    }

    pub fn with_spi(mut self, spi: impl Into<Vec<u8>>) -> Self {
        self.spi = spi.into();
        self
    }

    pub fn with_number(mut self, number: u8) -> Self {
        self.number = number;
        self
    }

    /// All transforms, grouped by type.
    pub fn transforms(&self) -> &[Transform] {
        &self.transforms
    }

    /// Whether it has RFC 9370 additional key exchanges (`ke1_` ... `ke7_`).
    pub fn has_additional_ke(&self) -> bool {
        self.transforms
            .iter()
            .any(|t| keywords::addke_number(t.ty).is_some())
    }

    /// Whether a peer must do an additional key exchange to accept it: some ADDKE
    /// type without NONE among its choices.
    pub fn needs_additional_ke(&self) -> bool {
        (1..=7u8).any(|n| {
            let ty = TransformType(TransformType::ADDKE1.0 + n - 1);
            let mut of = self.transforms_of(ty).peekable();
            of.peek().is_some() && of.all(|t| t.id != 0)
        })
    }

    /// The transforms of one type, in preference order.
    pub fn transforms_of(&self, ty: TransformType) -> impl Iterator<Item = &Transform> + '_ {
        self.transforms.iter().filter(move |t| t.ty == ty)
    }

    /// Whether the proposal has a transform of this type.
    pub fn has_type(&self, ty: TransformType) -> bool {
        self.transforms_of(ty).next().is_some()
    }

    /// The encryption algorithms we implement, in preference order.
    pub fn encr(&self) -> impl Iterator<Item = EncrAlgorithm> + '_ {
        self.transforms_of(TransformType::ENCR)
            .filter_map(|t| EncrAlgorithm::from_transform(EncrId(t.id), t.key_length))
    }

    /// The integrity algorithms we implement, in preference order.
    pub fn integ(&self) -> impl Iterator<Item = IntegAlgorithm> + '_ {
        self.transforms_of(TransformType::INTEG)
            .filter(|t| t.key_length.is_none())
            .filter_map(|t| IntegAlgorithm::from_id(IntegId(t.id)))
    }

    /// The PRFs we implement, in preference order.
    pub fn prf(&self) -> impl Iterator<Item = PrfAlgorithm> + '_ {
        self.transforms_of(TransformType::PRF)
            .filter(|t| t.key_length.is_none())
            .filter_map(|t| PrfAlgorithm::from_id(PrfId(t.id)))
    }

    /// Every DH transform in preference order, including [`DhGroup::NONE`] and groups
    /// we do not implement (check with [`dh_supported`]).
    pub fn dh_groups(&self) -> impl Iterator<Item = DhGroup> + '_ {
        self.transforms_of(TransformType::DH).map(|t| DhGroup(t.id))
    }

    /// Every ESN transform in preference order.
    pub fn esn(&self) -> impl Iterator<Item = EsnId> + '_ {
        self.transforms_of(TransformType::ESN).map(|t| EsnId(t.id))
    }

    /// Whether every encryption transform is a combined-mode cipher (and there is one).
    pub fn is_aead(&self) -> bool {
        let mut encr = self.transforms_of(TransformType::ENCR).peekable();
        encr.peek().is_some() && encr.all(Transform::is_aead)
    }

    /// The first DH group we implement, in preference order (not `NONE`).
    pub fn first_dh_group(&self) -> Option<DhGroup> {
        self.dh_groups().find(|&g| dh_supported(g))
    }

    /// The algorithms of a *selected* IKE proposal: exactly one encryption, PRF and DH
    /// transform, and one integrity transform unless the cipher is an AEAD (an
    /// integrity transform `NONE` is accepted with an AEAD), all implemented. `None`
    /// otherwise.
    pub fn ike_suite(&self) -> Option<IkeSuite> {
        if self.protocol != ProtocolId::IKE {
            return None;
        }
        let mut s = Singles::default();
        let mut addke = IkeSuite::NO_ADDKE;
        let mut seen = [false; 7];
        for t in &self.transforms {
            match t.ty {
                TransformType::ENCR => set_once(&mut s.encr, t)?,
                TransformType::INTEG => set_once(&mut s.integ, t)?,
                TransformType::PRF => set_once(&mut s.prf, t)?,
                TransformType::DH => set_once(&mut s.dh, t)?,
                ty => match keywords::addke_number(ty) {
                    // One transform per additional exchange; NONE or a method we run.
                    Some(n) => {
                        let i = usize::from(n - 1);
                        if seen[i] || !(t.is_ke_none() || t.is_implemented()) {
                            return None;
                        }
                        seen[i] = true;
                        addke[i] = DhGroup(t.id);
                    }
                    None => return None,
                },
            }
        }
        let encr = s.encr.filter(|t| t.is_implemented())?;
        let encr = EncrAlgorithm::from_transform(EncrId(encr.id), encr.key_length)?;
        let integ = suite_integ(encr, s.integ)?;
        let prf = s.prf.filter(|t| t.is_implemented())?;
        let dh = s.dh.filter(|t| t.is_implemented())?;
        Some(IkeSuite {
            encr,
            integ,
            prf: PrfAlgorithm::from_id(PrfId(prf.id))?,
            dh: DhGroup(dh.id),
            addke,
        })
    }

    /// The algorithms of a *selected* ESP proposal: exactly one encryption transform,
    /// one integrity transform unless the cipher is an AEAD, at most one DH group
    /// (`NONE` or absent: no PFS) and at most one ESN transform (absent: no ESN), all
    /// implemented. `None` otherwise.
    pub fn esp_suite(&self) -> Option<EspSuite> {
        if self.protocol != ProtocolId::ESP {
            return None;
        }
        let mut s = Singles::default();
        let mut addke = EspSuite::NO_ADDKE;
        let mut seen = [false; 7];
        for t in &self.transforms {
            match t.ty {
                TransformType::ENCR => set_once(&mut s.encr, t)?,
                TransformType::INTEG => set_once(&mut s.integ, t)?,
                TransformType::DH => set_once(&mut s.dh, t)?,
                TransformType::ESN => set_once(&mut s.esn, t)?,
                ty => match keywords::addke_number(ty) {
                    Some(n) => {
                        let i = usize::from(n - 1);
                        if seen[i] || !(t.is_ke_none() || t.is_implemented()) {
                            return None;
                        }
                        seen[i] = true;
                        addke[i] = DhGroup(t.id);
                    }
                    None if t.is_ke_none() => {}
                    None => return None,
                },
            }
        }
        let encr = s.encr.filter(|t| t.is_implemented())?;
        let encr = EncrAlgorithm::from_transform(EncrId(encr.id), encr.key_length)?;
        let integ = suite_integ(encr, s.integ)?;
        let dh = match s.dh {
            None => None,
            Some(t) if t.is_ke_none() => None,
            Some(t) if t.is_implemented() => Some(DhGroup(t.id)),
            Some(_) => return None,
        };
        let esn = match s.esn {
            None => false,
            Some(t) if t.is_implemented() => t.id == EsnId::ESN.0,
            Some(_) => return None,
        };
        Some(EspSuite {
            encr,
            integ,
            dh,
            addke,
            esn,
        })
    }

    /// Transforms ikev2d does not implement (`3des`, `md5`, `modp1024`, `aes128ctr`
    /// ...). ESP's `none` (no PFS) is not listed.
    pub fn unsupported(&self) -> Vec<Transform> {
        self.transforms
            .iter()
            .filter(|t| !t.is_implemented() && !t.is_ke_none())
            .copied()
            .collect()
    }

    /// Weak transforms with a severity and a reason, for `ikev2d check`.
    pub fn weaknesses(&self) -> Vec<Weakness> {
        self.transforms
            .iter()
            .filter_map(|t| {
                keywords::weakness(t).map(|(severity, reason)| Weakness {
                    transform: *t,
                    severity,
                    reason,
                })
            })
            .collect()
    }

    /// The long form `swanctl --list-sas` prints for an SA, e.g.
    /// `AES_CBC-256/HMAC_SHA2_256_128/PRF_HMAC_SHA2_256/MODP_2048` or
    /// `AES_GCM_16-256/MODP_2048/ESN`. A proposal with several transforms of a type
    /// lists them all; a lone `NO_ESN` is left out, as swanctl does.
    pub fn describe(&self) -> String {
        let skip_esn = self.esn_is_default();
        self.transforms
            .iter()
            .filter(|t| !(skip_esn && t.ty == TransformType::ESN))
            .map(Transform::describe)
            .collect::<Vec<_>>()
            .join("/")
    }

    /// Exactly one ESN transform, `NO_ESN`: what an ESP proposal without an ESN
    /// keyword gets.
    fn esn_is_default(&self) -> bool {
        let mut esn = self.transforms_of(TransformType::ESN);
        matches!((esn.next(), esn.next()), (Some(t), None) if t.id == EsnId::NO_ESN.0)
    }

    /// The PRFs strongSwan derives from this proposal's integrity algorithms.
    fn derived_prfs(&self) -> Vec<Transform> {
        let mut prfs = Vec::new();
        for t in self.transforms_of(TransformType::INTEG) {
            if let Some(id) = keywords::prf_for_integ(t.id) {
                let prf = Transform::new(TransformType::PRF, id, None);
                if !prfs.contains(&prf) {
                    prfs.push(prf);
                }
            }
        }
        prfs
    }
}

/// The strongSwan keyword string, e.g. `aes256-sha256-modp2048`: transforms grouped by
/// type, PRFs left out of IKE proposals when strongSwan would derive exactly these from
/// the integrity algorithms, and a lone `noesn` left out of ESP proposals. With `{:#}`
/// the protocol is prefixed (`ike:aes256-sha256-modp2048`), which `FromStr` accepts.
impl fmt::Display for Proposal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if f.alternate() {
            match self.protocol {
                ProtocolId::IKE => f.write_str("ike:")?,
                ProtocolId::ESP => f.write_str("esp:")?,
                ProtocolId::AH => f.write_str("ah:")?,
                p => write!(f, "proto{}:", p.0)?,
            }
        }
        let prfs: Vec<Transform> = self.transforms_of(TransformType::PRF).copied().collect();
        let skip_prf = self.protocol == ProtocolId::IKE
            && !prfs.is_empty()
            && !self.is_aead()
            && self.derived_prfs() == prfs;
        let skip_esn = self.protocol == ProtocolId::ESP && self.esn_is_default();
        let mut first = true;
        for t in &self.transforms {
            if (skip_prf && t.ty == TransformType::PRF) || (skip_esn && t.ty == TransformType::ESN)
            {
                continue;
            }
            if !first {
                f.write_str("-")?;
            }
            first = false;
            write!(f, "{t}")?;
        }
        Ok(())
    }
}

/// Parses `ike:<proposal>` or `esp:<proposal>` (what `{:#}` prints); the protocol
/// decides the defaults, so it is required. Use [`Proposal::parse_ike`] or
/// [`Proposal::parse_esp`] for bare strings.
impl core::str::FromStr for Proposal {
    type Err = ProposalError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (proto, rest) = s.split_once(':').ok_or(ProposalError::MissingProtocol)?;
        let protocol = match proto.trim().to_ascii_lowercase().as_str() {
            "ike" => ProtocolId::IKE,
            "esp" => ProtocolId::ESP,
            _ => return Err(ProposalError::MissingProtocol),
        };
        parse::parse(protocol, rest)
    }
}

/// The first DH group an initiator sends a KE payload for: strongSwan uses the first
/// group of its first proposal; we take the first group we implement, in order.
pub fn first_dh_group(proposals: &[Proposal]) -> Option<DhGroup> {
    proposals.iter().find_map(Proposal::first_dh_group)
}

/// Whether `group` is offered in any of these proposals and implemented, e.g. to
/// accept an INVALID_KE_PAYLOAD that asks for it (RFC 7296 section 1.2).
pub fn contains_dh_group(proposals: &[Proposal], group: DhGroup) -> bool {
    dh_supported(group) && proposals.iter().any(|p| p.dh_groups().any(|g| g == group))
}

/// Order of transform types in a proposal: strongSwan's printing order.
fn type_rank(ty: TransformType) -> u16 {
    match ty {
        TransformType::ENCR => 0,
        TransformType::INTEG => 1,
        TransformType::PRF => 2,
        TransformType::DH => 3,
        ty if keywords::addke_number(ty).is_some() => 4 + u16::from(ty.0 - TransformType::ADDKE1.0),
        TransformType::ESN => 11,
        ty => 12 + u16::from(ty.0),
    }
}

#[derive(Default)]
struct Singles<'a> {
    encr: Option<&'a Transform>,
    integ: Option<&'a Transform>,
    prf: Option<&'a Transform>,
    dh: Option<&'a Transform>,
    esn: Option<&'a Transform>,
}

/// Store `t` in `slot` unless the slot is taken (a second transform of a type).
fn set_once<'a>(slot: &mut Option<&'a Transform>, t: &'a Transform) -> Option<()> {
    match slot {
        Some(_) => None,
        None => {
            *slot = Some(t);
            Some(())
        }
    }
}

/// The integrity algorithm of a suite: none for an AEAD (or `NONE`), exactly one
/// implemented algorithm otherwise.
fn suite_integ(encr: EncrAlgorithm, integ: Option<&Transform>) -> Option<Option<IntegAlgorithm>> {
    match (encr.is_aead(), integ) {
        (true, None) => Some(None),
        (true, Some(t)) if t.id == IntegId::NONE.0 => Some(None),
        (true, Some(_)) | (false, None) => None,
        (false, Some(t)) if t.is_implemented() => IntegAlgorithm::from_id(IntegId(t.id)).map(Some),
        (false, Some(_)) => None,
    }
}
