// Longer than 700 lines on purpose: one file per exchange (see exchange/mod.rs), and the initiator task, the responder side and the install they share read best together.
//! Creating CHILD SAs (RFC 7296 sections 1.3.1, 2.9, 2.17; strongSwan
//! `child_create.c`): inside IKE_AUTH (no KE, the PFS group of the ESP proposal is
//! ignored, section 1.2) and with CREATE_CHILD_SA (with a KE when the proposal has a
//! PFS group).
//!
//! The initiator proposes its ESP proposals with a fresh inbound SPI and its
//! selectors (`dynamic` resolved to the tunnel addresses). The responder picks the
//! first configured child whose selectors intersect the proposal, narrows to the
//! intersection (section 2.9; [`narrow_pair`]) and selects a proposal; if no child's
//! selectors intersect it answers TS_UNACCEPTABLE, if none has an acceptable
//! proposal NO_PROPOSAL_CHOSEN. The initiator checks that the answer is within what it
//! proposed. Keys: KEYMAT = prf+(SK_d, [g^ir |] Ni | Nr), split per direction.
//!
//! A request with N(REKEY_SA) rekeys a CHILD SA ([`super::child_rekey`] checks it
//! first); one with an IKE proposal rekeys the IKE SA ([`super::ike_rekey`]).

use std::time::Duration;

use crate::config::ChildConfig;
use crate::crypto::algorithms::EspSuite;
use crate::crypto::ke::{self, KeInitiator};
use crate::crypto::keymat::ChildKeys;
use crate::crypto::proposal::{self, Preference, Proposal, SelectOptions};
use crate::crypto::secret::SecretBytes;
use crate::error::{Cause, Phase};
use crate::event::{ChildLifetimes, ChildSaInstalled, ChildSaKeys, Event};
use crate::ike_sa::ctx::Ctx;
use crate::ike_sa::{ChildSa, ChildState, IkeSa};
use crate::ts::{TrafficSelector, narrow_pair};
use crate::wire::{self, DhGroup, Ke, Nonce, NotifyType, Payload, ProtocolId, Ts};

use super::followup_ke::{Followups, Passive, Pending, PendingChild, Step};
use super::ike_init::{nonce, numbered, peer_proposals};
use super::ike_intermediate::AddKeProblem;
use super::{Chain, Outcome, Task, find, find_notify, first_error};

/// What the initiator proposed for one CHILD SA.
#[derive(Debug, Clone)]
pub(crate) struct Proposed {
    /// Index into the connection's children.
    pub child: usize,
    pub spi_in: u32,
    pub proposals: Vec<Proposal>,
    pub tsi: Vec<TrafficSelector>,
    pub tsr: Vec<TrafficSelector>,
}

impl Proposed {
    pub(crate) fn push_sa(&self, c: &mut Chain) -> Result<(), Cause> {
        c.push(&Payload::Sa(wire::Sa {
            proposals: self.proposals.iter().map(Proposal::to_wire).collect(),
        }))
    }

    pub(crate) fn push_ts(&self, c: &mut Chain) -> Result<(), Cause> {
        push_ts(c, &self.tsi, &self.tsr)
    }
}

fn push_ts(c: &mut Chain, tsi: &[TrafficSelector], tsr: &[TrafficSelector]) -> Result<(), Cause> {
    let wire = |l: &[TrafficSelector]| Ts {
        selectors: l.iter().map(TrafficSelector::to_wire).collect(),
    };
    c.push(&Payload::TsI(wire(tsi)))?;
    c.push(&Payload::TsR(wire(tsr)))
}

/// The selectors of a child on one side, `dynamic` resolved to `host`.
fn resolve(specs: &[crate::ts::TsSpec], host: core::net::IpAddr) -> Vec<TrafficSelector> {
    specs
        .iter()
        .map(|s| s.resolve(host.to_canonical()))
        .collect()
}

fn from_wire(ts: &Ts<'_>) -> Vec<TrafficSelector> {
    ts.selectors
        .iter()
        .filter_map(TrafficSelector::from_wire)
        .collect()
}

/// A proposal for child `child` of the SA's connection, with a new inbound SPI.
pub(crate) fn propose(sa: &IkeSa, ctx: &mut Ctx<'_>, child: usize) -> Result<Proposed, Cause> {
    let cfg = sa
        .conn
        .children
        .get(child)
        .ok_or_else(|| Cause::Internal(format!("no child {child}")))?;
    let spi_in = ctx.sh.new_child_spi();
    let proposals = numbered(&cfg.esp_proposals)
        .into_iter()
        .map(|p| p.with_spi(spi_in.to_be_bytes().to_vec()))
        .collect();
    Ok(Proposed {
        child,
        spi_in,
        proposals,
        tsi: resolve(&cfg.local_ts, sa.local.ip()),
        tsr: resolve(&cfg.remote_ts, sa.remote.ip()),
    })
}

