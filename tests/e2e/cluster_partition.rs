//! A relay partitioned from NATS and healed. Relay A reaches nats-server
//! through a [`Partition`] proxy, relay B directly; alice (on A) and bob
//! (on B) share a room. The partition closes no connection: A's NATS
//! client learns of it only when its pings go unanswered.
//!
//! During it, bob's sends are acked and reach bob; alice's are refused
//! (`unavailable`) in bounded time, never acked; A's `/readyz` turns 503
//! once its client notices. After the heal A is ready again, alice gets
//! every message bob sent meanwhile, both see the same seqs in the same
//! order with nothing acked missing and nothing twice, and newcomers on
//! each side see the other side's member.
//!
//! A send alice was refused may still be stored after the heal: its
//! bytes waited in the partition as a retransmitted packet would. That is
//! allowed (the client was told `unavailable`, and a retry with the same
//! id is deduplicated); what is not allowed is an ack for a message
//! nobody gets.
//!
//! The partition lasts [`PARTITION`]; `PALAVER_PARTITION_SECS=30` runs
//! the full length (past presence's 12 s expiry). Below about 7 s
//! the test fails by design: A's client cannot notice that soon.

use std::time::Duration;

use tests::{
    faults::{fault_length, newcomer_sees, Pair},
    NatsServer, Partition, RelayProcess, WAIT,
};
use tokio::time::Instant;

/// The default partition: long enough for A's client to notice (three
/// unanswered pings, `relay::backplane::connection`), short for CI.
const PARTITION: Duration = Duration::from_secs(10);

async fn relay_on(nats_url: &str) -> RelayProcess {
    RelayProcess::clustered(nats_url, &["--idle-timeout-secs", "600"])
        .await
        .unwrap()
}

#[tokio::test]
async fn a_relay_partitioned_from_nats_refuses_then_catches_up_with_one_order() {
    let _heavy = tests::heavy().await;
    let partition_for = fault_length(PARTITION);
    let nats = NatsServer::start().await.unwrap();
    let link = Partition::start(([127, 0, 0, 1], nats.port).into())
        .await
        .unwrap();
    let a = relay_on(&link.nats_url()).await;
    let b = relay_on(&nats.url()).await;
    let mut pair = Pair::join(&a, &b).await;

    link.partition();
    let cut = Instant::now();
    // Alice's refusals may each wait for A's publish timeout (3 s) until
    // its client notices.
    let during = pair.send_through(&a, cut, partition_for, WAIT).await;
    eprintln!("partition {partition_for:?}: {during:?}");
    assert!(
        during.unready_after.is_some(),
        "A's /readyz stays 200 through a {partition_for:?} partition: its NATS client never noticed"
    );

    link.heal();
    let stored_anyway = pair.converge(&a, Instant::now(), &during).await;
    eprintln!(
        "{stored_anyway} of alice's {} refused sends were stored at the heal",
        during.refused
    );

    // Presence converges. A partition past the expiry (12 s) drops each
    // side's members from the other; they come back: alice and bob see
    // each other join again, and each side's newcomer sees the other's
    // member.
    for (who, client, saw, other) in [
        ("alice", &mut pair.alice, &mut pair.alice_saw, "bob"),
        ("bob", &mut pair.bob, &mut pair.bob_saw, "alice"),
    ] {
        let (left, _) = saw.left_and_back(other);
        assert!(
            left || partition_for < Duration::from_secs(13),
            "{who} never saw {other} leave in a {partition_for:?} partition"
        );
        let deadline = Instant::now() + WAIT * 2;
        while !saw.left_and_back(other).1 {
            let left = deadline.saturating_duration_since(Instant::now());
            let msg = client
                .recv_within(left)
                .await
                .unwrap_or_else(|err| panic!("{who} never sees {other} back: {err}"));
            saw.note(&msg);
        }
        eprintln!("{who} saw {other}: {:?}", saw.presence);
    }
    newcomer_sees(&a, "carol", "bob").await;
    newcomer_sees(&b, "dave", "alice").await;
}
