//! Cluster mode: several relays on one NATS JetStream (a single
//! nats-server, or a three-node cluster), with real processes for the
//! faults: a relay killed, NATS restarted, a relay started before NATS.
//!
//! Every test takes [`tests::heavy`]: each runs several nats-servers and
//! relays, and their presence expiry and failover waits are timing a
//! loaded machine can stretch.

use std::time::Duration;

use relay::Config;
use shared::{protocol::PresenceEvent, ChatMessage, ClientMsg, ErrorCode, ServerMsg};
use tests::{
    client::{history_of, room},
    nats::nats_server_binary,
    relay::free_port,
    Client, InProcessRelay, NatsCluster, NatsServer, RelayProcess, WAIT,
};

/// Longer than a relay's presence expiry (12 s) plus its sweep.
const EXPIRY_WAIT: Duration = Duration::from_secs(20);

fn cluster_config(nats: &str) -> Config {
    let mut config = Config::for_tests();
    config.nats = nats.split(',').map(str::to_string).collect();
    config.rate_limit = 0;
    config
}

async fn relay_on(nats: &str) -> InProcessRelay {
    let relay = InProcessRelay::start(cluster_config(nats)).await;
    relay.wait_ready().await.unwrap();
    relay
}

/// A relay connected to one node of `cluster` only, the stream replicated
/// on all three.
async fn relay_on_node(cluster: &NatsCluster, node: usize) -> InProcessRelay {
    let mut config = cluster_config(&cluster.nodes[node].url());
    config.nats_replicas = 3;
    let relay = InProcessRelay::start(config).await;
    relay.wait_ready().await.unwrap();
    relay
}

/// The name of a relay's NATS connection, as nats-server lists it.
const RELAY: &str = "palaver-relay";

async fn process_on(nats: &str) -> RelayProcess {
    RelayProcess::clustered(nats, &[]).await.unwrap()
}

fn nicks(joined: &ServerMsg) -> Vec<String> {
    let ServerMsg::Joined { members, .. } = joined else {
        panic!("expected joined, got {joined:?}")
    };
    let mut nicks: Vec<String> = members.iter().map(|m| m.nick.to_string()).collect();
    nicks.sort();
    nicks
}

fn texts(messages: &[ChatMessage]) -> Vec<String> {
    messages.iter().map(|m| m.text.to_string()).collect()
}

/// Waits (up to `within`) for a presence event about each of `nicks`, in
/// any order (another relay announces its members in its own order).
async fn presence(client: &mut Client, event: PresenceEvent, nicks: &[&str], within: Duration) {
    let deadline = tokio::time::Instant::now() + within;
    let mut waiting: Vec<&str> = nicks.to_vec();
    while !waiting.is_empty() {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let msg = client
            .recv_within(left)
            .await
            .unwrap_or_else(|err| panic!("no {event:?} of {waiting:?}: {err}"));
        if let ServerMsg::Presence {
            event: got, user, ..
        } = &msg
        {
            if *got == event {
                waiting.retain(|nick| *nick != user.nick.as_str());
            }
        }
    }
}

/// Joins `name`; `nick` is there already, or arrives in a presence event
/// right after (another relay's announcement may still be on its way).
async fn join_seeing(client: &mut Client, name: &str, nick: &str) -> ServerMsg {
    let joined = client.join(name, None).await.unwrap();
    if !nicks(&joined).iter().any(|n| n == nick) {
        presence(client, PresenceEvent::Join, &[nick], WAIT).await;
    }
    joined
}

/// The next `n` chat messages the client receives, in order.
async fn messages(client: &mut Client, n: usize) -> Vec<ChatMessage> {
    let mut got = Vec::new();
    while got.len() < n {
        if let ServerMsg::Message(m) = client
            .recv_until(|m| matches!(m, ServerMsg::Message(_)))
            .await
            .unwrap()
        {
            got.push(m);
        }
    }
    got
}

