//! INFORMATIONAL exchanges (RFC 7296 sections 1.4, 1.5, 2.4; strongSwan
//! `ike_delete.c`, `child_delete.c`, `ike_dpd.c`): deleting the IKE SA or CHILD SAs,
//! liveness checks, and the AUTHENTICATION_FAILED notification of section 2.21.2.

use crate::error::{Cause, Phase};
use crate::event::DownReason;
use crate::ike_sa::ctx::{Action, Ctx};
use crate::ike_sa::{ChildState, IkeSa, State};
use crate::wire::{Delete, NotifyType, Payload, ProtocolId};

use super::{Chain, Outcome, has_notify};

/// The INFORMATIONAL requests we send.
#[derive(Debug)]
pub(crate) enum Informational {
    /// Delete the IKE SA (and with it every CHILD SA).
    DeleteIke,
    /// An empty request: is the peer alive?
    Dpd,
}

impl Informational {
    pub(crate) fn build(&mut self, sa: &mut IkeSa, _ctx: &mut Ctx<'_>) -> Result<Chain, Cause> {
        let mut c = Chain::new();
        match self {
            Informational::DeleteIke => {
                sa.state = State::Deleting;
                c.push(&Payload::Delete(Delete::ike()))?;
            }
            Informational::Dpd => {}
        }
        Ok(c)
    }

    pub(crate) fn process_response(
        &mut self,
        _sa: &mut IkeSa,
        _ctx: &mut Ctx<'_>,
        _payloads: &[Payload<'_>],
    ) -> Outcome {
        match self {
            Informational::DeleteIke => Outcome::Deleted,
            Informational::Dpd => Outcome::Done,
        }
    }
}

/// The responder's side: deletes and notifications from the peer.
pub(crate) fn process_request(
    sa: &mut IkeSa,
    ctx: &mut Ctx<'_>,
    payloads: &[Payload<'_>],
    resp: &mut Chain,
) {
    if has_notify(payloads, NotifyType::AUTHENTICATION_FAILED) {
        // The initiator could not verify our AUTH (RFC 7296 section 2.21.2).
        sa.fail(
            ctx,
            Phase::IkeAuth,
            Cause::PeerAuthenticationFailed {
                signed: matches!(sa.conn.local_auth, crate::config::LocalAuth::Pubkey(_)),
            },
            false,
            None,
        );
        return;
    }
    let mut ours = Vec::new();
    for p in payloads {
        let Payload::Delete(d) = p else { continue };
        match d.protocol {
            ProtocolId::IKE => {
                if let Some(theirs) = sa.peer_ike_rekey.take() {
                    // Colliding IKE rekeys, and the peer deletes the old SA: its new
                    // SA is the one that stays (RFC 7296 section 2.8.2).
                    sa.pending_adopt = Some((theirs, false));
                    sa.old_deleted = true;
                    return;
                }
                if sa.ghost {
                    sa.go_down(ctx, DownReason::Terminated);
                } else {
                    // Not if we were deleting it ourselves (crossing Deletes).
                    let closed = sa.was_up && sa.is_established();
                    sa.go_down(ctx, DownReason::DeletedByPeer);
                    if closed {
                        // `close_action` decides what follows.
                        ctx.sh.actions.push(Action::Reestablish {
                            conn: sa.conn.clone(),
                            closed: true,
                        });
                    }
                }
                return;
            }
            ProtocolId::ESP => {
                for spi in &d.spis {
                    // The peer names its inbound SPI, our outbound one.
                    let Some(c) = sa.children.iter().find(|c| {
                        c.spi_out == *spi && !matches!(c.state, ChildState::Lingering(_))
                    }) else {
                        continue;
                    };
                    let spi_in = c.spi_in;
                    if c.state == ChildState::Deleting {
                        // Deletes crossed (RFC 7296 section 1.4.1): ours completes it.
                        continue;
                    }
                    // A collision we have not resolved yet: the peer's replacement is
                    // the one it keeps, since it deletes the old SA.
                    let peer_new = c.peer_rekey.as_ref().map(|(n, _)| *n);
                    let rekeyed = c.state == ChildState::Rekeyed;
                    if let Some(n) = peer_new.and_then(|n| sa.child_mut(n)) {
                        n.pending_switch = Some(spi_in);
                    }
                    let replaced = peer_new.is_some()
                        || rekeyed
                        || sa.children.iter().any(|n| n.pending_switch == Some(spi_in));
                    if replaced {
                        // The old SA of a rekey: the replacement takes our outbound
                        // traffic now; the old inbound SA lingers a little.
                        sa.retire_rekeyed(ctx, spi_in);
                        ours.push(spi_in);
                    } else if sa.remove_child(ctx, spi_in).is_some() {
                        ours.push(spi_in);
                    }
                }
            }
            _ => {}
        }
    }
    if !ours.is_empty() {
        let _ = resp.push(&Payload::Delete(Delete::esp(ours)));
    }
}
