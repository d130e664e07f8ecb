//! Security associations: [`OutboundSa`] and [`InboundSa`], built from what the IKE
//! side negotiated ([`SaConfig`]).
//!
//! The two directions are separate types because different workers own them (the TUN
//! reader encrypts, the UDP reader decrypts) and neither needs a lock. An SA holds its
//! keyed transform, its sequence-number state and its counters; it never reads a clock
//! or the OS RNG.
//!
//! Sequence numbers (RFC 4303 section 3.3.3): outbound starts at 1 and never wraps.
//! The last usable number is 2^32 - 1 without ESN and 2^64 - 1 with it.
//! [`SaEvent::SeqNearExhaustion`] is raised when [`SEQ_SOFT_MARGIN`] (2^26) numbers are
//! left, [`SaEvent::SeqExhausted`] when the last one is used; after that every packet
//! is dropped and counted under `seq_exhausted`.
//!
//! IVs: for AES-GCM and ChaCha20-Poly1305 the 8-octet explicit IV is the 64-bit
//! sequence number (RFC 4106 section 3.1 allows a counter; RFC 7634 section 2 the same).
//! The full 64-bit counter is used even without ESN, and it is strictly increasing, so
//! no IV repeats under one key. For AES-CBC see [`crate::cipher`]'s `CbcIvGen`:
//! `AES-128(iv_key, seq)` with a per-SA IV key drawn from the caller's RNG.

use ikev2::crypto::algorithms::EspSuite;
use ikev2::crypto::secret::SecretBytes;
use rand_core::CryptoRngCore;

use crate::cipher::{Backend, CbcIvGen, EspCipher, SaError};
use crate::counters::{
    Accounting, Direction, DropReason, Lifetime, SEQ_SOFT_MARGIN, SaEvent, SaUsage,
};
use crate::replay::{DEFAULT_REPLAY_WINDOW, ReplayWindow};
use crate::wire::Spi;

/// Everything needed to install one direction of a CHILD SA, as the IKE side hands it
/// over.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct SaConfig {
    pub spi: Spi,
    /// The negotiated transforms; `esn` chooses 64-bit sequence numbers.
    pub suite: EspSuite,
    /// Encryption keying material of this direction (for AEADs `key | salt`).
    pub encr_key: SecretBytes,
    /// Integrity key of this direction; `Some` exactly when `suite.integ` is.
    pub integ_key: Option<SecretBytes>,
    /// Octet and packet limits.
    pub lifetime: Lifetime,
    /// Inbound only: the anti-replay window in packets ([`DEFAULT_REPLAY_WINDOW`]).
    pub replay_window: u32,
    /// Which crate runs the AEAD ([`Backend::Ring`] unless benchmarking).
    pub backend: Backend,
}

impl SaConfig {
    pub fn new(
        spi: Spi,
        suite: EspSuite,
        encr_key: SecretBytes,
        integ_key: Option<SecretBytes>,
    ) -> Self {
        Self {
            spi,
            suite,
            encr_key,
            integ_key,
            lifetime: Lifetime::default(),
            replay_window: DEFAULT_REPLAY_WINDOW,
            backend: Backend::default(),
        }
    }

    pub fn with_lifetime(mut self, lifetime: Lifetime) -> Self {
        self.lifetime = lifetime;
        self
    }

    pub fn with_replay_window(mut self, window: u32) -> Self {
        self.replay_window = window;
        self
    }

    pub fn with_backend(mut self, backend: Backend) -> Self {
        self.backend = backend;
        self
    }

    fn cipher(&self) -> Result<EspCipher, SaError> {
        let integ = match (self.suite.integ, &self.integ_key) {
            (Some(alg), Some(key)) => Some((alg, key)),
            (None, None) => None,
            (Some(_), None) => return Err(SaError::MissingIntegrity),
            (None, Some(_)) => return Err(SaError::UnexpectedIntegrity),
        };
        EspCipher::new(self.suite.encr, &self.encr_key, integ, self.backend)
    }
}

/// The sending half of a CHILD SA.
#[derive(Debug)]
pub struct OutboundSa {
    pub(crate) spi: Spi,
    pub(crate) cipher: EspCipher,
    pub(crate) esn: bool,
    /// Last sequence number used (0: none yet).
    pub(crate) seq: u64,
    pub(crate) seq_max: u64,
    seq_soft: u64,
    pub(crate) iv_gen: Option<CbcIvGen>,
    pub(crate) acct: Accounting,
}

impl OutboundSa {
    /// Key an outbound SA. `rng` is used only for AES-CBC, to draw the IV key.
    pub fn new(config: &SaConfig, rng: &mut dyn CryptoRngCore) -> Result<Self, SaError> {
        let cipher = config.cipher()?;
        let iv_gen = (!cipher.is_aead()).then(|| {
            let mut k = [0u8; 16];
            rng.fill_bytes(&mut k);
            CbcIvGen::new(k)
        });
        let seq_max = if config.suite.esn {
            u64::MAX
        } else {
            u64::from(u32::MAX)
        };
        Ok(Self {
            spi: config.spi,
            cipher,
            esn: config.suite.esn,
            seq: 0,
            seq_max,
            seq_soft: seq_max - SEQ_SOFT_MARGIN,
            iv_gen,
            acct: Accounting::new(config.lifetime),
        })
    }

