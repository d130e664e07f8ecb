//! Anti-replay window (RFC 4303 section 3.4.3) as the block bitmap of RFC 6479, with
//! the extended-sequence-number inference of RFC 4303 appendix A2.
//!
//! Use it in two steps (as strongSwan's `verify_seqno` /
//! `set_authenticated_seqno`): [`ReplayWindow::check`] before any crypto, which also
//! reconstructs the 64-bit sequence number the ICV covers, then
//! [`ReplayWindow::commit`] only after the ICV verified. A forged packet therefore can
//! never move the window. `commit` checks again, so two copies of one packet processed
//! back to back cannot both pass.
//!
//! The bitmap holds `N` 64-bit blocks, `N` a power of two with `64 * N >= W + 64`; the
//! window slides a whole block at a time by zeroing the blocks it enters, so a jump
//! costs at most `N` word writes however far it goes.
//!
//! Not implemented: the re-synchronisation of RFC 4303 appendix A3 after a long run of
//! ICV failures in a new ESN subspace (the peer would have to lose 2^32 packets in a row).

/// Default window: 1024 packets (RFC 4303 recommends 64 at least; reordering across
/// multiple cores and links makes a larger one worthwhile).
pub const DEFAULT_REPLAY_WINDOW: u32 = 1024;

/// Largest configurable window (8 KiB of bitmap).
pub const MAX_REPLAY_WINDOW: u32 = 65536;

/// Why [`ReplayWindow`] refused a sequence number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReplayError {
    /// Already received.
    #[error("sequence number already received")]
    Replayed,
    /// Older than the window (or, with ESN, before the start of the sequence space).
    #[error("sequence number left of the replay window")]
    TooOld,
    /// Sequence number 0 is never sent (RFC 4303 section 3.3.3), and a 64-bit sequence
    /// space cannot go past 2^64 - 1.
    #[error("sequence number out of range")]
    OutOfRange,
}

/// The receive window of one inbound SA.
#[derive(Clone)]
pub struct ReplayWindow {
    /// Highest authenticated sequence number; 0 while none has been received.
    top: u64,
    window: u64,
    esn: bool,
    bitmap: Box<[u64]>,
    block_mask: u64,
}

impl ReplayWindow {
    /// A window of `window` packets (clamped to 1..=[`MAX_REPLAY_WINDOW`]); `esn`
    /// says whether sequence numbers are 64 bits with only the low half on the wire.
    pub fn new(window: u32, esn: bool) -> Self {
        let window = u64::from(window.clamp(1, MAX_REPLAY_WINDOW));
        let blocks = ((window - 1) / 64 + 2).next_power_of_two();
        Self {
            top: 0,
            window,
            esn,
            bitmap: vec![0u64; blocks as usize].into_boxed_slice(),
            block_mask: blocks - 1,
        }
    }

    /// Window size in packets.
    pub fn window(&self) -> u64 {
        self.window
    }

    /// The highest sequence number committed so far (0: none).
    pub fn top(&self) -> u64 {
        self.top
    }

    pub fn esn(&self) -> bool {
        self.esn
    }

    /// Reconstruct the full sequence number from the 32 bits on the wire and check it
    /// against the window, without changing anything. Returns the 64-bit number to
    /// authenticate (equal to `seq_low` without ESN).
    #[inline]
    pub fn check(&self, seq_low: u32) -> Result<u64, ReplayError> {
        let seq = if self.esn {
            self.infer(seq_low)?
        } else {
            u64::from(seq_low)
        };
        self.check_full(seq)?;
        Ok(seq)
    }

    /// Mark `seq` (as returned by [`check`](Self::check)) received, sliding the window
    /// if it is new. Call only after the packet authenticated. Fails, changing
    /// nothing, if `seq` is no longer acceptable.
    #[inline]
    pub fn commit(&mut self, seq: u64) -> Result<(), ReplayError> {
        self.check_full(seq)?;
        if seq > self.top {
            let cur = self.top >> 6;
            let new = seq >> 6;
            let steps = (new - cur).min(self.block_mask + 1);
            for i in 1..=steps {
                self.bitmap[((cur + i) & self.block_mask) as usize] = 0;
            }
            self.top = seq;
        }
        self.bitmap[((seq >> 6) & self.block_mask) as usize] |= 1u64 << (seq & 63);
        Ok(())
    }

