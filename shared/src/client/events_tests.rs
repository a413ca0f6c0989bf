//! The model applying edits, deletes and reactions (`update` frames and a
//! `joined`'s `updates`): state in place, once, no unread.

use super::tests::{joined, msg, online, room, text};
use super::*;
use crate::names::Emoji;
use crate::protocol::{ServerMsg, Update, UpdateKind, DELETED_TEXT};

pub(super) fn update(seq: u64, target: u64, kind: UpdateKind, from: &User) -> Update {
    Update {
        mentions: Vec::new(),
        mentions_room: false,
        room: room("general"),
        seq,
        target,
        kind,
        from: from.clone(),
        ts: 9_000,
        client_id: None,
        text: (kind == UpdateKind::Edit).then(|| text("edited")),
        emoji: (kind == UpdateKind::React).then(|| Emoji::new("👍").unwrap()),
        on: (kind == UpdateKind::React).then_some(true),
    }
}

#[test]
fn updates_change_a_message_in_place_once_and_count_as_nothing_unread() {
    let (mut client, alice, bob) = online();
    client.set_active(None);
    let unread = client.room(&room("general")).unwrap().unread();
    let applied = client.apply(ServerMsg::Update(update(4, 2, UpdateKind::Edit, &bob)), 1);
    assert_eq!(
        applied.changes,
        [Change::Updated {
            room: room("general"),
            seq: 2
        }]
    );
    let react = ServerMsg::Update(update(5, 2, UpdateKind::React, &alice));
    client.apply(react.clone(), 2);
    // Delivered again (a rejoin's `updates`, say): not counted twice.
    assert!(client.apply(react, 3).changes.is_empty());
    let state = &client
        .room(&room("general"))
        .unwrap()
        .message(2)
        .unwrap()
        .state;
    assert_eq!(state.edited_ts, Some(9_000));
    assert_eq!(state.reactions[0].count, 1);
    assert_eq!(client.room(&room("general")).unwrap().unread(), unread);
    assert_eq!(client.room(&room("general")).unwrap().last_seq(), Some(3));

    client.apply(ServerMsg::Update(update(6, 2, UpdateKind::Delete, &bob)), 4);
    let tombstone = client.room(&room("general")).unwrap().message(2).unwrap();
    assert!(tombstone.state.deleted && tombstone.state.reactions.is_empty());
    assert_eq!(tombstone.text.as_str(), DELETED_TEXT);
}

#[test]
fn a_rejoin_applies_the_updates_it_replays() {
    let (mut client, _alice, bob) = online();
    client.disconnected();
    let mut rejoined = joined(
        "general",
        &[&bob],
        vec![msg("general", 7, &bob, "new")],
        false,
    );
    if let ServerMsg::Joined { updates, .. } = &mut rejoined {
        updates.push(update(6, 1, UpdateKind::Delete, &bob));
    }
    client.apply(rejoined, 5);
    let room = client.room(&room("general")).unwrap();
    assert!(room.message(1).unwrap().state.deleted);
    assert_eq!(room.message(7).unwrap().text.as_str(), "new");
}
