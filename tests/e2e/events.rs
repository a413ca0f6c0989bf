//! Replies, edits, deletes and reactions through a real relay (memory
//! and SQLite stores, and a two-relay cluster): the frames each member
//! sees, live replies' quotes, the refusals, a rejoin with `since` that
//! replays what happened to older messages, and the shared client model's
//! unread count, which events do not move.
//!
//! A little over 400 lines: the cluster's quote test shares this file's
//! helpers and belongs with the other event tests.

use shared::{
    protocol::{Update, UpdateKind, DELETED_TEXT},
    ClientId, ClientMsg, Emoji, ErrorCode, ServerMsg, Text,
};
use tests::{client::room, events::acked, Client, InProcessRelay, Member};

fn id(s: &str) -> ClientId {
    ClientId::new(s).unwrap()
}

async fn next_update(client: &mut Client) -> Update {
    match client
        .recv_until(|m| matches!(m, ServerMsg::Update(_)))
        .await
        .unwrap()
    {
        ServerMsg::Update(update) => update,
        _ => unreachable!(),
    }
}

/// A relay on the memory store, or on SQLite in `dir`.
async fn relay_on(dir: Option<&std::path::Path>) -> InProcessRelay {
    let mut config = relay::Config::for_tests();
    if let Some(dir) = dir {
        config.store = relay::config::StoreKind::Sqlite;
        config.data_dir = dir.to_path_buf();
    }
    InProcessRelay::start(config).await
}

#[tokio::test]
async fn members_see_replies_edits_reactions_and_deletes_memory() {
    let relay = relay_on(None).await;
    members_see_replies_edits_reactions_and_deletes(&relay.ws_url(), &relay.ws_url()).await;
    relay.stop().await.unwrap();
}

#[tokio::test]
async fn members_see_replies_edits_reactions_and_deletes_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let relay = relay_on(Some(dir.path())).await;
    members_see_replies_edits_reactions_and_deletes(&relay.ws_url(), &relay.ws_url()).await;
    relay.stop().await.unwrap();
}

/// Two relays on one nats-server.
async fn cluster() -> (tests::NatsServer, Vec<InProcessRelay>) {
    let nats = tests::NatsServer::start().await.unwrap();
    let mut relays = Vec::new();
    for _ in 0..2 {
        let mut config = relay::Config::for_tests();
        config.nats = vec![nats.url()];
        let relay = InProcessRelay::start(config).await;
        relay.wait_ready().await.unwrap();
        relays.push(relay);
    }
    (nats, relays)
}

/// Alice on one relay of a cluster, bob on another: the events cross
/// NATS, and a live reply carries its quote there too.
#[tokio::test]
async fn members_see_replies_edits_reactions_and_deletes_across_a_cluster() {
    let _heavy = tests::heavy().await;
    let (_nats, relays) = cluster().await;
    members_see_replies_edits_reactions_and_deletes(&relays[0].ws_url(), &relays[1].ws_url()).await;
    for relay in relays {
        relay.stop().await.unwrap();
    }
}

