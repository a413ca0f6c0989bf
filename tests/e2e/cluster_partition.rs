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

use std::{collections::HashSet, time::Duration};

use shared::{protocol::PresenceEvent, ErrorCode, ServerMsg};
use tests::{Client, NatsServer, Partition, RelayProcess, WAIT};
use tokio::time::Instant;

/// The default partition: long enough for A's client to notice (three
/// unanswered pings, `relay::backplane::connection`), short for CI.
const PARTITION: Duration = Duration::from_secs(10);
/// How often each side sends during the partition.
const PACE: Duration = Duration::from_millis(250);

async fn relay_on(nats_url: &str) -> RelayProcess {
    RelayProcess::clustered(nats_url, &["--idle-timeout-secs", "600"])
        .await
        .unwrap()
}

async fn readyz(relay: &RelayProcess) -> u16 {
    tests::relay::http_get(relay.addr, "/readyz")
        .await
        .map(|(code, _)| code)
        .unwrap_or(0)
}

/// What a client has seen of the room: the seqs of its messages, in the
/// order they came, and their client ids.
#[derive(Default)]
struct Seen {
    seqs: Vec<u64>,
    ids: Vec<String>,
    /// Presence of other members: (nick, joined) in the order it came.
    presence: Vec<(String, bool)>,
}

impl Seen {
    fn note(&mut self, msg: &ServerMsg) {
        if let ServerMsg::Presence { event, user, .. } = msg {
            match event {
                PresenceEvent::Join => self.presence.push((user.nick.to_string(), true)),
                PresenceEvent::Leave => self.presence.push((user.nick.to_string(), false)),
                _ => {}
            }
        }
        if let ServerMsg::Message(m) = msg {
            self.seqs.push(m.seq);
            self.ids.push(
                m.client_id
                    .as_ref()
                    .map(|id| id.to_string())
                    .unwrap_or_default(),
            );
        }
    }

    /// Whether `nick` was seen leaving, and whether the last word on
    /// them was a join.
    fn left_and_back(&self, nick: &str) -> (bool, bool) {
        let of: Vec<bool> = self
            .presence
            .iter()
            .filter(|(n, _)| n == nick)
            .map(|(_, joined)| *joined)
            .collect();
        (of.contains(&false), of.last().copied().unwrap_or(true))
    }

    fn has(&self, seq: u64) -> bool {
        self.seqs.contains(&seq)
    }
}

/// Sends `id` and waits for its ack (`Ok(seq)`) or refusal (`Err(code)`),
/// noting every message that comes meanwhile.
async fn send(client: &mut Client, seen: &mut Seen, id: &str) -> Result<u64, ErrorCode> {
    client.say("lobby", id, id).await.unwrap();
    let deadline = Instant::now() + WAIT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let msg = client
            .recv_within(left)
            .await
            .unwrap_or_else(|err| panic!("{id}: neither acked nor refused: {err}"));
        seen.note(&msg);
        match msg {
            ServerMsg::Ack { client_id, seq, .. } if client_id.as_str() == id => return Ok(seq),
            ServerMsg::Error {
                code, reference, ..
            } if reference.as_deref() == Some(id) => return Err(code),
            _ => {}
        }
    }
}

