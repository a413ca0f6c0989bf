//! Replies, edits, deletes and reactions through the outbox: in order with
//! the sends, one at a time, resent with the same id, shown at once, and a
//! change of a message still in the outbox written after its ack.

use super::tests::{msg, online, reconnect, room, text, user};
use super::*;
use crate::names::Emoji;
use crate::protocol::{AttachmentRef, ServerMsg, Update, UpdateKind};
use crate::FileId;

fn ack(client_id: &ClientId, seq: u64) -> ServerMsg {
    ServerMsg::Ack {
        room: room("general"),
        client_id: client_id.clone(),
        seq,
    }
}

fn thumbs() -> Emoji {
    Emoji::new("👍").unwrap()
}

/// The `client_id` of a frame the client wrote.
fn id_of(frame: &ClientMsg) -> ClientId {
    match frame {
        ClientMsg::Send { client_id, .. }
        | ClientMsg::Edit { client_id, .. }
        | ClientMsg::Delete { client_id, .. }
        | ClientMsg::React { client_id, .. } => client_id.clone(),
        other => panic!("not an outbox frame: {other:?}"),
    }
}

/// alice online in `general` (bob's messages 1..=3) with her own message 4.
fn with_own_message() -> (Client, User, User) {
    let (mut client, alice, bob) = online();
    let (id, _) = client.send(&room("general"), text("mine"), 5);
    client.apply(ack(&id, 4), 6);
    (client, alice, bob)
}

#[test]
fn changes_of_a_stored_message_go_in_order_one_at_a_time() {
    let (mut client, _alice, _bob) = with_own_message();
    let general = room("general");
    let edit = client
        .edit(&general, Target::Seq(4), text("mine, edited"), 10)
        .unwrap()
        .expect("nothing in flight: it goes now");
    assert!(
        matches!(&edit, ClientMsg::Edit { seq: 4, text: t, .. } if t.as_str() == "mine, edited")
    );
    // In flight: the next ones wait for its ack.
    let (reply_id, reply) = client.reply(&general, text("re"), Target::Seq(2), 11);
    assert_eq!(reply, None);
    assert_eq!(
        client.react(&general, Target::Seq(2), thumbs(), true, 12),
        Ok(None)
    );
    // Shown at once, before any ack.
    let shown = client.shown(&general, &Target::Seq(4)).unwrap();
    assert_eq!(shown.text.as_str(), "mine, edited");
    assert!(shown.changing && shown.state.edited_ts.is_some());
    let bobs = client.shown(&general, &Target::Seq(2)).unwrap();
    assert_eq!(bobs.state.reactions[0].count, 1);

    let next = client.apply(ack(&id_of(&edit), 5), 13).frames;
    assert!(matches!(
        next.as_slice(),
        [ClientMsg::Send { reply_to: Some(2), client_id, .. }] if *client_id == reply_id
    ));
    let next = client.apply(ack(&reply_id, 6), 14).frames;
    assert!(matches!(
        next.as_slice(),
        [ClientMsg::React {
            seq: 2,
            on: true,
            ..
        }]
    ));
}

#[test]
fn a_change_of_a_message_in_the_outbox_goes_after_its_ack_with_its_seq() {
    let (mut client, _alice, _bob) = online();
    let general = room("general");
    let (first, frame) = client.send(&general, text("typo"), 1);
    assert!(frame.is_some());
    let target = Target::Pending(first.clone());
    assert_eq!(
        client.edit(&general, target.clone(), text("fixed"), 2),
        Ok(None)
    );
    assert_eq!(
        client.react(&general, target.clone(), thumbs(), true, 3),
        Ok(None)
    );
    // The pending row shows the edit and the reaction already.
    let rows = timeline(
        &client,
        &general,
        TimeZone {
            now_ms: 3,
            offset_ms: 0,
        },
    );
    let last = rows.last().unwrap();
    assert_eq!(
        (last.text.as_str(), last.status.clone()),
        ("fixed", RowStatus::Pending)
    );
    assert!(last.reactions[0].mine && last.changing);
    assert_eq!(rows.len(), 4, "changes are not rows of their own");

    // The broadcast of the message names its seq; the edit goes with it.
    let mut broadcast = msg("general", 9, client.me().unwrap(), "typo");
    broadcast.client_id = Some(first.clone());
    let frames = client.apply(ServerMsg::Message(broadcast), 4).frames;
    assert!(
        matches!(frames.as_slice(), [ClientMsg::Edit { seq: 9, text, .. }] if text.as_str() == "fixed"),
        "{frames:?}"
    );
    // Still shown edited while the edit is on its way.
    assert_eq!(
        client
            .shown(&general, &Target::Seq(9))
            .unwrap()
            .text
            .as_str(),
        "fixed"
    );
}