    pub fn spi(&self) -> Spi {
        self.spi
    }

    pub fn esn(&self) -> bool {
        self.esn
    }

    pub fn cipher(&self) -> &EspCipher {
        &self.cipher
    }

    /// The last sequence number sent (0 before the first packet).
    pub fn last_seq(&self) -> u64 {
        self.seq
    }

    /// Octets ESP adds to an inner packet of `inner_len` octets (header, IV, padding,
    /// trailer, ICV), not counting any outer IP/UDP header.
    pub fn overhead(&self, inner_len: usize) -> usize {
        self.cipher.overhead().esp_len(inner_len) - inner_len
    }

    /// The largest inner packet whose ESP packet fits in `esp_mtu` octets (the path
    /// MTU minus outer IP and UDP headers). 0 if none fits.
    pub fn max_inner_len(&self, esp_mtu: usize) -> usize {
        self.cipher.overhead().max_inner_len(esp_mtu)
    }

    /// Count a drop decided outside encapsulation (selector mismatch, MTU, ...).
    pub fn record_drop(&mut self, reason: DropReason) {
        self.acct.drops.record(reason);
    }

    /// The next limit event for the IKE side, each raised once.
    pub fn poll_event(&mut self) -> Option<SaEvent> {
        self.acct.poll_event()
    }

    pub fn usage(&self) -> SaUsage {
        self.acct.usage(self.spi, Direction::Outbound, self.seq)
    }

    /// Whether the hard lifetime or the sequence space is used up (every further
    /// packet is dropped).
    pub fn is_expired(&self) -> bool {
        self.acct.expired || self.seq >= self.seq_max
    }

    /// Make the next packet use sequence number `next` (for tests of the sequence
    /// limits and ESN wraparound; never needed in operation). Only moves forward, so it
    /// cannot make an IV repeat.
    #[doc(hidden)]
    pub fn advance_seq_for_test(&mut self, next: u64) {
        let last = next.saturating_sub(1);
        if last > self.seq {
            self.seq = last.min(self.seq_max);
        }
    }

    /// Raise the sequence events for `seq`, just used.
    #[inline]
    pub(crate) fn after_seq(&mut self, seq: u64) {
        if seq >= self.seq_soft {
            self.acct.raise(SaEvent::SeqNearExhaustion);
        }
        if seq >= self.seq_max {
            self.acct.raise(SaEvent::SeqExhausted);
        }
    }
}

/// Padding octets for `inner_len` so that inner + padding + 2 is a multiple of `align`
/// (a power of two: 4 or 16; masks, not divisions, on the per-packet path).
#[inline]
pub(crate) fn pad_len(inner_len: usize, align: usize) -> usize {
    debug_assert!(align.is_power_of_two());
    align.wrapping_sub(inner_len + 2) & (align - 1)
}

/// The receiving half of a CHILD SA.
#[derive(Debug)]
pub struct InboundSa {
    pub(crate) spi: Spi,
    pub(crate) cipher: EspCipher,
    pub(crate) replay: ReplayWindow,
    pub(crate) acct: Accounting,
}

impl InboundSa {
    pub fn new(config: &SaConfig) -> Result<Self, SaError> {
        Ok(Self {
            spi: config.spi,
            cipher: config.cipher()?,
            replay: ReplayWindow::new(config.replay_window, config.suite.esn),
            acct: Accounting::new(config.lifetime),
        })
    }

    pub fn spi(&self) -> Spi {
        self.spi
    }

    pub fn esn(&self) -> bool {
        self.replay.esn()
    }

    pub fn cipher(&self) -> &EspCipher {
        &self.cipher
    }

    pub fn replay_window(&self) -> &ReplayWindow {
        &self.replay
    }

    /// Count a drop decided outside decapsulation (e.g. the inner packet does not
    /// match the SA's traffic selectors).
    pub fn record_drop(&mut self, reason: DropReason) {
        self.acct.drops.record(reason);
    }

    pub fn poll_event(&mut self) -> Option<SaEvent> {
        self.acct.poll_event()
    }

    pub fn usage(&self) -> SaUsage {
        self.acct
            .usage(self.spi, Direction::Inbound, self.replay.top())
    }

    pub fn is_expired(&self) -> bool {
        self.acct.expired
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn padding_lengths() {
        assert_eq!(pad_len(2, 4), 0);
        assert_eq!(pad_len(0, 4), 2);
        assert_eq!(pad_len(1, 4), 1);
        assert_eq!(pad_len(14, 16), 0);
        assert_eq!(pad_len(15, 16), 15);
        assert_eq!(pad_len(1400, 16), 6);
    }
}
