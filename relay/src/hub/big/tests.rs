//! Big rooms in the hub: batching, subscriptions, typing filters, pages.
use std::sync::Arc;

use shared::{protocol::PresenceEvent, Nick, ServerMsg};

use super::*;
use crate::{
    hub::tests::{drain, join_as, user},
    metrics::Metrics,
};

/// A hub where rooms of more than 3 are big and `joined` lists 2.
fn hub() -> (Hub, RoomName) {
    let big = BigRooms {
        threshold: 3,
        first_members: 2,
    };
    let hub = Hub::new(Arc::new(Metrics::default()), 64, big);
    (hub, RoomName::new("general").unwrap())
}

fn nicks(users: &[User]) -> Vec<&str> {
    users.iter().map(|u| u.nick.as_str()).collect()
}

/// The batches in a queue as (member_count, joins, leaves, joined,
/// left, renamed), the lists as nicks.
type Batch = (u32, u32, u32, Vec<String>, Vec<String>, Vec<String>);
fn batches(frames: &[ServerMsg]) -> Vec<Batch> {
    let names = |users: &[User]| nicks(users).into_iter().map(String::from).collect();
    frames
        .iter()
        .filter_map(|f| match f {
            ServerMsg::PresenceBatch {
                member_count,
                joins,
                leaves,
                joined,
                left,
                renamed,
                ..
            } => Some((
                *member_count,
                *joins,
                *leaves,
                names(joined),
                names(left),
                names(renamed),
            )),
            _ => None,
        })
        .collect()
}

fn subscribe(hub: &Hub, room: &RoomName, who: &User, conn: u64) {
    let query = MembersQuery {
        limit: 0,
        subscribe: Some(true),
        ..MembersQuery::default()
    };
    hub.members_page(room, &who.id, conn, query)
        .unwrap()
        .unwrap();
}

#[test]
fn a_big_room_batches_presence_and_names_users_to_subscribers_only() {
    let (hub, room) = hub();
    let (alice, bob) = (user("u-a", "alice"), user("u-b", "bob"));
    let mut alice_rx = join_as(&hub, &room, &alice, 1);
    let mut bob_rx = join_as(&hub, &room, &bob, 2);
    for (i, nick) in ["carol", "dave"].iter().enumerate() {
        join_as(
            &hub,
            &room,
            &user(&format!("u-{nick}"), nick),
            10 + i as u64,
        );
    }
    subscribe(&hub, &room, &alice, 1);
    // Dave made the room big: his join is the first batch.
    hub.flush_presence();
    assert_eq!(batches(&drain(&mut alice_rx)).len(), 1);
    drain(&mut bob_rx);

    // Four members: big. Two join, one of them leaves again, one renames.
    let erin = user("u-e", "erin");
    let _frank_rx = join_as(&hub, &room, &user("u-f", "frank"), 20);
    let _erin_rx = join_as(&hub, &room, &erin, 21);
    hub.leave(&room, &erin.id, 21);
    hub.rename(
        &UserId("u-dave".into()),
        &Nick::new("david").unwrap(),
        std::slice::from_ref(&room),
    );
    hub.leave(&room, &UserId("u-carol".into()), 10);
    assert!(drain(&mut alice_rx).is_empty(), "nothing before the batch");
    assert!(drain(&mut bob_rx).is_empty());

    hub.flush_presence();
    let strs = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert_eq!(
        batches(&drain(&mut alice_rx)),
        [(
            4,
            1,
            1,
            strs(&["frank"]),
            strs(&["carol"]),
            strs(&["david"])
        )],
        "the subscriber sees who; erin came and went within the batch"
    );
    assert_eq!(
        batches(&drain(&mut bob_rx)),
        [(4, 1, 1, vec![], vec![], vec![])],
        "the others see the counts only"
    );
    hub.flush_presence();
    assert!(drain(&mut alice_rx).is_empty(), "no change, no batch");

    // Unsubscribed, alice gets counts too.
    let query = MembersQuery {
        subscribe: Some(false),
        ..MembersQuery::default()
    };
    hub.members_page(&room, &alice.id, 1, query).unwrap();
    drain(&mut alice_rx);
    let _gina_rx = join_as(&hub, &room, &user("u-g", "gina"), 22);
    hub.flush_presence();
    assert_eq!(
        batches(&drain(&mut alice_rx)),
        [(5, 1, 0, vec![], vec![], vec![])]
    );
}

#[test]
fn a_renamed_user_sees_their_own_rename_at_once_in_a_big_room() {
    let (hub, room) = hub();
    let mut rxs: Vec<_> = ["a", "b", "c", "d"]
        .iter()
        .enumerate()
        .map(|(i, n)| join_as(&hub, &room, &user(&format!("u-{n}"), n), i as u64))
        .collect();
    for rx in &mut rxs {
        drain(rx);
    }
    hub.rename(
        &UserId("u-a".into()),
        &Nick::new("anna").unwrap(),
        std::slice::from_ref(&room),
    );
    let own: Vec<ServerMsg> = drain(&mut rxs[0]);
    assert!(matches!(
        own.as_slice(),
        [ServerMsg::Presence { event: PresenceEvent::Nick, user, .. }] if user.nick.as_str() == "anna"
    ));
    assert!(drain(&mut rxs[1]).is_empty());
}

