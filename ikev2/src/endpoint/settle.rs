//! After an IKE SA ran (a datagram, a timer, a command): the endpoint carries out the
//! [`Action`]s it left (INITIAL_CONTACT clean-up, new SPIs after an IKE rekey, ghost
//! SAs, re-establishment and retries), releases its half-open count once it is no
//! longer half-open, keeps the CHILD SA index in step, and removes it when dead.

use std::time::Instant;

use super::Endpoint;
use crate::config::DpdAction;
use crate::event::{DownReason, Event, IkeSaId};
use crate::ike_sa::ctx::{Action, Ctx};

impl Endpoint {
    /// After an SA ran: endpoint actions, half-open accounting, removal when dead.
    pub(super) fn settle(&mut self, now: Instant, id: IkeSaId) {
        let actions = std::mem::take(&mut self.sh.actions);
        let mut touched = vec![id];
        for a in actions {
            match a {
                Action::InitialContact {
                    keep,
                    local_id,
                    remote_id,
                } => {
                    for (other, sa) in self.sas.iter_mut() {
                        if *other == keep
                            || !sa.was_up
                            || sa.is_dead()
                            || sa.local_id != local_id
                            || sa.remote_id != remote_id
                        {
                            continue;
                        }
                        let mut ctx = Ctx {
                            now,
                            config: &self.config,
                            sh: &mut self.sh,
                        };
                        sa.go_down(&mut ctx, DownReason::Replaced);
                        touched.push(*other);
                    }
                }
                Action::Respi { id, old, new } => {
                    if self.by_spi.get(&old) == Some(&id) {
                        self.by_spi.remove(&old);
                    }
                    self.by_spi.insert(new, id);
                }
                Action::Reestablish { conn, closed } => self.reestablish(now, &conn.name, closed),
                Action::Retry { conn, keyingtry } => {
                    if self.other_sa_of(&conn.name) {
                        continue;
                    }
                    // Errors here were errors at the first initiate too.
                    let _ = self.begin(now, &conn.name, keyingtry, None);
                }
                Action::NextCandidate {
                    conn,
                    remotes,
                    candidate,
                    keyingtry,
                    quick,
                } => {
                    if self.other_sa_of(&conn.name) {
                        continue;
                    }
                    let _ = self.initiate_to(now, &conn.name, remotes, candidate, keyingtry, quick);
                }
                Action::AddSa(mut ghost) => {
                    let gid = self.new_id();
                    ghost.id = gid;
                    self.by_spi.insert(ghost.our_spi(), gid);
                    self.sas.insert(gid, ghost);
                    touched.push(gid);
                }
            }
        }
        for id in touched {
            self.settle_one(id);
        }
    }

    /// An established IKE SA of connection `name` ended without us deleting it (peer
    /// dead, hard lifetime: `dpd_action`; deleted by the peer, `closed`:
    /// `close_action`): with `restart` the connection is initiated again (the new SA
    /// sends INITIAL_CONTACT, so the peer drops whatever it kept of the old one);
    /// with `trap` the daemon is told to install a trap policy; with `clear` nothing
    /// happens. The connection's current configuration decides (it may have been
    /// reloaded or removed meanwhile). Nothing is started either if another IKE SA of
    /// the connection is up or on its way already (the peer re-initiated first), so
    /// there are never two.
    fn reestablish(&mut self, now: Instant, name: &str, closed: bool) {
        let Some(conn) = self.conns.iter().find(|c| c.name == name).cloned() else {
            return;
        };
        if self.other_sa_of(name) {
            return;
        }
        let action = if closed {
            conn.close_action
        } else {
            conn.dpd_action
        };
        match action {
            DpdAction::Clear => {}
            DpdAction::Restart => {
                // From the top of the list (a recovered primary is preferred again),
                // with one short try at an address that just stopped answering.
                let quick = self.sh.remotes.take_just_died(name);
                // Errors here were errors at the first initiate too.
                let _ = self.begin(now, name, 0, quick);
            }
            DpdAction::Trap => self.sh.event(Event::Trap {
                conn: name.to_owned(),
            }),
        }
    }

    /// Whether an IKE SA of connection `name` is up or being set up.
    fn other_sa_of(&self, name: &str) -> bool {
        self.sas
            .values()
            .any(|sa| sa.conn.name == name && !sa.ghost && !sa.is_dead())
    }

    fn settle_one(&mut self, id: IkeSaId) {
        self.settle_sa(id);
        self.refresh_timer(id);
        if let Some(sa) = self.sas.get(&id) {
            for c in &sa.children {
                if let Some(owner) = self.sh.child_spis.get_mut(&c.spi_in) {
                    *owner = Some(id);
                }
            }
        }
    }

    fn settle_sa(&mut self, id: IkeSaId) {
        let Some(sa) = self.sas.get_mut(&id) else {
            return;
        };
        if sa.counted_half_open && !sa.is_half_open() {
            sa.counted_half_open = false;
            self.half_open_total = self.half_open_total.saturating_sub(1);
            if let Some(((_, addr), _)) = sa.init_key {
                if let Some(n) = self.half_open_by_ip.get_mut(&addr.ip()) {
                    *n = n.saturating_sub(1);
                    if *n == 0 {
                        self.half_open_by_ip.remove(&addr.ip());
                    }
                }
            }
        }
        if sa.is_dead() {
            if self.by_spi.get(&sa.our_spi()) == Some(&id) {
                self.by_spi.remove(&sa.our_spi());
            }
            if let Some((key, _)) = sa.init_key {
                if self.init_index.get(&key) == Some(&id) {
                    self.init_index.remove(&key);
                }
            }
            self.sas.remove(&id);
        }
    }
}