#[test]
fn a_rate_limited_change_is_resent_by_itself_with_the_same_id() {
    let (mut client, _alice, _bob) = with_own_message();
    let general = room("general");
    let frame = client
        .delete(&general, Target::Seq(4), 100)
        .unwrap()
        .unwrap();
    let id = id_of(&frame);
    let refused = ServerMsg::Error {
        code: ErrorCode::RateLimited,
        message: "slow down".into(),
        reference: Some(id.to_string()),
        retry_after_ms: Some(500),
    };
    let applied = client.apply(refused, 100);
    assert!(applied.frames.is_empty() && applied.changes.is_empty());
    assert_eq!(client.wake_at(), Some(600));
    assert_eq!(client.poll(599), None);
    assert_eq!(client.poll(600), Some(frame));
    assert!(
        client
            .shown(&general, &Target::Seq(4))
            .unwrap()
            .state
            .deleted
    );
}

#[test]
fn our_update_acks_the_change_and_a_refused_change_is_dropped_with_a_notice() {
    let (mut client, alice, _bob) = with_own_message();
    let general = room("general");
    let frame = client
        .edit(&general, Target::Seq(4), text("v2"), 10)
        .unwrap()
        .unwrap();
    let id = id_of(&frame);
    let update = Update {
        mentions: Vec::new(),
        mentions_room: false,
        room: general.clone(),
        seq: 5,
        target: 4,
        kind: UpdateKind::Edit,
        from: alice.clone(),
        ts: 11,
        client_id: Some(id.clone()),
        text: Some(text("v2")),
        emoji: None,
        on: None,
    };
    let applied = client.apply(ServerMsg::Update(update), 11);
    assert!(applied.changes.contains(&Change::Acked {
        room: general.clone(),
        client_id: id.clone()
    }));
    assert!(client.outbox().is_empty());
    let shown = client.shown(&general, &Target::Seq(4)).unwrap();
    assert_eq!(
        (shown.text.as_str(), shown.changing, shown.state.edited_ts),
        ("v2", false, Some(11))
    );
    // The ack after its update changes nothing more.
    assert!(client.apply(ack(&id, 5), 12).changes.is_empty());

    // Bob's message, deleted by someone meanwhile: the relay says `gone`.
    let frame = client
        .react(&general, Target::Seq(2), thumbs(), true, 20)
        .unwrap()
        .unwrap();
    let gone = ServerMsg::error(ErrorCode::Gone, "deleted", Some(id_of(&frame).to_string()));
    let applied = client.apply(gone, 21);
    assert!(matches!(applied.changes.as_slice(), [Change::Notice(n)] if n.code == ErrorCode::Gone));
    assert!(client.outbox().is_empty());
    assert!(client
        .shown(&general, &Target::Seq(2))
        .unwrap()
        .state
        .reactions
        .is_empty());
}

#[test]
fn changes_of_a_message_that_failed_are_folded_into_it() {
    let (mut client, _alice, _bob) = online();
    let general = room("general");
    let (first, _) = client.send(&general, text("one"), 1);
    let target = Target::Pending(first.clone());
    client
        .edit(&general, target.clone(), text("one, edited"), 2)
        .unwrap();
    let refused = ServerMsg::error(
        ErrorCode::Unavailable,
        "store down",
        Some(first.to_string()),
    );
    client.apply(refused, 3);
    // The edit became the failed message's text: Retry sends that.
    let pending = client.outbox().get(&first).unwrap();
    assert!(pending.is_failed());
    assert_eq!(pending.text.as_ref().unwrap().as_str(), "one, edited");
    assert_eq!(client.outbox().len(), 1);
    // Editing it now changes it in place; deleting it discards it.
    client
        .edit(&general, target.clone(), text("third"), 4)
        .unwrap();
    assert_eq!(client.outbox().len(), 1);
    assert_eq!(
        client
            .outbox()
            .get(&first)
            .unwrap()
            .text
            .as_ref()
            .unwrap()
            .as_str(),
        "third"
    );
    client.delete(&general, target, 5).unwrap();
    assert!(client.outbox().is_empty());
}

