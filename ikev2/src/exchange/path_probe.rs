//! Path MTU probes (packetization-layer path MTU discovery in the spirit of RFC 8899,
//! for paths that drop ICMP): an INFORMATIONAL request padded to a chosen datagram
//! size, which the peer answers only if it arrived. The caller (the daemon's path MTU
//! search) picks the sizes and decides what the answers mean for the path.
//!
//! The padding is a Notify of a private-use status type (RFC 7296 section 3.10.1:
//! a receiver ignores status types it does not know; strongSwan answers such a request
//! with an empty response, as it does a liveness check). A probe is never fragmented
//! (RFC 7383 would defeat it).
//!
//! A lost probe must not block the message ID window or look like a dead peer: if no
//! answer came within [`PROBE_TIMEOUT`] (or the first retransmission interval, if
//! shorter), the request is sent again with the same message ID but without the
//! padding, and from then on retransmitted like any request. Either the peer got the
//! probe and answers from its cache, or it did not and answers the small request: the
//! window moves on either way, and a peer that answers neither is dead as for any
//! request. Only an answer before the small request went out counts as "it fits"; a
//! later one (the probe's answer lost, or the small request's) counts as "it did not",
//! which the search repeats before believing, as RFC 8899 section 5.1.2 does.

use core::time::Duration;

use crate::error::Cause;
use crate::event::{Event, PathProbed};
use crate::ike_sa::IkeSa;
use crate::ike_sa::ctx::Ctx;
use crate::wire::{Notify, NotifyType, Payload};

use super::{Chain, Outcome};

/// The private-use status notify that carries a probe's padding (RFC 7296 section
/// 3.10.1: 40960-65535 are private use; strongSwan's own private notifies sit at the
/// low end of that range).
pub(crate) const PATH_PROBE_PADDING: NotifyType = NotifyType(65001);

/// How long a probe waits for its answer before it is sent again unpadded.
pub(crate) const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// Octets a Notify payload without SPI adds to its data (generic payload header 4,
/// protocol, SPI size and type 4).
const NOTIFY_OVERHEAD: usize = 8;

/// One probe in flight or queued.
#[derive(Debug)]
pub(crate) struct PathProbe {
    /// The datagram size asked for: outer IP packet, headers included.
    pub(crate) target: usize,
    /// The outer IP packet size actually sent (the cipher's block size may not allow
    /// `target` exactly: the largest size not above it).
    pub(crate) sent: usize,
    /// Whether the unpadded request replaced the probe (no timely answer).
    pub(crate) replaced: bool,
}

impl PathProbe {
    pub(crate) fn new(target: usize) -> Self {
        Self {
            target,
            sent: 0,
            replaced: false,
        }
    }

    /// The smallest probe IKE SA `sa` can send (outer IP packet).
    pub(crate) fn smallest(sa: &IkeSa) -> Result<usize, Cause> {
        Ok(sa.message_len(NOTIFY_OVERHEAD)? + sa.datagram_overhead())
    }

    /// The padded request: one padding Notify whose data makes the protected message,
    /// plus the outer headers, as close to `target` as the cipher allows without
    /// exceeding it. `None` (nothing sent, no event) if `target` is below the smallest
    /// probe, which the command refuses beforehand.
    pub(crate) fn build(
        &mut self,
        sa: &mut IkeSa,
        ctx: &mut Ctx<'_>,
    ) -> Result<Option<Chain>, Cause> {
        let overhead = sa.datagram_overhead();
        let len = |data: usize| sa.message_len(NOTIFY_OVERHEAD + data).map(|m| m + overhead);
        let smallest = len(0)?;
        if smallest > self.target {
            return Ok(None);
        }
        // message_len grows with the data in block-sized steps: start at the exact
        // answer for a stream cipher and step down to the block boundary below it.
        let mut data = self.target - smallest;
        while data > 0 && len(data)? > self.target {
            data -= 1;
        }
        self.sent = len(data)?;
        let padding = vec![0u8; data];
        let mut c = Chain::new();
        c.push(&Payload::Notify(Notify::new(PATH_PROBE_PADDING, &padding)))?;
        ctx.sh.stats.path_probes_sent += 1;
        Ok(Some(c))
    }

    pub(crate) fn process_response(&mut self, sa: &mut IkeSa, ctx: &mut Ctx<'_>) -> Outcome {
        let fits = !self.replaced;
        if fits {
            ctx.sh.stats.path_probes_answered += 1;
        }
        ctx.sh.event(Event::PathProbed(PathProbed {
            conn: sa.conn.name.clone(),
            ike_sa: sa.id,
            size: self.sent,
            fits,
        }));
        Outcome::Done
    }
}
