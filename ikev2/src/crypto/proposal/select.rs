//! Proposal selection (RFC 7296 section 2.7), as strongSwan's `proposal_select` and
//! `select_algos` do it, restricted to the transforms ikev2d implements.
//!
//! For each pair of proposals, each transform type present in either must match; the
//! preferred side's order within a type decides. Optional types are ESP's DH group
//! (absent or `NONE` means no PFS) and RFC 9370 additional key exchanges. Once an AEAD
//! is chosen the integrity type is skipped, so a peer's `INTEG NONE` next to an AEAD is
//! accepted. When nothing matches, the error keeps both lists and the first
//! mismatching type of the pair that came closest (matched the most types).

use core::fmt;

use crate::wire::{NotifyType, ProtocolId, TransformType};

use super::keywords::{addke_number, is_key_exchange};
use super::{Proposal, Transform, type_rank};

/// Whose order decides when several proposals or transforms would match.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub enum Preference {
    /// Our proposals in our order, each checked against the peer's in the peer's
    /// order; within a type our transform order decides. strongSwan's responder
    /// default (`charon.prefer_configured_proposals = yes`).
    #[default]
    PreferOurs,
    /// The peer's (initiator's) proposals and transform order decide.
    PreferTheirs,
}

/// Options of [`select_with`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct SelectOptions {
    pub preference: Preference,
    /// Ignore DH transforms (strongSwan's `PROPOSAL_SKIP_KE`): for the CHILD_SA created
    /// in IKE_AUTH, which has no KE payload, so its PFS group only matters when it is
    /// rekeyed. The selected proposal has no DH transform. Selecting again without this
    /// flag tells whether the first rekey will fail with a PFS mismatch.
    pub skip_dh: bool,
    /// Additional key exchanges (RFC 9370 ADDKE transforms) may be selected: in
    /// IKE_SA_INIT when both sides support IKE_INTERMEDIATE. Otherwise a proposal
    /// whose additional exchange is not optional (no NONE) cannot be selected.
    pub additional_ke: bool,
}

/// Why a pair of proposals did not match.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Mismatch {
    /// We have no proposals for this SA.
    NoLocalProposals,
    /// The peer's SA payload holds no proposal of the protocol.
    NoPeerProposals,
    Protocol {
        ours: ProtocolId,
        theirs: ProtocolId,
    },
    /// No acceptable transform of type `ty`: the transforms of that type in our and the
    /// peer's proposal, and those both offer but ikev2d does not implement.
    Transform {
        protocol: ProtocolId,
        ty: TransformType,
        ours: Vec<Transform>,
        theirs: Vec<Transform>,
        unimplemented: Vec<Transform>,
    },
}

/// NO_PROPOSAL_CHOSEN with what an operator needs to fix it. `Display` gives e.g.
/// `NO_PROPOSAL_CHOSEN: no common DH group: we offered [aes256-sha256-modp2048], peer
/// offered [aes256-sha256-ecp256]`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct NoProposalChosen {
    pub ours: Vec<Proposal>,
    pub theirs: Vec<Proposal>,
    /// Indices into `ours` and `theirs` of the pair that matched the most transform
    /// types (the first such pair in preference order); `None` if a list is empty.
    pub closest: Option<(usize, usize)>,
    /// The first mismatch of the closest pair.
    pub mismatch: Mismatch,
}

impl NoProposalChosen {
    /// The notify to send (as responder) or that explains the failure.
    pub fn notify_type(&self) -> NotifyType {
        NotifyType::NO_PROPOSAL_CHOSEN
    }
}

/// Select one proposal from `theirs` acceptable under `ours`; see [`select_with`].
pub fn select(
    ours: &[Proposal],
    theirs: &[Proposal],
    preference: Preference,
) -> Result<Proposal, Box<NoProposalChosen>> {
    select_with(
        ours,
        theirs,
        SelectOptions {
            preference,
            ..SelectOptions::default()
        },
    )
}