#[tokio::test]
async fn two_relays_on_one_nats_serve_one_conversation() {
    let _heavy = tests::heavy().await;
    let nats = NatsServer::start().await.unwrap();
    let a = process_on(&nats.url()).await;
    let b = process_on(&nats.url()).await;
    let mut alice = Client::hello(&a.ws_url(), "alice").await.unwrap();
    let mut bob = Client::hello(&b.ws_url(), "bob").await.unwrap();
    alice.join("général", None).await.unwrap();
    join_seeing(&mut bob, "général", "alice").await;
    presence(&mut alice, PresenceEvent::Join, &["bob"], WAIT).await;

    // Messages cross relays with one seq for everyone.
    let seq = alice.say_acked("général", "hi bob", "a-1").await.unwrap();
    let got = messages(&mut bob, 1).await;
    assert_eq!((got[0].seq, got[0].text.as_str()), (seq, "hi bob"));
    assert_eq!(got[0].from.id, alice.user.clone().unwrap().id);
    let reply = bob.say_acked("général", "hi alice", "b-1").await.unwrap();
    assert!(reply > seq);
    // (Alice's own message came before her ack, which waited for it.)
    let got = messages(&mut alice, 1).await;
    assert_eq!((got[0].seq, got[0].text.as_str()), (reply, "hi alice"));

    // A resend is recognised by JetStream and acked with the first seq.
    assert_eq!(
        alice.say_acked("général", "hi bob", "a-1").await.unwrap(),
        seq
    );

    // Typing and nick changes reach the other relay.
    bob.send(&ClientMsg::Typing {
        room: room("général"),
    })
    .await
    .unwrap();
    let typing = alice
        .recv_until(|m| matches!(m, ServerMsg::Typing { .. }))
        .await
        .unwrap();
    assert!(matches!(typing, ServerMsg::Typing { ref user, .. } if user.nick.as_str() == "bob"));
    bob.send(&ClientMsg::Nick {
        nick: shared::Nick::new("robert").unwrap(),
    })
    .await
    .unwrap();
    presence(&mut alice, PresenceEvent::Nick, &["robert"], WAIT).await;

    // A third user on either relay sees both, and the history.
    let mut carol = Client::hello(&a.ws_url(), "carol").await.unwrap();
    let joined = carol.join("général", None).await.unwrap();
    assert_eq!(nicks(&joined), ["alice", "carol", "robert"]);
    assert_eq!(texts(&history_of(&joined)), ["hi bob", "hi alice"]);

    // Leaving is announced across relays.
    bob.send(&ClientMsg::Leave {
        room: room("général"),
    })
    .await
    .unwrap();
    presence(&mut alice, PresenceEvent::Leave, &["robert"], WAIT).await;

    // Search needs an indexer (`--search-index`), and none runs here: a clear
    // `unavailable`, and the connection goes on.
    let refused = carol.search("hi", None, None, None).await.unwrap();
    assert!(
        matches!(
            refused,
            ServerMsg::Error {
                code: ErrorCode::Unavailable,
                ..
            }
        ),
        "{refused:?}"
    );
    carol
        .say_acked("général", "still here", "c-1")
        .await
        .unwrap();
}

#[tokio::test]
async fn message_order_is_the_same_for_everyone_on_three_relays() {
    let _heavy = tests::heavy().await;
    let nats = NatsServer::start().await.unwrap();
    let relays = [
        relay_on(&nats.url()).await,
        relay_on(&nats.url()).await,
        relay_on(&nats.url()).await,
    ];
    let mut clients = Vec::new();
    for (i, relay) in relays.iter().enumerate() {
        let mut client = Client::hello(&relay.ws_url(), &format!("user{i}"))
            .await
            .unwrap();
        client.join("race", None).await.unwrap();
        clients.push(client);
    }
    // Everyone sends at once, without waiting for acks.
    const EACH: usize = 20;
    for (i, client) in clients.iter_mut().enumerate() {
        for n in 0..EACH {
            client
                .say("race", &format!("{i}-{n}"), &format!("c{i}-{n}"))
                .await
                .unwrap();
        }
    }
    let total = EACH * clients.len();
    let mut seen = Vec::new();
    for client in &mut clients {
        seen.push(messages(client, total).await);
    }
    let first: Vec<(u64, String)> = seen[0]
        .iter()
        .map(|m| (m.seq, m.text.to_string()))
        .collect();
    assert!(first.windows(2).all(|w| w[0].0 < w[1].0), "{first:?}");
    for other in &seen[1..] {
        let other: Vec<(u64, String)> = other.iter().map(|m| (m.seq, m.text.to_string())).collect();
        assert_eq!(other, first);
    }
    // And the stored history says the same.
    let mut late = Client::hello(&relays[1].ws_url(), "late").await.unwrap();
    let joined = late.join("race", None).await.unwrap();
    let stored: Vec<(u64, String)> = history_of(&joined)
        .iter()
        .map(|m| (m.seq, m.text.to_string()))
        .collect();
    assert_eq!(stored, first);
    for relay in relays {
        relay.stop().await.unwrap();
    }
}