    #[inline]
    fn check_full(&self, seq: u64) -> Result<(), ReplayError> {
        if seq == 0 {
            return Err(ReplayError::OutOfRange);
        }
        if seq > self.top {
            return Ok(());
        }
        if self.top - seq >= self.window {
            return Err(ReplayError::TooOld);
        }
        let block = self.bitmap[((seq >> 6) & self.block_mask) as usize];
        if block & (1u64 << (seq & 63)) != 0 {
            return Err(ReplayError::Replayed);
        }
        Ok(())
    }

    /// RFC 4303 appendix A2.2: choose the high 32 bits that put `seq_low` nearest the
    /// window. `W` is the window size, `T = Th:Tl` the top.
    #[inline]
    fn infer(&self, seq_low: u32) -> Result<u64, ReplayError> {
        let th = (self.top >> 32) as u32;
        let tl = self.top as u32;
        let w = self.window as u32; // at most MAX_REPLAY_WINDOW, fits
        let bottom = tl.wrapping_sub(w - 1); // Tl - W + 1 (mod 2^32)
        let seq_high = if tl >= w - 1 {
            // Case A: the window lies within one subspace.
            if seq_low >= bottom {
                th
            } else {
                th.checked_add(1).ok_or(ReplayError::OutOfRange)?
            }
        } else {
            // Case B: the window spans two subspaces.
            if seq_low >= bottom {
                th.checked_sub(1).ok_or(ReplayError::TooOld)?
            } else {
                th
            }
        };
        Ok((u64::from(seq_high) << 32) | u64::from(seq_low))
    }
}

impl std::fmt::Debug for ReplayWindow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReplayWindow")
            .field("top", &self.top)
            .field("window", &self.window)
            .field("esn", &self.esn)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(w: &mut ReplayWindow, low: u32) -> Result<u64, ReplayError> {
        let s = w.check(low)?;
        w.commit(s)?;
        Ok(s)
    }

    #[test]
    fn in_order_and_duplicates() {
        let mut w = ReplayWindow::new(64, false);
        assert_eq!(w.check(0), Err(ReplayError::OutOfRange));
        for s in 1..=200u32 {
            assert_eq!(accept(&mut w, s), Ok(u64::from(s)));
            assert_eq!(w.check(s), Err(ReplayError::Replayed));
        }
    }

    #[test]
    fn bitmap_size_covers_window() {
        for (w, blocks) in [(1, 2), (64, 2), (65, 4), (128, 4), (1024, 32), (1025, 32)] {
            assert_eq!(
                ReplayWindow::new(w, false).bitmap.len(),
                blocks,
                "window {w}"
            );
        }
    }

    #[test]
    fn commit_rechecks() {
        let mut w = ReplayWindow::new(32, false);
        let s = w.check(5).expect("new");
        let t = w.check(5).expect("still new");
        w.commit(s).expect("first");
        assert_eq!(w.commit(t), Err(ReplayError::Replayed));
    }

    #[test]
    fn esn_inference_cases() {
        let mut w = ReplayWindow::new(64, true);
        // Case B at the start: a huge low value would be in subspace -1.
        assert_eq!(w.check(u32::MAX), Err(ReplayError::TooOld));
        w.top = (5u64 << 32) | 10; // case B: window spans subspaces 4 and 5
        assert_eq!(
            w.check(u32::MAX).expect("in window"),
            (4u64 << 32) | 0xffff_ffff
        );
        assert_eq!(w.check(11).expect("ahead"), (5u64 << 32) | 11);
        w.top = (5u64 << 32) | 1000; // case A
        assert_eq!(w.check(999).expect("in window"), (5u64 << 32) | 999);
        assert_eq!(w.check(5).expect("wraps to next"), (6u64 << 32) | 5);
        w.top = u64::MAX - 10;
        assert_eq!(w.check(3), Err(ReplayError::OutOfRange));
    }
}
