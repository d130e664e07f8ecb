//! Standby tunnels: a connection with `failover_of = "P"` stands by for connection P
//! (the primary), protecting the same traffic through another gateway, often with
//! its own identity and key. One member of the pair carries the traffic at a time:
//! the others' outbound SAs stay keyed in the data plane but out of the policy
//! lookup, so a failover is one `OutboundCmd::Activate` (inbound SAs of every member
//! stay installed: whatever a gateway sends arrives).
//!
//! [`StandbyGroups::decide`] is the whole policy, pure (health and time in, steps
//! out): the active member lost its IKE SA or a CHILD SA (DPD, a failed rekey, the
//! peer's Delete) -> the first healthy member in configured order takes over; none
//! healthy -> standbys that are down are initiated; a standby carrying the traffic
//! hands it back to the primary once the primary has been healthy for `preempt`;
//! a cold standby that carries nothing is taken down, a hot one kept up.

use std::time::{Duration, Instant};

use crate::config::{DaemonConfig, StandbyMode};

/// A member is initiated by the pair at most this often.
pub const INITIATE_HOLDOFF: Duration = Duration::from_secs(10);

#[derive(Debug, Clone)]
struct Member {
    conn: String,
    /// `None` for the primary.
    mode: Option<StandbyMode>,
    preempt: Duration,
    healthy_since: Option<Instant>,
    initiated_at: Option<Instant>,
}

#[derive(Debug, Clone)]
struct Group {
    /// The primary first, then its standbys in file order.
    members: Vec<Member>,
    active: usize,
    /// The active member was healthy and is not any more: the pair needs another
    /// one (until some member is active and healthy again).
    lost: bool,
    /// The active member's peer is suspected dead (a liveness check is out) until
    /// then: cold standbys brought up early are not taken down meanwhile.
    suspect_until: Option<Instant>,
}

/// What [`StandbyGroups::decide`] asks the daemon to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Move the traffic from connection `from` to `to`.
    Switch {
        primary: String,
        from: String,
        to: String,
        why: String,
    },
    Initiate(String),
    /// Take down a cold standby that carries nothing.
    Terminate(String),
}

/// A connection's place in a standby pair, for status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Role {
    pub primary: String,
    /// `None` for the primary itself.
    pub mode: Option<StandbyMode>,
    pub active: bool,
}

#[derive(Debug, Default)]
pub struct StandbyGroups {
    groups: Vec<Group>,
}

impl StandbyGroups {
    /// The pairs of `config`; which member is active carries over from `old` where
    /// the member still exists (a reload does not move traffic).
    pub fn from_config(config: &DaemonConfig, old: &StandbyGroups) -> Self {
        let mut groups: Vec<Group> = Vec::new();
        for c in &config.connections {
            let Some(sb) = &c.standby else {
                continue;
            };
            let member = Member {
                conn: c.name.clone(),
                mode: Some(sb.mode),
                preempt: sb.preempt,
                healthy_since: None,
                initiated_at: None,
            };
            match groups.iter_mut().find(|g| g.members[0].conn == sb.of) {
                Some(g) => g.members.push(member),
                None => groups.push(Group {
                    members: vec![
                        Member {
                            conn: sb.of.clone(),
                            mode: None,
                            preempt: Duration::ZERO,
                            healthy_since: None,
                            initiated_at: None,
                        },
                        member,
                    ],
                    active: 0,
                    lost: false,
                    suspect_until: None,
                }),
            }
        }
        for g in &mut groups {
            let Some(prev) = old
                .groups
                .iter()
                .find(|o| o.members[0].conn == g.members[0].conn)
            else {
                continue;
            };
            for m in &mut g.members {
                if let Some(p) = prev.members.iter().find(|p| p.conn == m.conn) {
                    m.healthy_since = p.healthy_since;
                    m.initiated_at = p.initiated_at;
                }
            }
            let was = &prev.members[prev.active].conn;
            g.active = g.members.iter().position(|m| m.conn == *was).unwrap_or(0);
            g.lost = prev.lost;
        }
        Self { groups }
    }

    /// Whether there are no standby pairs.
    pub fn is_empty(&self) -> bool {
        self.groups.is_empty()
    }

    /// Whether `conn` is a member of a pair that does not carry the traffic now.
    pub fn idle(&self, conn: &str) -> bool {
        self.role(conn).is_some_and(|r| !r.active)
    }

    /// `conn`'s place in its pair, if it has one.
    pub fn role(&self, conn: &str) -> Option<Role> {
        self.groups.iter().find_map(|g| {
            let i = g.members.iter().position(|m| m.conn == conn)?;
            Some(Role {
                primary: g.members[0].conn.clone(),
                mode: g.members[i].mode,
                active: g.active == i,
            })
        })
    }

