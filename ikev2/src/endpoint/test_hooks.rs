//! Test-only access to the endpoint's internals: its connections and SAs, the CHILD
//! SA index, and the fault seam ([`crate::ike_sa::faults`]). Compiled only for tests.

use std::sync::Arc;

use super::Endpoint;
use crate::config::ConnectionConfig;
use crate::event::IkeSaId;
use crate::ike_sa::IkeSa;

impl Endpoint {
    /// Connection `i` as SAs share it.
    pub(crate) fn connection(&self, i: usize) -> Arc<ConnectionConfig> {
        self.conns[i].clone()
    }

    /// The next nonce we make (tests replaying captures).
    pub(crate) fn push_nonce(&mut self, n: Vec<u8>) {
        self.sh.faults.push_nonce(n);
    }

    /// Answers the peer's next `child` CHILD SA rekeys and `ike` IKE SA rekeys with
    /// NO_PROPOSAL_CHOSEN (simulation tests of failed rekeys).
    pub(crate) fn refuse_rekeys(&mut self, child: u32, ike: u32) {
        self.sh.faults.refuse_rekeys(child, ike);
    }

    /// Answers the peer's next `n` requests for new CHILD SAs with TEMPORARY_FAILURE.
    pub(crate) fn busy_child_creates(&mut self, n: u32) {
        self.sh.faults.busy_child_creates(n);
    }

    /// The IKE SA the SPI index names for inbound ESP SPI `spi_in`.
    pub(crate) fn child_owner(&self, spi_in: u32) -> Option<IkeSaId> {
        self.sh.child_spis.get(&spi_in).copied().flatten()
    }

    /// Whether inbound ESP SPI `spi` is reserved or in use.
    pub(crate) fn spi_taken(&self, spi: u32) -> bool {
        self.sh.child_spis.contains_key(&spi)
    }

    /// IKE SA `id` itself (tests that speak for the peer with its keys).
    pub(crate) fn sa_mut(&mut self, id: IkeSaId) -> Option<&mut IkeSa> {
        self.sas.get_mut(&id).map(|sa| &mut **sa)
    }

    /// Adds a hand-built SA (tests replaying captures).
    pub(crate) fn insert_sa(&mut self, sa: IkeSa) {
        self.by_spi.insert(sa.our_spi(), sa.id);
        self.next_id = self.next_id.max(sa.id.0 + 1);
        let id = sa.id;
        self.sas.insert(id, Box::new(sa));
        self.refresh_timer(id);
    }
}
