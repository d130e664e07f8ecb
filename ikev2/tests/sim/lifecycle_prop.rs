//! Property: for any interleaving of scheduled and commanded rekeys (CHILD and IKE),
//! deletes and network loss, both sides end agreeing on their CHILD SAs (or both with
//! none) and no SA is used after its hard lifetime.
//!
//! The strict form (`Strict::Alive`, with `dpd_action = restart`) also asks that the
//! tunnel be alive on both sides at the end (one established IKE SA each with the
//! same SPIs and the same CHILD SA pair; no CHILD SA only if a commanded delete
//! removed it). Each case a search found is pinned below as a named test in the
//! strict form; `PROPTEST_CASES=1000` runs a longer search (`SIM_TRACE=1` prints a
//! run's datagrams and events).
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use crate::harness::*;
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Op {
    Wait(u16),
    RekeyChild(usize),
    RekeyIke(usize),
    DeleteChild(usize),
    Loss(u8),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (1u16..120).prop_map(Op::Wait),
        3 => (0usize..2).prop_map(Op::RekeyChild),
        2 => (0usize..2).prop_map(Op::RekeyIke),
        1 => (0usize..2).prop_map(Op::DeleteChild),
        2 => (0u8..30).prop_map(Op::Loss),
    ]
}

/// [`current_children`], as the peer names them (outbound, inbound) with `mirror`.
fn current(net: &Network, node: usize, mirror: bool) -> Vec<(u32, u32)> {
    let mut v = current_children(net, node);
    if mirror {
        v = v.into_iter().map(|(i, o)| (o, i)).collect();
        v.sort_unstable();
    }
    v
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    #[test]
    fn both_sides_agree_after_any_interleaving(
        seed_net in 0u64..1000,
        seed_a in 1u8..200,
        ops in proptest::collection::vec(op(), 1..25),
    ) {
        check(seed_net, seed_a, &ops, Strict::Agree)?;
    }

    #[test]
    fn tunnel_stays_alive_after_any_interleaving(
        seed_net in 0u64..1000,
        seed_a in 1u8..200,
        ops in proptest::collection::vec(op(), 1..25),
    ) {
        check(seed_net, seed_a, &ops, Strict::Alive)?;
    }
}

/// What the end of a run must show.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Strict {
    /// Both sides agree on their CHILD SAs (possibly none) and hold as many IKE SAs.
    Agree,
    /// Also: the tunnel is alive on both sides (see `alive`).
    Alive,
}

/// A case the property found: B's CHILD rekey response came (after losses) once A's
/// colliding rekey had replaced and deleted the SA; B kept its redundant SA.
#[test]
fn late_response_to_a_lost_collision_deletes_the_redundant_sa() {
    use Op::*;
    let ops = [
        RekeyChild(0),
        Wait(29),
        RekeyChild(1),
        Loss(22),
        RekeyIke(1),
        Wait(63),
        Wait(1),
    ];
    check(377, 152, &ops, Strict::Agree).unwrap();
}

/// A case the property found in session 3: the run ended 10 ms into a scheduled CHILD
/// rekey of A (B had answered and installed the new SA, A had not yet read the
/// answer), so the two views differed only because of when they were taken.
#[test]
fn child_rekey_right_after_an_ike_rekey() {
    use Op::*;
    check(
        0,
        69,
        &[Wait(110), RekeyIke(1), RekeyChild(1), Wait(73)],
        Strict::Agree,
    )
    .unwrap();
}

