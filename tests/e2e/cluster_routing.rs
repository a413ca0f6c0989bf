//! Cluster mode routes by interest: a relay is sent only the messages of
//! the rooms its members are in (the stream republishes each message to a
//! live subject per room), and repairs from the stream any live message
//! it lost, so members still see every message once, in order.
//!
//! What a relay was sent is read from nats-server's monitoring endpoint
//! (`/connz?subs=detail`: each subscription and its message count).

use std::time::Duration;

use relay::{backplane::room_token, Config};
use shared::{ClientMsg, RoomName, ServerMsg};
use tests::{client::room, nats::Subscription, Client, InProcessRelay, NatsServer, WAIT};

/// A relay's NATS connection name.
const RELAY: &str = "palaver-relay";

async fn relay_with(nats: &NatsServer, faults: &str) -> InProcessRelay {
    let mut config = Config::for_tests();
    config.nats = vec![nats.url()];
    config.rate_limit = 0;
    config.fault_inject = faults.to_string();
    let relay = InProcessRelay::start(config).await;
    relay.wait_ready().await.unwrap();
    relay
}

fn live(name: &str) -> String {
    format!("palaver.live.{}", room_token(&RoomName::new(name).unwrap()))
}

/// The live subjects the connection that follows `marker` subscribes to,
/// with their message counts.
fn live_subs_of(subs: &[Subscription], marker: &str) -> Vec<(String, u64)> {
    let conn = subs
        .iter()
        .find(|s| s.subject == live(marker))
        .unwrap_or_else(|| panic!("no relay follows {marker}: {subs:?}"))
        .connection;
    let mut live: Vec<(String, u64)> = subs
        .iter()
        .filter(|s| s.connection == conn && s.subject.starts_with("palaver.live."))
        .map(|s| (s.subject.clone(), s.msgs))
        .collect();
    live.sort();
    live
}

/// Chat messages until `n` arrived (bounded by `within`).
async fn seqs_received(client: &mut Client, n: usize, within: Duration) -> Vec<u64> {
    let deadline = tokio::time::Instant::now() + within;
    let mut got = Vec::new();
    while got.len() < n {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        match client.recv_within(left).await {
            Ok(ServerMsg::Message(m)) => got.push(m.seq),
            Ok(_) => {}
            Err(err) => panic!("got only {got:?} of {n} messages: {err}"),
        }
    }
    got
}

#[tokio::test]
async fn a_relay_is_sent_only_the_rooms_its_members_are_in() {
    let _heavy = tests::heavy().await;
    let nats = NatsServer::start().await.unwrap();
    let a = relay_with(&nats, "").await;
    let b = relay_with(&nats, "").await;
    let mut alice = Client::hello(&a.ws_url(), "alice").await.unwrap();
    let mut bob = Client::hello(&b.ws_url(), "bob").await.unwrap();
    let mut carol = Client::hello(&b.ws_url(), "carol").await.unwrap();
    for name in ["shared-room", "only-a"] {
        alice.join(name, None).await.unwrap();
    }
    bob.join("shared-room", None).await.unwrap();
    carol.join("only-b", None).await.unwrap();
    for n in 0..10 {
        alice
            .say_acked("only-a", "a", &format!("a-{n}"))
            .await
            .unwrap();
    }
    let mut shared_seqs = Vec::new();
    for n in 0..5 {
        shared_seqs.push(
            alice
                .say_acked("shared-room", "s", &format!("s-{n}"))
                .await
                .unwrap(),
        );
        carol
            .say_acked("only-b", "b", &format!("b-{n}"))
            .await
            .unwrap();
    }
    // Bob gets the shared room's messages ...
    assert_eq!(seqs_received(&mut bob, 5, WAIT).await, shared_seqs);

    // ... and his relay was sent nothing of the room it has no member in:
    // exactly one live message per message of its own rooms.
    let subs = nats.subscriptions(RELAY).await.unwrap();
    assert_eq!(
        live_subs_of(&subs, "only-b"),
        [(live("only-b"), 5), (live("shared-room"), 5)],
        "relay b's live subscriptions"
    );
    assert_eq!(
        live_subs_of(&subs, "only-a"),
        [(live("only-a"), 10), (live("shared-room"), 5)],
        "relay a's live subscriptions"
    );

    // The last member leaving unsubscribes the relay from the room.
    carol
        .send(&ClientMsg::Leave {
            room: room("only-b"),
        })
        .await
        .unwrap();
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let subs = nats.subscriptions(RELAY).await.unwrap();
        if !subs.iter().any(|s| s.subject == live("only-b")) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "relay b still follows only-b: {subs:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // History still works for a room nobody here follows any more.
    let joined = carol.join("only-b", None).await.unwrap();
    assert_eq!(tests::client::history_of(&joined).len(), 5);
}

