//! The overhead arithmetic of `esp::mtu` against ESP packets actually built by
//! `encapsulate`, for every suite, both encapsulations and both outer IP versions.

mod common;

use common::{config, ip_packet, rng, suites};
use esp::cipher::Backend;
use esp::mtu::{EspOverhead, OuterPath};
use esp::natt::Encapsulation;
use esp::wire::IpVersion;
use esp::{OutboundSa, PacketBuf, encapsulate};
use ikev2::crypto::algorithms::EspSuite;
use proptest::prelude::*;

fn outer_paths() -> [OuterPath; 4] {
    let p = |ip, encap| OuterPath { ip, encap };
    [
        p(IpVersion::V4, Encapsulation::UdpEsp),
        p(IpVersion::V4, Encapsulation::RawEsp),
        p(IpVersion::V6, Encapsulation::UdpEsp),
        p(IpVersion::V6, Encapsulation::RawEsp),
    ]
}

fn outbound(suite: usize) -> OutboundSa {
    let (_, encr, integ) = suites()[suite];
    let c = config(encr, integ, false, 0x2000, 7, Backend::default());
    OutboundSa::new(&c, &mut rng(7)).expect("outbound SA")
}

/// The ESP packet `encapsulate` builds around an inner IPv4 packet of `len` octets.
fn built_len(sa: &mut OutboundSa, len: usize) -> usize {
    let mut p = PacketBuf::from_packet(&ip_packet(false, &vec![0; len - 20]));
    encapsulate(sa, &mut p).expect("encapsulate");
    p.len()
}

#[test]
fn the_overhead_of_a_suite_is_the_overhead_of_its_keyed_cipher() {
    for (i, (name, encr, integ)) in suites().into_iter().enumerate() {
        let suite = EspSuite {
            encr,
            integ,
            dh: None,
            addke: EspSuite::NO_ADDKE,
            esn: false,
        };
        assert_eq!(
            EspOverhead::of(&suite),
            outbound(i).cipher().overhead(),
            "{name}"
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn the_inner_mtu_is_the_largest_packet_that_fits(
        suite in 0..suites().len(),
        path in 0..4usize,
        path_mtu in 576usize..9000,
    ) {
        let mut sa = outbound(suite);
        let esp = sa.cipher().overhead();
        let outer = outer_paths()[path];
        let inner = outer.inner_mtu(esp, path_mtu);
        prop_assert!(inner >= 400, "{inner}");
        let fits = outer.header_len() + built_len(&mut sa, inner);
        prop_assert_eq!(fits, outer.outer_len(esp, inner));
        prop_assert!(fits <= path_mtu, "{} > {}", fits, path_mtu);
        let over = outer.header_len() + built_len(&mut sa, inner + 1);
        prop_assert_eq!(over, outer.outer_len(esp, inner + 1));
        prop_assert!(over > path_mtu, "{} + 1 still fits {}", inner, path_mtu);
    }

    #[test]
    fn esp_len_matches_the_built_packet(suite in 0..suites().len(), len in 20usize..2000) {
        let mut sa = outbound(suite);
        let esp = sa.cipher().overhead();
        prop_assert_eq!(esp.esp_len(len), built_len(&mut sa, len));
    }
}