    /// The peer of `conn` is suspected dead until `until` (a liveness check is out):
    /// if `conn` carries a pair's traffic, its cold standbys that are down are to be
    /// set up now, in parallel with the check, so a failover does not wait for their
    /// IKE_SA_INIT and IKE_AUTH. Returns them (each at most once per hold-off).
    pub fn suspect(&mut self, conn: &str, until: Instant, now: Instant) -> Vec<String> {
        let mut out = Vec::new();
        for g in &mut self.groups {
            if g.members[g.active].conn != conn {
                continue;
            }
            g.suspect_until = Some(until);
            for m in g.members[1..].iter_mut() {
                let due = m.mode == Some(StandbyMode::Cold)
                    && m.initiated_at
                        .is_none_or(|t| now.duration_since(t) >= INITIATE_HOLDOFF);
                if due {
                    m.initiated_at = Some(now);
                    out.push(m.conn.clone());
                }
            }
        }
        out
    }

    /// One look at every pair: `healthy` (IKE SA up, every child sending), `up`
    /// (an IKE SA up or being set up), and what is to be done.
    pub fn decide(
        &mut self,
        healthy: impl Fn(&str) -> bool,
        up: impl Fn(&str) -> bool,
        now: Instant,
    ) -> Vec<Step> {
        let mut steps = Vec::new();
        for g in &mut self.groups {
            let was_ok = g.members[g.active].healthy_since.is_some();
            for m in &mut g.members {
                if healthy(&m.conn) {
                    m.healthy_since.get_or_insert(now);
                } else {
                    m.healthy_since = None;
                }
            }
            let primary = g.members[0].conn.clone();
            let active_ok = g.members[g.active].healthy_since.is_some();
            if active_ok {
                g.lost = false;
            } else if was_ok {
                g.lost = true;
            }
            // A member that is still being set up for the first time keeps the
            // traffic; one that failed, or is not up at all, hands it on.
            if !active_ok && (g.lost || !up(&g.members[g.active].conn)) {
                match g.members.iter().position(|m| m.healthy_since.is_some()) {
                    Some(next) => {
                        steps.push(Step::Switch {
                            primary: primary.clone(),
                            from: g.members[g.active].conn.clone(),
                            to: g.members[next].conn.clone(),
                            why: format!("{} is down", g.members[g.active].conn),
                        });
                        g.active = next;
                        g.lost = false;
                    }
                    None if g.lost => {
                        // Nothing carries the traffic: bring up the first standby
                        // that is down (the primary restarts by its dpd_action).
                        let down = g.members[1..].iter_mut().find(|m| {
                            !up(&m.conn)
                                && m.initiated_at
                                    .is_none_or(|t| now.duration_since(t) >= INITIATE_HOLDOFF)
                        });
                        if let Some(m) = down {
                            m.initiated_at = Some(now);
                            steps.push(Step::Initiate(m.conn.clone()));
                        }
                    }
                    None => {}
                }
            } else if active_ok && g.active != 0 {
                let standby = &g.members[g.active];
                let back = !standby.preempt.is_zero()
                    && g.members[0]
                        .healthy_since
                        .is_some_and(|t| now.duration_since(t) >= standby.preempt);
                if back {
                    steps.push(Step::Switch {
                        primary: primary.clone(),
                        from: standby.conn.clone(),
                        to: primary.clone(),
                        why: format!(
                            "{primary} has been up for {} s (preempt)",
                            standby.preempt.as_secs()
                        ),
                    });
                    g.active = 0;
                }
            }
            let active_ok = g.members[g.active].healthy_since.is_some();
            let suspect = g.suspect_until.is_some_and(|t| now < t);
            // Hot standbys are kept up while the pair is in use (its primary up or
            // some member carrying traffic).
            let in_use = up(&primary) || g.members.iter().any(|m| m.healthy_since.is_some());
            for (i, m) in g.members.iter_mut().enumerate().skip(1) {
                match m.mode {
                    Some(StandbyMode::Cold)
                        if i != g.active && active_ok && !suspect && up(&m.conn) =>
                    {
                        steps.push(Step::Terminate(m.conn.clone()));
                    }
                    Some(StandbyMode::Hot)
                        if in_use
                            && !up(&m.conn)
                            && m.initiated_at
                                .is_none_or(|t| now.duration_since(t) >= INITIATE_HOLDOFF) =>
                    {
                        m.initiated_at = Some(now);
                        steps.push(Step::Initiate(m.conn.clone()));
                    }
                    _ => {}
                }
            }
        }
        steps
    }
}

