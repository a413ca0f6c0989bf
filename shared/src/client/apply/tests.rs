//! What `Client::apply` reports for each kind of frame.

use super::*;
use crate::client::tests::{joined, msg, online, reconnect, room, text, user};

fn changes(client: &mut Client, frame: ServerMsg) -> Vec<Change> {
    client.apply(frame, 50).changes
}

#[test]
fn new_repeated_and_updated_messages_are_told_apart() {
    let (mut client, alice, bob) = online();
    let general = room("general");
    let new = Change::Message {
        room: general.clone(),
        seq: 4,
        live: true,
    };
    let four = msg("general", 4, &bob, "four");
    assert_eq!(
        changes(&mut client, ServerMsg::Message(four.clone())),
        [new]
    );
    assert_eq!(changes(&mut client, ServerMsg::Message(four)), []);
    // Our own message: acked first (shown with our clock), then the relay's
    // copy updates it; the outbox entry is acked once.
    let (id, _) = client.send(&general, text("mine"), 40);
    let ack = ServerMsg::Ack {
        room: general.clone(),
        client_id: id.clone(),
        seq: 5,
    };
    assert_eq!(
        changes(&mut client, ack),
        [
            Change::Acked {
                room: general.clone(),
                client_id: id.clone()
            },
            Change::Message {
                room: general.clone(),
                seq: 5,
                live: false
            }
        ]
    );
    let mut copy = msg("general", 5, &alice, "mine");
    copy.client_id = Some(id);
    assert_eq!(
        changes(&mut client, ServerMsg::Message(copy)),
        [Change::Updated {
            room: general.clone(),
            seq: 5
        }]
    );
}

#[test]
fn a_reused_seq_resets_the_room_once_and_reports_the_new_message() {
    let (mut client, _alice, bob) = online();
    let general = room("general");
    let generation = client.room(&general).unwrap().generation();
    // The same seq from the same sender with the same text is a redelivery.
    assert_eq!(
        changes(
            &mut client,
            ServerMsg::Message(msg("general", 2, &bob, "hi"))
        ),
        []
    );
    let reused = msg("general", 2, &user("u-c", "carol"), "a new era");
    assert_eq!(
        changes(&mut client, ServerMsg::Message(reused)),
        [
            Change::Reset {
                room: general.clone()
            },
            Change::Message {
                room: general.clone(),
                seq: 2,
                live: true
            }
        ]
    );
    let state = client.room(&general).unwrap();
    assert_eq!(state.generation(), generation + 1);
    assert_eq!(state.messages().count(), 1);
}

#[test]
fn joins_history_presence_and_failures_are_reported() {
    let (mut client, alice, bob) = online();
    let general = room("general");
    client.disconnected();
    let frames = reconnect(&mut client, &alice);
    assert!(!frames.is_empty());
    let rejoin = joined(
        "general",
        &[&alice, &bob],
        vec![
            msg("general", 3, &bob, "hi"),
            msg("general", 4, &bob, "missed"),
        ],
        false,
    );
    assert_eq!(
        changes(&mut client, rejoin),
        [
            Change::Message {
                room: general.clone(),
                seq: 4,
                live: false
            },
            Change::Joined {
                room: general.clone()
            }
        ]
    );
    let renamed = user("u-b", "robert");
    assert_eq!(
        changes(
            &mut client,
            ServerMsg::Presence {
                room: general.clone(),
                event: PresenceEvent::Nick,
                user: renamed.clone(),
            }
        ),
        [Change::Presence {
            room: general.clone(),
            event: PresenceEvent::Nick,
            user: renamed,
            old_nick: Some("bob".into())
        }]
    );
    let (id, _) = client.send(&general, text("refused"), 60);
    let refusal = ServerMsg::error(ErrorCode::TooLarge, "too long", Some(id.to_string()));
    assert_eq!(
        changes(&mut client, refusal),
        [Change::Failed {
            client_id: id.clone()
        }]
    );
    assert!(client.outbox().get(&id).unwrap().is_failed());
    let other = ServerMsg::error(ErrorCode::InvalidNick, "bad nick", None);
    assert!(matches!(
        changes(&mut client, other).as_slice(),
        [Change::Notice(Notice {
            code: ErrorCode::InvalidNick,
            ..
        })]
    ));
}

#[test]
fn a_relay_that_forgot_us_reports_a_reset() {
    let (mut client, _alice, _bob) = online();
    client.disconnected();
    client.connected();
    let changes = client
        .apply(crate::client::tests::welcome(&user("u-new", "alice")), 0)
        .changes;
    assert_eq!(
        changes[1..],
        [Change::Reset {
            room: room("general")
        }]
    );
    assert!(matches!(changes[0], Change::Welcome { .. }));
}

#[test]
fn a_restored_send_for_a_room_no_longer_joined_fails_at_welcome() {
    // Another page load queued it in `rust`; this one is only in `general`.
    let mut earlier = Client::new("e");
    earlier.join(room("rust"));
    let (id, _) = earlier.send(&room("rust"), text("queued offline"), 10);
    let (mut client, alice, _) = online();
    client.disconnected();
    client.set_outbox(crate::client::Outbox::restore(&earlier.outbox().save()));
    client.connected();
    let applied = client.apply(crate::client::tests::welcome(&alice), 20);
    assert!(applied.changes.contains(&Change::Failed {
        client_id: id.clone()
    }));
    assert!(
        !applied
            .frames
            .iter()
            .any(|f| matches!(f, ClientMsg::Send { .. })),
        "{:?}",
        applied.frames
    );
    assert!(client
        .outbox()
        .for_room(&room("rust"))
        .all(|p| p.is_failed()));
}

#[test]
fn a_second_welcome_on_the_same_socket_rejoins_nothing() {
    let (mut client, alice, _) = online();
    let again = client.apply(crate::client::tests::welcome(&alice), 10);
    assert_eq!(again.frames, []);
}

#[test]
fn a_relay_of_another_protocol_version_is_told() {
    let mut client = Client::new("t");
    client.connected();
    let alice = user("u-a", "alice");
    let ServerMsg::Welcome {
        user,
        resume,
        limits,
        ..
    } = crate::client::tests::welcome(&alice)
    else {
        unreachable!()
    };
    let welcome = ServerMsg::Welcome {
        protocol: PROTOCOL_VERSION + 1,
        user,
        resume,
        limits,
        push_key: None,
        roles: Vec::new(),
    };
    let changes = changes(&mut client, welcome);
    assert!(
        changes
            .iter()
            .any(|c| matches!(c, Change::Notice(n) if n.code == ErrorCode::BadFrame)),
        "{changes:?}"
    );
    assert_eq!(client.notices().len(), 1);
}

#[test]
fn only_a_roster_page_promises_more_members() {
    let (mut client, _, bob) = online();
    let page = |prefix: Option<&str>| ServerMsg::Members {
        room: room("general"),
        member_count: 500,
        members: vec![bob.clone()],
        prefix: prefix.map(String::from),
        next: Some("u-b".into()),
    };
    let more = |changes: Vec<Change>| match changes.as_slice() {
        [Change::Members { more, .. }] => *more,
        other => panic!("{other:?}"),
    };
    assert!(more(changes(&mut client, page(None))));
    assert!(!more(changes(&mut client, page(Some("bo")))));
}