#[tokio::test]
async fn since_and_history_cursors_work_on_any_relay() {
    let _heavy = tests::heavy().await;
    let nats = NatsServer::start().await.unwrap();
    let a = relay_on(&nats.url()).await;
    let mut config = cluster_config(&nats.url());
    config.join_history = 5;
    let b = InProcessRelay::start(config).await;
    b.wait_ready().await.unwrap();
    let mut alice = Client::hello(&a.ws_url(), "alice").await.unwrap();
    alice.join("general", None).await.unwrap();
    // Another room in between makes gaps in this room's seqs.
    alice.join("other", None).await.unwrap();
    let mut seqs = Vec::new();
    for i in 1..=12 {
        seqs.push(
            alice
                .say_acked("general", &format!("m{i}"), &format!("c{i}"))
                .await
                .unwrap(),
        );
        alice
            .say_acked("other", "noise", &format!("n{i}"))
            .await
            .unwrap();
    }
    assert!(seqs.windows(2).all(|w| w[0] < w[1]));
    let mut bob = Client::hello(&b.ws_url(), "bob").await.unwrap();
    let joined = bob.join("general", Some(seqs[8])).await.unwrap();
    assert_eq!(texts(&history_of(&joined)), ["m10", "m11", "m12"]);
    let page = bob
        .history("general", Some(seqs[9]), Some(4))
        .await
        .unwrap();
    assert_eq!(texts(&history_of(&page)), ["m6", "m7", "m8", "m9"]);
    // Reading on, newer, on the relay that did not store them.
    let page = bob
        .history_after("general", seqs[4], Some(4))
        .await
        .unwrap();
    assert_eq!(texts(&history_of(&page)), ["m6", "m7", "m8", "m9"]);
    let page = bob
        .history_after("general", seqs[9], Some(4))
        .await
        .unwrap();
    assert_eq!(
        texts(&history_of(&page)),
        ["m11", "m12"],
        "the end is short"
    );
    // The latest page, flagged as such, on a relay that shows 5 on join.
    let mut carol = Client::hello(&b.ws_url(), "carol").await.unwrap();
    let joined = carol.join("general", None).await.unwrap();
    assert_eq!(
        texts(&history_of(&joined)),
        ["m8", "m9", "m10", "m11", "m12"]
    );
    assert!(matches!(
        joined,
        ServerMsg::Joined {
            truncated: true,
            ..
        }
    ));
    let joined = carol.join("other", Some(seqs[6])).await.unwrap();
    assert_eq!(history_of(&joined).len(), 5);
    a.stop().await.unwrap();
    b.stop().await.unwrap();
}

#[tokio::test]
async fn a_killed_relay_s_users_reconnect_elsewhere_and_lose_nothing() {
    let _heavy = tests::heavy().await;
    let nats = NatsServer::start().await.unwrap();
    let a = process_on(&nats.url()).await;
    let b = process_on(&nats.url()).await;
    let mut alice = Client::hello(&a.ws_url(), "alice").await.unwrap();
    let mut carol = Client::hello(&a.ws_url(), "carol").await.unwrap();
    let mut bob = Client::hello(&b.ws_url(), "bob").await.unwrap();
    alice.join("general", None).await.unwrap();
    carol.join("general", None).await.unwrap();
    let joined = bob.join("general", None).await.unwrap();
    let known = nicks(&joined);
    let missing: Vec<&str> = ["alice", "carol"]
        .into_iter()
        .filter(|nick| !known.iter().any(|n| n == nick))
        .collect();
    presence(&mut bob, PresenceEvent::Join, &missing, WAIT).await;
    alice.say_acked("general", "one", "a-1").await.unwrap();
    let last_seen = alice.say_acked("general", "two", "a-2").await.unwrap();
    let identity = alice.user.clone().unwrap();
    let token = alice.resume.clone();

    a.signal("KILL").unwrap();
    drop(carol);
    let sent_meanwhile = bob.say_acked("general", "three", "b-1").await.unwrap();

    // Alice reconnects to the other relay with her resume token: same
    // identity, and she catches up from her cursor.
    let mut alice = Client::connect(&b.ws_url()).await.unwrap();
    assert_eq!(alice.login(None, token).await.unwrap(), identity);
    let joined = alice.join("general", Some(last_seen)).await.unwrap();
    let caught_up = history_of(&joined);
    assert_eq!(texts(&caught_up), ["three"]);
    assert_eq!(caught_up[0].seq, sent_meanwhile);
    // A resend of what she sent through the dead relay is recognised.
    assert_eq!(
        alice.say_acked("general", "two", "a-2").await.unwrap(),
        last_seen
    );

    // Carol, who did not come back, leaves within the presence expiry;
    // alice, who did, never appears to leave.
    presence(&mut bob, PresenceEvent::Leave, &["carol"], EXPIRY_WAIT).await;
    // The expiry that made carol leave would have made alice leave in the
    // same sweep: bob's frames up to a pong hold no other leave.
    bob.send(&ClientMsg::Ping).await.unwrap();
    loop {
        match bob.recv().await.unwrap() {
            ServerMsg::Pong => break,
            ServerMsg::Presence {
                event: PresenceEvent::Leave,
                user,
                ..
            } => panic!("{} left, but only carol did", user.nick),
            _ => {}
        }
    }
    let mut fresh = Client::hello(&b.ws_url(), "fresh").await.unwrap();
    let joined = fresh.join("general", None).await.unwrap();
    assert_eq!(texts(&history_of(&joined)), ["one", "two", "three"]);
    assert_eq!(nicks(&joined), ["alice", "bob", "fresh"]);
}

