//! Reassembly of received SKF fragments (RFC 7383 section 2.6), one message at a
//! time per direction (a request from the peer and a response to ours can be in
//! flight together).
//!
//! Only fragments whose ICV verified get here, so a forged fragment cannot poison a
//! reassembly. Limits on count and memory come from
//! [`EndpointConfig::fragment_limits`](crate::config::EndpointConfig); an incomplete
//! message is dropped after `reassembly_timeout` without a new fragment.

use std::time::Instant;

use crate::crypto::sk::{Fragment, FragmentAssembler, FragmentLimits, Reassembly, SkPlaintext};

#[derive(Debug, Clone)]
pub(crate) struct Slot {
    msgid: u32,
    asm: FragmentAssembler,
    pub last: Instant,
}

/// What adding a fragment gave.
#[derive(Debug)]
pub(crate) enum Added {
    Complete(SkPlaintext),
    Pending,
    /// A limit was exceeded; everything held for this message is dropped.
    Error,
}

/// The reassembly state of one direction.
#[derive(Debug, Clone, Default)]
pub(crate) struct Reassembler {
    slot: Option<Slot>,
}

impl Reassembler {
    pub(crate) fn add(
        &mut self,
        now: Instant,
        limits: FragmentLimits,
        msgid: u32,
        fragment: Fragment,
    ) -> Added {
        let slot = match &mut self.slot {
            Some(s) if s.msgid == msgid => s,
            other => other.insert(Slot {
                msgid,
                asm: FragmentAssembler::new(limits),
                last: now,
            }),
        };
        slot.last = now;
        match slot.asm.add(fragment) {
            Ok(Reassembly::Complete(p)) => {
                self.slot = None;
                Added::Complete(p)
            }
            Ok(_) => Added::Pending,
            Err(_) => {
                self.slot = None;
                Added::Error
            }
        }
    }

    /// When the message being collected expires.
    pub(crate) fn deadline(&self, timeout: std::time::Duration) -> Option<Instant> {
        self.slot.as_ref().map(|s| s.last + timeout)
    }

    /// Drops an expired message; true if one was dropped.
    pub(crate) fn expire(&mut self, now: Instant, timeout: std::time::Duration) -> bool {
        if self.slot.as_ref().is_some_and(|s| s.last + timeout <= now) {
            self.slot = None;
            return true;
        }
        false
    }
}
