//! Big rooms (docs/PROTOCOL.md, "Big rooms") and the per-kind budgets
//! (docs/SECURITY.md): a room over the threshold lists its first members
//! and pages the rest, batches presence at most once a second, names users
//! only to subscribers, and sends typing only to connections that show it.

use std::{collections::HashSet, time::Duration};

use relay::Config;
use shared::{protocol::PresenceEvent, ClientMsg, ErrorCode, ServerMsg, User};
use tests::{
    client::{crowd, room},
    Client, InProcessRelay, WAIT,
};
use tokio::time::Instant;

/// A relay whose rooms are big above 50 members, listing 20 in `joined`,
/// with the per-IP limits off (every test client comes from 127.0.0.1).
fn config() -> Config {
    let mut config = Config::for_tests();
    config.big_room = 50;
    config.joined_members = 20;
    config.max_conns_per_ip = 0;
    config.max_handshakes_per_ip_per_sec = 0;
    config
}

fn members_req(name: &str, after: Option<String>, prefix: Option<&str>) -> ClientMsg {
    ClientMsg::Members {
        room: room(name),
        prefix: prefix.map(String::from),
        after,
        limit: Some(100),
        subscribe: None,
    }
}

/// Sends a `members` request and waits for its answer.
async fn members_page(client: &mut Client, msg: ClientMsg) -> (Vec<User>, u32, Option<String>) {
    client.send(&msg).await.unwrap();
    match client
        .recv_until(|m| matches!(m, ServerMsg::Members { .. }))
        .await
        .unwrap()
    {
        ServerMsg::Members {
            members,
            member_count,
            next,
            ..
        } => (members, member_count, next),
        _ => unreachable!(),
    }
}

/// Frames until a `pong`: everything the relay queued for this connection
/// before the ping.
async fn until_pong(client: &mut Client) -> Vec<ServerMsg> {
    client.send(&ClientMsg::Ping).await.unwrap();
    let mut seen = Vec::new();
    loop {
        match client.recv().await.unwrap() {
            ServerMsg::Pong => return seen,
            other => seen.push(other),
        }
    }
}