/// Select one proposal: the result has at most one transform of each type (none for
/// "no PFS"), only transforms ikev2d implements, and the peer's proposal number and
/// SPI. The error is boxed: it carries both proposal lists.
pub fn select_with(
    ours: &[Proposal],
    theirs: &[Proposal],
    options: SelectOptions,
) -> Result<Proposal, Box<NoProposalChosen>> {
    let fail = |closest, mismatch| {
        Box::new(NoProposalChosen {
            ours: ours.to_vec(),
            theirs: theirs.to_vec(),
            closest,
            mismatch,
        })
    };
    if ours.is_empty() {
        return Err(fail(None, Mismatch::NoLocalProposals));
    }
    if theirs.is_empty() {
        return Err(fail(None, Mismatch::NoPeerProposals));
    }
    let pairs: Vec<(usize, usize)> = match options.preference {
        Preference::PreferOurs => (0..ours.len())
            .flat_map(|o| (0..theirs.len()).map(move |t| (o, t)))
            .collect(),
        Preference::PreferTheirs => (0..theirs.len())
            .flat_map(|t| (0..ours.len()).map(move |o| (o, t)))
            .collect(),
    };
    let mut closest: Option<(u16, (usize, usize), Mismatch)> = None;
    for (o, t) in pairs {
        match match_pair(&ours[o], &theirs[t], options) {
            Ok(selected) => return Ok(selected),
            Err((stage, mismatch)) => {
                if closest.as_ref().is_none_or(|(best, _, _)| stage > *best) {
                    closest = Some((stage, (o, t), mismatch));
                }
            }
        }
    }
    match closest {
        Some((_, pair, mismatch)) => Err(fail(Some(pair), mismatch)),
        // Both lists are non-empty, so some pair was tried.
        None => Err(fail(None, Mismatch::NoPeerProposals)),
    }
}

/// What one transform type yields for a pair of proposals.
enum Pick {
    Chosen(Transform),
    /// Nothing to select: the type is absent from both, or an optional type settled on
    /// `NONE`.
    Nothing,
    Fail,
}

/// Match one pair; on failure, the stage reached (higher is closer) and why.
fn match_pair(
    ours: &Proposal,
    theirs: &Proposal,
    options: SelectOptions,
) -> Result<Proposal, (u16, Mismatch)> {
    if ours.protocol != theirs.protocol {
        return Err((
            0,
            Mismatch::Protocol {
                ours: ours.protocol,
                theirs: theirs.protocol,
            },
        ));
    }
    let protocol = ours.protocol;
    let ike = protocol == ProtocolId::IKE;
    let (pref, other) = match options.preference {
        Preference::PreferOurs => (ours, theirs),
        Preference::PreferTheirs => (theirs, ours),
    };
    // Every type either side has, plus the ones we must end up with.
    let mut types: Vec<TransformType> = ours
        .transforms
        .iter()
        .chain(&theirs.transforms)
        .map(|t| t.ty)
        .chain([TransformType::ENCR, TransformType::INTEG])
        .chain(
            ike.then_some([TransformType::PRF, TransformType::DH])
                .into_iter()
                .flatten(),
        )
        .collect();
    types.sort_by_key(|&ty| type_rank(ty));
    types.dedup();

    let mut aead = false;
    let mut selected = Vec::new();
    for ty in types {
        if ty == TransformType::INTEG && aead {
            continue;
        }
        if is_key_exchange(ty) && options.skip_dh {
            continue;
        }
        let optional = (ty == TransformType::DH && !ike) || addke_number(ty).is_some();
        let mandatory = match ty {
            TransformType::ENCR | TransformType::INTEG => true,
            TransformType::PRF | TransformType::DH => ike,
            _ => false,
        };
        let allowed = options.additional_ke || addke_number(ty).is_none();
        match pick(pref, other, ty, optional, allowed) {
            Pick::Chosen(t) => {
                aead |= t.is_aead();
                selected.push(t);
            }
            Pick::Nothing if !mandatory => {}
            Pick::Nothing | Pick::Fail => {
                return Err((type_rank(ty) + 1, mismatch(protocol, ty, ours, theirs)));
            }
        }
    }
    Ok(Proposal::from_transforms(theirs.number, protocol, selected).with_spi(theirs.spi.clone()))
}