/// A case the property found once it asserted that the tunnel is alive at the end;
/// the old assertions pass it (both sides agree on no CHILD SA). A protocol bug, not
/// a test artefact, fixed in `child_rekey.rs` (see the end of this comment). 25 % loss for 39 s, no command. From the
/// simulation's events and datagrams: B rekeys CHILD SA X; A answers and installs X'
/// (the answer is lost, B retransmits). 3 s later (the jitter may take up to the
/// whole rekey_time) A starts a rekey of X', which B does not know yet: B answers
/// CHILD_SA_NOT_FOUND and A removes X' without a Delete (child_rekey.rs, "the peer
/// no longer has it"). Then B gets the answer, installs X', switches to it and
/// deletes X. Both kept a live IKE SA with no CHILD SA, and nothing brought one back.
/// Now a CHILD_SA_NOT_FOUND for a replacement the peer has not started to use is
/// retried later instead of removing it.
#[test]
fn a_colliding_rekey_answered_with_an_error_keeps_the_peers_new_sa() {
    use Op::*;
    check(607, 26, &[Loss(25), Wait(27), Wait(12)], Strict::Alive).unwrap();
}

/// Each side has exactly one IKE SA, established, with the same SPIs, and they have
/// the same CHILD SA pair in use; with `child_may_be_gone` (a commanded delete was
/// accepted) also both none.
fn alive(net: &Network, child_may_be_gone: bool) -> bool {
    let (a, b) = (net.nodes[0].ep.ike_sas(), net.nodes[1].ep.ike_sas());
    let ([a], [b]) = (a.as_slice(), b.as_slice()) else {
        return false;
    };
    let pairs = (current(net, 0, false), current(net, 1, true));
    a.state == ikev2::IkeSaState::Established
        && b.state == ikev2::IkeSaState::Established
        && (a.spi_i, a.spi_r) == (b.spi_i, b.spi_r)
        && pairs.0 == pairs.1
        && (pairs.0.len() == 1 || (child_may_be_gone && pairs.0.is_empty()))
}

fn check(seed_net: u64, seed_a: u8, ops: &[Op], strict: Strict) -> Result<Network, TestCaseError> {
    let tweak = |c: &mut ikev2::config::EndpointConfig| {
        let conn = conn(c);
        if strict == Strict::Alive {
            // Keep the tunnel up: an IKE SA whose retransmissions all got lost may
            // legitimately die (RFC 7296 section 2.4), and with the default `clear`
            // nothing brings it back.
            conn.dpd_action = ikev2::config::DpdAction::Restart;
        }
        conn.rekey_time = Duration::from_secs(90);
        conn.over_time = Some(Duration::from_secs(200));
        conn.dpd_delay = Duration::from_secs(30);
        let child = &mut conn.children[0];
        child.rekey_time = Duration::from_secs(40);
        child.life_time = Duration::from_secs(200);
    };
    let mut net = pair_seeded(seed_net, seed_a, seed_a.wrapping_add(100), tweak, tweak);
    net.initiate(0, "ab");
    prop_assert!(net.drive_until(Duration::from_secs(5), |n| n.established(1)));
    net.start_traffic(Duration::from_millis(500));
    // Whether a commanded delete was accepted: the only way the CHILD SA may end.
    let mut deleted = false;
    for op in ops {
        let now = net.now;
        match *op {
            Op::Wait(s) => net.drive_for(Duration::from_secs(u64::from(s))),
            Op::RekeyChild(i) => {
                if let Some(c) = current(&net, i, false).first() {
                    let _ = net.nodes[i].ep.rekey_child(now, c.0);
                }
            }
            Op::RekeyIke(i) => {
                if let Some(s) = net.nodes[i].ep.ike_sas().first() {
                    let _ = net.nodes[i].ep.rekey_ike_sa(now, s.id);
                }
            }
            Op::DeleteChild(i) => {
                if let Some(c) = current(&net, i, false).first() {
                    deleted |= net.nodes[i].ep.delete_child(now, c.0).is_ok();
                }
            }
            Op::Loss(p) => net.loss = f64::from(p) / 100.0,
        }
    }
    net.loss = 0.0;
    // Long enough for retransmissions, lingering SAs and DPD of a dead SA.
    net.drive_for(Duration::from_secs(400));
    // The snapshot must not fall inside an exchange: a scheduled rekey may have just
    // started (the responder has the new SA, the initiator still waits for the
    // answer). Without loss an exchange completes in well under a second; a
    // disagreement that outlasts 30 s more is a real one.
    net.drive_until(Duration::from_secs(30), |n| {
        current(n, 0, false) == current(n, 1, true)
            && (strict == Strict::Agree || alive(n, deleted))
    });
    let a = current(&net, 0, false);
    let b = current(&net, 1, true);
    prop_assert_eq!(&a, &b);
    // At most one pair: no redundant SA of a collision is left over (this once
    // failed for seed_net = 377, seed_a = 152, ops = [RekeyChild(0), Wait(29),
    // RekeyChild(1), Loss(22), RekeyIke(1), Wait(63), Wait(1)]).
    prop_assert!(a.len() <= 1, "{:?}", a);
    prop_assert_eq!(
        net.nodes[0].ep.ike_sa_count(),
        net.nodes[1].ep.ike_sa_count()
    );
    // Alive: both agreeing on nothing (both lost the tunnel) is a failure.
    prop_assert!(
        strict == Strict::Agree || alive(&net, deleted),
        "tunnel not alive on both sides (CHILD SA deleted by command: {}): A {:?}, B {:?}",
        deleted,
        net.nodes[0].ep.ike_sas(),
        net.nodes[1].ep.ike_sas()
    );
    for i in 0..2 {
        prop_assert_eq!(net.nodes[i].dp.past_lifetime, 0);
        prop_assert!(net.nodes[i].dp.errors.is_empty());
    }
    Ok(net)
}

