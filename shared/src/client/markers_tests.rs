//! The user's rooms on every device: the relay's list adds rooms with
//! their counts, read markers go out for the room on screen (paced) and
//! come in from other devices, and nothing at or before a marker counts
//! as unread.

use super::markers::READ_EVERY_MS;
use super::tests::{joined, msg, online, reconnect, room, text, user};
use super::*;
use crate::protocol::{NotifyLevel, RoomEntry, ServerMsg};

fn entry(name: &str, read: u64, unread: u32, level: NotifyLevel) -> RoomEntry {
    RoomEntry {
        room: room(name),
        last_seq: read + u64::from(unread),
        read,
        unread,
        mentions: 0,
        unread_capped: false,
        level,
    }
}

fn unread(client: &Client, name: &str) -> u32 {
    client.room(&room(name)).unwrap().unread()
}

#[test]
fn the_relays_list_adds_and_joins_the_rooms_this_device_does_not_show() {
    let (mut client, _alice, _bob) = online();
    let applied = client.apply(
        ServerMsg::Rooms {
            rooms: vec![
                entry("general", 2, 1, NotifyLevel::All),
                entry("dev", 40, 7, NotifyLevel::Mentions),
            ],
        },
        0,
    );
    assert_eq!(
        applied.frames,
        [ClientMsg::Join {
            room: room("dev"),
            since: None
        }],
        "only the room this device lacked"
    );
    assert!(applied.changes.contains(&Change::Rooms));
    let dev = client.room(&room("dev")).unwrap();
    assert_eq!(
        (dev.unread(), dev.read_marker()),
        (7, 40),
        "counts from the relay"
    );
    assert_eq!(dev.level(), Some(NotifyLevel::Mentions));
    // Its history arrives without `since`: it adds no unread of its own.
    client.apply(
        joined("dev", &[], vec![msg("dev", 47, &_bob, "x")], false),
        0,
    );
    assert_eq!(unread(&client, "dev"), 7);
}

#[test]
fn a_marker_from_another_device_clears_what_it_covers() {
    let (mut client, _alice, bob) = online();
    client.set_active(None);
    for seq in 4..=6 {
        client.apply(ServerMsg::Message(msg("general", seq, &bob, "hey")), 0);
    }
    assert_eq!(unread(&client, "general"), 3);
    let applied = client.apply(
        ServerMsg::Read {
            room: room("general"),
            seq: 5,
        },
        0,
    );
    assert_eq!(applied.changes, [Change::Rooms]);
    assert_eq!(unread(&client, "general"), 1, "only 6 is left");
    client.apply(
        ServerMsg::Read {
            room: room("general"),
            seq: 4,
        },
        0,
    );
    assert_eq!(unread(&client, "general"), 1, "a marker never goes back");
    // After a reconnect, the rejoin's history up to the marker is not new.
    let me = client.me().unwrap().clone();
    client.disconnected();
    reconnect(&mut client, &me);
    client.apply(
        ServerMsg::Read {
            room: room("general"),
            seq: 9,
        },
        0,
    );
    let history = (7..=10).map(|s| msg("general", s, &bob, "hi")).collect();
    let since = joined("general", &[], history, false);
    let ServerMsg::Joined { history, .. } = since else {
        unreachable!()
    };
    for m in history {
        client.apply(ServerMsg::Message(m), 0);
    }
    assert_eq!(unread(&client, "general"), 1, "only 10 is past the marker");
}

#[test]
fn the_room_on_screen_is_marked_read_at_most_once_a_second() {
    let (alice, bob) = (user("u-a", "alice"), user("u-b", "bob"));
    let mut client = Client::new("t");
    client.join(room("general"));
    client.set_active(Some(room("general")));
    reconnect(&mut client, &alice);
    let history = (1..=3).map(|s| msg("general", s, &bob, "hi")).collect();
    let applied = client.apply(joined("general", &[&alice, &bob], history, false), 0);
    assert!(
        applied.frames.contains(&ClientMsg::Read {
            room: room("general"),
            seq: 3
        }),
        "the room on screen is read as soon as it is joined: {:?}",
        applied.frames
    );
    assert_eq!(client.wake_at(), None, "nothing more to mark");
    let applied = client.apply(ServerMsg::Message(msg("general", 4, &bob, "more")), 100);
    assert!(applied.frames.is_empty(), "paced: {:?}", applied.frames);
    assert_eq!(client.wake_at(), Some(READ_EVERY_MS));
    assert_eq!(client.poll(500), None);
    assert_eq!(
        client.poll(READ_EVERY_MS),
        Some(ClientMsg::Read {
            room: room("general"),
            seq: 4
        })
    );
    // A hidden app reads nothing.
    client.set_view(Some(room("general")), false);
    client.apply(ServerMsg::Message(msg("general", 5, &bob, "hidden")), 3_000);
    assert_eq!(client.wake_at(), None);
    assert_eq!(client.poll(5_000), None);
    assert_eq!(unread(&client, "general"), 1);
}