async fn members_see_replies_edits_reactions_and_deletes(alice_url: &str, url: &str) {
    let mut alice = Client::hello(alice_url, "alice").await.unwrap();
    let mut bob = Client::hello(url, "bob").await.unwrap();
    alice.join("general", None).await.unwrap();
    bob.join("general", None).await.unwrap();
    let question = alice
        .say_acked("general", "lunch at noon?", "a1")
        .await
        .unwrap();

    // A reply carries its target and a quote of it.
    let reply = ClientMsg::Send {
        room: room("general"),
        text: Text::new("yes").unwrap(),
        client_id: id("b1"),
        reply_to: Some(question),
        attachments: Vec::new(),
    };
    let answer = acked(&mut bob, reply, "b1").await.unwrap();
    let delivered = alice
        .recv_until(|m| matches!(m, ServerMsg::Message(m) if m.seq == answer))
        .await
        .unwrap();
    let ServerMsg::Message(delivered) = delivered else {
        unreachable!()
    };
    assert_eq!(delivered.state.reply_to, Some(question));
    let quote = delivered.state.quote.expect("a quote");
    assert_eq!(quote.text.as_deref(), Some("lunch at noon?"));

    // Bob reacts: everyone gets the update, with its own seq.
    let react = ClientMsg::React {
        room: room("general"),
        seq: question,
        emoji: Emoji::new("👍").unwrap(),
        on: true,
        client_id: id("b2"),
    };
    let reacted = acked(&mut bob, react, "b2").await.unwrap();
    assert!(reacted > answer);
    let update = next_update(&mut alice).await;
    assert_eq!(
        (update.seq, update.target, update.kind),
        (reacted, question, UpdateKind::React)
    );

    // Only the author edits.
    let edit = |client_id: &str, text: &str| ClientMsg::Edit {
        room: room("general"),
        seq: question,
        text: Text::new(text).unwrap(),
        client_id: id(client_id),
    };
    assert_eq!(
        acked(&mut bob, edit("b3", "pizza"), "b3").await,
        Err(ErrorCode::Forbidden)
    );
    let edited = acked(&mut alice, edit("a2", "lunch at one?"), "a2")
        .await
        .unwrap();
    // A resend is acked with the same seq, and stored once.
    assert_eq!(
        acked(&mut alice, edit("a2", "lunch at one?"), "a2").await,
        Ok(edited)
    );
    let update = next_update(&mut bob).await;
    assert_eq!(update.seq, edited);
    assert_eq!(update.text.unwrap().as_str(), "lunch at one?");

    // Bob leaves; alice deletes; then nothing more can happen to it.
    drop(bob);
    let delete = |client_id: &str| ClientMsg::Delete {
        room: room("general"),
        seq: question,
        client_id: id(client_id),
    };
    let deleted = acked(&mut alice, delete("a3"), "a3").await.unwrap();
    assert_eq!(
        acked(&mut alice, delete("a4"), "a4").await,
        Err(ErrorCode::Gone)
    );
    assert_eq!(
        acked(&mut alice, edit("a5", "too late"), "a5").await,
        Err(ErrorCode::Gone)
    );

    // Bob comes back with `since` = the reply: the joined frame replays
    // what happened to the older question, in order.
    let mut bob = Client::hello(url, "bob").await.unwrap();
    let ServerMsg::Joined { updates, .. } = bob.join("general", Some(answer)).await.unwrap() else {
        unreachable!()
    };
    let replayed: Vec<(u64, UpdateKind)> = updates.iter().map(|u| (u.seq, u.kind)).collect();
    assert_eq!(
        replayed,
        [
            (reacted, UpdateKind::React),
            (edited, UpdateKind::Edit),
            (deleted, UpdateKind::Delete)
        ]
    );
    // A fresh join sees the tombstone in history, text erased.
    let ServerMsg::Joined { history, .. } = bob.join("general", None).await.unwrap() else {
        unreachable!()
    };
    let tombstone = history.iter().find(|m| m.seq == question).unwrap();
    assert!(tombstone.state.deleted);
    assert_eq!(tombstone.text.as_str(), DELETED_TEXT);
    // The reply now quotes a deleted message.
    let reply = history.iter().find(|m| m.seq == answer).unwrap();
    assert!(reply
        .state
        .quote
        .as_ref()
        .is_some_and(|q| q.deleted && q.text.is_none()));
}

