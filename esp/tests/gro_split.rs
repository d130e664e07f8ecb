//! `Datagram::split_gro` without a kernel: coalesced buffers built by hand, as
//! `recvmmsg` with `UDP_GRO` hands them over (kind `Esp` as a placeholder, `gro_size`
//! the segment length). Covers what the loopback test in `io_udp.rs` cannot make the
//! kernel produce: a short last segment beside full ones, a single segment, and
//! segment sizes that no kernel sends (0, 1, larger than the buffer), which must give
//! datagrams or `Invalid` ones for the caller to count, never a panic.
#![cfg(feature = "io")]

use std::net::{Ipv4Addr, SocketAddr};

use esp::PacketBuf;
use esp::io::{Datagram, DatagramKind};
use esp::natt::NON_ESP_MARKER;

const HEADROOM: usize = 64;

fn peer() -> SocketAddr {
    SocketAddr::from((Ipv4Addr::new(192, 0, 2, 7), 4500))
}

/// An ESP-looking segment of `len` octets (non-zero SPI first).
fn esp(spi: u32, len: usize) -> Vec<u8> {
    let mut p = spi.to_be_bytes().to_vec();
    p.extend((0..len - 4).map(|i| i as u8));
    p
}

/// An IKE segment of `len` octets: the non-ESP marker and then the message.
fn ike(len: usize) -> Vec<u8> {
    let mut p = NON_ESP_MARKER.to_vec();
    p.extend((0..len - 4).map(|i| (i as u8) ^ 0x5a));
    p
}

/// One received datagram holding `segments` back to back, coalesced at `gro_size`.
fn coalesced(segments: &[&[u8]], gro_size: u16, kind: DatagramKind) -> Datagram {
    let all: Vec<u8> = segments.concat();
    let mut d = Datagram::to(peer(), kind, PacketBuf::from_packet(&all));
    d.gro_size = gro_size;
    d
}

fn split(d: &Datagram) -> Vec<Datagram> {
    let mut out = Vec::new();
    let n = d.split_gro(HEADROOM, PacketBuf::new, &mut out);
    assert_eq!(n, out.len(), "returned count vs datagrams appended");
    out
}

fn kinds(ds: &[Datagram]) -> Vec<DatagramKind> {
    ds.iter().map(|d| d.kind).collect()
}

use DatagramKind::{Esp, Ike, Invalid, Keepalive};

#[test]
fn full_segments_and_a_short_last_one() {
    let segs = [
        esp(0x1000, 100),
        ike(100),
        esp(0x1000, 100),
        esp(0x2000, 40),
    ];
    let refs: Vec<&[u8]> = segs.iter().map(Vec::as_slice).collect();
    let got = split(&coalesced(&refs, 100, Esp));
    assert_eq!(kinds(&got), vec![Esp, Ike, Esp, Esp]);
    for (i, d) in got.iter().enumerate() {
        let want: &[u8] = if d.kind == Ike {
            &segs[i][NON_ESP_MARKER.len()..]
        } else {
            &segs[i]
        };
        assert_eq!(d.buf.as_slice(), want, "datagram {i}");
        assert_eq!((d.peer, d.gro_size), (peer(), 0), "datagram {i}");
    }
    // Each is a copy at the caller's headroom (IKE: the marker pulled off in front).
    assert_eq!(got[0].buf.headroom(), HEADROOM);
    assert_eq!(got[1].buf.headroom(), HEADROOM + NON_ESP_MARKER.len());
    assert_eq!(got[3].buf.len(), 40);
}

#[test]
fn one_segment_is_one_datagram() {
    let seg = esp(0x3000, 100);
    let got = split(&coalesced(&[&seg], 100, Esp));
    assert_eq!(kinds(&got), vec![Esp]);
    assert_eq!(got[0].buf.as_slice(), &seg[..]);
    // Shorter than the segment size: still one.
    let short = esp(0x3000, 60);
    let got = split(&coalesced(&[&short], 100, Esp));
    assert_eq!(kinds(&got), vec![Esp]);
    assert_eq!(got[0].buf.as_slice(), &short[..]);
}

#[test]
fn without_a_segment_size_the_datagram_is_copied_whole() {
    let segs = [esp(0x1000, 100), esp(0x1000, 100), esp(0x1000, 50)];
    let refs: Vec<&[u8]> = segs.iter().map(Vec::as_slice).collect();
    let got = split(&coalesced(&refs, 0, Esp));
    assert_eq!(kinds(&got), vec![Esp]);
    assert_eq!(got[0].buf.len(), 250);
    // A keepalive and an IKE message arrive uncoalesced too.
    let got = split(&coalesced(&[&[0xff]], 0, Esp));
    assert_eq!(kinds(&got), vec![Keepalive]);
    let m = ike(60);
    let got = split(&coalesced(&[&m], 0, Esp));
    assert_eq!(kinds(&got), vec![Ike]);
    assert_eq!(got[0].buf.as_slice(), &m[4..]);
}

#[test]
fn garbage_segment_sizes_give_invalid_datagrams_not_panics() {
    // Size 1: every octet its own datagram; only 0xFF is something (a keepalive).
    let got = split(&coalesced(&[&[0xff, 0, 1, 2, 0xff]], 1, Esp));
    assert_eq!(
        kinds(&got),
        vec![Keepalive, Invalid, Invalid, Invalid, Keepalive]
    );
    // Size 3: pieces too short for ESP or IKE.
    let seg = esp(0x1000, 10);
    let got = split(&coalesced(&[&seg], 3, Esp));
    assert_eq!(kinds(&got), vec![Invalid; 4]);
    assert_eq!(got.iter().map(|d| d.buf.len()).sum::<usize>(), 10);
    // Larger than the buffer (the largest u16): one datagram.
    let seg = esp(0x1000, 300);
    let got = split(&coalesced(&[&seg], u16::MAX, Esp));
    assert_eq!(kinds(&got), vec![Esp]);
    assert_eq!(got[0].buf.len(), 300);
    // Nothing at all: nothing appended.
    let mut out = vec![Datagram::new()];
    let n = coalesced(&[], 100, Esp).split_gro(HEADROOM, PacketBuf::new, &mut out);
    assert_eq!((n, out.len()), (0, 1));
}

#[test]
fn a_truncated_coalesced_datagram_stays_invalid() {
    // recvmmsg marks a datagram cut by MSG_TRUNC Invalid; its pieces are not
    // classified (an ESP-looking piece of a truncated buffer is not trusted).
    let segs = [esp(0x1000, 100), esp(0x1000, 100)];
    let refs: Vec<&[u8]> = segs.iter().map(Vec::as_slice).collect();
    let got = split(&coalesced(&refs, 100, Invalid));
    assert_eq!(kinds(&got), vec![Invalid, Invalid]);
}