#[tokio::test]
async fn a_nats_restart_refuses_unstored_sends_and_loses_nothing_acked() {
    let _heavy = tests::heavy().await;
    let mut nats = NatsServer::start().await.unwrap();
    let a = process_on(&nats.url()).await;
    let b = process_on(&nats.url()).await;
    let mut alice = Client::hello(&a.ws_url(), "alice").await.unwrap();
    let mut bob = Client::hello(&b.ws_url(), "bob").await.unwrap();
    alice.join("general", None).await.unwrap();
    join_seeing(&mut bob, "general", "alice").await;
    alice.say_acked("general", "before", "a-1").await.unwrap();
    messages(&mut bob, 1).await;

    nats.kill().await.unwrap();
    alice.say("general", "during", "a-2").await.unwrap();
    let (code, reference) = alice.expect_error().await.unwrap();
    assert_eq!(
        (code, reference.as_deref()),
        (ErrorCode::Unavailable, Some("a-2"))
    );

    nats.restart().await.unwrap();
    a.wait_ready().await.unwrap();
    b.wait_ready().await.unwrap();
    // The client resends what was not acked; stored once however it went.
    let during = alice.say_acked("general", "during", "a-2").await.unwrap();
    let after = alice.say_acked("general", "after", "a-3").await.unwrap();
    assert!(after > during);
    let live = messages(&mut bob, 2).await;
    assert_eq!(texts(&live), ["during", "after"]);

    let mut fresh = Client::hello(&b.ws_url(), "fresh").await.unwrap();
    let joined = fresh.join("general", None).await.unwrap();
    assert_eq!(texts(&history_of(&joined)), ["before", "during", "after"]);
}

#[tokio::test]
async fn a_relay_started_before_nats_is_not_ready_until_nats_comes() {
    let _heavy = tests::heavy().await;
    // Make sure a missing nats-server fails here too, not only later.
    nats_server_binary();
    let port = free_port().unwrap();
    let url = format!("nats://127.0.0.1:{port}");
    let relay = RelayProcess::spawn(&["--nats", &url]).await.unwrap();
    let (code, _) = tests::relay::http_get(relay.addr, "/readyz").await.unwrap();
    assert_eq!(code, 503);
    // A send meanwhile is refused, not acked.
    let mut alice = Client::hello(&relay.ws_url(), "alice").await.unwrap();
    alice
        .send(&ClientMsg::Join {
            room: room("general"),
            since: None,
        })
        .await
        .unwrap();
    let (code, _) = alice.expect_error().await.unwrap();
    assert_eq!(code, ErrorCode::Unavailable);

    let nats = NatsServer::start_on(port).await.unwrap();
    relay.wait_ready().await.unwrap();
    alice.join("general", None).await.unwrap();
    alice.say_acked("general", "finally", "a-1").await.unwrap();
    drop(nats);
}

