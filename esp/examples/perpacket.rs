//! A fixed ESP workload for instruction counting (`scripts/bench cpu`, issue 8):
//!
//! `perpacket encap|decap SIZE N` encapsulates (or decapsulates) N IPv4 packets of
//! SIZE octets with AES-256-GCM (the daemon's default backend) on one SA pair.
//! Run it under `valgrind --tool=callgrind` with two values of N: the difference in
//! instructions divided by the difference in N is the cost of one packet, without
//! process start, key setup and teardown. In `decap` mode the same PREPARED packets
//! are encapsulated first whatever N is, so that work cancels out in the difference.

use std::hint::black_box;

use esp::{InboundSa, OutboundSa, PacketBuf, SaConfig, Spi, decapsulate, encapsulate};
use ikev2::crypto::algorithms::{EncrAlgorithm, EspSuite};
use ikev2::crypto::secret::SecretBytes;
use rand_core::OsRng;

const HEADROOM: usize = 64;
const PREPARED: usize = 12_000;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (op, size, n) = match args.as_slice() {
        [_, op, size, n] => (
            op.clone(),
            size.parse::<usize>().expect("SIZE is a number"),
            n.parse::<usize>().expect("N is a number"),
        ),
        _ => {
            eprintln!("usage: perpacket encap|decap SIZE N");
            std::process::exit(2);
        }
    };
    let encr = EncrAlgorithm::AesGcm {
        key_bits: 256,
        icv_len: 16,
    };
    let suite = EspSuite {
        encr,
        integ: None,
        dh: None,
        addke: EspSuite::NO_ADDKE,
        esn: false,
    };
    let cfg = SaConfig::new(
        Spi(0x1234_5678),
        suite,
        SecretBytes::new(vec![0x11; encr.keymat_len()]),
        None,
    );
    let mut out = OutboundSa::new(&cfg, &mut OsRng).expect("AES-GCM SA");
    let mut inb = InboundSa::new(&cfg).expect("AES-GCM SA");
    let mut pkt = vec![0x5a; size];
    pkt[0] = 0x45;
    pkt[1] = 0;
    pkt[2..4].copy_from_slice(&u16::try_from(size).expect("SIZE < 65536").to_be_bytes());
    let mut buf = PacketBuf::with_capacity(HEADROOM, 2048);
    match op.as_str() {
        "encap" => {
            for _ in 0..n {
                buf.set_packet(HEADROOM, &pkt);
                encapsulate(&mut out, &mut buf).expect("encapsulate");
                black_box(buf.as_slice());
            }
        }
        "decap" => {
            assert!(n <= PREPARED, "N at most {PREPARED}");
            let mut sealed: Vec<PacketBuf> = (0..PREPARED)
                .map(|_| {
                    let mut b = PacketBuf::with_capacity(HEADROOM, 2048);
                    b.set_packet(HEADROOM, &pkt);
                    encapsulate(&mut out, &mut b).expect("encapsulate");
                    b
                })
                .collect();
            for b in sealed.iter_mut().take(n) {
                black_box(decapsulate(&mut inb, b).expect("decapsulate"));
            }
        }
        _ => {
            eprintln!("op must be encap or decap");
            std::process::exit(2);
        }
    }
}