/// Derives the keys and reports a new CHILD SA. `exchange_initiator`: whether we
/// initiated the exchange that created it (its Ni is ours).
#[allow(clippy::too_many_arguments)]
fn install(
    sa: &mut IkeSa,
    ctx: &mut Ctx<'_>,
    cfg: &ChildConfig,
    spi_in: u32,
    spi_out: u32,
    suite: EspSuite,
    local_ts: Vec<TrafficSelector>,
    remote_ts: Vec<TrafficSelector>,
    ni: &[u8],
    nr: &[u8],
    g_ir: Option<&SecretBytes>,
    additional: &[SecretBytes],
    exchange_initiator: bool,
    rekey_of: Option<u32>,
) -> Result<(), Cause> {
    let crypto = sa
        .crypto
        .as_ref()
        .ok_or_else(|| Cause::Internal("no keys".into()))?;
    let keys = ChildKeys::derive(
        crypto.suite.prf,
        &crypto.sk_d,
        &suite,
        g_ir,
        ni,
        nr,
        additional,
    )
    .map_err(Cause::KeyDerivation)?;
    let ChildKeys {
        encr_i,
        integ_i,
        encr_r,
        integ_r,
    } = keys;
    let keys = if exchange_initiator {
        ChildSaKeys {
            encr_in: encr_r,
            integ_in: integ_r,
            encr_out: encr_i,
            integ_out: integ_i,
        }
    } else {
        ChildSaKeys {
            encr_in: encr_i,
            integ_in: integ_i,
            encr_out: encr_r,
            integ_out: integ_r,
        }
    };
    let jitter = random_duration(&mut ctx.sh.rng, cfg.effective_rand_time());
    let rekey_at = (!cfg.rekey_time.is_zero()).then(|| ctx.now + (cfg.rekey_time - jitter));
    let expire_at = (!cfg.life_time.is_zero()).then(|| ctx.now + cfg.life_time);
    // Most IKE SAs hold one CHILD SA for their whole life: grow by one, not to the
    // four a Vec's first push reserves (184 octets each).
    sa.children.reserve_exact(1);
    sa.children.push(ChildSa {
        name: cfg.name.clone(),
        spi_in,
        spi_out,
        suite,
        local_ts: local_ts.clone(),
        remote_ts: remote_ts.clone(),
        state: ChildState::Installed,
        rekey_at,
        expire_at,
        pending_switch: rekey_of,
        outbound: rekey_of.is_none(),
        peer_rekey: None,
        rekey_retry: false,
    });
    ctx.sh.stats.child_sas_installed += 1;
    ctx.sh
        .event(Event::ChildSaInstalled(Box::new(ChildSaInstalled {
            conn: sa.conn.name.clone(),
            child: cfg.name.clone(),
            ike_sa: sa.id,
            spi_in,
            spi_out,
            suite,
            keys,
            local_ts,
            remote_ts,
            encap: sa.encap(),
            local: sa.local,
            remote: sa.remote,
            lifetimes: ChildLifetimes {
                rekey_time: cfg.rekey_time,
                life_time: cfg.life_time,
            },
            initiator: exchange_initiator,
            rekey_of,
            outbound: rekey_of.is_none(),
        })));
    Ok(())
}

