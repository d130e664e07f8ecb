//! IKE SA rekey adoption (RFC 7296 section 2.18): once a rekey exchange is complete,
//! the IKE SA switches to the new SPIs, keys and message IDs and keeps its CHILD SAs;
//! the old incarnation, and any new SA that lost a collision (section 2.8.2), is split
//! off as a ghost that deletes itself or waits for the peer's Delete. The exchange
//! itself is in `exchange/ike_rekey.rs`; this never sends a request of its own except
//! a ghost's Delete.

use super::ctx::{Action, Ctx};
use super::{IkeSa, SaCrypto, State};
use crate::event::Event;
use crate::exchange::{self, Task};
use crate::wire::IkeSpi;

/// The new IKE SA of a rekey (RFC 7296 section 2.18), before it replaces the old.
#[derive(Debug)]
pub(crate) struct NewIke {
    pub spi_i: IkeSpi,
    pub spi_r: IkeSpi,
    /// We initiated the rekey exchange, so we are the new SA's original initiator.
    pub initiator: bool,
    pub crypto: SaCrypto,
    pub ni: Vec<u8>,
    pub nr: Vec<u8>,
    /// The lower nonce of the exchange (collisions, section 2.8.2).
    pub min_nonce: Vec<u8>,
}

impl IkeSa {
    /// A ghost SA from a new IKE SA's keys (a redundant SA of a collision).
    fn ghost_of(&self, ctx: &mut Ctx<'_>, n: NewIke, delete: bool) -> IkeSa {
        let mut g = IkeSa::new(
            self.id,
            self.conn.clone(),
            n.initiator,
            n.spi_i,
            n.spi_r,
            self.local,
            self.remote,
            ctx.now,
        );
        g.crypto = Some(n.crypto);
        self.ghost_common(ctx, g, delete)
    }

    fn ghost_common(&self, ctx: &mut Ctx<'_>, mut g: IkeSa, delete: bool) -> IkeSa {
        g.ghost = true;
        g.state = State::Rekeyed;
        g.local_id = self.local_id.clone();
        g.remote_id = self.remote_id.clone();
        g.nat = self.nat;
        g.nat_t = self.nat_t;
        g.peer_fragmentation = self.peer_fragmentation;
        if delete {
            g.queue.push_back(Task::Informational(
                exchange::informational::Informational::DeleteIke,
            ));
            g.start_next(ctx);
        }
        g
    }

    /// Switches to the new IKE SA of a rekey: new SPIs, keys and message IDs, the
    /// same CHILD SAs. The old incarnation becomes a ghost that deletes itself
    /// (`delete_old`) or waits for the peer's Delete.
    fn adopt(&mut self, ctx: &mut Ctx<'_>, n: NewIke, delete_old: bool) {
        let old_spi = self.our_spi();
        let (old_i, old_r) = (self.spi_i, self.spi_r);
        let mut g = IkeSa::new(
            self.id,
            self.conn.clone(),
            self.initiator,
            self.spi_i,
            self.spi_r,
            self.local,
            self.remote,
            ctx.now,
        );
        g.crypto = self.crypto.take();
        g.requests = core::mem::take(&mut self.requests);
        g.responses = core::mem::take(&mut self.responses);
        g.reassembly_requests = core::mem::take(&mut self.reassembly_requests);
        g.reassembly_responses = core::mem::take(&mut self.reassembly_responses);
        if g.requests.outstanding.is_some() {
            // A request of ours on the old SA (a rekey that lost): it ends there.
            g.active = self.active.take();
        }
        let g = self.ghost_common(ctx, g, delete_old && !self.old_deleted);
        self.spi_i = n.spi_i;
        self.spi_r = n.spi_r;
        self.initiator = n.initiator;
        self.crypto = Some(n.crypto);
        self.ni = n.ni;
        self.nr = n.nr;
        self.peer_ike_rekey = None;
        self.schedule_ike_rekey(ctx);
        self.export_keys(ctx);
        ctx.sh
            .event(Event::IkeSaRekeyed(crate::event::IkeSaRekeyed {
                conn: self.conn.name.clone(),
                ike_sa: self.id,
                old_spi_i: old_i,
                old_spi_r: old_r,
                spi_i: self.spi_i,
                spi_r: self.spi_r,
            }));
        ctx.sh.actions.push(Action::Respi {
            id: self.id,
            old: old_spi,
            new: self.our_spi(),
        });
        if !self.old_deleted {
            ctx.sh.actions.push(Action::AddSa(Box::new(g)));
        }
        self.old_deleted = false;
    }

    /// After an exchange: switch to a new IKE SA and split off ghosts, if a rekey
    /// asked for it.
    pub(crate) fn finish_rekey(&mut self, ctx: &mut Ctx<'_>) {
        for (n, delete) in core::mem::take(&mut self.extra_ghosts) {
            let g = self.ghost_of(ctx, n, delete);
            ctx.sh.actions.push(Action::AddSa(Box::new(g)));
        }
        if let Some((n, delete_old)) = self.pending_adopt.take() {
            self.adopt(ctx, *n, delete_old);
        }
    }
}