#[tokio::test]
async fn a_member_sees_every_message_in_order_when_live_messages_are_lost() {
    let _heavy = tests::heavy().await;
    let nats = NatsServer::start().await.unwrap();
    let a = relay_with(&nats, "").await;
    // Relay b drops one in two of the room's live messages on purpose.
    let b = relay_with(&nats, "drop-live-in-room:gaps").await;
    let mut alice = Client::hello(&a.ws_url(), "alice").await.unwrap();
    let mut bob = Client::hello(&b.ws_url(), "bob").await.unwrap();
    bob.join("gaps", None).await.unwrap();
    alice.join("gaps", None).await.unwrap();
    // An odd count: the last live message is among the dropped ones, and
    // nothing comes after it to show the gap.
    let mut sent = Vec::new();
    for n in 0..21 {
        sent.push(
            alice
                .say_acked("gaps", "x", &format!("g-{n}"))
                .await
                .unwrap(),
        );
    }
    // Within the relay's periodic check of the room's last sequence (10 s).
    let got = seqs_received(&mut bob, sent.len(), WAIT * 3).await;
    assert_eq!(got, sent, "every message once, in order");
    // The 21st came only through a check of the room's last sequence. Two
    // more: the second is dropped too, long after the relay started
    // following the room, and only its periodic check can bring it.
    let more = [
        alice.say_acked("gaps", "y", "g-21").await.unwrap(),
        alice.say_acked("gaps", "y", "g-22").await.unwrap(),
    ];
    assert_eq!(seqs_received(&mut bob, 2, WAIT * 3).await, more);
    // The live feed did bring all of them; the relay lost half on purpose.
    let subs = nats.subscriptions(RELAY).await.unwrap();
    assert_eq!(live_subs_of(&subs, "gaps").len(), 1);
    // And a message bob sends himself still comes before his ack.
    let seq = bob.say_acked("gaps", "mine", "b-1").await.unwrap();
    assert!(seq > more[1]);
    // Relay b counted every live message it was sent (before dropping
    // half) and its repairs.
    let live = b.metric("palaver_live_messages_total").await.unwrap();
    assert!(live >= 24, "{live} live messages");
    let repairs = b.metric("palaver_gaps_repaired_total").await.unwrap();
    assert!(repairs >= 1, "{repairs} repairs");
}

/// `palaver bench cluster` reads from nats-server what each relay was sent:
/// with the rooms split over two relays, each was sent exactly its own
/// rooms' messages (a relay reading the whole stream would show 2.00), and
/// the standalone run beside it lost nothing either. Figures other than
/// these counts are the bench's business, not a test's.
#[tokio::test]
async fn the_cluster_bench_shows_each_relay_receives_only_its_rooms_messages() {
    let _heavy = tests::heavy().await;
    let relay_bin = tests::binary("palaver-relay");
    let nats_bin = tests::nats::nats_server_binary();
    let output = tokio::time::timeout(
        WAIT * 6,
        tokio::process::Command::new(tests::binary("palaver"))
            .args(["bench", "cluster", "--relays", "0,2", "--rooms", "6"])
            .args([
                "--room-size",
                "3",
                "--rate",
                "4",
                "--duration",
                "1",
                "--json",
            ])
            .arg("--relay-bin")
            .arg(&relay_bin)
            .arg("--nats-server")
            .arg(&nats_bin)
            .stdin(std::process::Stdio::null())
            .output(),
    )
    .await
    .expect("the bench is bounded by --duration")
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{}\n{stdout}",
        String::from_utf8_lossy(&output.stderr)
    );
    let rows: Vec<serde_json::Value> = stdout
        .lines()
        .filter(|line| line.starts_with('{'))
        .map(|line| serde_json::from_str(line).expect("one JSON object per relay"))
        .collect();
    let sizes: Vec<u64> = rows.iter().map(|r| r["relays"].as_u64().unwrap()).collect();
    assert_eq!(
        sizes,
        [0, 2, 2],
        "one standalone row, two cluster rows: {stdout}"
    );
    for row in &rows {
        assert_eq!(row["report"]["lost"], 0, "{row}");
        let rooms = row["rooms"].as_u64().unwrap();
        assert_eq!(rooms, 6 / row["relays"].as_u64().unwrap().max(1), "{row}");
        assert_eq!(
            row["report"]["connected"],
            rooms * 3,
            "rooms of three: {row}"
        );
        assert!(row["own_messages"].as_u64().unwrap() > 0, "{row}");
    }
    assert!(rows[0]["nats_in"].is_null(), "standalone: {}", rows[0]);
    for row in &rows[1..] {
        assert_eq!(
            row["nats_in"]["live"], row["own_messages"],
            "each room message once, and no other relay's: {row}"
        );
    }
}