/// The initiator's side of a response that should create the CHILD SA `p`.
/// Failures are reported as CHILD SA failures; the IKE SA stays.
#[allow(clippy::too_many_arguments)]
pub(crate) fn complete(
    sa: &mut IkeSa,
    ctx: &mut Ctx<'_>,
    p: Proposed,
    payloads: &[Payload<'_>],
    ni: &[u8],
    nr: &[u8],
    g_ir: Option<&SecretBytes>,
    phase: Phase,
    rekey_of: Option<u32>,
) -> Option<u32> {
    let conn = sa.conn.clone();
    let cfg = conn.children.get(p.child)?;
    let checked = check_response(&p, cfg, payloads, phase).and_then(|r| pfs_checked(r, g_ir));
    match checked {
        Ok((spi_out, suite, tsi, tsr)) => {
            match install(
                sa,
                ctx,
                cfg,
                p.spi_in,
                spi_out,
                suite,
                tsi,
                tsr,
                ni,
                nr,
                g_ir,
                &[],
                true,
                rekey_of,
            ) {
                Ok(()) => Some(p.spi_in),
                Err(cause) => {
                    ctx.sh.child_spis.remove(&p.spi_in);
                    sa.fail_child(ctx, phase, cause, true, &cfg.name);
                    None
                }
            }
        }
        Err(cause) => {
            ctx.sh.child_spis.remove(&p.spi_in);
            sa.fail_child(ctx, phase, cause, true, &cfg.name);
            None
        }
    }
}

/// What the responder chose and its selectors: (its SPI, suite, TSi, TSr).
type Chosen = (u32, EspSuite, Vec<TrafficSelector>, Vec<TrafficSelector>);

/// PFS: a chosen proposal with a group needs the response's KE (`g_ir` made from it).
fn pfs_checked(r: Chosen, g_ir: Option<&SecretBytes>) -> Result<Chosen, Cause> {
    match r.1.dh {
        Some(g) if g_ir.is_none() => Err(Cause::PfsKeMissing(g)),
        _ => Ok(r),
    }
}

/// What the responder chose, checked against what we proposed.
fn check_response(
    p: &Proposed,
    cfg: &ChildConfig,
    payloads: &[Payload<'_>],
    phase: Phase,
) -> Result<Chosen, Cause> {
    if let Some(err) = first_error(payloads) {
        return Err(match err.ty {
            NotifyType::NO_PROPOSAL_CHOSEN => Cause::PeerRejectedProposals {
                ours: cfg.esp_proposals.clone(),
            },
            NotifyType::TS_UNACCEPTABLE => Cause::PeerTsUnacceptable {
                local_ts: p.tsi.clone(),
                remote_ts: p.tsr.clone(),
            },
            ty => Cause::PeerNotify(ty),
        });
    }
    let sa_payload = find(payloads, |x| match x {
        Payload::Sa(s) => Some(s),
        _ => None,
    });
    let tsi = find(payloads, |x| match x {
        Payload::TsI(t) => Some(from_wire(t)),
        _ => None,
    });
    let tsr = find(payloads, |x| match x {
        Payload::TsR(t) => Some(from_wire(t)),
        _ => None,
    });
    let (Some(sa_payload), Some(tsi), Some(tsr)) = (sa_payload, tsi, tsr) else {
        return Err(Cause::Protocol(
            "the response creates no CHILD SA (SA, TSi or TSr missing)".into(),
        ));
    };
    let [chosen] = sa_payload.proposals.as_slice() else {
        return Err(Cause::Protocol(
            "the response must carry exactly one proposal".into(),
        ));
    };
    let chosen = Proposal::from_wire(chosen).map_err(Cause::UnsupportedAttribute)?;
    let spi_out = chosen
        .spi
        .as_slice()
        .try_into()
        .map(u32::from_be_bytes)
        .map_err(|_| Cause::Protocol("ESP proposal without a 4-octet SPI".into()))?;
    let selected = proposal::select_with(
        &cfg.esp_proposals,
        std::slice::from_ref(&chosen),
        SelectOptions {
            preference: Preference::PreferOurs,
            skip_dh: phase == Phase::IkeAuth,
            additional_ke: phase != Phase::IkeAuth,
        },
    )
    .map_err(Cause::NoProposalChosen)?;
    let suite = selected
        .esp_suite()
        .ok_or_else(|| Cause::Protocol("the chosen ESP proposal is incomplete".into()))?;
    let inside = |got: &[TrafficSelector], proposed: &[TrafficSelector]| {
        !got.is_empty() && got.iter().all(|g| proposed.iter().any(|q| q.contains(g)))
    };
    if !inside(&tsi, &p.tsi) || !inside(&tsr, &p.tsr) {
        return Err(Cause::TsNotSubset {
            proposed_local: p.tsi.clone(),
            proposed_remote: p.tsr.clone(),
            tsi,
            tsr,
        });
    }
    Ok((spi_out, suite, tsi, tsr))
}

/// What the responder accepted.
struct Accepted {
    child: usize,
    /// The selected proposal with our SPI.
    proposal: Proposal,
    spi_out: u32,
    suite: EspSuite,
    tsi: Vec<TrafficSelector>,
    tsr: Vec<TrafficSelector>,
}

/// Why the responder refused: the notify to answer and the cause to report.
struct Refused {
    notify: NotifyType,
    data: Vec<u8>,
    child: Option<String>,
    cause: Option<Cause>,
}

/// Responder: picks a child and a proposal for the initiator's SA/TSi/TSr.
fn choose(
    sa: &IkeSa,
    ctx: &mut Ctx<'_>,
    payloads: &[Payload<'_>],
    skip_dh: bool,
) -> Result<Accepted, Box<Refused>> {
    let syntax = || {
        Box::new(Refused {
            notify: NotifyType::INVALID_SYNTAX,
            data: Vec::new(),
            child: None,
            cause: Some(Cause::Protocol(
                "CHILD SA request without SA, TSi or TSr".into(),
            )),
        })
    };
    let sa_payload = find(payloads, |x| match x {
        Payload::Sa(s) => Some(s),
        _ => None,
    })
    .ok_or_else(syntax)?;
    let tsi = find(payloads, |x| match x {
        Payload::TsI(t) => Some(from_wire(t)),
        _ => None,
    })
    .ok_or_else(syntax)?;
    let tsr = find(payloads, |x| match x {
        Payload::TsR(t) => Some(from_wire(t)),
        _ => None,
    })
    .ok_or_else(syntax)?;
    let theirs: Vec<Proposal> = peer_proposals(sa_payload)
        .into_iter()
        .filter(|p| p.protocol == ProtocolId::ESP)
        .collect();
    let conn = &sa.conn;
    let mut no_proposal: Option<(usize, Box<proposal::NoProposalChosen>)> = None;
    for (i, cfg) in conn.children.iter().enumerate() {
        let local = resolve(&cfg.local_ts, sa.local.ip());
        let remote = resolve(&cfg.remote_ts, sa.remote.ip());
        let Some((tsi_n, tsr_n)) = narrow_pair(&local, &remote, &tsi, &tsr) else {
            continue;
        };
        let options = SelectOptions {
            preference: Preference::PreferOurs,
            skip_dh,
            additional_ke: !skip_dh,
        };
        match proposal::select_with(&cfg.esp_proposals, &theirs, options) {
            Ok(selected) => {
                let Ok(spi_out) = <[u8; 4]>::try_from(selected.spi.as_slice()) else {
                    return Err(Box::new(Refused {
                        notify: NotifyType::INVALID_SYNTAX,
                        data: Vec::new(),
                        child: Some(cfg.name.clone()),
                        cause: Some(Cause::Protocol("ESP proposal without a 4-octet SPI".into())),
                    }));
                };
                let Some(suite) = selected.esp_suite() else {
                    continue;
                };
                let spi_in = ctx.sh.new_child_spi();
                return Ok(Accepted {
                    child: i,
                    proposal: selected.with_spi(spi_in.to_be_bytes().to_vec()),
                    spi_out: u32::from_be_bytes(spi_out),
                    suite,
                    tsi: tsi_n,
                    tsr: tsr_n,
                });
            }
            Err(e) => {
                if no_proposal.is_none() {
                    no_proposal = Some((i, e));
                }
            }
        }
    }
    if let Some((i, e)) = no_proposal {
        return Err(Box::new(Refused {
            notify: NotifyType::NO_PROPOSAL_CHOSEN,
            data: Vec::new(),
            child: conn.children.get(i).map(|c| c.name.clone()),
            cause: Some(Cause::NoProposalChosen(e)),
        }));
    }
    let (local_ts, remote_ts) = conn.children.first().map_or_else(
        || (Vec::new(), Vec::new()),
        |c| {
            (
                resolve(&c.local_ts, sa.local.ip()),
                resolve(&c.remote_ts, sa.remote.ip()),
            )
        },
    );
    Err(Box::new(Refused {
        notify: NotifyType::TS_UNACCEPTABLE,
        data: Vec::new(),
        child: None,
        cause: Some(Cause::TsUnacceptable {
            local_ts,
            remote_ts,
            peer_tsi: tsi,
            peer_tsr: tsr,
        }),
    }))
}

/// The responder's CHILD SA inside IKE_AUTH: SA, TSi, TSr appended to `resp`, or an
/// error notify.
pub(crate) fn respond(
    sa: &mut IkeSa,
    ctx: &mut Ctx<'_>,
    payloads: &[Payload<'_>],
    resp: &mut Chain,
    ni: &[u8],
    nr: &[u8],
    phase: Phase,
) {
    match choose(sa, ctx, payloads, true) {
        Ok(a) => {
            let conn = sa.conn.clone();
            let Some(cfg) = conn.children.get(a.child) else {
                return;
            };
            let built = resp
                .push(&Payload::Sa(wire::Sa {
                    proposals: vec![a.proposal.to_wire()],
                }))
                .and_then(|()| push_ts(resp, &a.tsi, &a.tsr));
            let spi_in = spi_of(&a.proposal);
            let r = built.and_then(|()| {
                install(
                    sa,
                    ctx,
                    cfg,
                    spi_in,
                    a.spi_out,
                    a.suite,
                    a.tsr.clone(),
                    a.tsi.clone(),
                    ni,
                    nr,
                    None,
                    &[],
                    false,
                    None,
                )
            });
            if let Err(cause) = r {
                ctx.sh.child_spis.remove(&spi_in);
                sa.fail_child(ctx, phase, cause, false, &cfg.name);
            }
        }
        Err(r) => refuse(sa, ctx, resp, *r, phase),
    }
}

fn spi_of(p: &Proposal) -> u32 {
    p.spi
        .as_slice()
        .try_into()
        .map(u32::from_be_bytes)
        .unwrap_or(0)
}

fn refuse(sa: &IkeSa, ctx: &mut Ctx<'_>, resp: &mut Chain, r: Refused, phase: Phase) {
    let _ = resp.notify(r.notify, &r.data);
    if let Some(cause) = r.cause {
        let f = sa.failure(phase, cause, false, r.child, true);
        ctx.sh.event(Event::Failed(f));
    }
}

/// The responder's side of CREATE_CHILD_SA.
pub(crate) fn process_request(
    sa: &mut IkeSa,
    ctx: &mut Ctx<'_>,
    payloads: &[Payload<'_>],
    resp: &mut Chain,
) {
    // A new request from the peer: any sequence of additional key exchanges it left
    // unfinished is over (it sends one request at a time).
    super::followup_ke::abandon(sa, ctx);
    if super::ike_rekey::rekeys_ike_sa(payloads) {
        if super::ike_rekey::process_request(sa, ctx, payloads, resp) {
            return;
        }
        ctx.sh.stats.rekeys_refused += 1;
        let _ = resp.notify(NotifyType::NO_ADDITIONAL_SAS, &[]);
        return;
    }
    let rekey_of = match find_notify(payloads, NotifyType::REKEY_SA) {
        Some(n) => match super::child_rekey::check_request(sa, ctx, n, resp) {
            Some(old) => Some(old),
            None => return,
        },
        None => None,
    };
    if rekey_of.is_some() && ctx.sh.faults.refuse_child_rekey() {
        let _ = resp.notify(NotifyType::NO_PROPOSAL_CHOSEN, &[]);
        return;
    }
    if rekey_of.is_none() && ctx.sh.faults.busy_child_create() {
        let _ = resp.notify(NotifyType::TEMPORARY_FAILURE, &[]);
        return;
    }
    let Some(ni) = find(payloads, |p| match p {
        Payload::Nonce(n) => Some(n.data.to_vec()),
        _ => None,
    }) else {
        let _ = resp.notify(NotifyType::INVALID_SYNTAX, &[]);
        return;
    };
    let ke = find(payloads, |p| match p {
        Payload::Ke(k) => Some(k),
        _ => None,
    });
    let a = match choose(sa, ctx, payloads, false) {
        Ok(a) => a,
        Err(r) => return refuse(sa, ctx, resp, *r, Phase::CreateChildSa),
    };
    let spi_in = spi_of(&a.proposal);
    let conn = sa.conn.clone();
    let Some(cfg) = conn.children.get(a.child) else {
        return;
    };
    // PFS (RFC 7296 section 1.3.1): a KE of the selected group.
    // (method, our KE data, shared secret)
    let mut dh_and_secret: Option<(crate::wire::DhGroup, Vec<u8>, SecretBytes)> = None;
    if let Some(group) = a.suite.dh {
        let ke = match ke {
            Some(k) if k.group == group => k,
            _ => {
                ctx.sh.child_spis.remove(&spi_in);
                ctx.sh.stats.invalid_ke_sent += 1;
                let _ = resp.notify(NotifyType::INVALID_KE_PAYLOAD, &group.0.to_be_bytes());
                return;
            }
        };
        ctx.sh.stats.dh_computations += 1;
        match ke::respond(group, ke.data, &mut ctx.sh.rng) {
            Ok((data, secret)) => dh_and_secret = Some((group, data, secret)),
            Err(e) => {
                ctx.sh.child_spis.remove(&spi_in);
                let _ = resp.notify(NotifyType::NO_PROPOSAL_CHOSEN, &[]);
                sa.fail_child(
                    ctx,
                    Phase::CreateChildSa,
                    Cause::InvalidKe(e),
                    false,
                    &cfg.name,
                );
                return;
            }
        }
    }
    let nr = nonce(ctx);
    let pending = PendingChild {
        child: a.child,
        spi_in,
        spi_out: a.spi_out,
        suite: a.suite,
        local_ts: a.tsr.clone(),
        remote_ts: a.tsi.clone(),
        rekey_of,
    };
    // RFC 9370: with additional key exchanges nothing is installed before the last
    // IKE_FOLLOWUP_KE; the response links to the first of them.
    let (followup, pending) = match &dh_and_secret {
        Some((_, _, secret)) if a.suite.additional().next().is_some() => (
            Some(Box::new(Passive::new(
                Pending::Child(pending),
                ni.clone(),
                nr.clone(),
                secret.clone(),
                a.suite.additional(),
                ctx,
            ))),
            None,
        ),
        _ => (None, Some(pending)),
    };
    let built = (|| -> Result<(), Cause> {
        resp.push(&Payload::Sa(wire::Sa {
            proposals: vec![a.proposal.to_wire()],
        }))?;
        resp.push(&Payload::Nonce(Nonce { data: &nr }))?;
        if let Some((group, data, _)) = &dh_and_secret {
            resp.push(&Payload::Ke(Ke {
                group: *group,
                data,
            }))?;
        }
        push_ts(resp, &a.tsi, &a.tsr)?;
        match &followup {
            Some(f) => f.push_link(resp),
            None => Ok(()),
        }
    })();
    if let Err(cause) = built {
        ctx.sh.child_spis.remove(&spi_in);
        sa.fail_child(ctx, Phase::CreateChildSa, cause, false, &cfg.name);
        return;
    }
    if let Some(f) = followup {
        sa.followup = Some(f);
    }
    if let Some(pending) = pending {
        let g_ir = dh_and_secret.as_ref().map(|(_, _, s)| s);
        install_responder(sa, ctx, pending, &ni, &nr, g_ir, &[]);
    }
}

/// The responder installs the CHILD SA a CREATE_CHILD_SA (and its IKE_FOLLOWUP_KE
/// exchanges, `additional` their secrets) agreed.
pub(crate) fn install_responder(
    sa: &mut IkeSa,
    ctx: &mut Ctx<'_>,
    c: PendingChild,
    ni: &[u8],
    nr: &[u8],
    g_ir: Option<&SecretBytes>,
    additional: &[SecretBytes],
) {
    let conn = sa.conn.clone();
    let Some(cfg) = conn.children.get(c.child) else {
        ctx.sh.child_spis.remove(&c.spi_in);
        return;
    };
    let r = install(
        sa,
        ctx,
        cfg,
        c.spi_in,
        c.spi_out,
        c.suite,
        c.local_ts,
        c.remote_ts,
        ni,
        nr,
        g_ir,
        additional,
        false,
        c.rekey_of,
    );
    match r {
        Ok(()) => {
            if let Some(old) = c.rekey_of {
                super::child_rekey::responder_installed(sa, old, c.spi_in, ni, nr);
            }
        }
        Err(cause) => {
            ctx.sh.child_spis.remove(&c.spi_in);
            sa.fail_child(ctx, Phase::CreateChildSa, cause, false, &cfg.name);
        }
    }
}

/// A random duration in `[0, max]` from the endpoint's seeded RNG (rekey jitter).
pub(crate) fn random_duration(rng: &mut impl rand_core::RngCore, max: Duration) -> Duration {
    let ms = u64::try_from(max.as_millis()).unwrap_or(u64::MAX);
    if ms == 0 {
        return Duration::ZERO;
    }
    Duration::from_millis(rng.next_u64() % (ms + 1))
}

/// The initiator's CREATE_CHILD_SA task for a new CHILD SA.
#[derive(Debug)]
pub(crate) struct ChildCreate {
    child: usize,
    /// A DH group the responder asked for (INVALID_KE_PAYLOAD).
    group: Option<DhGroup>,
    proposed: Option<Proposed>,
    nonce: Vec<u8>,
    dh: Option<KeInitiator>,
    retries: u32,
    /// Rekeying: the inbound SPI of the CHILD SA replaced (sent in N(REKEY_SA)).
    pub(crate) rekey: Option<u32>,
    /// After the response: the inbound SPI of the CHILD SA installed, and the
    /// responder's nonce.
    pub(crate) installed: Option<u32>,
    pub(crate) nr: Vec<u8>,
    /// INVALID_KE_PAYLOAD: a new task with the requested group was queued.
    pub(crate) retried: bool,
    /// After a CREATE_CHILD_SA response that agreed on additional key exchanges:
    /// what it agreed and the IKE_FOLLOWUP_KE exchanges in progress.
    followup: Option<Box<(Agreed, Followups)>>,
}

/// What a CREATE_CHILD_SA response agreed on, kept until the last IKE_FOLLOWUP_KE.
#[derive(Debug)]
struct Agreed {
    proposed: Proposed,
    chosen: Chosen,
    g_ir: SecretBytes,
}

impl ChildCreate {
    pub(crate) fn new(child: usize) -> Self {
        Self {
            child,
            group: None,
            proposed: None,
            nonce: Vec::new(),
            dh: None,
            retries: 0,
            rekey: None,
            installed: None,
            nr: Vec::new(),
            retried: false,
            followup: None,
        }
    }

    /// Whether its next request (or the one in flight) is an IKE_FOLLOWUP_KE.
    pub(crate) fn in_followup(&self) -> bool {
        self.followup.is_some()
    }

    pub(crate) fn nonce(&self) -> &[u8] {
        &self.nonce
    }

    pub(crate) fn reserved_spi(&self) -> Option<u32> {
        match &self.followup {
            Some(f) => Some(f.0.proposed.spi_in),
            None => self.proposed.as_ref().map(|p| p.spi_in),
        }
    }

    /// Gives up the additional key exchanges before the next one is sent (a lost
    /// collision): the SPI is released, nothing is installed.
    pub(crate) fn abort_followup(&mut self, ctx: &mut Ctx<'_>) {
        if let Some(f) = self.followup.take() {
            ctx.sh.child_spis.remove(&f.0.proposed.spi_in);
        }
    }

    pub(crate) fn build(
        &mut self,
        sa: &mut IkeSa,
        ctx: &mut Ctx<'_>,
    ) -> Result<Option<Chain>, Cause> {
        if !sa.is_established() {
            return Ok(None);
        }
        if let Some(f) = &mut self.followup {
            return f.1.build(ctx).map(Some);
        }
        let p = propose(sa, ctx, self.child)?;
        let cfg = &sa.conn.children[self.child];
        let group = self
            .group
            .or_else(|| proposal::first_dh_group(&cfg.esp_proposals));
        self.dh = match group {
            Some(g) => Some(KeInitiator::start(g, &mut ctx.sh.rng).map_err(Cause::LocalDh)?),
            None => None,
        };
        self.nonce = nonce(ctx);
        let mut c = Chain::new();
        if let Some(old) = self.rekey {
            // RFC 7296 section 1.3.3: the SPI is our inbound SPI of the SA rekeyed.
            c.push(&Payload::Notify(wire::Notify::with_spi(
                ProtocolId::ESP,
                &old.to_be_bytes(),
                NotifyType::REKEY_SA,
                &[],
            )))?;
        }
        p.push_sa(&mut c)?;
        c.push(&Payload::Nonce(Nonce { data: &self.nonce }))?;
        if let Some(dh) = &self.dh {
            c.push(&Payload::Ke(Ke {
                group: dh.method(),
                data: dh.public_value(),
            }))?;
        }
        p.push_ts(&mut c)?;
        self.proposed = Some(p);
        Ok(Some(c))
    }

    pub(crate) fn process_response(
        &mut self,
        sa: &mut IkeSa,
        ctx: &mut Ctx<'_>,
        payloads: &[Payload<'_>],
    ) -> Outcome {
        if self.followup.is_some() {
            return self.process_followup(sa, ctx, payloads);
        }
        let Some(p) = self.proposed.take() else {
            return Outcome::Done;
        };
        let conn = sa.conn.clone();
        let cfg = &conn.children[self.child];
        if let Some(group) =
            find_notify(payloads, NotifyType::INVALID_KE_PAYLOAD).and_then(|n| n.invalid_ke_group())
        {
            ctx.sh.child_spis.remove(&p.spi_in);
            if proposal::contains_dh_group(&cfg.esp_proposals, group) && self.retries < 5 {
                // Try again in a new exchange with the requested group.
                let mut again = ChildCreate::new(self.child);
                again.group = Some(group);
                again.retries = self.retries + 1;
                again.rekey = self.rekey;
                let task = match self.rekey {
                    Some(old) => {
                        Task::ChildRekey(Box::new(super::child_rekey::ChildRekey::with(old, again)))
                    }
                    None => Task::ChildCreate(Box::new(again)),
                };
                sa.queue.push_front(task);
                self.retried = true;
            } else {
                let cause = Cause::InvalidKeGroup {
                    requested: group,
                    ours: cfg.esp_proposals.clone(),
                };
                sa.fail_child(ctx, Phase::CreateChildSa, cause, true, &cfg.name);
            }
            return Outcome::Done;
        }
        let refused = first_error(payloads).map(|n| n.ty);
        if self.rekey.is_some()
            && matches!(
                refused,
                Some(NotifyType::TEMPORARY_FAILURE | NotifyType::CHILD_SA_NOT_FOUND)
            )
        {
            // Collision outcomes, not failures: the rekey task decides what follows.
            ctx.sh.child_spis.remove(&p.spi_in);
            return Outcome::Done;
        }
        if self.rekey.is_none() && refused == Some(NotifyType::TEMPORARY_FAILURE) {
            // The peer is busy (rekeying, deleting; RFC 7296 section 2.25): try again
            // later, as strongSwan's `schedule_delayed_retry` does. Not a failure.
            ctx.sh.child_spis.remove(&p.spi_in);
            let at = ctx.now + super::rekey_retry_delay(&mut ctx.sh.rng);
            sa.child_retries.push((at, self.child));
            return Outcome::Done;
        }
        let nr = find(payloads, |x| match x {
            Payload::Nonce(n) => Some(n.data.to_vec()),
            _ => None,
        });
        let ke = find(payloads, |x| match x {
            Payload::Ke(k) => Some(k),
            _ => None,
        });
        let shared = match (&self.dh, ke) {
            (Some(dh), Some(ke)) if ke.group == dh.method() => {
                ctx.sh.stats.dh_computations += 1;
                Some(dh.finish(ke.data))
            }
            _ => None,
        };
        let g_ir = match shared {
            Some(shared) => match shared {
                Ok(s) => Some(s),
                Err(e) => {
                    ctx.sh.child_spis.remove(&p.spi_in);
                    let cause = Cause::InvalidKe(e);
                    sa.fail_child(ctx, Phase::CreateChildSa, cause, true, &cfg.name);
                    return Outcome::Done;
                }
            },
            _ => None,
        };
        let ni = self.nonce.clone();
        let nr = match nr {
            Some(nr) => nr,
            None if first_error(payloads).is_some() => Vec::new(),
            None => {
                ctx.sh.child_spis.remove(&p.spi_in);
                let cause = Cause::Protocol("CREATE_CHILD_SA response without a nonce".into());
                sa.fail_child(ctx, Phase::CreateChildSa, cause, true, &cfg.name);
                return Outcome::Done;
            }
        };
        self.nr = nr.clone();
        let chosen = check_response(&p, cfg, payloads, Phase::CreateChildSa)
            .and_then(|r| pfs_checked(r, g_ir.as_ref()));
        let (chosen, g_ir) = match (chosen, g_ir) {
            (Ok(chosen), Some(g_ir)) if chosen.1.additional().next().is_some() => (chosen, g_ir),
            (chosen, g_ir) => {
                self.installed = match chosen {
                    Ok((spi_out, suite, tsi, tsr)) => {
                        let r = install(
                            sa,
                            ctx,
                            cfg,
                            p.spi_in,
                            spi_out,
                            suite,
                            tsi,
                            tsr,
                            &ni,
                            &nr,
                            g_ir.as_ref(),
                            &[],
                            true,
                            self.rekey,
                        );
                        self.installed_or_failed(sa, ctx, p.spi_in, r)
                    }
                    Err(cause) => self.installed_or_failed(sa, ctx, p.spi_in, Err(cause)),
                };
                return Outcome::Done;
            }
        };
        // RFC 9370: the additional key exchanges follow at once, in IKE_FOLLOWUP_KE.
        match Followups::start(chosen.1.additional(), payloads) {
            Ok(f) => {
                let agreed = Agreed {
                    proposed: p,
                    chosen,
                    g_ir,
                };
                self.followup = Some(Box::new((agreed, f)));
                Outcome::Continue
            }
            Err(cause) => {
                self.installed = self.installed_or_failed(sa, ctx, p.spi_in, Err(cause));
                Outcome::Done
            }
        }
    }

    /// The SPI of the CHILD SA installed, or `None` after reporting why not.
    fn installed_or_failed(
        &self,
        sa: &mut IkeSa,
        ctx: &mut Ctx<'_>,
        spi_in: u32,
        r: Result<(), Cause>,
    ) -> Option<u32> {
        match r {
            Ok(()) => Some(spi_in),
            Err(cause) => {
                ctx.sh.child_spis.remove(&spi_in);
                let name = sa.conn.children[self.child].name.clone();
                sa.fail_child(ctx, Phase::CreateChildSa, cause, true, &name);
                None
            }
        }
    }

    /// The response to one of our IKE_FOLLOWUP_KE requests.
    fn process_followup(
        &mut self,
        sa: &mut IkeSa,
        ctx: &mut Ctx<'_>,
        payloads: &[Payload<'_>],
    ) -> Outcome {
        let Some(mut f) = self.followup.take() else {
            return Outcome::Done;
        };
        match f.1.process_response(ctx, payloads) {
            Ok(Step::More) => {
                self.followup = Some(f);
                Outcome::Continue
            }
            Ok(Step::Done) => {
                let (agreed, followups) = *f;
                let Agreed {
                    proposed,
                    chosen: (spi_out, suite, tsi, tsr),
                    g_ir,
                } = agreed;
                let conn = sa.conn.clone();
                let cfg = &conn.children[self.child];
                let r = install(
                    sa,
                    ctx,
                    cfg,
                    proposed.spi_in,
                    spi_out,
                    suite,
                    tsi,
                    tsr,
                    &self.nonce,
                    &self.nr,
                    Some(&g_ir),
                    &followups.rounds.secrets,
                    true,
                    self.rekey,
                );
                self.installed = self.installed_or_failed(sa, ctx, proposed.spi_in, r);
                Outcome::Done
            }
            Err(Cause::AdditionalKe {
                problem: AddKeProblem::Refused(NotifyType::TEMPORARY_FAILURE),
                ..
            }) => {
                // The peer is busy: as after a TEMPORARY_FAILURE to the CREATE_CHILD_SA
                // request, not a failure. A new CHILD SA is asked for again later; a
                // rekey is retried by its task (child_rekey).
                ctx.sh.child_spis.remove(&f.0.proposed.spi_in);
                if self.rekey.is_none() {
                    let at = ctx.now + super::rekey_retry_delay(&mut ctx.sh.rng);
                    sa.child_retries.push((at, self.child));
                }
                Outcome::Done
            }
            Err(cause) => {
                self.installed = self.installed_or_failed(sa, ctx, f.0.proposed.spi_in, Err(cause));
                Outcome::Done
            }
        }
    }
}
