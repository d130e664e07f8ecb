//! Hot-path costs of the inner-packet utilities: SPD lookup, MSS clamping, ICMP
//! too-big generation, IPv4 fragmentation and port-4500 classification. None of
//! them allocates per packet (the ICMP buffer is reused).

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use esp::icmp::too_big_reply;
use esp::ip::{PacketView, checksum};
use esp::mss::clamp_mss;
use esp::natt::classify_4500;
use esp::spd::Spd;
use ikev2::ts::TrafficSelector;

fn ipv4(proto: u8, total: usize, df: bool, l4: &[u8]) -> Vec<u8> {
    let mut p = vec![0u8; total];
    p[0] = 0x45;
    p[2..4].copy_from_slice(&(total as u16).to_be_bytes());
    p[6] = if df { 0x40 } else { 0 };
    p[8] = 64;
    p[9] = proto;
    p[12..16].copy_from_slice(&[10, 1, 0, 5]);
    p[16..20].copy_from_slice(&[10, 2, 7, 9]);
    p[20..20 + l4.len()].copy_from_slice(l4);
    let c = checksum(&p[..20]);
    p[10..12].copy_from_slice(&c.to_be_bytes());
    p
}

fn ts(s: &str) -> TrafficSelector {
    s.parse().expect("selector")
}

fn bench(c: &mut Criterion) {
    // 8 SAs of 2 x 2 selectors (32 policies); the packet matches the least specific
    let mut spd = Spd::new();
    for i in 0..8u8 {
        let l = [
            ts(&format!("10.1.{i}.0/24")),
            ts(&format!("10.11.{i}.0/24")),
        ];
        let r = [
            ts(&format!("10.2.{i}.0/24")),
            ts(&format!("10.12.{i}.0/24")),
        ];
        spd.insert(&l, &r, i);
    }
    spd.insert(&[ts("10.1.0.0/16")], &[ts("10.2.0.0/16")], 99);
    let tcp = [
        0x9c, 0x40, 0x01, 0xbb, 0, 0, 0, 1, 0, 0, 0, 0, 0x60, 0x02, 0xff, 0xff, 0, 0, 0, 0,
    ];
    let pkt = ipv4(6, 1400, true, &tcp);
    c.bench_function("spd_lookup_33_policies", |b| {
        b.iter(|| {
            let v = PacketView::parse(black_box(&pkt)).expect("valid");
            black_box(spd.lookup_outbound(&v))
        })
    });

    let mut syn = ipv4(6, 44, true, &[&tcp[..], &[2, 4, 0x05, 0xb4]].concat());
    c.bench_function("clamp_mss_syn", |b| {
        b.iter(|| {
            syn[42..44].copy_from_slice(&1460u16.to_be_bytes());
            black_box(clamp_mss(black_box(&mut syn), 1360))
        })
    });
    let mut data = ipv4(6, 1400, true, &[&tcp[..12], &[0x50, 0x10]].concat());
    c.bench_function("clamp_mss_data_segment", |b| {
        b.iter(|| black_box(clamp_mss(black_box(&mut data), 1360)))
    });

    let big = ipv4(17, 1500, true, &[0, 1, 0, 2, 0x05, 0xd4, 0, 0]);
    let mut out = Vec::with_capacity(1280);
    c.bench_function("too_big_reply_v4_1500", |b| {
        b.iter(|| too_big_reply(black_box(&big), 1400, None, &mut out).expect("reply"))
    });

    let nodf = ipv4(17, 1500, false, &[0, 1, 0, 2, 0x05, 0xd4, 0, 0]);
    let mut buf = [0u8; 1500];
    c.bench_function("fragment_ipv4_1500_to_576", |b| {
        b.iter(|| {
            esp::frag::fragment_ipv4(black_box(&nodf), 576, |f| {
                black_box(f.write_to(&mut buf));
            })
        })
    });

    let esp_pkt = [0xc0, 1, 2, 3, 0, 0, 0, 1, 0, 0, 0, 0];
    c.bench_function("classify_4500", |b| {
        b.iter(|| black_box(classify_4500(black_box(&esp_pkt))))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
