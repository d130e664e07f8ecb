//! Message IDs and windows (RFC 7296 sections 2.1-2.3), window size 1 in both
//! directions, as strongSwan's `task_manager_v2.c`.
//!
//! - [`RequestWindow`]: our requests. One is outstanding at a time; it is kept as the
//!   exact datagrams sent (all fragments) and retransmitted unchanged after
//!   `timeout * base^n` (strongSwan's schedule); the message ID advances when the
//!   exchange completes.
//! - [`ResponseWindow`]: the peer's requests. The next expected message ID is
//!   processed; the previous one is a retransmission answered from the cached
//!   response; anything else is dropped.

use std::time::Instant;

use crate::wire::ExchangeType;

/// Our request in flight.
#[derive(Debug, Clone)]
pub(crate) struct Outstanding {
    pub msgid: u32,
    pub exchange: ExchangeType,
    /// The IKE messages as sent (one, or every fragment), without non-ESP marker.
    pub messages: Vec<Vec<u8>>,
    /// Retransmissions so far.
    pub retransmits: u32,
    /// When to retransmit (or give up).
    pub deadline: Instant,
    /// Give up at this time whatever the retransmission count (a liveness check:
    /// `dpd_timeout`).
    pub give_up_at: Option<Instant>,
}

#[derive(Debug, Clone, Default)]
pub(crate) struct RequestWindow {
    /// Message ID of our next (or current) request.
    pub next_id: u32,
    pub outstanding: Option<Outstanding>,
}

impl RequestWindow {
    /// Whether a response with this message ID and exchange answers our request.
    pub(crate) fn matches(&self, msgid: u32, exchange: ExchangeType) -> bool {
        self.outstanding
            .as_ref()
            .is_some_and(|o| o.msgid == msgid && o.exchange == exchange)
    }

    /// The exchange completed: the next request uses the next message ID.
    pub(crate) fn complete(&mut self) {
        self.outstanding = None;
        self.next_id = self.next_id.saturating_add(1);
    }
}

/// Our last response, for retransmitted requests.
#[derive(Debug, Clone)]
pub(crate) struct CachedResponse {
    pub msgid: u32,
    pub messages: Vec<Vec<u8>>,
}

/// How a request's message ID relates to the window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RequestKind {
    New,
    /// The request we answered last: resend the cached response.
    Retransmit,
    /// Outside the window: drop.
    Invalid,
}

#[derive(Debug, Clone, Default)]
pub(crate) struct ResponseWindow {
    /// Message ID of the next request we accept.
    pub expected: u32,
    pub last: Option<CachedResponse>,
}

impl ResponseWindow {
    pub(crate) fn classify(&self, msgid: u32) -> RequestKind {
        if msgid == self.expected {
            RequestKind::New
        } else if self.last.as_ref().is_some_and(|c| c.msgid == msgid) {
            RequestKind::Retransmit
        } else {
            RequestKind::Invalid
        }
    }

    /// We answered request `msgid` with `messages`.
    pub(crate) fn answered(&mut self, msgid: u32, messages: Vec<Vec<u8>>) {
        self.last = Some(CachedResponse { msgid, messages });
        self.expected = msgid.saturating_add(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn response_window_classifies() {
        let mut w = ResponseWindow::default();
        assert_eq!(w.classify(0), RequestKind::New);
        assert_eq!(w.classify(1), RequestKind::Invalid);
        w.answered(0, vec![vec![1]]);
        assert_eq!(w.classify(0), RequestKind::Retransmit);
        assert_eq!(w.classify(1), RequestKind::New);
        assert_eq!(w.classify(2), RequestKind::Invalid);
        w.answered(1, vec![vec![2]]);
        assert_eq!(w.classify(0), RequestKind::Invalid);
    }
}
