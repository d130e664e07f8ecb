//! Per-source limit on new IKE SAs (`[daemon] init_rate_per_source`): each source
//! address gets a token bucket of IKE_SA_INIT requests per second (burst = one
//! second's worth). Requests beyond it are dropped before any parsing or DH work and
//! counted. The table is bounded: idle sources are forgotten, and when it is full the
//! oldest entries go first, so a spoofed-source flood cannot grow it.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use ikev2::wire::{ExchangeType, Header};

/// Sources tracked at most.
const MAX_SOURCES: usize = 65_536;
/// A source unseen this long is forgotten.
const IDLE: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    last: Instant,
}

/// The buckets of all sources.
#[derive(Debug)]
pub struct InitRateLimit {
    per_second: f64,
    buckets: HashMap<IpAddr, Bucket>,
    last_sweep: Option<Instant>,
}

impl InitRateLimit {
    /// `per_second` IKE_SA_INIT requests per source (0: no limit).
    pub fn new(per_second: u32) -> Self {
        Self {
            per_second: f64::from(per_second),
            buckets: HashMap::new(),
            last_sweep: None,
        }
    }

    /// Whether a new IKE_SA_INIT request from `src` may go on.
    pub fn allow(&mut self, src: IpAddr, now: Instant) -> bool {
        if self.per_second <= 0.0 {
            return true;
        }
        self.sweep(now);
        let rate = self.per_second;
        let b = self.buckets.entry(src).or_insert(Bucket {
            tokens: rate,
            last: now,
        });
        let elapsed = now.saturating_duration_since(b.last).as_secs_f64();
        b.tokens = (b.tokens + elapsed * rate).min(rate);
        b.last = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// How many sources are tracked.
    pub fn len(&self) -> usize {
        self.buckets.len()
    }

    pub fn is_empty(&self) -> bool {
        self.buckets.is_empty()
    }

    fn sweep(&mut self, now: Instant) {
        let due = self
            .last_sweep
            .is_none_or(|t| now.saturating_duration_since(t) >= Duration::from_secs(10));
        if due || self.buckets.len() >= MAX_SOURCES {
            self.buckets
                .retain(|_, b| now.saturating_duration_since(b.last) < IDLE);
            self.last_sweep = Some(now);
        }
        if self.buckets.len() >= MAX_SOURCES {
            // Still full of recent sources: drop the oldest half.
            let mut ages: Vec<(Instant, IpAddr)> =
                self.buckets.iter().map(|(a, b)| (b.last, *a)).collect();
            ages.sort_unstable();
            for (_, a) in ages.into_iter().take(MAX_SOURCES / 2) {
                self.buckets.remove(&a);
            }
        }
    }
}

/// Whether an IKE message is an IKE_SA_INIT request starting a new IKE SA: not a
/// response, responder SPI zero.
pub fn is_new_ike_sa_request(hdr: &Header<'_>) -> bool {
    hdr.exchange_type() == ExchangeType::IKE_SA_INIT
        && !hdr.flags().is_response()
        && hdr.spi_r().is_zero()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_source_gets_its_rate_and_burst() {
        let mut l = InitRateLimit::new(5);
        let t0 = Instant::now();
        let a: IpAddr = "192.0.2.1".parse().expect("addr");
        let b: IpAddr = "192.0.2.2".parse().expect("addr");
        let allowed = (0..20).filter(|_| l.allow(a, t0)).count();
        assert_eq!(allowed, 5, "burst of one second");
        assert!(l.allow(b, t0), "another source is not affected");
        assert!(!l.allow(a, t0 + Duration::from_millis(100)));
        assert!(
            l.allow(a, t0 + Duration::from_millis(250)),
            "refilled at 5/s"
        );
        assert!(InitRateLimit::new(0).allow(a, t0), "0 = no limit");
    }

    #[test]
    fn the_table_stays_bounded() {
        let mut l = InitRateLimit::new(1);
        let t0 = Instant::now();
        for i in 0..(MAX_SOURCES as u32 + 1000) {
            let ip = IpAddr::from((0x0a00_0000u32 + i).to_be_bytes());
            l.allow(ip, t0);
        }
        assert!(l.len() <= MAX_SOURCES, "{}", l.len());
        // Idle sources are forgotten.
        l.allow(
            "192.0.2.9".parse().expect("addr"),
            t0 + IDLE + Duration::from_secs(11),
        );
        assert_eq!(l.len(), 1);
    }

    #[test]
    fn recognises_new_ike_sa_requests() {
        let new = |m: &[u8]| Header::new_checked(m).is_ok_and(|h| is_new_ike_sa_request(&h));
        let mut m = vec![0u8; 28];
        m[0..8].copy_from_slice(&[1; 8]);
        m[17] = 0x20;
        m[18] = 34;
        m[19] = 0x08;
        m[24..28].copy_from_slice(&28u32.to_be_bytes());
        assert!(new(&m));
        m[19] = 0x20; // response
        assert!(!new(&m));
        m[19] = 0x08;
        m[8] = 1; // responder SPI set: not a new SA
        assert!(!new(&m));
        m[8] = 0;
        m[18] = 35;
        assert!(!new(&m));
        m[18] = 34;
        assert!(!new(&m[..20]), "shorter than a header");
    }
}