#[tokio::test]
async fn relays_on_different_nodes_of_a_nats_cluster_share_rooms() {
    let _heavy = tests::heavy().await;
    let cluster = NatsCluster::start().await.unwrap();
    // Each relay knows one node only, a different one; the stream is
    // replicated on all three.
    let a = relay_on_node(&cluster, 0).await;
    let b = relay_on_node(&cluster, 1).await;
    cluster.nodes[0].wait_connections(RELAY, 1).await.unwrap();
    cluster.nodes[1].wait_connections(RELAY, 1).await.unwrap();
    cluster.nodes[2].wait_connections(RELAY, 0).await.unwrap();

    let mut alice = Client::hello(&a.ws_url(), "alice").await.unwrap();
    let mut bob = Client::hello(&b.ws_url(), "bob").await.unwrap();
    alice.join("general", None).await.unwrap();
    join_seeing(&mut bob, "general", "alice").await;
    for i in 0..5 {
        alice
            .say("general", &format!("a{i}"), &format!("a{i}"))
            .await
            .unwrap();
        bob.say("general", &format!("b{i}"), &format!("b{i}"))
            .await
            .unwrap();
    }
    let seen_a = messages(&mut alice, 10).await;
    let seen_b = messages(&mut bob, 10).await;
    let order = |ms: &[ChatMessage]| ms.iter().map(|m| m.seq).collect::<Vec<_>>();
    assert_eq!(order(&seen_a), order(&seen_b));
    assert_eq!(texts(&seen_a), texts(&seen_b));
    a.stop().await.unwrap();
    b.stop().await.unwrap();
}

/// Sends until acked, as a client resends what was refused; bounded.
async fn say_until_acked(client: &mut Client, room: &str, text: &str, id: &str) -> u64 {
    let deadline = tokio::time::Instant::now() + WAIT * 3;
    loop {
        match client.say_acked(room, text, id).await {
            Ok(seq) => return seq,
            Err(err) if tokio::time::Instant::now() < deadline => {
                eprintln!("resending {id} after: {err}");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            Err(err) => panic!("{id} was never acked: {err}"),
        }
    }
}

#[tokio::test]
async fn a_nats_node_dies_and_relays_on_the_others_carry_on() {
    let _heavy = tests::heavy().await;
    let mut cluster = NatsCluster::start().await.unwrap();
    // Each relay is given one node, a different one; the node that dies is
    // the first relay's, which must then find the others through the
    // cluster (the servers tell their clients about each other).
    let relays = vec![
        relay_on_node(&cluster, 0).await,
        relay_on_node(&cluster, 1).await,
    ];
    cluster.nodes[0].wait_connections(RELAY, 1).await.unwrap();
    cluster.nodes[1].wait_connections(RELAY, 1).await.unwrap();
    let mut alice = Client::hello(&relays[0].ws_url(), "alice").await.unwrap();
    let mut bob = Client::hello(&relays[1].ws_url(), "bob").await.unwrap();
    alice.join("general", None).await.unwrap();
    join_seeing(&mut bob, "general", "alice").await;
    alice.say_acked("general", "before", "a-1").await.unwrap();

    // Alice's relay's node dies; the replicated stream keeps a quorum and
    // that relay moves to another node.
    cluster.nodes[0].kill().await.unwrap();
    say_until_acked(&mut alice, "general", "after", "a-2").await;
    let deadline = tokio::time::Instant::now() + WAIT * 2;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        match bob.recv_within(left).await.expect("bob gets the message") {
            ServerMsg::Message(m) if m.text.as_str() == "after" => break,
            _ => continue,
        }
    }
    // Both relays are now on the surviving nodes.
    let mut moved = 0;
    for node in &cluster.nodes[1..] {
        moved += node.connections_named(RELAY).await.unwrap();
    }
    assert_eq!(moved, 2, "a relay is not connected to a surviving node");
    // Reads may be refused while JetStream settles after the loss (the
    // client retries a refused join); they must then show everything once.
    let mut fresh = Client::hello(&relays[1].ws_url(), "fresh").await.unwrap();
    let deadline = tokio::time::Instant::now() + WAIT * 3;
    let joined = loop {
        fresh
            .send(&ClientMsg::Join {
                room: room("general"),
                since: None,
            })
            .await
            .unwrap();
        match fresh
            .recv_until(|m| matches!(m, ServerMsg::Joined { .. } | ServerMsg::Error { .. }))
            .await
            .unwrap()
        {
            joined @ ServerMsg::Joined { .. } => break joined,
            error if tokio::time::Instant::now() < deadline => {
                eprintln!("joining again after: {error:?}");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            error => panic!("never joined: {error:?}"),
        }
    };
    assert_eq!(texts(&history_of(&joined)), ["before", "after"]);
    for relay in relays {
        relay.stop().await.unwrap();
    }
}