/// In cluster mode a reply's stream message keeps no copy of its target:
/// each relay quotes the target live as it is now, from what it delivered
/// of the room (edited, deleted) or, for a target from before it followed
/// the room, from the stream.
#[tokio::test]
async fn a_live_reply_carries_its_quote_across_a_cluster() {
    let _heavy = tests::heavy().await;
    let (_nats, relays) = cluster().await;
    let mut alice = Client::hello(&relays[0].ws_url(), "alice").await.unwrap();
    alice.join("general", None).await.unwrap();
    let edit = |seq: u64, text: &str, client_id: &str| ClientMsg::Edit {
        room: room("general"),
        seq,
        text: Text::new(text).unwrap(),
        client_id: id(client_id),
    };
    // Before the second relay follows the room.
    let old = alice.say_acked("general", "old plan", "a1").await.unwrap();
    acked(&mut alice, edit(old, "old plan, edited", "a2"), "a2")
        .await
        .unwrap();
    let mut bob = Client::hello(&relays[1].ws_url(), "bob").await.unwrap();
    bob.join("general", None).await.unwrap();
    let new = alice.say_acked("general", "new plan", "a3").await.unwrap();
    acked(&mut alice, edit(new, "new plan, edited", "a4"), "a4")
        .await
        .unwrap();

    // Each reply as both relays deliver it: to bob (the second relay)
    // and to alice (the first).
    async fn reply_quotes(
        from: &mut Client,
        to: &mut Client,
        target: u64,
        client_id: &str,
    ) -> [Option<shared::protocol::Quote>; 2] {
        let reply = ClientMsg::Send {
            room: room("general"),
            text: Text::new("re").unwrap(),
            client_id: id(client_id),
            reply_to: Some(target),
            attachments: Vec::new(),
        };
        // The sender sees its message before its ack.
        from.send(&reply).await.unwrap();
        let own = |m: &ServerMsg| matches!(m, ServerMsg::Message(m) if m.client_id.as_ref().is_some_and(|c| c.as_str() == client_id));
        let ServerMsg::Message(sent) = from.recv_until(own).await.unwrap() else {
            unreachable!()
        };
        let seq = sent.seq;
        let is_reply = |m: &ServerMsg| matches!(m, ServerMsg::Message(m) if m.seq == seq);
        let ServerMsg::Message(got) = to.recv_until(is_reply).await.unwrap() else {
            unreachable!()
        };
        assert_eq!(
            (sent.state.reply_to, got.state.reply_to),
            (Some(target), Some(target))
        );
        [sent.state.quote, got.state.quote]
    }
    let text = |quotes: [Option<shared::protocol::Quote>; 2]| {
        quotes.map(|q| q.expect("a live reply carries its quote").text)
    };
    let edited = |s: &str| Some(s.to_string());
    // The second relay never delivered the old message: read from the
    // stream, its edit folded in.
    assert_eq!(
        text(reply_quotes(&mut alice, &mut bob, old, "a5").await),
        [edited("old plan, edited"), edited("old plan, edited")]
    );
    // Both delivered the new one and its edit.
    assert_eq!(
        text(reply_quotes(&mut bob, &mut alice, new, "b1").await),
        [edited("new plan, edited"), edited("new plan, edited")]
    );
    // Deleted: a tombstone, no text anywhere.
    let delete = ClientMsg::Delete {
        room: room("general"),
        seq: new,
        client_id: id("a6"),
    };
    acked(&mut alice, delete, "a6").await.unwrap();
    for quote in reply_quotes(&mut bob, &mut alice, new, "b2").await {
        let quote = quote.expect("a quote of the deleted message");
        assert!(quote.deleted && quote.text.is_none(), "{quote:?}");
    }
    for relay in relays {
        relay.stop().await.unwrap();
    }
}

#[tokio::test]
async fn a_bad_emoji_is_refused_with_its_own_code() {
    let relay = InProcessRelay::default().await;
    let mut alice = Client::hello(&relay.ws_url(), "alice").await.unwrap();
    alice.join("general", None).await.unwrap();
    let seq = alice.say_acked("general", "hi", "a1").await.unwrap();
    alice
        .send_raw(tungstenite_text(&format!(
            r#"{{"type":"react","room":"general","seq":{seq},"emoji":"ab","on":true,"client_id":"a2"}}"#
        )))
        .await
        .unwrap();
    assert_eq!(
        alice.expect_error().await.unwrap(),
        (ErrorCode::InvalidEmoji, Some("a2".into()))
    );
    relay.stop().await.unwrap();
}

fn tungstenite_text(text: &str) -> tokio_tungstenite::tungstenite::Message {
    tokio_tungstenite::tungstenite::Message::Text(text.into())
}

