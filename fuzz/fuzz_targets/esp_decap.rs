//! Decapsulation with random SAs and packets.
//!
//! The input chooses a suite (every supported one, both backends), ESN, the replay
//! window and the keys, then a list of operations on one outbound/inbound SA pair:
//! random packets, genuine packets (encapsulated here, with sequence-number jumps),
//! genuine packets with one octet changed, cut or extended, and replays of earlier ones.
//! Nothing may panic, and the outcome must match a model: a genuine packet decapsulates
//! to exactly its inner packet iff its sequence number is new and inside the window; a
//! changed one never decapsulates; every failure is counted once.

#![no_main]

use esp::cipher::Backend;
use esp::{DecapError, InboundSa, OutboundSa, PacketBuf, SaConfig, Spi, decapsulate, encapsulate};
use ikev2::crypto::algorithms::{EncrAlgorithm, EspSuite, IntegAlgorithm};
use ikev2::crypto::secret::SecretBytes;
use libfuzzer_sys::fuzz_target;
use rand_core::{CryptoRng, RngCore};
use std::collections::BTreeSet;

/// Deterministic, NO SECURITY: fuzzing only (splitmix64).
struct FuzzRng(u64);

impl RngCore for FuzzRng {
    fn next_u32(&mut self) -> u32 {
        self.next_u64() as u32
    }
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        for b in dest {
            *b = self.next_u64() as u8;
        }
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}
impl CryptoRng for FuzzRng {}

/// Reads the fuzz input; zeros once it runs out.
struct Input<'a>(&'a [u8]);

impl Input<'_> {
    fn u8(&mut self) -> u8 {
        match self.0.split_first() {
            Some((&b, rest)) => {
                self.0 = rest;
                b
            }
            None => 0,
        }
    }
    fn u16(&mut self) -> u16 {
        u16::from_be_bytes([self.u8(), self.u8()])
    }
    fn u64(&mut self) -> u64 {
        (0..8).fold(0, |a, _| a << 8 | u64::from(self.u8()))
    }
    fn bytes(&mut self, n: usize) -> &[u8] {
        let n = n.min(self.0.len());
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        a
    }
    fn done(&self) -> bool {
        self.0.is_empty()
    }
}

fn suite(i: u8) -> (EncrAlgorithm, Option<IntegAlgorithm>) {
    use EncrAlgorithm::*;
    use IntegAlgorithm::*;
    let gcm = |key_bits, icv_len| AesGcm { key_bits, icv_len };
    match i % 11 {
        0 => (gcm(128, 16), None),
        1 => (gcm(192, 16), None),
        2 => (gcm(256, 16), None),
        3 => (gcm(128, 12), None),
        4 => (gcm(256, 8), None),
        5 => (ChaCha20Poly1305, None),
        6 => (AesCbc { key_bits: 128 }, Some(HmacSha256_128)),
        7 => (AesCbc { key_bits: 192 }, Some(HmacSha384_192)),
        8 => (AesCbc { key_bits: 256 }, Some(HmacSha512_256)),
        9 => (AesCbc { key_bits: 128 }, Some(HmacSha1_96)),
        _ => (AesCbc { key_bits: 256 }, Some(HmacSha256_128)),
    }
}

