//! Fault injection for tests: the one seam through which a test makes our side
//! behave like a peer with other ideas (fixed nonces from a capture, refused rekeys,
//! a busy responder). Protocol code asks one question per site
//! (`ctx.sh.faults.refuse_child_rekey()` ...) and carries no test branches of its
//! own; outside `cfg(test)` [`Faults`] is empty and every answer is "no fault", so
//! release builds compile the checks away.

#[cfg(test)]
use std::collections::VecDeque;

/// The faults still to inject, each used up as it fires.
#[cfg(test)]
#[derive(Debug, Default)]
pub(crate) struct Faults {
    /// Nonces to use instead of random ones, in order (tests replaying captures).
    nonces: VecDeque<Vec<u8>>,
    /// Answer this many of the peer's next CHILD SA rekey requests with
    /// NO_PROPOSAL_CHOSEN (a peer whose configuration changed).
    refuse_child_rekeys: u32,
    /// The same for IKE SA rekey requests.
    refuse_ike_rekeys: u32,
    /// Answer this many new CHILD SA requests with TEMPORARY_FAILURE.
    busy_child_creates: u32,
}

/// Outside tests: no faults.
#[cfg(not(test))]
#[derive(Debug, Default)]
pub(crate) struct Faults {}

/// What the protocol code asks. Each question uses the fault up as it fires.
#[cfg(test)]
impl Faults {
    /// The nonce a test put in place of our next random one.
    pub(crate) fn take_nonce(&mut self) -> Option<Vec<u8>> {
        self.nonces.pop_front()
    }

    /// Whether to refuse the peer's CHILD SA rekey request now.
    pub(crate) fn refuse_child_rekey(&mut self) -> bool {
        take(&mut self.refuse_child_rekeys)
    }

    /// Whether to refuse the peer's IKE SA rekey request now.
    pub(crate) fn refuse_ike_rekey(&mut self) -> bool {
        take(&mut self.refuse_ike_rekeys)
    }

    /// Whether to answer the peer's request for a new CHILD SA as busy now.
    pub(crate) fn busy_child_create(&mut self) -> bool {
        take(&mut self.busy_child_creates)
    }
}

/// Takes one from a test counter if any is left.
#[cfg(test)]
fn take(n: &mut u32) -> bool {
    let fire = *n > 0;
    *n = n.saturating_sub(1);
    fire
}

/// The same questions outside tests: never a fault.
#[cfg(not(test))]
impl Faults {
    #[inline]
    pub(crate) fn take_nonce(&mut self) -> Option<Vec<u8>> {
        None
    }

    #[inline]
    pub(crate) fn refuse_child_rekey(&mut self) -> bool {
        false
    }

    #[inline]
    pub(crate) fn refuse_ike_rekey(&mut self) -> bool {
        false
    }

    #[inline]
    pub(crate) fn busy_child_create(&mut self) -> bool {
        false
    }
}

/// How tests arm the faults.
#[cfg(test)]
impl Faults {
    pub(crate) fn push_nonce(&mut self, n: Vec<u8>) {
        self.nonces.push_back(n);
    }

    pub(crate) fn refuse_rekeys(&mut self, child: u32, ike: u32) {
        self.refuse_child_rekeys = child;
        self.refuse_ike_rekeys = ike;
    }

    pub(crate) fn busy_child_creates(&mut self, n: u32) {
        self.busy_child_creates = n;
    }
}