/// strongSwan's `select_algo`: the first transform of `pref` (in its order) that
/// `other` has too, with the same key length, and that we implement (and, with
/// `allowed` false, none but NONE).
fn pick(
    pref: &Proposal,
    other: &Proposal,
    ty: TransformType,
    optional: bool,
    allowed: bool,
) -> Pick {
    let p: Vec<&Transform> = pref.transforms_of(ty).collect();
    let o: Vec<&Transform> = other.transforms_of(ty).collect();
    let offers_none = |v: &[&Transform]| optional && v.iter().any(|t| t.id == 0);
    match (p.is_empty(), o.is_empty()) {
        (true, true) => return Pick::Nothing,
        (true, false) if offers_none(&o) => return Pick::Nothing,
        (false, true) if offers_none(&p) => return Pick::Nothing,
        (true, false) | (false, true) => return Pick::Fail,
        (false, false) => {}
    }
    for a in &p {
        for b in &o {
            if a.id != b.id || a.key_length != b.key_length {
                continue;
            }
            if a.id == 0 && ty != TransformType::ESN {
                if optional {
                    return Pick::Nothing;
                }
                // NONE of a mandatory type (INTEG NONE with a classic cipher): not
                // something we run, maybe a later pair is.
                continue;
            }
            if allowed && a.is_implemented() {
                return Pick::Chosen(**a);
            }
        }
    }
    Pick::Fail
}

fn mismatch(
    protocol: ProtocolId,
    ty: TransformType,
    ours: &Proposal,
    theirs: &Proposal,
) -> Mismatch {
    let ours: Vec<Transform> = ours.transforms_of(ty).copied().collect();
    let theirs: Vec<Transform> = theirs.transforms_of(ty).copied().collect();
    let unimplemented = ours
        .iter()
        .filter(|t| theirs.contains(t) && !t.is_implemented() && !t.is_ke_none())
        .copied()
        .collect();
    Mismatch::Transform {
        protocol,
        ty,
        ours,
        theirs,
        unimplemented,
    }
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoLocalProposals => f.write_str("no proposals configured"),
            Self::NoPeerProposals => f.write_str("peer offered no proposals"),
            Self::Protocol { ours, theirs } => {
                write!(
                    f,
                    "protocol mismatch: we offered {ours}, peer offered {theirs}"
                )
            }
            Self::Transform {
                protocol,
                ty,
                ours,
                theirs,
                unimplemented,
            } => {
                match *ty {
                    TransformType::DH if *protocol != ProtocolId::IKE => write!(
                        f,
                        "PFS group mismatch: {}, {}",
                        pfs_side("we", "require", ours),
                        pfs_side("peer", "requires", theirs)
                    )?,
                    TransformType::ESN => write!(
                        f,
                        "ESN mismatch: we offered {}, peer offered {}",
                        esn_side(ours),
                        esn_side(theirs)
                    )?,
                    TransformType::ENCR => f.write_str("no common encryption algorithm")?,
                    TransformType::INTEG => f.write_str("no common integrity algorithm")?,
                    TransformType::PRF => f.write_str("no common PRF")?,
                    TransformType::DH => f.write_str("no common DH group")?,
                    ty => match addke_number(ty) {
                        Some(n) => write!(f, "no common additional key exchange (KE{n})")?,
                        None => write!(f, "no common transform of type {}", ty.0)?,
                    },
                }
                if !unimplemented.is_empty() {
                    write!(
                        f,
                        " ({} offered by both but not implemented by ikev2d)",
                        join(unimplemented.iter().map(Transform::describe), ", ")
                    )?;
                }
                Ok(())
            }
        }
    }
}

impl fmt::Display for NoProposalChosen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "NO_PROPOSAL_CHOSEN: {}: we offered [{}], peer offered [{}]",
            self.mismatch,
            join(self.ours.iter().map(ToString::to_string), ", "),
            join(self.theirs.iter().map(ToString::to_string), ", "),
        )
    }
}

/// `we require MODP_2048`, `peer offered none`, `we offered MODP_2048 or none`.
fn pfs_side(who: &str, require: &str, groups: &[Transform]) -> String {
    let named: Vec<String> = groups
        .iter()
        .filter(|t| !t.is_ke_none())
        .map(Transform::describe)
        .collect();
    let none_ok = groups.is_empty() || groups.iter().any(Transform::is_ke_none);
    match (named.is_empty(), none_ok) {
        (true, _) => format!("{who} offered none"),
        (false, false) => format!("{who} {require} {}", named.join(", ")),
        (false, true) => format!("{who} offered {} or none", named.join(", ")),
    }
}

/// `ESN`, `no ESN`, `ESN or no ESN`.
fn esn_side(esn: &[Transform]) -> String {
    if esn.is_empty() {
        return "no ESN transform".to_string();
    }
    join(
        esn.iter().map(|t| match t.id {
            0 => "no ESN".to_string(),
            1 => "ESN".to_string(),
            _ => t.describe(),
        }),
        " or ",
    )
}

fn join(items: impl Iterator<Item = String>, sep: &str) -> String {
    items.collect::<Vec<_>>().join(sep)
}
