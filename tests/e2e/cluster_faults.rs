//! Cluster faults beyond a relay cut off from its single nats-server
//! (`cluster_partition`): one NATS node cut from the other two of its
//! cluster, and a relay's link to NATS cut one way only. Each pins what
//! every fault must keep: nothing acked is lost, every member sees one
//! order, nothing twice, the cut-off side refuses (`unavailable`) in
//! bounded time instead of acking what is not stored, and everything
//! converges after the heal.
//!
//! Each fault lasts [`FAULT`]; `PALAVER_PARTITION_SECS` lengthens it.

use std::time::Duration;

use tests::{
    faults::{fault_length, newcomer_sees, Pair},
    partition::Direction,
    NatsCluster, NatsServer, Partition, RelayProcess, WAIT,
};
use tokio::time::Instant;

/// The default length of a fault.
const FAULT: Duration = Duration::from_secs(10);
/// The most a refused send may wait: the relay's publish timeout (3 s)
/// and room for a loaded machine.
const REFUSED_WITHIN: Duration = Duration::from_secs(5);
/// The stream every message is stored in.
const STREAM: &str = "PALAVER_MSGS";

async fn relay_on(nats_url: &str, replicas: &str) -> RelayProcess {
    RelayProcess::clustered(
        nats_url,
        &["--idle-timeout-secs", "600", "--nats-replicas", replicas],
    )
    .await
    .unwrap()
}

/// Three nodes, every route through a proxy. Relay A is given only the
/// node that will be cut (one that does not lead JetStream's meta group),
/// relay B another; the stream is R3 and led on B's side, so the cut
/// leaves the majority (and B) a leader without an election. The cut
/// node keeps its clients: A stays connected to a node without quorum,
/// and ready (its node answers; only JetStream does not). After the heal
/// the cut node takes seconds (4 to 18 s measured) to route publishes to
/// the stream again (`no responders` meanwhile): alice's first resend is
/// refused until then.
#[tokio::test]
async fn a_nats_node_cut_from_its_cluster_refuses_its_relay_s_sends_then_converges() {
    let _heavy = tests::heavy().await;
    let length = fault_length(FAULT);
    let cluster = NatsCluster::start_proxied().await.unwrap();
    for node in 0..3 {
        cluster.wait_routes(node, 2, WAIT).await.unwrap();
    }
    let meta = cluster.meta_leader().await.unwrap().unwrap_or(0);
    let cut = (meta + 1) % 3;
    let other = (cut + 1) % 3;
    let a = relay_on(&cluster.nodes[cut].url(), "3").await;
    let b = relay_on(&cluster.nodes[other].url(), "3").await;
    cluster.nodes[cut]
        .wait_connections("palaver-relay", 1)
        .await
        .unwrap();
    cluster.lead_elsewhere(STREAM, cut).await.unwrap();
    let mut pair = Pair::join(&a, &b).await;

    cluster.cut_off(cut);
    let since = Instant::now();
    // Nothing crosses the cut routes while both send; the majority's
    // route carries on. A's connection to its node stays up.
    let routes_down = async {
        cluster.wait_silent(cut, length).await.unwrap();
        since.elapsed()
    };
    let (during, routes_down) = tokio::join!(
        pair.send_through(&a, since, length, REFUSED_WITHIN),
        routes_down
    );
    eprintln!("node-{cut} cut for {length:?}: routes down after {routes_down:?}; {during:?}");
    assert!(
        !during.bob_acked.is_empty(),
        "bob's sends go on through the majority"
    );
    assert_eq!(
        cluster.nodes[cut]
            .connections_named("palaver-relay")
            .await
            .unwrap(),
        1,
        "A stays on the cut node"
    );

    cluster.heal(cut);
    let healed = Instant::now();
    for node in 0..3 {
        cluster.wait_routes(node, 2, WAIT).await.unwrap();
    }
    eprintln!("routes back after {:?}", healed.elapsed());
    let stored_anyway = pair.converge(&a, healed, &during).await;
    eprintln!(
        "{stored_anyway} of alice's {} refused sends were stored after all",
        during.refused
    );
}

/// Relay A reaches its nats-server through a proxy that holds one
/// direction for the fault's length, relay B directly.
async fn one_way(direction: Direction) {
    let _heavy = tests::heavy().await;
    let length = fault_length(FAULT);
    let nats = NatsServer::start().await.unwrap();
    let link = Partition::start(([127, 0, 0, 1], nats.port).into())
        .await
        .unwrap();
    let a = relay_on(&link.nats_url(), "1").await;
    let b = relay_on(&nats.url(), "1").await;
    let mut pair = Pair::join(&a, &b).await;

    link.cut(direction);
    let since = Instant::now();
    let during = pair.send_through(&a, since, length, REFUSED_WITHIN).await;
    eprintln!("{direction:?} held for {length:?}: {during:?}");
    assert!(
        during.unready_after.is_some(),
        "A's /readyz stays 200 with {direction:?} held for {length:?}"
    );

    link.heal();
    let stored_anyway = pair.converge(&a, Instant::now(), &during).await;
    eprintln!(
        "{stored_anyway} of alice's {} refused sends were stored after all",
        during.refused
    );
    newcomer_sees(&a, "carol", "bob").await;
    newcomer_sees(&b, "dave", "alice").await;
}

/// Acks, pongs and live messages stop; A's publishes still reach NATS.
#[tokio::test]
async fn a_relay_that_hears_nothing_from_nats_refuses_then_converges() {
    one_way(Direction::ToClient).await;
}

/// A's publishes and pings stop; NATS still sends it live messages.
#[tokio::test]
async fn a_relay_whose_words_to_nats_are_lost_refuses_then_converges() {
    one_way(Direction::ToUpstream).await;
}
