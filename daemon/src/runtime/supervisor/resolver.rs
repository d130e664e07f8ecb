//! DNS names in `remote_addrs`: resolved with the system resolver (getaddrinfo, so
//! /etc/hosts and /etc/resolv.conf apply) off the control task, when the endpoint
//! asks (every initiation of such a connection: `Event::Resolve`) and every
//! [`REFRESH`] for all of them (what a responder matches peers against, and the
//! daemon's peer filter). Each lookup is bounded by [`LOOKUP_TIMEOUT`].

use std::net::IpAddr;
use std::time::{Duration, Instant};

use ikev2::event::DnsAnswer;
use tokio::sync::mpsc;

use super::Supervisor;

/// How often every name is resolved again for the responder's view.
pub const REFRESH: Duration = Duration::from_secs(60);
/// The longest one lookup may take before it counts as failed.
pub const LOOKUP_TIMEOUT: Duration = Duration::from_secs(5);

/// The answers for one connection's names.
#[derive(Debug)]
pub struct Resolved {
    pub conn: String,
    pub answers: Vec<DnsAnswer>,
}

/// Resolves `name` to its addresses (in the resolver's order, without repeats).
pub async fn lookup(name: &str) -> Result<Vec<IpAddr>, String> {
    let found = tokio::time::timeout(LOOKUP_TIMEOUT, tokio::net::lookup_host((name, 0))).await;
    let addrs = match found {
        Err(_) => return Err(format!("no answer within {} s", LOOKUP_TIMEOUT.as_secs())),
        Ok(Err(e)) => return Err(e.to_string()),
        Ok(Ok(a)) => a,
    };
    let mut out: Vec<IpAddr> = Vec::new();
    for a in addrs {
        if !out.contains(&a.ip()) {
            out.push(a.ip());
        }
    }
    if out.is_empty() {
        return Err("no address".to_owned());
    }
    Ok(out)
}

impl Supervisor {
    /// Resolves `names` of connection `conn` in the background; the answers come
    /// back through [`Supervisor::resolved`].
    pub(super) fn resolve(&self, conn: String, names: Vec<String>) {
        let tx: mpsc::UnboundedSender<Resolved> = self.resolved_tx.clone();
        tokio::spawn(async move {
            let mut answers = Vec::with_capacity(names.len());
            for n in names {
                let a = lookup(&n).await;
                answers.push((n, a));
            }
            let _ = tx.send(Resolved { conn, answers });
        });
    }

    /// Answers from the resolver: into the peer filter and the endpoint.
    pub(super) fn resolved(&mut self, r: Resolved) {
        for (name, answer) in &r.answers {
            match answer {
                Ok(addrs) => {
                    let old = self.admission.dns.insert(name.clone(), addrs.clone());
                    if old.as_ref() != Some(addrs) {
                        tracing::info!("{}: {name} resolves to {addrs:?}", r.conn);
                    }
                }
                // The endpoint reports a failure that hinders an initiation; this
                // is for the periodic refresh.
                Err(e) => tracing::debug!("{}: cannot resolve {name}: {e}", r.conn),
            }
        }
        self.endpoint.resolved(Instant::now(), &r.conn, r.answers);
    }

    /// Every [`REFRESH`]: the names of all loaded connections again.
    pub(super) fn refresh_names(&mut self, now: Instant) {
        if self
            .names_refreshed
            .is_some_and(|t| now.duration_since(t) < REFRESH)
        {
            return;
        }
        self.names_refreshed = Some(now);
        let config = std::sync::Arc::clone(&self.config);
        for c in config
            .connections
            .iter()
            .filter(|c| c.break_glass.is_none() || self.break_glass.contains_key(&c.name))
        {
            let names = ikev2::config::dns_names(&c.remote_hosts);
            if !names.is_empty() {
                self.resolve(c.name.clone(), names);
            }
        }
    }
}
