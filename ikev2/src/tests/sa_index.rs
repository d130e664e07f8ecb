//! The endpoint's indexes (deadlines, CHILD SA owners) stay in step with its SAs
//! through establishment, CHILD and IKE rekeys, and deletion. The deadline index is
//! also checked against a full scan on every `poll_timeout` in debug builds.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use super::sim::*;

/// Every CHILD SA of every IKE SA on `node` is indexed under its IKE SA.
fn owners_in_step(net: &Network, node: usize) -> Result<usize, String> {
    let ep = &net.nodes[node].ep;
    let mut n = 0;
    for sa in ep.ike_sas() {
        for c in &sa.children {
            let owner = ep.child_owner(c.spi_in);
            if owner != Some(sa.id) {
                return Err(format!(
                    "child {:08x} of {:?} indexed under {owner:?}",
                    c.spi_in, sa.id
                ));
            }
            n += 1;
        }
    }
    Ok(n)
}

#[test]
fn child_owners_follow_rekeys() {
    let mut net = pair();
    net.initiate(0, "ab");
    assert!(net.drive_until(Duration::from_secs(5), |n| n.established(1)));
    for node in 0..2 {
        assert_eq!(owners_in_step(&net, node), Ok(1));
    }
    // A CHILD rekey asked for by the data plane's usage report, which finds the SA
    // through the index.
    let (spi_in, spi_out) = {
        let c = net.children(0)[0];
        (c.spi_in, c.spi_out)
    };
    let soft = crate::UsageReport {
        spi_in,
        spi_out,
        soft_limit_reached: true,
        ..crate::UsageReport::default()
    };
    let now = net.now;
    net.nodes[0].ep.handle_usage(now, soft);
    assert!(net.drive_until(Duration::from_secs(5), |n| n.children(0).len() == 2));
    net.drive_for(Duration::from_secs(30));
    // An IKE rekey (the IKE SA keeps its id, its SPIs change; the old one lingers
    // as a ghost until deleted).
    let (id, old_spi) = {
        let sa = &net.nodes[0].ep.ike_sas()[0];
        (sa.id, sa.spi_i)
    };
    let now = net.now;
    net.nodes[0].ep.rekey_ike_sa(now, id).expect("rekey");
    assert!(net.drive_until(Duration::from_secs(5), |n| {
        n.nodes[0].ep.ike_sas().iter().all(|s| s.spi_i != old_spi)
    }));
    net.drive_for(Duration::from_secs(30));
    for node in 0..2 {
        assert_eq!(owners_in_step(&net, node), Ok(1), "node {node}");
    }
    // Usage for the old, deleted SPI finds nothing and changes nothing.
    let now = net.now;
    net.nodes[0].ep.handle_usage(
        now,
        crate::UsageReport {
            spi_in,
            spi_out,
            hard_limit_reached: true,
            ..crate::UsageReport::default()
        },
    );
    net.drive_for(Duration::from_secs(5));
    assert!(net.established_now());
    assert_eq!(owners_in_step(&net, 0), Ok(1));
}
