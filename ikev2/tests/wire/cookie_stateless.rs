//! Stateless cookies (RFC 7296 section 2.6): binding to nonce, address and SPI,
//! rotation, determinism and secrecy of Debug.
#![allow(clippy::unwrap_used)]

use std::net::IpAddr;
use std::time::{Duration, Instant};

use ikev2::cookie::{COOKIE_LEN, CookieGenerator, ROTATE_INTERVAL, SECRET_LEN};
use ikev2::wire::IkeSpi;
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::{RngCore, SeedableRng};

const NI: &[u8] = &[0x11; 32];
const SPI: IkeSpi = IkeSpi(0x0102_0304_0506_0708);

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn rng(seed: u8) -> ChaCha20Rng {
    ChaCha20Rng::from_seed([seed; 32])
}

#[test]
fn accepts_its_own_cookie() {
    let now = Instant::now();
    let g = CookieGenerator::new(&mut rng(1), now);
    for addr in ["192.0.2.1", "2001:db8::1"] {
        let c = g.cookie(NI, ip(addr), SPI);
        assert_eq!(c.len(), COOKIE_LEN);
        assert!(
            (1..=64).contains(&c.len()),
            "RFC 7296 section 2.6: 1 to 64 octets"
        );
        assert!(g.verify(&c, NI, ip(addr), SPI));
    }
    // any nonce length (RFC 7296: 16 to 256 octets), even empty
    for len in [0, 16, 255, 256] {
        let ni = vec![0xab; len];
        let c = g.cookie(&ni, ip("192.0.2.1"), SPI);
        assert!(g.verify(&c, &ni, ip("192.0.2.1"), SPI));
    }
}

#[test]
fn rejects_other_inputs_and_damaged_cookies() {
    let now = Instant::now();
    let g = CookieGenerator::new(&mut rng(2), now);
    let a = ip("192.0.2.1");
    let c = g.cookie(NI, a, SPI);

    // other nonce, address, SPI
    assert!(!g.verify(&c, &[0x12; 32], a, SPI));
    assert!(!g.verify(&c, &NI[..31], a, SPI));
    assert!(!g.verify(&c, &[NI, &[0]].concat(), a, SPI));
    assert!(!g.verify(&c, NI, ip("192.0.2.2"), SPI));
    assert!(!g.verify(&c, NI, ip("2001:db8::1"), SPI));
    assert!(!g.verify(&c, NI, a, IkeSpi(0x0102_0304_0506_0709)));
    assert!(!g.verify(&c, NI, a, IkeSpi::ZERO));

    // truncated, extended, empty
    for n in 0..c.len() {
        assert!(!g.verify(&c[..n], NI, a, SPI), "truncated to {n}");
    }
    assert!(!g.verify(&[c.as_slice(), &[0]].concat(), NI, a, SPI));
    assert!(!g.verify(&[], NI, a, SPI));

    // every single-bit change, version octets included
    for i in 0..c.len() {
        for bit in 0..8 {
            let mut m = c.clone();
            m[i] ^= 1 << bit;
            assert!(!g.verify(&m, NI, a, SPI), "bit {bit} of octet {i}");
        }
    }

    // another generator's cookie
    let other = CookieGenerator::new(&mut rng(3), now);
    assert!(!g.verify(&other.cookie(NI, a, SPI), NI, a, SPI));
}

#[test]
fn address_and_nonce_lengths_cannot_be_traded() {
    // the same bytes split differently between nonce and address must not verify:
    // Ni = X | 192.0.2.1 with an IPv6 address vs. Ni = X with the IPv4 address
    let g = CookieGenerator::new(&mut rng(4), Instant::now());
    let v4 = ip("192.0.2.1");
    let c = g.cookie(&[0u8; 16], v4, SPI);
    let v6: IpAddr = ip("::c000:201"); // the same 4 octets at the end of an IPv6 address
    assert!(!g.verify(&c, &[0u8; 4], v6, SPI));
    // an IPv4-mapped IPv6 address is the IPv4 address (dual-stack sockets)
    assert!(g.verify(&c, &[0u8; 16], ip("::ffff:192.0.2.1"), SPI));
}

#[test]
fn survives_one_rotation_not_two() {
    let t0 = Instant::now();
    let mut r = rng(5);
    let mut g = CookieGenerator::new(&mut r, t0);
    let a = ip("198.51.100.9");
    assert_eq!(g.next_rotation(), t0 + ROTATE_INTERVAL);

    let c0 = g.cookie(NI, a, SPI);
    // before the interval nothing changes
    g.maybe_rotate(t0 + ROTATE_INTERVAL - Duration::from_millis(1), &mut r);
    assert_eq!(g.cookie(NI, a, SPI), c0);
    assert_eq!(g.next_rotation(), t0 + ROTATE_INTERVAL);

    // first rotation: new cookies differ, the old one is still accepted
    let t1 = t0 + ROTATE_INTERVAL;
    g.maybe_rotate(t1, &mut r);
    assert_eq!(g.next_rotation(), t1 + ROTATE_INTERVAL);
    let c1 = g.cookie(NI, a, SPI);
    assert_ne!(c1, c0);
    assert!(g.verify(&c0, NI, a, SPI));
    assert!(g.verify(&c1, NI, a, SPI));

    // second rotation: the first cookie is gone, the second survives
    let t2 = t1 + ROTATE_INTERVAL;
    g.maybe_rotate(t2, &mut r);
    assert!(!g.verify(&c0, NI, a, SPI));
    assert!(g.verify(&c1, NI, a, SPI));
    let c2 = g.cookie(NI, a, SPI);
    assert!(g.verify(&c2, NI, a, SPI));

    g.maybe_rotate(t2 + ROTATE_INTERVAL, &mut r);
    assert!(!g.verify(&c1, NI, a, SPI));
    assert!(g.verify(&c2, NI, a, SPI));
}