/// A case the strict property found (seed_net 690): B rekeys CHILD SA X and A
/// answers with X' (the answer is lost); A starts a rekey of X', which B does not know
/// yet, and B answers CHILD_SA_NOT_FOUND (lost too). B then gets A's answer and
/// switches to X'; A's retransmitted rekey gets B's cached CHILD_SA_NOT_FOUND, which
/// described B before it had X'. A used to take it at its word: it removed X' and B
/// kept it, and the tunnel died on the next rekey. Now a CHILD_SA_NOT_FOUND to a
/// rekey sent while the SA was an unconfirmed replacement is retried: the tunnel
/// stays up without ever being created from scratch again.
#[test]
fn a_stale_child_sa_not_found_does_not_remove_the_replacement() {
    use Op::*;
    let ops = [
        Loss(14),
        Wait(105),
        RekeyIke(1),
        Loss(17),
        RekeyChild(0),
        RekeyIke(0),
        Wait(57),
        RekeyIke(0),
        Wait(1),
        Wait(62),
    ];
    let net = check(690, 84, &ops, Strict::Alive).unwrap();
    for node in 0..2 {
        let from_scratch = net
            .children(node)
            .iter()
            .filter(|c| c.rekey_of.is_none())
            .count();
        assert_eq!(
            from_scratch, 1,
            "node {node}: the CHILD SA was created anew"
        );
    }
}

/// A case the strict property found (seed_net 454): under 20 % loss for 100 s, A's
/// CHILD rekey and five retransmissions all lost either the request or the answer
/// (while B's own requests got through), so A's IKE SA failed on its retransmission
/// timeout (RFC 7296 section 2.4), and B's later expired. With `dpd_action =
/// restart` A initiates again and the tunnel is back: the failure is the
/// configuration's to handle, and it does.
#[test]
fn an_ike_sa_lost_to_retransmission_timeout_comes_back_with_restart() {
    use Op::*;
    let net = check(
        454,
        103,
        &[Wait(77), Loss(20), Wait(1), Wait(104)],
        Strict::Alive,
    )
    .unwrap();
    assert!(
        net.failures(0)
            .iter()
            .any(|f| matches!(f.cause, ikev2::error::Cause::Timeout { .. }) && !f.ike_sa_kept),
        "A's IKE SA did not time out: the case no longer shows what it pins"
    );
    assert!(net.ike_ups(0).len() >= 2, "A did not initiate again");
}