#[test]
fn only_our_own_live_messages_can_be_edited_and_up_finds_the_latest() {
    let (mut client, _alice, _bob) = with_own_message();
    let general = room("general");
    assert_eq!(
        client.edit(&general, Target::Seq(2), text("x"), 1),
        Err(ActionError::NotYours)
    );
    assert_eq!(
        client.edit(&general, Target::Seq(99), text("x"), 1),
        Err(ActionError::Unknown)
    );
    assert_eq!(client.last_editable(&general), Some(Target::Seq(4)));
    let (pending, _) = client.send(&general, text("newer"), 2);
    assert_eq!(
        client.last_editable(&general),
        Some(Target::Pending(pending.clone()))
    );
    client
        .delete(&general, Target::Pending(pending), 3)
        .unwrap();
    assert_eq!(client.last_editable(&general), Some(Target::Seq(4)));
    client.delete(&general, Target::Seq(4), 4).unwrap();
    assert_eq!(client.last_editable(&general), None);
    assert_eq!(
        client.edit(&general, Target::Seq(4), text("x"), 5),
        Err(ActionError::Deleted)
    );
}

#[test]
fn a_reaction_chip_toggles_ours() {
    let (mut client, alice, bob) = online();
    let general = room("general");
    // Bob reacted already: our click adds ours, a second removes it.
    let mut update = Update {
        mentions: Vec::new(),
        mentions_room: false,
        room: general.clone(),
        seq: 4,
        target: 2,
        kind: UpdateKind::React,
        from: bob.clone(),
        ts: 1,
        client_id: None,
        text: None,
        emoji: Some(thumbs()),
        on: Some(true),
    };
    client.apply(ServerMsg::Update(update.clone()), 1);
    let frame = client
        .toggle_reaction(&general, Target::Seq(2), thumbs(), 2)
        .unwrap();
    let id = id_of(frame.as_ref().unwrap());
    assert!(matches!(frame, Some(ClientMsg::React { on: true, .. })));
    (update.seq, update.from, update.client_id) = (5, alice, Some(id));
    client.apply(ServerMsg::Update(update), 3);
    let row = timeline(
        &client,
        &general,
        TimeZone {
            now_ms: 3,
            offset_ms: 0,
        },
    )[1]
    .clone();
    assert_eq!(
        row.reactions,
        [timeline::RowReaction {
            emoji: thumbs(),
            count: 2,
            mine: true
        }]
    );
    let frame = client
        .toggle_reaction(&general, Target::Seq(2), thumbs(), 4)
        .unwrap();
    assert!(matches!(frame, Some(ClientMsg::React { on: false, .. })));
}

#[test]
fn mentions_of_us_are_counted_apart_from_unread() {
    let (mut client, alice, bob) = online();
    client.set_active(None);
    let mut to_me = msg("general", 4, &bob, "@alice look");
    to_me.state.mentions = vec![alice.id.clone()];
    let mut everyone = msg("general", 5, &bob, "@room lunch");
    everyone.state.mentions_room = true;
    let mut other = msg("general", 6, &bob, "@carol hi");
    other.state.mentions = vec![user("u-c", "carol").id];
    for m in [to_me, everyone, other] {
        client.apply(ServerMsg::Message(m), 1);
    }
    let general = client.room(&room("general")).unwrap();
    assert_eq!((general.unread(), general.mentions()), (3, 2));
    let rows = timeline(
        &client,
        &room("general"),
        TimeZone {
            now_ms: 1,
            offset_ms: 0,
        },
    );
    let flagged: Vec<bool> = rows.iter().map(|r| r.mentions_me).collect();
    assert_eq!(flagged, [false, false, false, true, true, false]);
    client.set_active(Some(room("general")));
    assert_eq!(client.room(&room("general")).unwrap().mentions(), 0);
}