impl super::Supervisor {
    /// Applies [`StandbyGroups::decide`]: switches the data plane, initiates and
    /// terminates members. Returns whether it did anything (the endpoint then has
    /// output to flush).
    pub(super) fn steer_standbys(&mut self, now: Instant) -> bool {
        if self.standbys.is_empty() {
            return false;
        }
        let live = self.endpoint.ike_sas();
        let config = std::sync::Arc::clone(&self.config);
        let pairs = &self.pairs;
        let healthy = |conn: &str| {
            let Some(c) = config.connections.iter().find(|c| c.name == conn) else {
                return false;
            };
            live.iter()
                .any(|s| s.conn == conn && s.state == ikev2::IkeSaState::Established)
                && !c.children.is_empty()
                && c.children.iter().all(|ch| pairs.sends(conn, &ch.name))
        };
        let up = |conn: &str| live.iter().any(|s| s.conn == conn);
        let steps = self.standbys.decide(healthy, up, now);
        let acted = !steps.is_empty();
        for step in steps {
            match step {
                Step::Switch {
                    primary,
                    from,
                    to,
                    why,
                } => {
                    let on = self.pairs.outbound_spis(&to);
                    let off = self.pairs.outbound_spis(&from);
                    self.data
                        .outbound(super::super::dataplane::OutboundCmd::Activate { on, off });
                    tracing::warn!("{primary}: traffic moved from {from} to {to}: {why}");
                    self.book.switched(&primary, &from, &to, &why);
                }
                Step::Initiate(conn) => match self.initiate(&conn) {
                    Ok(id) => tracing::info!("{conn}: initiating IKE SA {id} (standby)"),
                    Err(e) => tracing::error!("{conn}: cannot initiate the standby: {e}"),
                },
                Step::Terminate(conn) => {
                    tracing::info!("{conn}: cold standby no longer needed: deleting its IKE SA");
                    let _ = self.endpoint.terminate(now, &conn);
                }
            }
        }
        acted
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn groups(mode: StandbyMode, preempt: u64) -> StandbyGroups {
        let member = |conn: &str, mode, preempt| Member {
            conn: conn.to_owned(),
            mode,
            preempt: Duration::from_secs(preempt),
            healthy_since: None,
            initiated_at: None,
        };
        StandbyGroups {
            groups: vec![Group {
                members: vec![member("p", None, 0), member("s", Some(mode), preempt)],
                active: 0,
                lost: false,
                suspect_until: None,
            }],
        }
    }

    fn run(g: &mut StandbyGroups, healthy: &[&str], up: &[&str], t: Instant) -> Vec<Step> {
        let h: HashSet<&str> = healthy.iter().copied().collect();
        let u: HashSet<&str> = up.iter().chain(healthy).copied().collect();
        g.decide(|c| h.contains(c), |c| u.contains(c), t)
    }

    fn switched(steps: &[Step]) -> Vec<(&str, &str)> {
        steps
            .iter()
            .filter_map(|s| match s {
                Step::Switch { from, to, .. } => Some((from.as_str(), to.as_str())),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn a_hot_standby_takes_over_and_stays_without_preempt() {
        let mut g = groups(StandbyMode::Hot, 0);
        let t0 = Instant::now();
        let s = Duration::from_secs;
        assert!(run(&mut g, &["p", "s"], &[], t0).is_empty());
        assert!(g.idle("s") && !g.idle("p"));
        // The primary dies: one switch.
        assert_eq!(switched(&run(&mut g, &["s"], &[], t0 + s(1))), [("p", "s")]);
        assert!(g.idle("p") && !g.idle("s"));
        // Back, for long: no preempt, no switch.
        assert!(run(&mut g, &["p", "s"], &[], t0 + s(2)).is_empty());
        assert!(run(&mut g, &["p", "s"], &[], t0 + s(1000)).is_empty());
        // The standby dies: back to the primary.
        assert_eq!(
            switched(&run(&mut g, &["p"], &["s"], t0 + s(1001))),
            [("s", "p")]
        );
    }

    #[test]
    fn preempt_hands_back_after_the_primary_was_up_for_the_hold_time() {
        let mut g = groups(StandbyMode::Hot, 30);
        let t0 = Instant::now();
        let s = Duration::from_secs;
        run(&mut g, &["p", "s"], &[], t0);
        assert_eq!(switched(&run(&mut g, &["s"], &[], t0 + s(1))), [("p", "s")]);
        assert!(run(&mut g, &["p", "s"], &[], t0 + s(10)).is_empty());
        // Flapping primary: the hold time restarts.
        assert!(run(&mut g, &["s"], &[], t0 + s(20)).is_empty());
        assert!(run(&mut g, &["p", "s"], &[], t0 + s(25)).is_empty());
        assert!(run(&mut g, &["p", "s"], &[], t0 + s(54)).is_empty());
        let steps = run(&mut g, &["p", "s"], &[], t0 + s(55));
        assert_eq!(switched(&steps), [("s", "p")]);
        assert!(matches!(&steps[0], Step::Switch { why, .. } if why.contains("preempt")));
    }

    #[test]
    fn a_cold_standby_is_brought_up_only_when_needed_and_taken_down_after() {
        let mut g = groups(StandbyMode::Cold, 30);
        let t0 = Instant::now();
        let s = Duration::from_secs;
        assert!(run(&mut g, &["p"], &[], t0).is_empty());
        // The primary dies: the standby is initiated (once per hold-off).
        assert_eq!(
            run(&mut g, &[], &[], t0 + s(1)),
            [Step::Initiate("s".into())]
        );
        assert!(run(&mut g, &[], &["s"], t0 + s(2)).is_empty());
        assert!(run(&mut g, &[], &[], t0 + s(3)).is_empty(), "held off");
        assert_eq!(
            run(&mut g, &[], &[], t0 + s(11)),
            [Step::Initiate("s".into())]
        );
        // Up: it takes the traffic.
        assert_eq!(
            switched(&run(&mut g, &["s"], &[], t0 + s(12))),
            [("p", "s")]
        );
        // The primary back for the hold time: traffic back, the cold standby down.
        run(&mut g, &["p", "s"], &[], t0 + s(20));
        let steps = run(&mut g, &["p", "s"], &[], t0 + s(50));
        assert_eq!(switched(&steps), [("s", "p")]);
        assert!(steps.contains(&Step::Terminate("s".into())), "{steps:?}");
    }

    #[test]
    fn nothing_moves_while_the_primary_is_set_up_for_the_first_time() {
        let t0 = Instant::now();
        let mut g = groups(StandbyMode::Cold, 0);
        // Not started at all: the pair is not in use.
        assert!(run(&mut g, &[], &[], t0).is_empty());
        assert!(run(&mut g, &[], &["p"], t0).is_empty());
        let mut g = groups(StandbyMode::Hot, 0);
        assert!(run(&mut g, &[], &[], t0).is_empty());
        // The primary connecting: the hot standby is brought up with it, and being
        // quicker does not take the traffic.
        assert_eq!(run(&mut g, &[], &["p"], t0), [Step::Initiate("s".into())]);
        assert!(run(&mut g, &["s"], &["p"], t0).is_empty());
        assert!(!g.idle("p"));
        // Unless the primary gives up.
        assert_eq!(switched(&run(&mut g, &["s"], &[], t0)), [("p", "s")]);
    }

    #[test]
    fn a_suspect_primary_brings_its_cold_standby_up_early() {
        let mut g = groups(StandbyMode::Cold, 0);
        let t0 = Instant::now();
        let s = Duration::from_secs;
        run(&mut g, &["p"], &[], t0);
        // Traffic unanswered: a liveness check for 5 s; the cold standby starts now.
        assert_eq!(g.suspect("p", t0 + s(6), t0 + s(1)), ["s".to_owned()]);
        assert!(
            g.suspect("s", t0 + s(6), t0 + s(1)).is_empty(),
            "not the active one"
        );
        // Up while the check is out: kept.
        assert!(run(&mut g, &["p", "s"], &[], t0 + s(2)).is_empty());
        // The primary is declared dead: the standby, ready, takes over at once.
        assert_eq!(switched(&run(&mut g, &["s"], &[], t0 + s(6))), [("p", "s")]);
        // Had the primary answered, the standby would go down after the check.
        let mut g = groups(StandbyMode::Cold, 0);
        run(&mut g, &["p"], &[], t0);
        g.suspect("p", t0 + s(6), t0 + s(1));
        assert!(run(&mut g, &["p", "s"], &[], t0 + s(3)).is_empty());
        assert_eq!(
            run(&mut g, &["p", "s"], &[], t0 + s(7)),
            [Step::Terminate("s".into())]
        );
    }

    #[test]
    fn a_hot_standby_that_is_down_is_brought_up_again() {
        let mut g = groups(StandbyMode::Hot, 0);
        let t0 = Instant::now();
        assert_eq!(run(&mut g, &["p"], &[], t0), [Step::Initiate("s".into())]);
        assert!(run(&mut g, &["p"], &[], t0 + Duration::from_secs(1)).is_empty());
    }
}
