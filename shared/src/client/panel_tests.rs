//! The member panel's decisions (paging, searching, subscribing) and the
//! `focus` the model tells the relay, against scripted relay frames.

use super::big_room_tests::{big_joined, big_room, page_request, room, subscribe_request, user};
use super::*;
use crate::names::UserId;
use crate::protocol::{PresenceEvent, ServerMsg};

fn page(members: std::ops::Range<u32>, next: Option<&str>) -> ServerMsg {
    ServerMsg::Members {
        room: room(),
        member_count: 500,
        members: members.map(user).collect(),
        prefix: None,
        next: next.map(Into::into),
    }
}

fn found(prefix: &str, members: &[u32], next: Option<&str>) -> ServerMsg {
    ServerMsg::Members {
        room: room(),
        member_count: 500,
        members: members.iter().copied().map(user).collect(),
        prefix: Some(prefix.into()),
        next: next.map(Into::into),
    }
}

fn search(prefix: &str, after: Option<&str>) -> ClientMsg {
    page_request(Some(prefix), after)
}

/// The panel's rows, by nick, and whether it offers more and is loading.
fn shown(client: &Client) -> (Vec<String>, bool, bool) {
    let list = client.member_list(&room()).unwrap();
    let nicks = list.members.iter().map(|u| u.nick.to_string()).collect();
    (nicks, list.more, list.loading)
}

fn nicks(range: impl IntoIterator<Item = u32>) -> Vec<String> {
    range.into_iter().map(|n| format!("m{n:04}")).collect()
}

#[test]
fn a_small_room_is_filtered_locally_and_its_count_follows_presence() {
    let mut client = big_room();
    // The relay's `joined` of a small room: everyone, with the count.
    client.apply(
        ServerMsg::Joined {
            updates: Vec::new(),
            room: room(),
            members: (0..3).map(user).collect(),
            history: Vec::new(),
            truncated: false,
            member_count: Some(3),
            members_next: None,
        },
        0,
    );
    assert_eq!(client.set_member_query(&room(), "M00"), None);
    assert_eq!(shown(&client), (nicks(0..3), false, false));
    assert_eq!(client.load_more_members(&room()), None);
    client.apply(
        ServerMsg::Presence {
            room: room(),
            event: PresenceEvent::Join,
            user: user(10),
        },
        0,
    );
    assert_eq!(client.member_list(&room()).unwrap().count, 4);
    assert_eq!(shown(&client).0, nicks([0, 1, 2, 10]));
    client.apply(
        ServerMsg::Presence {
            room: room(),
            event: PresenceEvent::Leave,
            user: user(1),
        },
        0,
    );
    assert_eq!(client.member_list(&room()).unwrap().count, 3);
    assert_eq!(shown(&client).0, nicks([0, 2, 10]));
}

#[test]
fn load_more_pages_on_once_at_a_time_until_the_last_page() {
    let mut client = big_room();
    assert_eq!(shown(&client), (nicks(0..3), true, false));
    assert_eq!(
        client.load_more_members(&room()),
        Some(page_request(None, Some("cursor-1")))
    );
    assert_eq!(shown(&client), (nicks(0..3), true, true), "loading");
    assert_eq!(client.load_more_members(&room()), None, "already asked");
    client.apply(page(3..6, Some("cursor-2")), 0);
    assert_eq!(shown(&client), (nicks(0..6), true, false));
    let frame = client.load_more_members(&room()).unwrap();
    assert!(matches!(frame, ClientMsg::Members { after: Some(a), .. } if a == "cursor-2"));
    client.apply(page(6..8, None), 0);
    assert_eq!(shown(&client), (nicks(0..8), false, false));
    assert_eq!(client.load_more_members(&room()), None, "that was all");
}

#[test]
fn a_search_asks_the_relay_pages_its_matches_and_narrows_locally() {
    let mut client = big_room();
    // Typed with capitals and a leading space: asked as the relay compares.
    assert_eq!(
        client.set_member_query(&room(), " M004"),
        Some(search("m004", None))
    );
    assert_eq!(client.set_member_query(&room(), " M004"), None, "asked");
    // Until the answer, the loaded members that match (none), loading.
    assert_eq!(shown(&client), (Vec::new(), false, true));
    client.apply(found("m004", &[40, 41], Some("m0041/u-0041")), 0);
    assert_eq!(shown(&client), (nicks([40, 41]), true, false));
    assert_eq!(
        client.load_more_members(&room()),
        Some(search("m004", Some("m0041/u-0041")))
    );
    assert_eq!(client.load_more_members(&room()), None, "already asked");
    client.apply(found("m004", &[42, 43], None), 0);
    assert_eq!(shown(&client), (nicks(40..44), false, false));
    assert_eq!(client.load_more_members(&room()), None, "all matches here");
    // All matches of "m004" are loaded: narrower prefixes are answered
    // from them.
    assert_eq!(client.set_member_query(&room(), "m0049"), None);
    assert_eq!(shown(&client), (Vec::new(), false, false));
    assert_eq!(client.set_member_query(&room(), "m0042"), None);
    assert_eq!(shown(&client), (nicks([42]), false, false));
    assert_eq!(client.set_member_query(&room(), "M004"), None, "back");
    assert_eq!(shown(&client), (nicks(40..44), false, false));
    // The search is not the member list.
    assert_eq!(client.room(&room()).unwrap().members().len(), 3);
    // Cleared: the list again.
    assert_eq!(client.set_member_query(&room(), ""), None);
    assert_eq!(shown(&client), (nicks(0..3), true, false));
}

