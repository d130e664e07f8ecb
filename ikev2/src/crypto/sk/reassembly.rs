//! Reassembly of a message from its decrypted SKF fragments (RFC 7383 section 2.6),
//! within limits on the fragment count and the total size. It sees only fragments
//! that verified already; it never decrypts or checks an ICV.

use super::{Fragment, SkPlaintext};
use crate::wire::PayloadType;

/// Limits on one message being reassembled from fragments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FragmentLimits {
    /// Largest Total Fragments accepted.
    pub max_fragments: u16,
    /// Largest sum of decrypted fragment contents.
    pub max_bytes: usize,
}

impl Default for FragmentLimits {
    /// 128 fragments and 64 KiB: a certificate chain in 576-octet IPv4 fragments fits.
    fn default() -> Self {
        Self {
            max_fragments: 128,
            max_bytes: 64 * 1024,
        }
    }
}

/// Progress of a reassembly after adding a fragment.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Reassembly {
    /// Stored; more are needed.
    Incomplete { received: u16, total: u16 },
    /// Already had this fragment number; ignored (a retransmission).
    Duplicate,
    /// Its Total Fragments is smaller than the one being collected; ignored
    /// (RFC 7383 section 2.6.1).
    Stale,
    /// All fragments are in. The assembler is empty again.
    Complete(SkPlaintext),
}

/// Why a fragment made the reassembly fail. The assembler drops everything it holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReassemblyError {
    #[error("fragment total {total} above the limit {limit}")]
    TooManyFragments { total: u16, limit: u16 },
    #[error("reassembled message above {limit} octets")]
    TooLarge { limit: usize },
    #[error("bad fragment number")]
    BadFragmentNumber,
}

/// Collects the verified fragments of one message (one message ID of one IKE SA; the
/// caller keeps one assembler per message and handles timeouts). Pure bookkeeping: it
/// never sees ciphertext, so feed it only what [`SkProtector::decrypt_fragment`] returned.
///
/// Rules (RFC 7383 section 2.6): a fragment with a larger Total Fragments than the one
/// being collected restarts the collection (the sender re-fragmented smaller); a
/// smaller one is ignored; a repeated number is ignored; the first inner payload type
/// comes from fragment 1.
#[derive(Debug, Clone, Default)]
pub struct FragmentAssembler {
    limits: FragmentLimits,
    total: u16,
    received: u16,
    bytes: usize,
    slots: Vec<Option<Vec<u8>>>,
    next_payload: PayloadType,
}

impl FragmentAssembler {
    pub fn new(limits: FragmentLimits) -> Self {
        Self {
            limits,
            ..Self::default()
        }
    }

    /// Whether no fragment is held.
    pub fn is_empty(&self) -> bool {
        self.received == 0
    }

    /// Drop every fragment held (e.g. on timeout).
    pub fn reset(&mut self) {
        let limits = self.limits;
        *self = Self::new(limits);
    }

    pub fn add(&mut self, fragment: Fragment) -> Result<Reassembly, ReassemblyError> {
        let Fragment {
            number,
            total,
            next_payload,
            payloads,
        } = fragment;
        if number == 0 || total == 0 || number > total {
            return Err(ReassemblyError::BadFragmentNumber);
        }
        if total > self.limits.max_fragments {
            self.reset();
            return Err(ReassemblyError::TooManyFragments {
                total,
                limit: self.limits.max_fragments,
            });
        }
        if total < self.total {
            return Ok(Reassembly::Stale);
        }
        if total > self.total {
            self.reset();
            self.total = total;
            self.slots = vec![None; usize::from(total)];
        }
        let slot = &mut self.slots[usize::from(number - 1)];
        if slot.is_some() {
            return Ok(Reassembly::Duplicate);
        }
        if self.bytes + payloads.len() > self.limits.max_bytes {
            let limit = self.limits.max_bytes;
            self.reset();
            return Err(ReassemblyError::TooLarge { limit });
        }
        self.bytes += payloads.len();
        *slot = Some(payloads);
        self.received += 1;
        if number == 1 {
            self.next_payload = next_payload;
        }
        if self.received < self.total {
            return Ok(Reassembly::Incomplete {
                received: self.received,
                total: self.total,
            });
        }
        let mut payloads = Vec::with_capacity(self.bytes);
        for part in self.slots.iter().flatten() {
            payloads.extend_from_slice(part);
        }
        let next_payload = self.next_payload;
        self.reset();
        Ok(Reassembly::Complete(SkPlaintext {
            next_payload,
            payloads,
        }))
    }
}
