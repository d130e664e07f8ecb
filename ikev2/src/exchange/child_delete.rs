//! Deleting CHILD SAs (RFC 7296 sections 1.4.1; strongSwan `child_delete.c`):
//! INFORMATIONAL with D(ESP, our inbound SPIs); the peer answers with its own.
//!
//! A rekeyed SA's inbound half stays installed `delete_rekeyed_delay` after the
//! exchange (packets still in flight); a redundant SA of a lost collision, or one
//! past its hard lifetime, goes at once. The responder's side is in
//! [`super::informational::process_request`].

use crate::error::Cause;
use crate::ike_sa::ctx::Ctx;
use crate::ike_sa::{ChildState, IkeSa};
use crate::wire::{Delete, Payload};

use super::{Chain, Outcome};

/// Why we delete a CHILD SA.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Why {
    /// Replaced by a rekey: keep its inbound SA a little longer.
    Rekeyed,
    /// The redundant SA of a lost rekey collision, or a command.
    Redundant,
    /// Already removed here (hard lifetime): just tell the peer.
    Expired,
}

#[derive(Debug)]
pub(crate) struct ChildDelete {
    pub(crate) spi_in: u32,
    why: Why,
}

impl ChildDelete {
    pub(crate) fn rekeyed(spi_in: u32) -> Self {
        Self {
            spi_in,
            why: Why::Rekeyed,
        }
    }

    pub(crate) fn redundant(spi_in: u32) -> Self {
        Self {
            spi_in,
            why: Why::Redundant,
        }
    }

    pub(crate) fn expired(spi_in: u32) -> Self {
        Self {
            spi_in,
            why: Why::Expired,
        }
    }

    pub(crate) fn build(
        &mut self,
        sa: &mut IkeSa,
        _ctx: &mut Ctx<'_>,
    ) -> Result<Option<Chain>, Cause> {
        if self.why != Why::Expired {
            match sa.child_mut(self.spi_in) {
                Some(c) if !matches!(c.state, ChildState::Lingering(_)) => {
                    c.state = ChildState::Deleting;
                    c.rekey_at = None;
                }
                // The peer deleted it meanwhile.
                _ => return Ok(None),
            }
        }
        let mut c = Chain::new();
        c.push(&Payload::Delete(Delete::esp(vec![self.spi_in])))?;
        Ok(Some(c))
    }

    pub(crate) fn process_response(
        &mut self,
        sa: &mut IkeSa,
        ctx: &mut Ctx<'_>,
        _payloads: &[Payload<'_>],
    ) -> Outcome {
        match self.why {
            Why::Rekeyed => sa.retire_rekeyed(ctx, self.spi_in),
            Why::Redundant => {
                sa.remove_child(ctx, self.spi_in);
            }
            Why::Expired => {}
        }
        Outcome::Done
    }
}