#[test]
fn late_rotation_drops_stale_secrets() {
    let t0 = Instant::now();
    let mut r = rng(6);
    let a = ip("198.51.100.9");

    // nobody called maybe_rotate for two intervals: the old secret is not kept
    let mut g = CookieGenerator::new(&mut r, t0);
    let c0 = g.cookie(NI, a, SPI);
    g.maybe_rotate(t0 + 2 * ROTATE_INTERVAL, &mut r);
    assert!(!g.verify(&c0, NI, a, SPI));
    assert!(g.verify(&g.cookie(NI, a, SPI), NI, a, SPI));

    // a rotated-out secret expires two intervals after its creation even if the
    // current one is not due yet
    let mut g = CookieGenerator::new(&mut r, t0);
    let c0 = g.cookie(NI, a, SPI);
    let t1 = t0 + ROTATE_INTERVAL + ROTATE_INTERVAL / 2;
    g.maybe_rotate(t1, &mut r);
    assert!(g.verify(&c0, NI, a, SPI));
    g.maybe_rotate(t0 + 2 * ROTATE_INTERVAL, &mut r);
    assert!(!g.verify(&c0, NI, a, SPI));
    assert_eq!(g.next_rotation(), t1 + ROTATE_INTERVAL);

    // a custom interval
    let mut g = CookieGenerator::with_interval(&mut r, t0, Duration::from_secs(10));
    let c0 = g.cookie(NI, a, SPI);
    assert_eq!(g.next_rotation(), t0 + Duration::from_secs(10));
    g.maybe_rotate(t0 + Duration::from_secs(10), &mut r);
    assert!(g.verify(&c0, NI, a, SPI));
    g.maybe_rotate(t0 + Duration::from_secs(20), &mut r);
    assert!(!g.verify(&c0, NI, a, SPI));
}

#[test]
fn deterministic_with_a_seeded_rng() {
    let now = Instant::now();
    let a = ip("192.0.2.1");
    let g1 = CookieGenerator::new(&mut rng(7), now);
    let g2 = CookieGenerator::new(&mut rng(7), now + Duration::from_secs(3));
    assert_eq!(g1.cookie(NI, a, SPI), g2.cookie(NI, a, SPI));
    assert!(g2.verify(&g1.cookie(NI, a, SPI), NI, a, SPI));
    let g3 = CookieGenerator::new(&mut rng(8), now);
    assert_ne!(g1.cookie(NI, a, SPI), g3.cookie(NI, a, SPI));

    // and after rotations with the same draws
    let (mut r1, mut r2) = (rng(9), rng(9));
    let mut g1 = CookieGenerator::new(&mut r1, now);
    let mut g2 = CookieGenerator::new(&mut r2, now);
    for k in 1..4 {
        g1.maybe_rotate(now + k * ROTATE_INTERVAL, &mut r1);
        g2.maybe_rotate(now + k * ROTATE_INTERVAL, &mut r2);
        assert_eq!(g1.cookie(NI, a, SPI), g2.cookie(NI, a, SPI));
    }
}

#[test]
fn known_layout() {
    // version (4 octets, drawn first from the rng) | HMAC-SHA256 tag (32 octets)
    let g = CookieGenerator::new(&mut rng(10), Instant::now());
    let c = g.cookie(NI, ip("192.0.2.1"), SPI);
    let version = rng(10).next_u32();
    assert_eq!(c[..4], version.to_be_bytes());
    assert_eq!(c.len(), 4 + 32);
}

#[test]
fn debug_shows_no_secret() {
    let mut r = rng(11);
    let now = Instant::now();
    let mut g = CookieGenerator::new(&mut r, now);
    g.maybe_rotate(now + ROTATE_INTERVAL, &mut r);

    // replay the draws to learn both secrets
    let mut replay = rng(11);
    let version = replay.next_u32();
    let mut first = [0u8; SECRET_LEN];
    replay.fill_bytes(&mut first);
    let mut second = [0u8; SECRET_LEN];
    replay.fill_bytes(&mut second);

    let shown = format!("{g:?}");
    assert!(shown.contains("CookieGenerator"), "{shown}");
    assert!(shown.contains("version"), "{shown}");
    for secret in [first, second] {
        assert!(!shown.contains(&hex::encode(secret)), "{shown}");
        assert!(!shown.contains(&hex::encode(&secret[..4])), "{shown}");
        let decimal = format!("{:?}", &secret[..4]);
        let decimal = decimal.trim_matches(|c| c == '[' || c == ']');
        assert!(!shown.contains(decimal), "{shown}");
    }
    // the version drawn first is what the cookie carries: the test above replays
    // the same order of draws
    let c = g.cookie(NI, ip("192.0.2.1"), SPI);
    assert_eq!(
        u32::from_be_bytes(c[..4].try_into().unwrap()),
        version.wrapping_add(1)
    );
}