#[test]
fn a_stale_answer_is_dropped_and_a_prefix_no_nick_has_asks_nothing() {
    let mut client = big_room();
    client.set_member_query(&room(), "m01").unwrap();
    client.set_member_query(&room(), "m02").unwrap();
    client.apply(found("m01", &[100], None), 0);
    assert_eq!(shown(&client), (Vec::new(), false, true), "m01's answer");
    client.apply(found("m02", &[200], None), 0);
    assert_eq!(shown(&client), (nicks([200]), false, false));
    let long = "m".repeat(crate::limits::MAX_MEMBER_PREFIX_CHARS + 1);
    assert_eq!(client.set_member_query(&room(), &long), None);
    assert_eq!(shown(&client), (Vec::new(), false, false));
}

#[test]
fn the_subscription_follows_the_list_on_screen_and_its_answer_keeps_the_cursor() {
    let mut client = big_room();
    let other = RoomName::new("other").unwrap();
    client.join(other.clone()).unwrap();
    client.apply(
        ServerMsg::Joined {
            updates: Vec::new(),
            room: other.clone(),
            members: vec![user(0)],
            history: Vec::new(),
            truncated: false,
            member_count: Some(1),
            members_next: None,
        },
        0,
    );
    assert_eq!(
        client.show_members(Some(room())),
        [subscribe_request(&room(), true)]
    );
    assert_eq!(client.show_members(Some(room())), [], "no change");
    // The count-only answer: an empty page without a cursor, which is not
    // the end of the list.
    client.apply(page(0..0, None), 0);
    assert_eq!(shown(&client), (nicks(0..3), true, false));
    assert_eq!(
        client.show_members(Some(other.clone())),
        [
            subscribe_request(&room(), false),
            subscribe_request(&other, true)
        ]
    );
    assert_eq!(
        client.show_members(None),
        [subscribe_request(&other, false)]
    );
    client.apply(page(0..0, None), 0);
    assert!(
        client.member_list(&room()).unwrap().more,
        "the unsubscribe's answer"
    );
    // A real empty page (everyone after the cursor left) does end it.
    client.apply(page(0..0, None), 0);
    assert!(!client.member_list(&room()).unwrap().more);
}

#[test]
fn after_a_reconnect_the_subscription_and_the_search_are_asked_again() {
    let mut client = big_room();
    client.show_members(Some(room()));
    client.set_member_query(&room(), "m3").unwrap();
    client.disconnected();
    assert_eq!(client.set_member_query(&room(), "m3"), None, "offline");
    assert_eq!(client.load_more_members(&room()), None, "offline");
    client.connected();
    client.apply(
        ServerMsg::Welcome {
            protocol: crate::PROTOCOL_VERSION,
            user: user(0),
            resume: "r".into(),
            limits: client.limits().cloned().unwrap(),
            push_key: None,
            roles: Vec::new(),
        },
        0,
    );
    assert_eq!(client.show_members(Some(room())), [], "not joined yet");
    let frames = client.apply(big_joined(), 0).frames;
    assert_eq!(
        frames,
        [subscribe_request(&room(), true), search("m3", None),]
    );
}

#[test]
fn presence_batches_keep_the_search_current() {
    let mut client = big_room();
    client.set_member_query(&room(), "m00").unwrap();
    client.apply(found("m00", &[1, 2, 5], Some("m0005/u-0005")), 0);
    let renamed = User {
        id: UserId("u-0002".into()),
        nick: Nick::new("zed").unwrap(),
    };
    client.apply(
        ServerMsg::PresenceBatch {
            room: room(),
            member_count: 500,
            joins: 2,
            leaves: 1,
            // m0003 sorts within the matches loaded; m0099 after them,
            // where the next page brings it.
            joined: vec![user(3), user(99)],
            left: vec![user(1)],
            renamed: vec![renamed],
        },
        0,
    );
    assert_eq!(shown(&client), (nicks([3, 5]), true, false));
}

#[test]
fn a_dropped_frame_lets_load_more_ask_again() {
    let mut client = big_room();
    client.load_more_members(&room()).unwrap();
    assert_eq!(client.load_more_members(&room()), None);
    client.apply(
        ServerMsg::error(ErrorCode::RateLimited, "slow down", None),
        0,
    );
    assert!(!client.member_list(&room()).unwrap().loading);
    assert!(client.load_more_members(&room()).is_some());
}

#[test]
fn focus_tells_the_relay_the_room_on_screen_and_when_the_app_is_hidden() {
    let mut client = big_room();
    let focus =
        |room: Option<RoomName>, active: Option<bool>| Some(ClientMsg::Focus { room, active });
    assert_eq!(
        client.set_view(Some(room()), true),
        focus(Some(room()), None)
    );
    assert_eq!(client.set_view(Some(room()), true), None, "nothing new");
    assert_eq!(client.active(), Some(&room()));
    // A background tab: no room is active, so messages count unread.
    assert_eq!(
        client.set_view(Some(room()), false),
        focus(None, Some(false))
    );
    assert_eq!(client.active(), None);
    assert_eq!(client.set_view(Some(room()), true), focus(None, Some(true)));
    assert_eq!(client.active(), Some(&room()));
    // Offline: nothing to write; the next connection is told what is
    // shown (it starts as "active, no room"), after the joins.
    client.disconnected();
    assert_eq!(client.set_view(Some(room()), false), None);
    client.connected();
    let frames = client
        .apply(
            ServerMsg::Welcome {
                protocol: crate::PROTOCOL_VERSION,
                user: user(0),
                resume: "r".into(),
                limits: client.limits().cloned().unwrap(),
                push_key: None,
                roles: Vec::new(),
            },
            0,
        )
        .frames;
    assert_eq!(
        frames,
        [
            ClientMsg::Join {
                room: room(),
                since: None,
            },
            focus(Some(room()), Some(false)).unwrap(),
        ]
    );
}
