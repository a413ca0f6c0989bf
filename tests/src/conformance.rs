//! The store contract, written once: each behaviour every message store
//! must have is one generic async function taking an [`Engine`] (a way to
//! open a store, and to open it again over the same data for a restart).
//! `tests/e2e/store_conformance.rs` runs every behaviour against memory,
//! SQLite and JetStream (a real nats-server), through `relay::store::Store`.
//!
//! Where engines legitimately differ, the engine says so ([`Engine::DURABLE`],
//! [`Engine::CONTIGUOUS`]) and the behaviour
//! checks the stronger promise only where it is made.

use std::{
    future::Future,
    sync::{Arc, Mutex},
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use futures_util::future::join_all;
use relay::store::{Appended, Deliver, NewMessage, Store};
use shared::{ChatMessage, ClientId, Nick, Text, User, UserId};

use crate::{client::room, WAIT};

/// A store engine under test.
pub trait Engine {
    /// Messages (and the dedup window) outlive a restart.
    const DURABLE: bool;
    /// A room's seqs run 1, 2, 3, ...; otherwise they only increase (with
    /// gaps where other rooms' messages sit, as JetStream's stream
    /// sequence does).
    const CONTIGUOUS: bool;

    /// Opens the store over the engine's data, delivering to `deliver`,
    /// ready to take writes. Opening again is a restart: the caller drops
    /// the previous store first, and the engine stops what is left of it.
    fn open(&mut self, deliver: Deliver) -> impl Future<Output = Arc<dyn Store>>;
}

/// An open store and what it delivered, in delivery order.
pub struct Opened {
    pub store: Arc<dyn Store>,
    delivered: Arc<Mutex<Vec<ChatMessage>>>,
}

impl Opened {
    pub async fn new(engine: &mut impl Engine) -> Opened {
        let delivered = Arc::new(Mutex::new(Vec::new()));
        let sink = delivered.clone();
        let deliver: Deliver = Arc::new(move |m: &Arc<ChatMessage>| {
            sink.lock().unwrap().push(ChatMessage::clone(m));
        });
        let store = engine.open(deliver).await;
        let deadline = tokio::time::Instant::now() + WAIT * 2;
        while !store.ready() {
            assert!(tokio::time::Instant::now() < deadline, "never ready");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Opened { store, delivered }
    }

    /// The seqs delivered for `name`, in delivery order.
    pub fn delivered(&self, name: &str) -> Vec<u64> {
        let room = room(name);
        let delivered = self.delivered.lock().unwrap();
        delivered
            .iter()
            .filter(|m| m.room == room)
            .map(|m| m.seq)
            .collect()
    }

    pub async fn append(&self, name: &str, from: &str, client_id: &str) -> Appended {
        self.store
            .append(message(name, from, client_id))
            .await
            .unwrap_or_else(|err| panic!("append {client_id}: {err}"))
    }

    async fn after(&self, name: &str, since: Option<u64>, limit: usize) -> (Vec<u64>, bool) {
        let page = self.store.after(&room(name), since, limit).await.unwrap();
        (seqs(&page.messages), page.truncated)
    }

    async fn before(&self, name: &str, before: Option<u64>, limit: usize) -> Vec<u64> {
        seqs(&self.store.before(&room(name), before, limit).await.unwrap())
    }

    async fn newer(&self, name: &str, after: u64, limit: usize) -> Vec<u64> {
        seqs(&self.store.newer(&room(name), after, limit).await.unwrap())
    }
}

fn seqs(messages: &[ChatMessage]) -> Vec<u64> {
    messages.iter().map(|m| m.seq).collect()
}

pub fn user(name: &str) -> User {
    User {
        id: UserId(format!("id-{name}")),
        nick: Nick::new(name).unwrap(),
    }
}

/// A message from `from` whose text is its client id.
pub fn message(name: &str, from: &str, client_id: &str) -> NewMessage {
    NewMessage {
        mentions: Default::default(),
        reply_to: None,
        room: room(name),
        from: user(from),
        text: Text::new(client_id).unwrap(),
        client_id: ClientId::new(client_id).unwrap(),
        ts: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64,
    }
}

fn new_seq(appended: Appended) -> u64 {
    match appended {
        Appended::New(seq) => seq,
        other => panic!("expected a new message, got {other:?}"),
    }
}

/// Seqs rise within a room (by one, where the engine numbers rooms
/// apart); each message is delivered once, in seq order, before `append`
/// returns (so a sender sees its `message` before its `ack`), also when
/// senders race.
pub async fn orders_and_numbers_each_room<E: Engine>(engine: &mut E) {
    let s = Opened::new(engine).await;
    let mut one = Vec::new();
    for i in 1..=10 {
        let seq = new_seq(s.append("one", "alice", &format!("a{i}")).await);
        assert_eq!(
            s.delivered("one").last(),
            Some(&seq),
            "delivered before append returned"
        );
        one.push(seq);
        new_seq(s.append("two", "bob", &format!("b{i}")).await);
    }
    assert!(one.windows(2).all(|w| w[0] < w[1]), "{one:?}");
    if E::CONTIGUOUS {
        assert_eq!(one, (1..=10).collect::<Vec<_>>());
    }
    assert_eq!(s.delivered("one"), one);

    // Three senders at once into one room: one order, no seq twice.
    let racers = (0..3).map(|r| {
        let s = &s;
        async move {
            let mut mine = Vec::new();
            for i in 0..20 {
                let id = format!("r{i}");
                mine.push(new_seq(s.append("race", &format!("racer{r}"), &id).await));
            }
            mine
        }
    });
    let mut all: Vec<u64> = join_all(racers).await.into_iter().flatten().collect();
    all.sort();
    all.dedup();
    assert_eq!(all.len(), 60, "a seq was given twice");
    assert_eq!(s.delivered("race"), all, "delivered out of order or twice");
    if E::CONTIGUOUS {
        assert_eq!(all, (1..=60).collect::<Vec<_>>());
    }
}

/// A resend (same room, user and client id) is recognised: answered with
/// its first seq, neither stored nor delivered again. Another user's same
/// client id is their own message.
pub async fn recognises_a_resend<E: Engine>(engine: &mut E) {
    let s = Opened::new(engine).await;
    let first = new_seq(s.append("dedup", "alice", "same").await);
    assert_eq!(
        s.append("dedup", "alice", "same").await,
        Appended::Duplicate(first)
    );
    let bobs = new_seq(s.append("dedup", "bob", "same").await);
    assert!(bobs > first);
    // The same client id in another room is another message too.
    new_seq(s.append("elsewhere", "alice", "same").await);
    assert_eq!(s.delivered("dedup"), [first, bobs]);
    assert_eq!(
        s.after("dedup", None, 100).await,
        (vec![first, bobs], false)
    );
}

/// Durable engines: after a restart every message is there, a resend of
/// one from before is still recognised, and seqs go on without reuse.
pub async fn survives_a_restart<E: Engine>(engine: &mut E) {
    if !E::DURABLE {
        return;
    }
    let s = Opened::new(engine).await;
    let mut before = Vec::new();
    for i in 1..=3 {
        before.push(new_seq(s.append("kept", "alice", &format!("k{i}")).await));
    }
    drop(s);
    let s = Opened::new(engine).await;
    assert_eq!(s.after("kept", None, 100).await, (before.clone(), false));
    assert_eq!(
        s.append("kept", "alice", "k2").await,
        Appended::Duplicate(before[1])
    );
    let next = new_seq(s.append("kept", "alice", "k4").await);
    assert!(next > before[2]);
    if E::CONTIGUOUS {
        assert_eq!(next, before[2] + 1);
    }
    let mut all = before;
    all.push(next);
    assert_eq!(s.after("kept", None, 100).await, (all, false));
    assert_eq!(
        s.delivered("kept"),
        [next],
        "only the new message is delivered"
    );
}

/// `after` (for `join … since`), `before` and `newer` (for `history`): the
/// right window, oldest first, the latest ones when the limit cuts (the
/// oldest ones for `newer`), `truncated` exactly when it does; the same
/// again after a restart (cold caches).
pub async fn pages_after_and_before<E: Engine>(engine: &mut E) {
    let s = Opened::new(engine).await;
    let mut seqs = Vec::new();
    for i in 1..=12 {
        seqs.push(new_seq(s.append("paging", "alice", &format!("p{i}")).await));
        // Another room in between: gaps in this room's seqs where the
        // engine numbers one stream.
        new_seq(s.append("noise", "bob", &format!("n{i}")).await);
    }
    let restarts = if E::DURABLE { 2 } else { 1 };
    let mut s = Some(s);
    for round in 0..restarts {
        let s = match s.take() {
            Some(s) => s,
            None => Opened::new(engine).await,
        };
        let at = |range: std::ops::Range<usize>| seqs[range].to_vec();
        let context = format!("round {round}");
        assert_eq!(
            s.after("paging", Some(seqs[8]), 100).await,
            (at(9..12), false),
            "{context}"
        );
        assert_eq!(
            s.after("paging", None, 5).await,
            (at(7..12), true),
            "{context}"
        );
        assert_eq!(
            s.after("paging", None, 12).await,
            (at(0..12), false),
            "{context}"
        );
        assert_eq!(
            s.after("paging", Some(seqs[2]), 4).await,
            (at(8..12), true),
            "{context}"
        );
        assert_eq!(
            s.after("paging", Some(seqs[11]), 10).await,
            (vec![], false),
            "{context}"
        );
        assert_eq!(
            s.before("paging", Some(seqs[9]), 4).await,
            at(5..9),
            "{context}"
        );
        assert_eq!(s.before("paging", None, 3).await, at(9..12), "{context}");
        assert_eq!(
            s.before("paging", Some(seqs[2]), 10).await,
            at(0..2),
            "{context}"
        );
        assert_eq!(
            s.before("paging", Some(seqs[0]), 10).await,
            Vec::<u64>::new(),
            "{context}"
        );
        // `newer`: from the start, the middle and the end of the room.
        assert_eq!(s.newer("paging", 0, 3).await, at(0..3), "{context}");
        assert_eq!(s.newer("paging", seqs[4], 4).await, at(5..9), "{context}");
        // Between two of this room's seqs (another room's, in an engine
        // that numbers one stream): the next one on.
        assert_eq!(
            s.newer("paging", seqs[5] - 1, 2).await,
            at(5..7),
            "{context}"
        );
        assert_eq!(s.newer("paging", seqs[8], 10).await, at(9..12), "{context}");
        assert_eq!(
            s.newer("paging", seqs[11], 10).await,
            Vec::<u64>::new(),
            "{context}"
        );
        assert_eq!(
            s.newer("paging", u64::MAX, 10).await,
            Vec::<u64>::new(),
            "{context}"
        );
        assert_eq!(
            s.newer("nowhere", 0, 10).await,
            Vec::<u64>::new(),
            "{context}"
        );
        assert_eq!(
            s.after("nowhere", None, 10).await,
            (vec![], false),
            "{context}"
        );
        assert_eq!(
            s.before("nowhere", None, 10).await,
            Vec::<u64>::new(),
            "{context}"
        );
        // Pages hold the messages themselves, not only their seqs.
        let page = s.store.before(&room("paging"), None, 1).await.unwrap();
        assert_eq!(page[0].text.as_str(), "p12");
        assert_eq!(page[0].from, user("alice"));
        assert_eq!(page[0].client_id.as_ref().unwrap().as_str(), "p12");
    }
}