#[test]
fn an_outbox_saved_before_edits_restores_as_sends_and_changes_survive_a_save() {
    let legacy = r#"{"entries":[{"client_id":"c-1","room":"general","text":"old","created_ms":1,"state":"queued"}]}"#;
    let outbox = Outbox::restore(legacy);
    let entry = outbox.get(&ClientId::new("c-1").unwrap()).unwrap();
    assert!(entry.is_send());
    assert!(matches!(
        entry.frame(),
        Some(ClientMsg::Send { reply_to: None, .. })
    ));

    let (mut client, _alice, _bob) = online();
    let (first, _) = client.send(&room("general"), text("a"), 1);
    client
        .react(&room("general"), Target::Pending(first), thumbs(), true, 2)
        .unwrap();
    client.disconnected();
    let restored = Outbox::restore(&client.outbox().save());
    assert_eq!(&restored, client.outbox());
}

#[test]
fn mention_counts_come_from_the_relays_list_and_go_with_another_devices_marker() {
    use crate::protocol::{NotifyLevel, RoomEntry};
    let (mut client, alice, bob) = online();
    client.set_active(None);
    let dev = RoomEntry {
        room: room("dev"),
        last_seq: 50,
        read: 40,
        unread: 10,
        mentions: 3,
        unread_capped: false,
        level: NotifyLevel::All,
    };
    // The list has every room of the user: a joined one it lacked would
    // be dropped (left on another device).
    let general = RoomEntry {
        room: room("general"),
        last_seq: 3,
        read: 3,
        unread: 0,
        mentions: 0,
        unread_capped: false,
        level: NotifyLevel::All,
    };
    client.apply(
        ServerMsg::Rooms {
            rooms: vec![dev, general],
        },
        0,
    );
    assert_eq!(client.room(&room("dev")).unwrap().mentions(), 3);

    // Here: two mentions of us after 3; another device reads up to the first.
    for (seq, mentioned) in [(4, true), (5, false), (6, true)] {
        let mut m = msg("general", seq, &bob, "hi");
        if mentioned {
            m.state.mentions = vec![alice.id.clone()];
        }
        client.apply(ServerMsg::Message(m), 1);
    }
    assert_eq!(client.room(&room("general")).unwrap().mentions(), 2);
    client.apply(
        ServerMsg::Read {
            room: room("general"),
            seq: 4,
        },
        2,
    );
    let general = client.room(&room("general")).unwrap();
    assert_eq!((general.unread(), general.mentions()), (2, 1));
}

#[test]
fn a_reply_without_the_relays_quote_quotes_its_loaded_target() {
    let (mut client, _alice, bob) = online();
    let mut reply = msg("general", 4, &bob, "yes");
    reply.state.reply_to = Some(2);
    client.apply(ServerMsg::Message(reply), 1);
    let shown = client.shown(&room("general"), &Target::Seq(4)).unwrap();
    let quote = shown.state.quote.unwrap();
    assert_eq!((quote.from, quote.text.as_deref()), (bob, Some("hi")));
}

#[test]
fn files_go_with_their_message_empty_text_and_all_and_survive_a_reload() {
    let (mut client, alice, _) = online();
    let files = vec![AttachmentRef {
        id: FileId::new("a".repeat(64).as_str()).unwrap(),
    }];
    let (id, frame) = client.send_files(&room("general"), Text::empty(), files.clone(), None, 5);
    match frame {
        Some(ClientMsg::Send {
            text, attachments, ..
        }) => assert_eq!((text.as_str(), attachments), ("", files.clone())),
        other => panic!("expected the send at once, got {other:?}"),
    }
    // The tab closes before the ack: the saved outbox keeps the files, and
    // the send goes again with them after the reload's welcome.
    let saved = client.outbox().save();
    let (mut reloaded, _, _) = online();
    reloaded.disconnected();
    reloaded.set_outbox(Outbox::restore(&saved));
    let resent: Vec<ClientMsg> = reconnect(&mut reloaded, &alice)
        .into_iter()
        .filter(|f| matches!(f, ClientMsg::Send { .. }))
        .collect();
    match &resent[..] {
        [ClientMsg::Send {
            client_id,
            attachments,
            ..
        }] => assert_eq!((client_id, attachments), (&id, &files)),
        other => panic!("expected one resend, got {other:?}"),
    }
}
