//! Each IKE SA's next deadline, in order, so that [`crate::Endpoint::poll_timeout`]
//! and `handle_timeout` cost O(log n) instead of a visit to every SA: with 10,000
//! tunnels the daemon asks for the next deadline before every datagram it waits for.
//!
//! An entry may be early (an SA whose deadline moved later is looked at again when the
//! old one passes, then re-entered) but never late: every operation on an SA ends by
//! re-entering its deadline, and debug builds check that against a full scan.

use std::collections::{BTreeSet, HashMap};
use std::time::Instant;

use crate::event::IkeSaId;

#[derive(Debug, Default)]
pub(crate) struct TimerIndex {
    queue: BTreeSet<(Instant, IkeSaId)>,
    at: HashMap<IkeSaId, Instant>,
}

impl TimerIndex {
    /// `id`'s next deadline is `t` (`None`: it has none, or it is gone).
    pub(crate) fn set(&mut self, id: IkeSaId, t: Option<Instant>) {
        if self.at.get(&id).copied() == t {
            return;
        }
        if let Some(old) = self.at.remove(&id) {
            self.queue.remove(&(old, id));
        }
        if let Some(t) = t {
            self.queue.insert((t, id));
            self.at.insert(id, t);
        }
    }

    /// The earliest deadline of any SA.
    pub(crate) fn first(&self) -> Option<Instant> {
        self.queue.first().map(|(t, _)| *t)
    }

    /// The SAs whose deadline is `now` or earlier, earliest first.
    pub(crate) fn due(&self, now: Instant) -> Vec<IkeSaId> {
        self.queue
            .iter()
            .take_while(|(t, _)| *t <= now)
            .map(|(_, id)| *id)
            .collect()
    }

    /// The deadline entered for `id` (the debug check and tests).
    #[cfg(any(test, debug_assertions))]
    pub(crate) fn get(&self, id: IkeSaId) -> Option<Instant> {
        self.at.get(&id).copied()
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.at.len()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn ordered_replaced_and_removed() {
        let t0 = Instant::now();
        let s = |n: u64| t0 + Duration::from_secs(n);
        let mut ix = TimerIndex::default();
        ix.set(IkeSaId(1), Some(s(30)));
        ix.set(IkeSaId(2), Some(s(10)));
        ix.set(IkeSaId(3), Some(s(20)));
        assert_eq!(ix.first(), Some(s(10)));
        assert_eq!(ix.due(s(20)), vec![IkeSaId(2), IkeSaId(3)]);
        // A moved deadline replaces the old entry; it is not kept twice.
        ix.set(IkeSaId(2), Some(s(40)));
        assert_eq!(ix.first(), Some(s(20)));
        assert_eq!(ix.due(s(35)), vec![IkeSaId(3), IkeSaId(1)]);
        ix.set(IkeSaId(3), None);
        ix.set(IkeSaId(1), None);
        assert_eq!(ix.len(), 1);
        assert_eq!(ix.get(IkeSaId(2)), Some(s(40)));
        assert_eq!(ix.due(s(39)), Vec::<IkeSaId>::new());
        ix.set(IkeSaId(2), None);
        assert_eq!(ix.first(), None);
    }

    #[test]
    fn equal_deadlines_are_all_due() {
        let t = Instant::now();
        let mut ix = TimerIndex::default();
        for i in 0..5 {
            ix.set(IkeSaId(i), Some(t));
        }
        assert_eq!(ix.due(t).len(), 5);
    }
}
