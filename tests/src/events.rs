//! The message-event contract (edit, delete, react, replies), written once
//! like `conformance`: each behaviour is a generic function over an
//! [`EventEngine`], run by `tests/e2e/store_conformance.rs` for every
//! engine that keeps events (memory so far; SQLite and JetStream answer
//! `Unsupported` until they do).

use std::{
    future::Future,
    sync::{Arc, Mutex},
};

use relay::store::{Action, Appended, Deliver, DeliverUpdate, NewUpdate, Store, UpdateError};
use shared::{
    mentions::Mentions,
    protocol::{Update, UpdateKind, DELETED_TEXT},
    ChatMessage, ClientId, ClientMsg, Emoji, ErrorCode, ServerMsg, Text,
};

use crate::{
    client::room,
    conformance::{message, user, Engine},
    Client, WAIT,
};

/// Sends a frame carrying `client_id` over a real socket and waits for its
/// ack (its seq) or its refusal (the code).
pub async fn acked(
    client: &mut Client,
    frame: ClientMsg,
    client_id: &str,
) -> Result<u64, ErrorCode> {
    client.send(&frame).await.unwrap();
    let answer = client
        .recv_until(|m| match m {
            ServerMsg::Ack { client_id: c, .. } => c.as_str() == client_id,
            ServerMsg::Error { reference, .. } => reference.as_deref() == Some(client_id),
            _ => false,
        })
        .await
        .unwrap();
    match answer {
        ServerMsg::Ack { seq, .. } => Ok(seq),
        ServerMsg::Error { code, .. } => Err(code),
        _ => unreachable!(),
    }
}

/// An engine whose store keeps message events.
pub trait EventEngine: Engine {
    /// Opens the store like [`Engine::open`], delivering events to `updates`.
    fn open_events(
        &mut self,
        deliver: Deliver,
        updates: DeliverUpdate,
    ) -> impl Future<Output = Arc<dyn Store>>;
}

/// An open store and the events it delivered, in delivery order.
pub struct Events {
    pub store: Arc<dyn Store>,
    delivered: Arc<Mutex<Vec<Update>>>,
}

