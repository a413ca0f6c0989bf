//! The client model in a big room: the count, a partial member list paged
//! on with the relay's cursor, presence batches and prefix searches.

use super::*;
use crate::names::UserId;
use crate::{protocol::PresenceEvent, ServerMsg};

pub(super) fn room() -> RoomName {
    RoomName::new("general").unwrap()
}

pub(super) fn user(n: u32) -> User {
    User {
        id: UserId(format!("u-{n:04}")),
        nick: Nick::new(&format!("m{n:04}")).unwrap(),
    }
}

/// The `members` request for the page after `after` of `general`'s
/// members whose nick starts with `prefix` (all members: `None`).
pub(super) fn page_request(prefix: Option<&str>, after: Option<&str>) -> ClientMsg {
    ClientMsg::Members {
        room: room(),
        prefix: prefix.map(Into::into),
        after: after.map(Into::into),
        limit: None,
        subscribe: None,
    }
}

/// The `members` request that subscribes to `room`'s member list (`on`) or
/// ends the subscription.
pub(super) fn subscribe_request(room: &RoomName, on: bool) -> ClientMsg {
    ClientMsg::Members {
        room: room.clone(),
        prefix: None,
        after: None,
        limit: Some(0),
        subscribe: Some(on),
    }
}

/// Online as m0000 in `general`, a room of 500 whose `joined` listed the
/// first 3 members.
pub(super) fn big_room() -> Client {
    let me = user(0);
    let mut client = Client::new("t");
    client.set_nick(me.nick.clone());
    client.join(room());
    client.connected();
    client.apply(super::tests::welcome(&me), 0);
    client.apply(big_joined(), 0);
    client
}

/// `general`'s `joined`: a room of 500 listing its first 3 members.
pub(super) fn big_joined() -> ServerMsg {
    ServerMsg::Joined {
        updates: Vec::new(),
        room: room(),
        members: (0..3).map(user).collect(),
        history: Vec::new(),
        truncated: false,
        member_count: Some(500),
        members_next: Some("cursor-1".into()),
    }
}

fn nicks(client: &Client) -> Vec<String> {
    let room = client.room(&room()).unwrap();
    room.members().iter().map(|u| u.nick.to_string()).collect()
}

#[test]
fn a_partial_list_shows_the_count_and_pages_on_with_the_cursor() {
    let mut client = big_room();
    let state = client.room(&room()).unwrap();
    assert_eq!(state.member_count(), 500);
    assert!(state.members_partial());
    assert_eq!(
        client.more_members(&room()),
        Some(page_request(None, Some("cursor-1")))
    );
    let applied = client.apply(
        ServerMsg::Members {
            room: room(),
            member_count: 500,
            members: (3..6).map(user).collect(),
            prefix: None,
            next: None,
        },
        0,
    );
    // The page is reported as a change, for the driver to print or render.
    assert_eq!(
        applied.changes,
        [Change::Members {
            room: room(),
            prefix: None,
            members: (3..6).map(user).collect(),
            more: false,
        }]
    );
    assert_eq!(nicks(&client).len(), 6);
    assert!(!client.room(&room()).unwrap().members_partial());
    assert_eq!(client.more_members(&room()), None);
}