fn inner_packet(input: &mut Input) -> Vec<u8> {
    let kind = input.u8();
    let len = usize::from(input.u16() % 1600);
    let payload = input.bytes(len).to_vec();
    match kind % 4 {
        // raw octets: usually not IP
        0 => payload,
        1 | 2 => {
            let mut p = vec![0u8; 20];
            p[0] = 0x45;
            p[2..4].copy_from_slice(&((20 + payload.len()) as u16).to_be_bytes());
            p.extend(payload);
            p
        }
        _ => {
            let mut p = vec![0u8; 40];
            p[0] = 0x60;
            p[4..6].copy_from_slice(&(payload.len() as u16).to_be_bytes());
            p.extend(payload);
            p
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let mut input = Input(data);
    let setup = input.u8();
    let (encr, integ) = suite(setup);
    let esn = setup & 0x10 != 0;
    let backend = match (setup >> 5) & 3 {
        0 => Backend::AwsLc,
        1 => Backend::Ring,
        _ => Backend::RustCrypto,
    };
    let window = match input.u8() % 5 {
        0 => 1,
        1 => 32,
        2 => 64,
        3 => 1024,
        _ => u32::from(input.u16() % 4096),
    };
    let mut rng = FuzzRng(input.u64());
    let mut ek = vec![0u8; encr.keymat_len()];
    rng.fill_bytes(&mut ek);
    let ik = integ.map(|i| {
        let mut k = vec![0u8; i.key_len()];
        rng.fill_bytes(&mut k);
        SecretBytes::new(k)
    });
    let config = SaConfig::new(
        Spi(0x0100_0000 | u32::from(setup)),
        EspSuite {
            encr,
            integ,
            dh: None,
            addke: EspSuite::NO_ADDKE,
            esn,
        },
        SecretBytes::new(ek),
        ik,
    )
    .with_replay_window(window)
    .with_backend(backend);
    let mut out = OutboundSa::new(&config, &mut rng).expect("valid config");
    let mut inb = InboundSa::new(&config).expect("valid config");
    let w = inb.replay_window().window();

    let mut delivered = BTreeSet::new();
    let mut top = 0u64;
    let mut history: Vec<(u64, Vec<u8>)> = Vec::new();
    let mut failures = 0u64;
    let mut buf = PacketBuf::new();

    while !input.done() {
        let op = input.u8();
        match op % 4 {
            // Random octets, sometimes with the right SPI in front.
            0 => {
                let len = usize::from(input.u8()) * 2;
                let mut pkt = Vec::new();
                if op & 0x80 != 0 {
                    pkt.extend(inb.spi().to_be_bytes());
                }
                pkt.extend(input.bytes(len));
                buf.set_packet(64, &pkt);
                // An authentic-looking result from random octets is a forgery; only
                // possible for a random 8-octet ICV with astronomically low odds.
                if decapsulate(&mut inb, &mut buf).is_err() {
                    failures += 1;
                }
                // (with a wrong SPI or a short packet the result is Err anyway)
            }
            // A genuine packet, possibly after a sequence jump, possibly altered.
            1 | 2 => {
                let jump = u64::from(input.u16()) << (input.u8() % 9);
                let next = out.last_seq().saturating_add(jump).max(out.last_seq() + 1);
                out.advance_seq_for_test(next);
                let inner = inner_packet(&mut input);
                let headroom = usize::from(input.u8() % 100);
                buf.set_packet(headroom, &inner);
                let r = encapsulate(&mut out, &mut buf);
                if esp::wire::inner_ip(&inner).is_none() {
                    assert!(r.is_err());
                    continue;
                }
                let inner = {
                    let (_, l) = esp::wire::inner_ip(&inner).expect("checked");
                    inner[..l].to_vec()
                };
                if r.is_err() {
                    // only sequence exhaustion can stop a valid packet
                    assert!(out.is_expired());
                    continue;
                }
                let seq = out.last_seq();
                let esp_pkt = buf.as_slice().to_vec();
                history.push((seq, esp_pkt.clone()));
                let alter = input.u8();
                let mut changed = esp_pkt.clone();
                match alter % 4 {
                    1 if !changed.is_empty() => {
                        let pos = usize::from(input.u16()) % changed.len();
                        changed[pos] ^= input.u8() | 1;
                    }
                    2 => {
                        let cut = usize::from(input.u16()) % changed.len();
                        changed.truncate(cut);
                    }
                    3 => changed.push(input.u8()),
                    _ => {}
                }
                buf.set_packet(64, &changed);
                let got = decapsulate(&mut inb, &mut buf);
                if changed != esp_pkt {
                    assert!(got.is_err(), "an altered packet decapsulated");
                    failures += 1;
                    continue;
                }
                let fresh = !delivered.contains(&seq) && (seq > top || top - seq < w);
                if fresh {
                    let i = got.expect("a genuine fresh packet decapsulates");
                    assert_eq!(i.seq, seq);
                    assert_eq!(buf.as_slice(), &inner[..]);
                    delivered.insert(seq);
                    top = top.max(seq);
                } else {
                    assert!(matches!(got, Err(DecapError::Replay(_))), "{got:?}");
                    failures += 1;
                }
            }
            // Replay an earlier packet.
            _ => {
                if history.is_empty() {
                    continue;
                }
                let i = usize::from(input.u16()) % history.len();
                let (seq, pkt) = &history[i];
                buf.set_packet(64, pkt);
                let got = decapsulate(&mut inb, &mut buf);
                let fresh = !delivered.contains(seq) && (*seq > top || top - seq < w);
                if fresh {
                    // first sent altered, so never delivered: the genuine copy passes
                    got.expect("a genuine fresh packet decapsulates");
                    delivered.insert(*seq);
                    top = top.max(*seq);
                } else {
                    assert!(got.is_err(), "a replay decapsulated");
                    failures += 1;
                }
            }
        }
        if history.len() > 64 {
            history.drain(..32);
        }
    }
    let u = inb.usage();
    assert_eq!(u.packets, delivered.len() as u64);
    // Dummy packets are not counted as drops, and cannot occur here (we never send one).
    assert_eq!(u.drops.total(), failures);
});