impl Events {
    pub async fn new(engine: &mut impl EventEngine) -> Events {
        let delivered = Arc::new(Mutex::new(Vec::new()));
        let sink = delivered.clone();
        let updates: DeliverUpdate =
            Arc::new(move |u: &Update| sink.lock().unwrap().push(u.clone()));
        let store = engine
            .open_events(Arc::new(|_: &Arc<ChatMessage>| {}), updates)
            .await;
        let deadline = tokio::time::Instant::now() + WAIT * 2;
        while !store.ready() {
            assert!(tokio::time::Instant::now() < deadline, "never ready");
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        Events { store, delivered }
    }

    /// The (seq, target, kind) of every delivered event.
    pub fn delivered(&self) -> Vec<(u64, u64, UpdateKind)> {
        let delivered = self.delivered.lock().unwrap();
        delivered
            .iter()
            .map(|u| (u.seq, u.target, u.kind))
            .collect()
    }

    /// Appends a message from `from` (text = `client_id`); its seq.
    pub async fn say(&self, from: &str, client_id: &str) -> u64 {
        self.store
            .append(message("r", from, client_id))
            .await
            .unwrap()
            .seq()
    }

    pub async fn change(
        &self,
        from: &str,
        client_id: &str,
        target: u64,
        action: Action,
    ) -> Result<Appended, UpdateError> {
        self.change_as(from, false, client_id, target, action).await
    }

    pub async fn change_as(
        &self,
        from: &str,
        moderator: bool,
        client_id: &str,
        target: u64,
        action: Action,
    ) -> Result<Appended, UpdateError> {
        self.store
            .update(NewUpdate {
                room: room("r"),
                from: user(from),
                client_id: ClientId::new(client_id).unwrap(),
                ts: 1_764_000_000_000,
                target,
                action,
                moderator,
            })
            .await
    }

    /// Message `seq` as history serves it now.
    pub async fn read(&self, seq: u64) -> ChatMessage {
        let page = self.store.after(&room("r"), None, 1000).await.unwrap();
        page.messages
            .into_iter()
            .find(|m| m.seq == seq)
            .unwrap_or_else(|| panic!("message {seq} not in history"))
    }
}

pub fn edit(text: &str) -> Action {
    Action::Edit(Text::new(text).unwrap(), Default::default())
}

pub fn react(emoji: &str, on: bool) -> Action {
    Action::React {
        emoji: Emoji::new(emoji).unwrap(),
        on,
    }
}

/// An edit is stored once however often it is resent, and changes the
/// text and `edited_ts`; it is its own room event, after the message.
pub async fn an_edit_resent_is_stored_once<E: EventEngine>(engine: &mut E) {
    let s = Events::new(engine).await;
    let target = s.say("alice", "m1").await;
    let first = s
        .change("alice", "e1", target, edit("fixed"))
        .await
        .unwrap();
    let Appended::New(seq) = first else {
        panic!("{first:?}")
    };
    assert!(seq > target);
    let again = s
        .change("alice", "e1", target, edit("fixed"))
        .await
        .unwrap();
    assert_eq!(again, Appended::Duplicate(seq));
    assert_eq!(s.delivered(), [(seq, target, UpdateKind::Edit)]);
    let now = s.read(target).await;
    assert_eq!(now.text.as_str(), "fixed");
    assert!(now.state.edited_ts.is_some());
    // The next message comes after the event.
    assert!(s.say("bob", "m2").await > seq);
}

/// An edit's mentions replace the message's: the message now mentions who
/// the new text names (so unread mention counts and pushes follow edits),
/// the delivered update says so, and a durable store keeps it.
pub async fn an_edit_s_mentions_become_the_message_s<E: EventEngine>(engine: &mut E) {
    let target = {
        let s = Events::new(engine).await;
        let target = s.say("alice", "m1").await;
        assert!(s.read(target).await.state.mentions.is_empty());
        let names_bob = Mentions {
            users: vec![user("bob").id],
            room: false,
        };
        let text = Text::new("now for @bob").unwrap();
        s.change("alice", "e1", target, Action::Edit(text, names_bob))
            .await
            .unwrap();
        let now = s.read(target).await;
        assert_eq!(now.state.mentions, [user("bob").id]);
        assert!(!now.state.mentions_room);
        let delivered = s.delivered.lock().unwrap().last().cloned().unwrap();
        assert_eq!(delivered.mentions, [user("bob").id], "{delivered:?}");
        // Edited again to name the room and no one: `@room` only.
        let everyone = Mentions {
            users: Vec::new(),
            room: true,
        };
        let text = Text::new("now for @room").unwrap();
        s.change("alice", "e2", target, Action::Edit(text, everyone))
            .await
            .unwrap();
        let now = s.read(target).await;
        assert!(now.state.mentions.is_empty() && now.state.mentions_room);
        target
    };
    if E::DURABLE {
        let s = Events::new(engine).await;
        let now = s.read(target).await;
        assert!(now.state.mentions.is_empty() && now.state.mentions_room);
    }
}

/// Only the author edits; the author or a moderator deletes; after a
/// delete, nothing more: the text is gone from reads, a tombstone stays.
pub async fn delete_erases_and_then_everything_is_gone<E: EventEngine>(engine: &mut E) {
    let s = Events::new(engine).await;
    let mut secret = message("r", "alice", "m1");
    secret.text = Text::new("secret-words").unwrap();
    let target = s.store.append(secret).await.unwrap().seq();
    assert!(matches!(
        s.change("bob", "b1", target, edit("mine now")).await,
        Err(UpdateError::Forbidden)
    ));
    assert!(matches!(
        s.change("bob", "b2", target, Action::Delete).await,
        Err(UpdateError::Forbidden)
    ));
    assert!(matches!(
        s.change("nobody", "x", 999, Action::Delete).await,
        Err(UpdateError::Gone)
    ));
    s.change("alice", "a1", target, react("👍", true))
        .await
        .unwrap();
    s.change_as("bob", true, "b3", target, Action::Delete)
        .await
        .expect("a moderator deletes anyone's message");
    let tombstone = s.read(target).await;
    assert!(tombstone.state.deleted);
    assert_eq!(tombstone.text.as_str(), DELETED_TEXT);
    assert!(tombstone.state.reactions.is_empty());
    assert_eq!(
        tombstone.from,
        user("alice"),
        "the tombstone keeps its shape"
    );
    for (id, action) in [
        ("a2", edit("too late")),
        ("a3", Action::Delete),
        ("a4", react("👍", true)),
    ] {
        assert!(
            matches!(
                s.change("alice", id, target, action).await,
                Err(UpdateError::Gone)
            ),
            "{id}"
        );
    }
    let page = s.store.after(&room("r"), None, 100).await.unwrap();
    assert!(
        !format!("{page:?}").contains("secret-words"),
        "the deleted text is still served"
    );
    // Pages before and after it hold the tombstone alike.
    let older = s.store.before(&room("r"), Some(target + 1), 10).await;
    let newer = s.store.newer(&room("r"), target - 1, 10).await;
    let (older, newer) = (older.unwrap(), newer.unwrap());
    assert_eq!(newer.first(), older.last(), "one tombstone either way");
    assert_eq!(newer[0], tombstone);
}

/// A reaction is unique per (message, user, emoji): adding it twice (under
/// new ids) counts once; removing one never added changes nothing.
pub async fn reactions_are_unique_per_user<E: EventEngine>(engine: &mut E) {
    let s = Events::new(engine).await;
    let target = s.say("alice", "m1").await;
    let first = s
        .change("bob", "r1", target, react("👍", true))
        .await
        .unwrap();
    assert!(matches!(first, Appended::New(_)));
    let twice = s
        .change("bob", "r2", target, react("👍", true))
        .await
        .unwrap();
    assert_eq!(twice, Appended::Duplicate(target), "no change, no event");
    s.change("carol", "r3", target, react("👍", true))
        .await
        .unwrap();
    s.change("carol", "r4", target, react(":tada:", true))
        .await
        .unwrap();
    let never = s
        .change("alice", "r5", target, react("👍", false))
        .await
        .unwrap();
    assert_eq!(never, Appended::Duplicate(target));
    let reactions = s.read(target).await.state.reactions;
    let summary: Vec<(&str, u32, usize)> = reactions
        .iter()
        .map(|r| (r.emoji.as_str(), r.count, r.users.len()))
        .collect();
    assert_eq!(summary, [("👍", 2, 2), (":tada:", 1, 1)]);
    s.change("bob", "r6", target, react("👍", false))
        .await
        .unwrap();
    let reactions = s.read(target).await.state.reactions;
    assert_eq!(reactions[0].count, 1);
    assert_eq!(reactions[0].users, [user("carol").id]);
    assert_eq!(s.delivered().len(), 4, "four changes, four events");
}

/// `after` with a cursor returns the events since it whose targets are
/// older than the page, in seq order; newer targets carry their state.
pub async fn since_replays_events_in_order<E: EventEngine>(engine: &mut E) {
    let s = Events::new(engine).await;
    let old = s.say("alice", "m1").await;
    let since = s.say("alice", "m2").await;
    let e1 = s
        .change("alice", "e1", old, edit("one"))
        .await
        .unwrap()
        .seq();
    let e2 = s
        .change("bob", "e2", old, react("👍", true))
        .await
        .unwrap()
        .seq();
    let fresh = s.say("alice", "m3").await;
    let e3 = s
        .change("alice", "e3", fresh, edit("three"))
        .await
        .unwrap()
        .seq();
    let e4 = s
        .change("alice", "e4", old, Action::Delete)
        .await
        .unwrap()
        .seq();
    let page = s.store.after(&room("r"), Some(since), 100).await.unwrap();
    let messages: Vec<u64> = page.messages.iter().map(|m| m.seq).collect();
    assert_eq!(messages, [fresh]);
    assert_eq!(
        page.messages[0].text.as_str(),
        "three",
        "its state, not an event"
    );
    let events: Vec<(u64, u64, UpdateKind)> = page
        .updates
        .iter()
        .map(|u| (u.seq, u.target, u.kind))
        .collect();
    assert_eq!(
        events,
        [
            (e1, old, UpdateKind::Edit),
            (e2, old, UpdateKind::React),
            (e4, old, UpdateKind::Delete)
        ]
    );
    assert!(e1 < e2 && e2 < e3 && e3 < e4);
    // Without a cursor there is nothing to replay.
    assert!(s
        .store
        .after(&room("r"), None, 100)
        .await
        .unwrap()
        .updates
        .is_empty());
}

/// A reply keeps its target's seq and quotes its start.
pub async fn a_reply_quotes_its_target<E: EventEngine>(engine: &mut E) {
    let s = Events::new(engine).await;
    let target = s.say("alice", "question").await;
    let mut reply = message("r", "bob", "answer");
    reply.reply_to = Some(target);
    let seq = s.store.append(reply).await.unwrap().seq();
    let stored = s.read(seq).await;
    assert_eq!(stored.state.reply_to, Some(target));
    let quote = stored.state.quote.expect("a quote of the target");
    assert_eq!(quote.from, user("alice"));
    assert_eq!(quote.text.as_deref(), Some("question"));
}

/// Deleting a message erases its text from the quotes of its replies too:
/// they then quote a deleted message.
pub async fn a_delete_erases_the_quotes_of_replies<E: EventEngine>(engine: &mut E) {
    let s = Events::new(engine).await;
    let mut question = message("r", "alice", "q1");
    question.text = Text::new("where is the secret-door?").unwrap();
    let target = s.store.append(question).await.unwrap().seq();
    let mut reply = message("r", "bob", "answer");
    reply.reply_to = Some(target);
    let seq = s.store.append(reply).await.unwrap().seq();
    s.change("alice", "d1", target, Action::Delete)
        .await
        .unwrap();
    let quote = s.read(seq).await.state.quote.expect("still a quote");
    assert!(quote.deleted);
    assert_eq!(quote.text, None);
    assert_eq!(quote.from, user("alice"), "the quote keeps its author");
    let page = s.store.after(&room("r"), None, 100).await.unwrap();
    assert!(!format!("{page:?}").contains("secret-door"));
}

/// Edits, reactions and deletes outlive a restart of a durable store: the
/// state, the replay after a cursor, the resend window, the seq counter.
pub async fn events_survive_a_restart<E: EventEngine>(engine: &mut E) {
    let (kept, gone, edited, reacted, deleted) = {
        let s = Events::new(engine).await;
        let kept = s.say("alice", "m1").await;
        let gone = s.say("alice", "m2").await;
        let edited = s
            .change("alice", "e1", kept, edit("kept, edited"))
            .await
            .unwrap()
            .seq();
        let reacted = s
            .change("bob", "e2", kept, react("👍", true))
            .await
            .unwrap()
            .seq();
        let deleted = s
            .change("alice", "e3", gone, Action::Delete)
            .await
            .unwrap()
            .seq();
        (kept, gone, edited, reacted, deleted)
    };
    if !E::DURABLE {
        return;
    }
    let s = Events::new(engine).await;
    let now = s.read(kept).await;
    assert_eq!(now.text.as_str(), "kept, edited");
    assert_eq!(now.state.reactions.len(), 1);
    assert!(s.read(gone).await.state.deleted);
    let page = s.store.after(&room("r"), Some(gone), 100).await.unwrap();
    let events: Vec<(u64, u64, UpdateKind)> = page
        .updates
        .iter()
        .map(|u| (u.seq, u.target, u.kind))
        .collect();
    assert_eq!(
        events,
        [
            (edited, kept, UpdateKind::Edit),
            (reacted, kept, UpdateKind::React),
            (deleted, gone, UpdateKind::Delete)
        ]
    );
    assert_eq!(
        s.change("bob", "e2", kept, react("👍", true))
            .await
            .unwrap(),
        Appended::Duplicate(reacted),
        "a resend after the restart"
    );
    assert!(s.say("carol", "m3").await > deleted);
    assert!(s.delivered().is_empty());
}