#[tokio::test]
async fn a_big_room_pages_searches_batches_and_filters() {
    let _heavy = tests::heavy().await;
    let relay = InProcessRelay::start(config()).await;
    let url = relay.ws_url();

    // Two watchers first: `sub` subscribes to the member list, `plain`
    // does not; both read everything the room sends them.
    let mut sub = Client::hello(&url, "watcher-sub").await.unwrap();
    sub.join("big", None).await.unwrap();
    let mut plain = Client::hello(&url, "watcher-plain").await.unwrap();
    plain.join("big", None).await.unwrap();
    let (_, _, _) = members_page(
        &mut sub,
        ClientMsg::Members {
            room: room("big"),
            prefix: None,
            after: None,
            limit: Some(0),
            subscribe: Some(true),
        },
    )
    .await;

    let mut crowd = crowd(&url, "big", "m", 250).await;
    let total = 252;
    // A joiner of the big room gets the first 20 and the count.
    let (_, last) = crowd.last().unwrap();
    let ServerMsg::Joined {
        members: first,
        member_count,
        members_next,
        ..
    } = last
    else {
        panic!("{last:?}")
    };
    assert_eq!(first.len(), 20);
    assert_eq!(*member_count, Some(total));
    assert!(members_next.is_some(), "a partial list says so");
    // Small rooms list everyone: the 10th joiner saw all 12.
    let ServerMsg::Joined {
        members: all,
        members_next: none,
        ..
    } = &crowd[9].1
    else {
        unreachable!()
    };
    assert_eq!((all.len(), none), (12, &None));

    // Pages from `members_next` reach everyone exactly once.
    let mut seen: Vec<User> = first.clone();
    let mut next = members_next.clone();
    let pager = &mut crowd[0].0;
    while let Some(after) = next {
        let (page, count, after) = members_page(pager, members_req("big", Some(after), None)).await;
        assert_eq!(count, total);
        seen.extend(page);
        next = after;
    }
    let ids: HashSet<_> = seen.iter().map(|u| u.id.clone()).collect();
    assert_eq!((seen.len(), ids.len()), (total as usize, total as usize));
    let mut sorted = seen.clone();
    sorted.sort_by_key(shared::protocol::roster_key);
    assert_eq!(sorted, seen, "pages come in roster order");

    // Prefix search, ignoring case.
    let (found, _, next) = members_page(pager, members_req("big", None, Some("M012"))).await;
    let nicks: Vec<&str> = found.iter().map(|u| u.nick.as_str()).collect();
    let expected: Vec<String> = (120..130).map(|i| format!("m{i:04}")).collect();
    assert_eq!(nicks, expected);
    assert_eq!(next, None);

    // Churn: 30 leave and 30 more join over a few seconds, once the
    // watchers have seen the batch that completed the crowd.
    for watcher in [&mut sub, &mut plain] {
        watcher
            .recv_until(|m| {
                matches!(m, ServerMsg::PresenceBatch { member_count, .. } if *member_count == total)
            })
            .await
            .unwrap();
    }
    let started = Instant::now();
    for (client, _) in crowd.iter_mut().take(30) {
        client
            .send(&ClientMsg::Leave { room: room("big") })
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(40)).await;
    }
    let newcomers = tests::client::crowd(&url, "big", "n", 30).await;

    // Both watchers get batches, at most about one a second, and no
    // per-member presence; only `sub` is told who.
    tokio::join!(
        watch_churn(&mut sub, true, started),
        watch_churn(&mut plain, false, started)
    );
    drop(newcomers);

    // Typing reaches only the connection that shows the room.
    let (mut viewer, _) = crowd.pop().unwrap();
    let (mut typist, _) = crowd.pop().unwrap();
    let (mut other_typist, _) = crowd.pop().unwrap();
    let focus = |room_name: Option<&str>, active: Option<bool>| ClientMsg::Focus {
        room: room_name.map(room),
        active,
    };
    viewer.send(&focus(Some("big"), None)).await.unwrap();
    until_pong(&mut viewer).await;
    typist
        .send(&ClientMsg::Typing { room: room("big") })
        .await
        .unwrap();
    viewer
        .recv_until(|m| matches!(m, ServerMsg::Typing { .. }))
        .await
        .unwrap();
    // Had they been sent the typing, it would be queued before the pong.
    for client in [&mut sub, &mut plain] {
        let frames = until_pong(client).await;
        assert!(!frames.iter().any(|m| matches!(m, ServerMsg::Typing { .. })));
    }
    // A hidden app shows no room: the typing goes to `sub`, now viewing.
    viewer.send(&focus(None, Some(false))).await.unwrap();
    until_pong(&mut viewer).await;
    sub.send(&focus(Some("big"), None)).await.unwrap();
    until_pong(&mut sub).await;
    other_typist
        .send(&ClientMsg::Typing { room: room("big") })
        .await
        .unwrap();
    sub.recv_until(|m| matches!(m, ServerMsg::Typing { .. }))
        .await
        .unwrap();
    let frames = until_pong(&mut viewer).await;
    assert!(!frames.iter().any(|m| matches!(m, ServerMsg::Typing { .. })));
    relay.stop().await.unwrap();
}

/// Reads a watcher's frames until the churn's 30 joins and 30 leaves are
/// in: all in batches, few of them, named only for a subscriber.
async fn watch_churn(client: &mut Client, subscribed: bool, started: Instant) {
    let mut batches = 0;
    let (mut joins, mut leaves, mut named_joins, mut named_leaves) = (0, 0, 0, 0);
    while joins < 30 || leaves < 30 {
        match client.recv().await.unwrap() {
            ServerMsg::PresenceBatch {
                joins: j,
                leaves: l,
                joined,
                left,
                ..
            } => {
                batches += 1;
                joins += j;
                leaves += l;
                named_joins += joined.len() as u32;
                named_leaves += left.len() as u32;
            }
            ServerMsg::Presence { event, user, .. } => {
                panic!("per-member presence in a big room: {event:?} {user:?}")
            }
            _ => {}
        }
    }
    assert_eq!((joins, leaves), (30, 30));
    if subscribed {
        assert_eq!((named_joins, named_leaves), (30, 30));
    } else {
        assert_eq!((named_joins, named_leaves), (0, 0));
    }
    // One batch per second at most (the first may come at once).
    let spread = started.elapsed().as_secs_f64();
    assert!(
        f64::from(batches) <= spread + 1.0,
        "{batches} batches in {spread:.1} s"
    );
}