#[test]
fn a_level_set_here_is_sent_and_one_set_elsewhere_is_kept() {
    let (mut client, _alice, _bob) = online();
    assert_eq!(
        client.set_level(&room("general"), NotifyLevel::Off),
        Some(ClientMsg::Notify {
            room: room("general"),
            level: NotifyLevel::Off
        })
    );
    client.apply(
        ServerMsg::Notify {
            room: room("general"),
            level: NotifyLevel::Mentions,
        },
        0,
    );
    assert_eq!(
        client.room(&room("general")).unwrap().level(),
        Some(NotifyLevel::Mentions)
    );
}

fn list(names: &[&str]) -> ServerMsg {
    ServerMsg::Rooms {
        rooms: names
            .iter()
            .map(|n| entry(n, 0, 0, NotifyLevel::All))
            .collect(),
    }
}

fn names(client: &Client) -> Vec<String> {
    client
        .rooms()
        .iter()
        .map(|r| r.name().to_string())
        .collect()
}

#[test]
fn a_joined_room_the_relays_list_lacks_was_left_elsewhere_and_is_dropped() {
    let (mut client, alice, _bob) = online();
    client.join(room("dev"));
    client.apply(joined("dev", &[&alice], Vec::new(), false), 0);
    let (id, _) = client.send(&room("general"), text("unsent"), 0);
    assert!(client.outbox().iter().any(|p| p.client_id == id));

    let applied = client.apply(list(&["dev"]), 0);
    assert_eq!(
        applied.frames,
        [ClientMsg::Leave {
            room: room("general")
        }],
        "this connection stops receiving it"
    );
    assert!(applied.changes.contains(&Change::Dropped {
        room: room("general")
    }));
    assert_eq!(names(&client), ["dev"]);
    assert_eq!(client.active(), None, "the view moves on");
    assert_eq!(client.fallback_room(), Some(room("dev")));
    assert!(
        client.outbox().iter().all(|p| p.client_id != id),
        "its unsent messages go with it"
    );

    // A list without any room drops the rest.
    let applied = client.apply(list(&[]), 0);
    assert_eq!(applied.frames, [ClientMsg::Leave { room: room("dev") }]);
    assert!(names(&client).is_empty());
}

#[test]
fn a_room_still_joining_is_kept_when_the_list_lacks_it() {
    // This device joins `dev` while another device leaves it: the list
    // that lacks it may come before our `joined`, and our join makes the
    // user a member again, so the room stays.
    let (mut client, alice, _bob) = online();
    assert!(client.join(room("dev")).is_some());
    let applied = client.apply(list(&["general"]), 0);
    assert!(applied.frames.is_empty(), "{:?}", applied.frames);
    assert!(!applied
        .changes
        .iter()
        .any(|c| matches!(c, Change::Dropped { .. })));
    assert_eq!(names(&client), ["general", "dev"]);
    client.apply(joined("dev", &[&alice], Vec::new(), false), 0);
    assert_eq!(
        client.room(&room("dev")).unwrap().membership(),
        Membership::Joined
    );
}

#[test]
fn the_welcome_time_list_drops_nothing_this_device_rejoins() {
    // After a reconnect every room is joined again; the list right after
    // `welcome` comes before those `joined`s and keeps them all.
    let (mut client, alice, _bob) = online();
    client.join(room("dev"));
    client.apply(joined("dev", &[&alice], Vec::new(), false), 0);
    client.disconnected();
    let frames = reconnect(&mut client, &alice);
    assert_eq!(frames.len(), 3, "hello and two joins: {frames:?}");
    let applied = client.apply(list(&["general"]), 0);
    assert!(applied.frames.is_empty(), "{:?}", applied.frames);
    assert_eq!(names(&client), ["general", "dev"]);
    assert_eq!(
        client.fallback_room(),
        Some(room("general")),
        "before the first"
    );
    // Once confirmed, a later list that lacks a room drops it.
    client.apply(joined("general", &[&alice], Vec::new(), false), 0);
    client.apply(joined("dev", &[&alice], Vec::new(), false), 0);
    let applied = client.apply(list(&["general"]), 0);
    assert_eq!(applied.frames, [ClientMsg::Leave { room: room("dev") }]);
}
