//! The CHILD SA records of an IKE SA: their states, and the moves that change which
//! of them carries our outbound traffic or is kept at all (retire after a rekey,
//! switch outbound, remove with its event). The exchanges that create, rekey and
//! delete them are in `exchange/`; nothing here sends a message.

use std::time::Instant;

use super::IkeSa;
use super::ctx::Ctx;
use crate::crypto::algorithms::EspSuite;
use crate::event::{ChildSaDeleted, Event};
use crate::status::ChildSaState;
use crate::ts::TrafficSelector;

/// Where a CHILD SA is in its life (strongSwan's `child_sa_state_t`, reduced).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ChildState {
    /// In use.
    Installed,
    /// Our rekey of it is in flight.
    Rekeying,
    /// Replaced by a rekey; waiting for the Delete (ours or the peer's).
    Rekeyed,
    /// Our Delete of it is in flight.
    Deleting,
    /// Deleted; the inbound SA lingers until then (`delete_rekeyed_delay`).
    Lingering(Instant),
}

/// A CHILD SA pair as the IKE SA remembers it.
#[derive(Debug, Clone)]
pub(crate) struct ChildSa {
    pub name: String,
    pub spi_in: u32,
    pub spi_out: u32,
    pub suite: EspSuite,
    pub local_ts: Vec<TrafficSelector>,
    pub remote_ts: Vec<TrafficSelector>,
    pub state: ChildState,
    /// When to start a rekey (`rekey_time` minus jitter); `None` once handled.
    pub rekey_at: Option<Instant>,
    /// Hard lifetime: removed then, rekeyed or not; `None` for `life_time = 0` (no
    /// hard lifetime, as in strongSwan).
    pub expire_at: Option<Instant>,
    /// A rekey replacement whose outbound is not used yet: the old inbound SPI.
    pub pending_switch: Option<u32>,
    /// Whether our outbound traffic uses this SA.
    pub outbound: bool,
    /// The peer rekeyed this SA while our own rekey of it was in flight (RFC 7296
    /// section 2.8.1): the inbound SPI of the peer's replacement and the lowest nonce
    /// of its exchange.
    pub peer_rekey: Option<(u32, Vec<u8>)>,
    /// A rekey of it failed and `rekey_at` is the retry: usage reports do not bring
    /// it forward (they repeat their soft limit every time).
    pub rekey_retry: bool,
}

impl ChildState {
    /// The state as status displays show it.
    pub(crate) fn status(&self) -> ChildSaState {
        match self {
            ChildState::Installed => ChildSaState::Installed,
            ChildState::Rekeying => ChildSaState::Rekeying,
            ChildState::Rekeyed => ChildSaState::Rekeyed,
            ChildState::Deleting => ChildSaState::Deleting,
            ChildState::Lingering(_) => ChildSaState::Lingering,
        }
    }
}

impl IkeSa {
    /// Our CHILD SA with inbound SPI `spi_in`.
    pub(crate) fn child_mut(&mut self, spi_in: u32) -> Option<&mut ChildSa> {
        self.children.iter_mut().find(|c| c.spi_in == spi_in)
    }

    /// Outbound traffic of the replacement of `old` (inbound SPI) starts; the old SA
    /// is deleted and lingers (its inbound SA still receives) for
    /// `delete_rekeyed_delay`.
    pub(crate) fn retire_rekeyed(&mut self, ctx: &mut Ctx<'_>, old: u32) {
        let linger = ctx.now + ctx.config.delete_rekeyed_delay;
        let Some(pos) = self.children.iter().position(|c| c.spi_in == old) else {
            return;
        };
        let old_spi_out = self.children[pos].spi_out;
        let was_outbound = self.children[pos].outbound;
        self.children[pos].state = ChildState::Lingering(linger);
        self.children[pos].outbound = false;
        self.children[pos].rekey_at = None;
        if let Some(new) = self
            .children
            .iter_mut()
            .find(|c| c.pending_switch == Some(old))
        {
            new.pending_switch = None;
            if was_outbound && !new.outbound {
                new.outbound = true;
                let e = crate::event::ChildSaOutboundSwitched {
                    conn: self.conn.name.clone(),
                    child: new.name.clone(),
                    ike_sa: self.id,
                    old_spi_out,
                    spi_in: new.spi_in,
                    spi_out: new.spi_out,
                };
                ctx.sh.event(Event::ChildSaOutboundSwitched(e));
            }
        }
    }

    /// Switches outbound traffic from `old` (inbound SPI) to `new`.
    pub(crate) fn switch_outbound(&mut self, ctx: &mut Ctx<'_>, old: u32, new: u32) {
        let old_spi_out = match self.child_mut(old) {
            Some(c) if c.outbound => {
                c.outbound = false;
                c.spi_out
            }
            Some(_) => return,
            // Gone meanwhile (hard lifetime, deleted by the peer): the new SA is all
            // there is.
            None => 0,
        };
        let conn = self.conn.name.clone();
        let id = self.id;
        if let Some(n) = self.child_mut(new) {
            n.pending_switch = None;
            n.outbound = true;
            let e = crate::event::ChildSaOutboundSwitched {
                conn,
                child: n.name.clone(),
                ike_sa: id,
                old_spi_out,
                spi_in: n.spi_in,
                spi_out: n.spi_out,
            };
            ctx.sh.event(Event::ChildSaOutboundSwitched(e));
        }
    }

    /// Removes a CHILD SA by our inbound SPI, reporting it.
    pub(crate) fn remove_child(&mut self, ctx: &mut Ctx<'_>, spi_in: u32) -> Option<ChildSa> {
        let pos = self.children.iter().position(|c| c.spi_in == spi_in)?;
        let c = self.children.remove(pos);
        ctx.sh.child_spis.remove(&c.spi_in);
        ctx.sh.event(Event::ChildSaDeleted(ChildSaDeleted {
            conn: self.conn.name.clone(),
            child: c.name.clone(),
            ike_sa: self.id,
            spi_in: c.spi_in,
            spi_out: c.spi_out,
        }));
        Some(c)
    }
}