#[tokio::test]
async fn your_own_rename_reaches_you_in_a_big_room() {
    let relay = InProcessRelay::start(Config {
        big_room: 2,
        ..config()
    })
    .await;
    let mut crowd = crowd(&relay.ws_url(), "big", "r", 4).await;
    let (me, _) = &mut crowd[0];
    me.rename("renamed").await.unwrap();
    let renamed = me.recv_presence(PresenceEvent::Nick).await.unwrap();
    assert!(matches!(
        renamed,
        ServerMsg::Presence { event: PresenceEvent::Nick, ref user, .. } if user.nick.as_str() == "renamed"
    ));
    relay.stop().await.unwrap();
}

#[tokio::test]
async fn joins_and_nicks_past_their_budget_are_refused() {
    let relay = InProcessRelay::start(Config {
        joins_per_minute: 4,
        nicks_per_minute: 1,
        ..config()
    })
    .await;
    let mut client = Client::hello(&relay.ws_url(), "hopper").await.unwrap();
    for name in ["a", "b", "c", "d"] {
        client.join(name, None).await.unwrap();
    }
    client
        .send(&ClientMsg::Join {
            room: room("e"),
            since: None,
        })
        .await
        .unwrap();
    assert_eq!(
        client.expect_error().await.unwrap().0,
        ErrorCode::RateLimited
    );
    let nick = |n: &str| ClientMsg::Nick {
        nick: shared::Nick::new(n).unwrap(),
    };
    client.send(&nick("hop")).await.unwrap();
    client.send(&nick("hopper2")).await.unwrap();
    assert_eq!(
        client.expect_error().await.unwrap().0,
        ErrorCode::RateLimited
    );
    // Refused, but the connection stays.
    assert!(until_pong(&mut client).await.len() <= 4);
    relay.stop().await.unwrap();
}

/// 2,000 readers showing one room and a client typing 30 times a second:
/// each reader sees at most one typing per 2 s, and none is disconnected.
#[tokio::test]
async fn typing_storm_is_held_to_the_budget() {
    let _heavy = tests::heavy().await;
    let relay = InProcessRelay::start(config()).await;
    let url = relay.ws_url();
    let readers = crowd(&url, "storm", "s", 2000).await;
    let (mut typist, _) = readers_typist(&url).await;
    let tasks: Vec<_> = readers
        .into_iter()
        .map(|(mut reader, _)| {
            tokio::spawn(async move {
                reader
                    .send(&ClientMsg::Focus {
                        room: Some(room("storm")),
                        active: None,
                    })
                    .await
                    .unwrap();
                let mut typing = 0;
                loop {
                    match reader.recv_within(WAIT * 3).await.unwrap() {
                        ServerMsg::Typing { .. } => typing += 1,
                        ServerMsg::Message(m) if m.text.as_str() == "end" => return typing,
                        _ => {}
                    }
                }
            })
        })
        .collect();
    // The readers' `focus` frames are on their way; the storm lasts long
    // enough that those not yet in miss only its start.
    let started = Instant::now();
    let mut tick = tokio::time::interval(Duration::from_millis(33));
    while started.elapsed() < Duration::from_secs(4) {
        tick.tick().await;
        typist
            .send(&ClientMsg::Typing {
                room: room("storm"),
            })
            .await
            .unwrap();
    }
    let storm = started.elapsed().as_secs_f64();
    typist.say_acked("storm", "end", "end-1").await.unwrap();
    let budget = (storm / 2.0).ceil() as usize + 1;
    let mut total = 0;
    for task in tasks {
        let typing = task.await.expect("every reader stays connected");
        assert!(typing <= budget, "a reader saw {typing} typing frames");
        total += typing;
    }
    assert!(total > 0, "the typing was shown at all");
    relay.stop().await.unwrap();
}

async fn readers_typist(url: &str) -> (Client, ServerMsg) {
    let mut typist = Client::hello(url, "typist").await.unwrap();
    let joined = typist.join("storm", None).await.unwrap();
    (typist, joined)
}