/// Sends `id` until acked (at most 50 tries: `unavailable` while A is
/// still following the room again); returns its seq.
async fn resend(client: &mut Client, seen: &mut Seen, id: &str) -> u64 {
    for _ in 0..50 {
        match send(client, seen, id).await {
            Ok(seq) => return seq,
            Err(code) => assert_eq!(code, ErrorCode::Unavailable),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{id} is still refused after the heal")
}

/// Reads (bounded by `within`) until `seen` holds `seq`.
async fn until_seen(client: &mut Client, seen: &mut Seen, seq: u64, within: Duration) {
    let deadline = Instant::now() + within;
    while !seen.has(seq) {
        let left = deadline.saturating_duration_since(Instant::now());
        let msg = client
            .recv_within(left)
            .await
            .unwrap_or_else(|err| panic!("seq {seq} never came (saw {:?}): {err}", seen.seqs));
        seen.note(&msg);
    }
}

/// A newcomer on `relay` joins the lobby and sees `nick` as a member
/// (in `joined`, or by a presence frame within [`WAIT`]).
async fn newcomer_sees(relay: &RelayProcess, newcomer: &str, nick: &str) {
    let mut client = Client::hello(&relay.ws_url(), newcomer).await.unwrap();
    let ServerMsg::Joined { members, .. } = client.join("lobby", None).await.unwrap() else {
        unreachable!("join returns joined")
    };
    if !members.iter().any(|m| m.nick.as_str() == nick) {
        client
            .recv_until(
                |m| matches!(m, ServerMsg::Presence { user, .. } if user.nick.as_str() == nick),
            )
            .await
            .unwrap_or_else(|err| panic!("{newcomer} never sees {nick}: {err}"));
    }
}

#[tokio::test]
async fn a_relay_partitioned_from_nats_refuses_then_catches_up_with_one_order() {
    let _heavy = tests::heavy().await;
    let partition_for = std::env::var("PALAVER_PARTITION_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .map_or(PARTITION, Duration::from_secs);
    let nats = NatsServer::start().await.unwrap();
    let link = Partition::start(([127, 0, 0, 1], nats.port).into())
        .await
        .unwrap();
    let a = relay_on(&link.nats_url()).await;
    let b = relay_on(&nats.url()).await;
    let mut alice = Client::hello(&a.ws_url(), "alice").await.unwrap();
    let mut bob = Client::hello(&b.ws_url(), "bob").await.unwrap();
    let (mut alice_saw, mut bob_saw) = (Seen::default(), Seen::default());
    alice.join("lobby", None).await.unwrap();
    bob.join("lobby", None).await.unwrap();
    let first = send(&mut alice, &mut alice_saw, "a-0").await.unwrap();
    until_seen(&mut bob, &mut bob_saw, first, WAIT).await;
    let mut acked = vec![first];

    link.partition();
    let cut = Instant::now();
    // Bob and alice send side by side: alice's refusals may each wait for
    // A's publish timeout until its client notices.
    let bob_sends = async {
        let mut during = Vec::new();
        let mut pace = tokio::time::interval(PACE);
        while cut.elapsed() < partition_for {
            pace.tick().await;
            let id = format!("b-{}", during.len() + 1);
            let seq = send(&mut bob, &mut bob_saw, &id)
                .await
                .unwrap_or_else(|code| panic!("{id} refused ({code:?}): B still has NATS"));
            during.push(seq);
        }
        during
    };
    let alice_sends = async {
        let (mut noticed, mut refused, mut slowest) = (None, 0u32, Duration::ZERO);
        let mut pace = tokio::time::interval(PACE);
        while cut.elapsed() < partition_for {
            pace.tick().await;
            let id = format!("a-{}", refused + 1);
            let asked = Instant::now();
            match send(&mut alice, &mut alice_saw, &id).await {
                Ok(seq) => panic!("{id} was acked (seq {seq}) while A is cut off"),
                Err(code) => assert_eq!(code, ErrorCode::Unavailable),
            }
            refused += 1;
            slowest = slowest.max(asked.elapsed());
            if noticed.is_none() && readyz(&a).await == 503 {
                noticed = Some(cut.elapsed());
            }
        }
        (noticed, refused, slowest)
    };
    let (bob_during, (noticed, refused, slowest)) = tokio::join!(bob_sends, alice_sends);
    acked.extend(&bob_during);
    eprintln!(
        "partition {partition_for:?}: bob {} acked; alice {refused} refused (slowest {slowest:?}); A unready after {noticed:?}",
        bob_during.len()
    );
    assert!(
        bob_during.iter().all(|seq| bob_saw.has(*seq)),
        "bob gets his own messages during the partition"
    );
    assert!(
        noticed.is_some(),
        "A's /readyz stays 200 through a {partition_for:?} partition: its NATS client never noticed"
    );

    link.heal();
    let healed = Instant::now();
    let deadline = healed + WAIT * 2;
    while readyz(&a).await != 200 {
        assert!(Instant::now() < deadline, "A never ready again");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let ready_after = healed.elapsed();
    // Catch-up: alice gets everything bob sent while A was cut off.
    for seq in &bob_during {
        until_seen(&mut alice, &mut alice_saw, *seq, WAIT * 2).await;
    }
    let caught_up = healed.elapsed();
    eprintln!("healed: A ready after {ready_after:?}, alice caught up after {caught_up:?}");

    // Alice's client resends everything refused, same ids. The last was
    // refused at once (never published), so it is stored now; one that
    // timed out may have been stored after all when its bytes crossed at
    // the heal: its resend is acked with that earlier seq, not stored
    // twice (checked below: no client id twice).
    let fresh = resend(&mut alice, &mut alice_saw, &format!("a-{refused}")).await;
    acked.push(fresh);
    let mut stored_anyway = 0;
    for n in 1..refused {
        let seq = resend(&mut alice, &mut alice_saw, &format!("a-{n}")).await;
        stored_anyway += usize::from(seq < fresh);
        acked.push(seq);
    }
    eprintln!("{stored_anyway} of alice's {refused} refused sends were stored at the heal");
    let last_alice = *acked.iter().max().expect("acked is not empty");
    let last_bob = send(&mut bob, &mut bob_saw, "b-after").await.unwrap();
    acked.push(last_bob);
    for seq in [last_alice, last_bob] {
        until_seen(&mut alice, &mut alice_saw, seq, WAIT).await;
        until_seen(&mut bob, &mut bob_saw, seq, WAIT).await;
    }

    // One order, nothing acked lost, nothing twice.
    for (who, saw) in [("alice", &alice_saw), ("bob", &bob_saw)] {
        assert!(
            saw.seqs.windows(2).all(|w| w[0] < w[1]),
            "{who} sees seqs out of order or twice: {:?}",
            saw.seqs
        );
        let missing: Vec<_> = acked.iter().filter(|seq| !saw.has(**seq)).collect();
        assert!(missing.is_empty(), "{who} never got acked {missing:?}");
        let ids: HashSet<_> = saw.ids.iter().collect();
        assert_eq!(ids.len(), saw.ids.len(), "{who} got a message twice");
    }
    assert_eq!(
        alice_saw.seqs, bob_saw.seqs,
        "alice and bob see the same messages in the same order"
    );

    // Presence converges. A partition past the expiry (12 s) drops each
    // side's members from the other; they come back: alice and bob see
    // each other join again, and each side's newcomer sees the other's
    // member.
    for (who, client, saw, other) in [
        ("alice", &mut alice, &mut alice_saw, "bob"),
        ("bob", &mut bob, &mut bob_saw, "alice"),
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