#[test]
fn a_batch_moves_the_count_and_lists_only_joins_within_the_loaded_pages() {
    let mut client = big_room();
    let applied = client.apply(
        ServerMsg::PresenceBatch {
            room: room(),
            member_count: 501,
            joins: 2,
            leaves: 1,
            // m0001b sorts among the loaded m0000..m0002; m9999 beyond
            // them, where a later page will bring it.
            joined: vec![
                User {
                    id: UserId("u-x".into()),
                    nick: Nick::new("m0001b").unwrap(),
                },
                user(9999),
            ],
            left: vec![user(1)],
            renamed: Vec::new(),
        },
        0,
    );
    assert_eq!(client.room(&room()).unwrap().member_count(), 501);
    assert_eq!(nicks(&client), ["m0000", "m0001b", "m0002"]);
    // Each listed user is a presence change, leaves first, like the frames
    // of a small room (joins beyond the loaded pages too: someone joined).
    let events: Vec<(PresenceEvent, String, Option<String>)> = applied
        .changes
        .iter()
        .map(|change| match change {
            Change::Presence {
                event,
                user,
                old_nick,
                ..
            } => (*event, user.nick.to_string(), old_nick.clone()),
            other => panic!("not a presence change: {other:?}"),
        })
        .collect();
    assert_eq!(
        events,
        [
            (PresenceEvent::Leave, "m0001".into(), Some("m0001".into())),
            (PresenceEvent::Join, "m0001b".into(), None),
            (PresenceEvent::Join, "m9999".into(), None),
        ]
    );
    // A batch of counts only (not subscribed) moves just the count.
    let applied = client.apply(
        ServerMsg::PresenceBatch {
            room: room(),
            member_count: 480,
            joins: 0,
            leaves: 21,
            joined: Vec::new(),
            left: Vec::new(),
            renamed: Vec::new(),
        },
        0,
    );
    assert_eq!(client.room(&room()).unwrap().member_count(), 480);
    assert!(applied.changes.is_empty(), "{:?}", applied.changes);
    assert_eq!(nicks(&client).len(), 3);
}

#[test]
fn a_search_answers_mention_completion_and_frames_subscribe_and_focus() {
    let mut client = big_room();
    let search = client.search_members(&room(), "M04");
    assert!(matches!(&search, ClientMsg::Members { prefix: Some(p), .. } if p == "M04"));
    client.apply(
        ServerMsg::Members {
            room: room(),
            member_count: 500,
            members: vec![user(41), user(40)],
            prefix: Some("m04".into()),
            next: None,
        },
        0,
    );
    let state = client.room(&room()).unwrap();
    let found: Vec<&str> = state
        .members_matching("M04")
        .iter()
        .map(|u| u.nick.as_str())
        .collect();
    assert_eq!(found, ["m0040", "m0041"]);
    // Without a search for it, the loaded members answer.
    assert_eq!(state.members_matching("m0002").len(), 1);
    assert_eq!(nicks(&client).len(), 3, "search results are not members");
    assert_eq!(
        client.show_members(Some(room())),
        [subscribe_request(&room(), true)]
    );
    assert_eq!(
        client.set_view(Some(room()), true),
        Some(ClientMsg::Focus {
            room: Some(room()),
            active: None,
        })
    );
}

#[test]
fn frames_of_unknown_types_change_nothing() {
    let mut client = big_room();
    let before = nicks(&client);
    assert_eq!(client.apply(ServerMsg::Unknown, 0), Applied::default());
    assert_eq!(nicks(&client), before);
}

#[test]
fn mention_completion_asks_a_big_room_by_prefix_once_and_offers_the_answer() {
    let mut client = big_room();
    // Loaded: m0000..m0002; `m04` needs the relay.
    assert!(client.mention_matches(&room(), "m04").is_empty());
    assert_eq!(
        client.ask_mention_matches(&room(), "M04"),
        Some(page_request(Some("m04"), None))
    );
    assert_eq!(
        client.ask_mention_matches(&room(), "m04"),
        None,
        "on its way"
    );
    client.apply(
        ServerMsg::Members {
            room: room(),
            member_count: 500,
            members: vec![user(400), user(401)],
            prefix: Some("m04".into()),
            next: None,
        },
        0,
    );
    let offered: Vec<String> = client
        .mention_matches(&room(), "m040")
        .iter()
        .map(|u| u.nick.to_string())
        .collect();
    assert_eq!(offered, ["m0400", "m0401"]);
    // A narrower prefix is answered from what came: nothing to ask.
    assert_eq!(client.ask_mention_matches(&room(), "m0401"), None);
    // While the member panel searches its own text, completion does not
    // take the room's search from it.
    client.set_member_query(&room(), "m09");
    assert_eq!(client.ask_mention_matches(&room(), "m07"), None);
}
