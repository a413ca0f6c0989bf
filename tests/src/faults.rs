//! What the cluster fault tests check, shared by them: what each client
//! saw of one room (`Seen`), sends that end acked or refused (`send`,
//! `resend`), a relay's readiness, and the end state every fault must
//! leave: nothing acked lost, one order for every member, nothing twice
//! (`assert_one_order`). `Pair` runs the usual shape of such a test:
//! alice on the relay the fault cuts off, bob on one that keeps NATS, both
//! sending through the fault, then the heal and the checks.

use std::{collections::HashSet, time::Duration};

use shared::{protocol::PresenceEvent, ErrorCode, ServerMsg};
use tokio::time::Instant;

use crate::{Client, RelayProcess, WAIT};

/// How long a test's fault lasts: `default`, or `PALAVER_PARTITION_SECS`
/// seconds when that is set (to run the long version by hand).
pub fn fault_length(default: Duration) -> Duration {
    std::env::var("PALAVER_PARTITION_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .map_or(default, Duration::from_secs)
}

/// A relay's `/readyz` status now (0 when it does not answer).
pub async fn readyz(relay: &RelayProcess) -> u16 {
    crate::relay::http_get(relay.addr, "/readyz")
        .await
        .map(|(code, _)| code)
        .unwrap_or(0)
}

/// Waits (within `within`) until the relay's `/readyz` is `code`; returns
/// how long that took.
pub async fn wait_readyz(relay: &RelayProcess, code: u16, within: Duration) -> Duration {
    let start = Instant::now();
    while readyz(relay).await != code {
        assert!(
            start.elapsed() < within,
            "/readyz is not {code} after {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    start.elapsed()
}

/// What a client has seen of the room: the seqs of its messages, in the
/// order they came, and their client ids.
#[derive(Default)]
pub struct Seen {
    pub seqs: Vec<u64>,
    pub ids: Vec<String>,
    /// Presence of other members: (nick, joined) in the order it came.
    pub presence: Vec<(String, bool)>,
}

impl Seen {
    pub fn note(&mut self, msg: &ServerMsg) {
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
    pub fn left_and_back(&self, nick: &str) -> (bool, bool) {
        let of: Vec<bool> = self
            .presence
            .iter()
            .filter(|(n, _)| n == nick)
            .map(|(_, joined)| *joined)
            .collect();
        (of.contains(&false), of.last().copied().unwrap_or(true))
    }

    pub fn has(&self, seq: u64) -> bool {
        self.seqs.contains(&seq)
    }
}

/// Sends `id` (text = id) to the lobby and waits for its ack (`Ok(seq)`)
/// or refusal (`Err(code)`), noting every message that comes meanwhile.
pub async fn send(client: &mut Client, seen: &mut Seen, id: &str) -> Result<u64, ErrorCode> {
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

/// Sends `id` until acked (for at most three times [`WAIT`], each refusal
/// `unavailable`: the relay, or its NATS node, is still settling after
/// the heal; a NATS node cut from its cluster took 4 to 18 s); returns its
/// seq.
pub async fn resend(client: &mut Client, seen: &mut Seen, id: &str) -> u64 {
    let start = Instant::now();
    while start.elapsed() < WAIT * 3 {
        match send(client, seen, id).await {
            Ok(seq) => {
                if start.elapsed() > Duration::from_secs(1) {
                    eprintln!("{id} acked after {:?} of refusals", start.elapsed());
                }
                return seq;
            }
            Err(code) => assert_eq!(code, ErrorCode::Unavailable),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{id} is still refused after the heal")
}

/// Reads (bounded by `within`) until `seen` holds `seq`.
pub async fn until_seen(client: &mut Client, seen: &mut Seen, seq: u64, within: Duration) {
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
pub async fn newcomer_sees(relay: &RelayProcess, newcomer: &str, nick: &str) {
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

/// The end state of every fault: each member got every acked seq, in
/// increasing order, no message twice, and all members saw the same
/// messages in the same order.
pub fn assert_one_order(acked: &[u64], members: &[(&str, &Seen)]) {
    for (who, saw) in members {
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
    for pair in members.windows(2) {
        assert_eq!(
            pair[0].1.seqs, pair[1].1.seqs,
            "{} and {} see the same messages in the same order",
            pair[0].0, pair[1].0
        );
    }
}

/// How often each side sends during a fault.
pub const PACE: Duration = Duration::from_millis(250);

/// Alice on relay A (the one a fault cuts off), bob on relay B, both in
/// the lobby, and what they saw and were acked.
pub struct Pair {
    pub alice: Client,
    pub bob: Client,
    pub alice_saw: Seen,
    pub bob_saw: Seen,
    /// Every seq acked to either of them.
    pub acked: Vec<u64>,
}

/// What happened while both sent through a fault.
#[derive(Debug)]
pub struct During {
    /// Bob's sends, each acked: their seqs.
    pub bob_acked: Vec<u64>,
    /// How many of alice's sends were refused (`a-1` ..= `a-{refused}`).
    pub refused: u32,
    /// The longest alice waited for a refusal.
    pub slowest: Duration,
    /// When (after the fault began) A's `/readyz` was first seen 503.
    pub unready_after: Option<Duration>,
}

impl Pair {
    /// Alice joins the lobby on `a`, bob on `b`; alice's first message is
    /// acked and reaches bob.
    pub async fn join(a: &RelayProcess, b: &RelayProcess) -> Pair {
        let mut alice = Client::hello(&a.ws_url(), "alice").await.unwrap();
        let mut bob = Client::hello(&b.ws_url(), "bob").await.unwrap();
        let (mut alice_saw, mut bob_saw) = (Seen::default(), Seen::default());
        alice.join("lobby", None).await.unwrap();
        bob.join("lobby", None).await.unwrap();
        let first = send(&mut alice, &mut alice_saw, "a-0").await.unwrap();
        until_seen(&mut bob, &mut bob_saw, first, WAIT).await;
        Pair {
            alice,
            bob,
            alice_saw,
            bob_saw,
            acked: vec![first],
        }
    }

    /// For `length` from `since`, bob and alice send side by side, every
    /// [`PACE`]: each of bob's sends must be acked (and reach bob), each of
    /// alice's refused `unavailable` within `refused_within` (never acked:
    /// A cannot store it). A's `/readyz` is watched meanwhile.
    pub async fn send_through(
        &mut self,
        a: &RelayProcess,
        since: Instant,
        length: Duration,
        refused_within: Duration,
    ) -> During {
        let (bob, bob_saw) = (&mut self.bob, &mut self.bob_saw);
        let (alice, alice_saw) = (&mut self.alice, &mut self.alice_saw);
        let bob_sends = async {
            let mut acked = Vec::new();
            let mut pace = tokio::time::interval(PACE);
            while since.elapsed() < length {
                pace.tick().await;
                let id = format!("b-{}", acked.len() + 1);
                let seq = send(bob, bob_saw, &id)
                    .await
                    .unwrap_or_else(|code| panic!("{id} refused ({code:?}): B still has NATS"));
                acked.push(seq);
            }
            acked
        };
        let alice_sends = async {
            let (mut unready_after, mut refused, mut slowest) = (None, 0u32, Duration::ZERO);
            let mut pace = tokio::time::interval(PACE);
            while since.elapsed() < length {
                pace.tick().await;
                let id = format!("a-{}", refused + 1);
                let asked = Instant::now();
                match send(alice, alice_saw, &id).await {
                    Ok(seq) => panic!("{id} was acked (seq {seq}) while A is cut off"),
                    Err(code) => assert_eq!(code, ErrorCode::Unavailable),
                }
                refused += 1;
                slowest = slowest.max(asked.elapsed());
                assert!(
                    slowest <= refused_within,
                    "{id} waited {slowest:?} for its refusal"
                );
                if unready_after.is_none() && readyz(a).await == 503 {
                    unready_after = Some(since.elapsed());
                }
            }
            (unready_after, refused, slowest)
        };
        let (bob_acked, (unready_after, refused, slowest)) = tokio::join!(bob_sends, alice_sends);
        self.acked.extend(&bob_acked);
        assert!(
            bob_acked.iter().all(|seq| self.bob_saw.has(*seq)),
            "bob gets his own messages during the fault"
        );
        During {
            bob_acked,
            refused,
            slowest,
            unready_after,
        }
    }

    /// After the heal (at `healed`): A is ready again, alice gets everything
    /// bob sent, her client resends what was refused (same ids: one that
    /// was stored after all is acked with that earlier seq, not stored
    /// twice), and both end with one order, nothing acked missing, nothing
    /// twice. Returns how many refused sends had been stored anyway.
    pub async fn converge(&mut self, a: &RelayProcess, healed: Instant, during: &During) -> usize {
        let ready_after = wait_readyz(a, 200, WAIT * 2).await;
        for seq in &during.bob_acked {
            until_seen(&mut self.alice, &mut self.alice_saw, *seq, WAIT * 2).await;
        }
        let caught_up = healed.elapsed();
        eprintln!("healed: A ready after {ready_after:?}, alice caught up after {caught_up:?}");

        // The last refusal is resent first: when it was refused at once
        // (never published), it is stored now, and any earlier one acked
        // with a smaller seq was stored when its bytes crossed.
        let refused = during.refused;
        let first = resend(
            &mut self.alice,
            &mut self.alice_saw,
            &format!("a-{refused}"),
        )
        .await;
        self.acked.push(first);
        let mut stored_anyway = 0;
        for n in 1..refused {
            let seq = resend(&mut self.alice, &mut self.alice_saw, &format!("a-{n}")).await;
            stored_anyway += usize::from(seq < first);
            self.acked.push(seq);
        }
        let last_alice = *self.acked.iter().max().expect("acked is not empty");
        // Bob resends too: a healed cluster can refuse one more send on
        // the majority's side while the rejoined node catches up (seen
        // once, 9 s after the cut node's heal), and a client resends an
        // `unavailable` send (docs/PROTOCOL.md).
        let last_bob = resend(&mut self.bob, &mut self.bob_saw, "b-after").await;
        self.acked.push(last_bob);
        for seq in [last_alice, last_bob] {
            until_seen(&mut self.alice, &mut self.alice_saw, seq, WAIT).await;
            until_seen(&mut self.bob, &mut self.bob_saw, seq, WAIT).await;
        }
        assert_one_order(
            &self.acked,
            &[("alice", &self.alice_saw), ("bob", &self.bob_saw)],
        );
        stored_anyway
    }
}