#[tokio::test]
async fn a_message_lists_the_members_it_mentions() {
    let relay = InProcessRelay::default().await;
    let url = relay.ws_url();
    let mut alice = Client::hello(&url, "alice").await.unwrap();
    let mut bob = Client::hello(&url, "bob").await.unwrap();
    let mut bobby = Client::hello(&url, "Bob B.").await.unwrap();
    for client in [&mut alice, &mut bob, &mut bobby] {
        client.join("general", None).await.unwrap();
    }
    let id_of = |c: &Client| c.user.as_ref().unwrap().id.clone();
    let text = "@BOB B. and @bob, see mail@bob.org; @carol? @room";
    let seq = alice.say_acked("general", text, "a1").await.unwrap();
    let ServerMsg::Message(msg) = bob
        .recv_until(|m| matches!(m, ServerMsg::Message(m) if m.seq == seq))
        .await
        .unwrap()
    else {
        unreachable!()
    };
    assert_eq!(msg.state.mentions, [id_of(&bobby), id_of(&bob)]);
    assert!(msg.state.mentions_room);
    // No `@`, no mentions.
    let plain = alice.say_acked("general", "bob, hi", "a2").await.unwrap();
    let ServerMsg::Message(msg) = bob
        .recv_until(|m| matches!(m, ServerMsg::Message(m) if m.seq == plain))
        .await
        .unwrap()
    else {
        unreachable!()
    };
    assert!(msg.state.mentions.is_empty() && !msg.state.mentions_room);
    relay.stop().await.unwrap();
}

/// Edits, reactions and deletes are room events with their own seqs, but
/// they are not new messages: a member's unread count does not move.
async fn events_do_not_count_as_unread(dir: Option<&std::path::Path>) {
    let relay = relay_on(dir).await;
    let url = relay.ws_url();
    let mut alice = Client::hello(&url, "alice").await.unwrap();
    alice.join("general", None).await.unwrap();
    alice.say_acked("general", "first", "a0").await.unwrap();
    let mut bob = Member::join(&url, "bob", "general").await;
    let general = room("general");
    let unread = |bob: &Member| bob.model.room(&general).unwrap().unread();
    assert_eq!(unread(&bob), 0, "history is not new");
    let seq = alice.say_acked("general", "lunch?", "a1").await.unwrap();
    bob.until(|m| m.room(&general).unwrap().message(seq).is_some())
        .await;
    assert_eq!(unread(&bob), 1);

    let edit = ClientMsg::Edit {
        room: room("general"),
        seq,
        text: Text::new("lunch at one?").unwrap(),
        client_id: id("a2"),
    };
    acked(&mut alice, edit, "a2").await.unwrap();
    let react = ClientMsg::React {
        room: room("general"),
        seq,
        emoji: Emoji::new("🍕").unwrap(),
        on: true,
        client_id: id("a3"),
    };
    acked(&mut alice, react, "a3").await.unwrap();
    bob.until(|m| {
        m.room(&general)
            .unwrap()
            .message(seq)
            .is_some_and(|m| m.state.edited_ts.is_some() && !m.state.reactions.is_empty())
    })
    .await;
    assert_eq!(unread(&bob), 1, "an edit or a reaction is not unread");
    let delete = ClientMsg::Delete {
        room: room("general"),
        seq,
        client_id: id("a4"),
    };
    acked(&mut alice, delete, "a4").await.unwrap();
    bob.until(|m| {
        m.room(&general)
            .unwrap()
            .message(seq)
            .unwrap()
            .state
            .deleted
    })
    .await;
    assert_eq!(unread(&bob), 1, "nor is a delete");
    let next = alice.say_acked("general", "anyone?", "a5").await.unwrap();
    bob.until(|m| m.room(&general).unwrap().message(next).is_some())
        .await;
    assert_eq!(unread(&bob), 2, "a message is");
    relay.stop().await.unwrap();
}

#[tokio::test]
async fn events_do_not_count_as_unread_memory() {
    events_do_not_count_as_unread(None).await;
}

#[tokio::test]
async fn events_do_not_count_as_unread_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    events_do_not_count_as_unread(Some(dir.path())).await;
}