#[test]
fn a_small_room_keeps_a_frame_per_event() {
    let (hub, room) = hub();
    let mut alice_rx = join_as(&hub, &room, &user("u-a", "alice"), 1);
    let _bob = join_as(&hub, &room, &user("u-b", "bob"), 2);
    hub.leave(&room, &UserId("u-b".into()), 2);
    let frames = drain(&mut alice_rx);
    let events: Vec<PresenceEvent> = frames
        .iter()
        .filter_map(|f| match f {
            ServerMsg::Presence { event, .. } => Some(*event),
            _ => None,
        })
        .collect();
    assert_eq!(events, [PresenceEvent::Join, PresenceEvent::Leave]);
    hub.flush_presence();
    assert!(batches(&drain(&mut alice_rx)).is_empty());
}

#[test]
fn typing_in_a_big_room_reaches_only_those_who_show_it() {
    let (hub, room) = hub();
    let users: Vec<User> = ["a", "b", "c", "d"]
        .iter()
        .map(|n| user(&format!("u-{n}"), n))
        .collect();
    let mut rxs: Vec<_> = users
        .iter()
        .enumerate()
        .map(|(i, u)| join_as(&hub, &room, u, i as u64))
        .collect();
    let typed = |rxs: &mut Vec<_>| -> Vec<usize> {
        (0..rxs.len())
            .filter(|&i| {
                drain(&mut rxs[i])
                    .iter()
                    .any(|f| matches!(f, ServerMsg::Typing { .. }))
            })
            .collect()
    };
    // Three members: small, everyone else gets it.
    hub.leave(&room, &users[3].id, 3);
    typed(&mut rxs);
    hub.typing(&room, &users[0]);
    assert_eq!(typed(&mut rxs), [1, 2]);
    // Four: big; only b, who shows the room.
    rxs[3] = join_as(&hub, &room, &users[3], 3);
    hub.focus(std::slice::from_ref(&room), &users[1].id, 1, Some(&room));
    hub.focus(std::slice::from_ref(&room), &users[2].id, 2, None);
    typed(&mut rxs);
    hub.typing(&room, &users[0]);
    assert_eq!(typed(&mut rxs), [1]);
}

#[test]
fn pages_reach_everyone_once_in_roster_order_and_prefixes_search() {
    let (hub, room) = hub();
    let names = ["Zed", "amy", "Bob", "bea", "al", "ben", "carl"];
    for (i, n) in names.iter().enumerate() {
        join_as(&hub, &room, &user(&format!("u-{i}"), n), i as u64);
    }
    let page = |prefix: Option<&str>, after: Option<String>| {
        let query = MembersQuery {
            prefix: prefix.map(String::from),
            after,
            limit: 3,
            subscribe: None,
        };
        match hub.members_page(&room, &UserId("u-0".into()), 0, query) {
            Ok(Some(ServerMsg::Members {
                members,
                next,
                member_count,
                ..
            })) => {
                assert_eq!(member_count, 7);
                (nicks(&members).join(","), next)
            }
            other => panic!("{other:?}"),
        }
    };
    let (first, next) = page(None, None);
    assert_eq!(first, "al,amy,bea");
    let (second, next) = page(None, next);
    assert_eq!(second, "ben,Bob,carl");
    let (third, next) = page(None, next);
    assert_eq!((third.as_str(), next), ("Zed", None));

    assert_eq!(page(Some("b"), None), ("bea,ben,Bob".into(), None));
    assert_eq!(page(Some("be"), None), ("bea,ben".into(), None));
    assert_eq!(page(Some("x"), None), (String::new(), None));

    let bad = MembersQuery {
        after: Some("no slash".into()),
        ..MembersQuery::default()
    };
    assert_eq!(
        hub.members_page(&room, &UserId("u-0".into()), 0, bad)
            .unwrap_err(),
        BadCursor
    );
    // Not in the room: no page.
    let query = MembersQuery::default();
    assert!(hub
        .members_page(&room, &UserId("u-x".into()), 99, query)
        .unwrap()
        .is_none());
}

#[test]
fn joined_lists_the_first_members_of_a_big_room_with_a_cursor() {
    let (hub, room) = hub();
    let peer_of = |conn| crate::peer::test_peer(conn, 8).0;
    for (i, n) in ["dan", "cat", "bo"].iter().enumerate() {
        let joined = hub
            .join(
                &room,
                &user(&format!("u-{i}"), n),
                &peer_of(i as u64),
                0,
                false,
            )
            .unwrap();
        assert_eq!(joined.next, None, "small rooms list everyone");
        assert_eq!(joined.members.len(), i + 1);
    }
    let joined = hub
        .join(&room, &user("u-3", "al"), &peer_of(3), 0, false)
        .unwrap();
    assert_eq!(joined.count, 4);
    assert_eq!(nicks(&joined.members), ["al", "bo"]);
    assert_eq!(joined.next.as_deref(), Some("bo/u-2"));
}
