//! The conversation itself: messages, presence, history, acks, resume.

use relay::Config;
use shared::{protocol::PresenceEvent, ServerMsg};
use tests::{
    client::{history_seqs, room},
    Client, InProcessRelay,
};

#[tokio::test]
async fn two_users_chat_and_see_each_other() {
    let relay = InProcessRelay::default().await;
    let mut alice = Client::hello(&relay.ws_url(), "alice").await.unwrap();
    let mut bob = Client::hello(&relay.ws_url(), "bob").await.unwrap();
    alice.join("general", None).await.unwrap();
    let joined = bob.join("general", None).await.unwrap();
    let ServerMsg::Joined { members, .. } = joined else {
        unreachable!()
    };
    let mut nicks: Vec<_> = members.iter().map(|m| m.nick.to_string()).collect();
    nicks.sort();
    assert_eq!(nicks, ["alice", "bob"]);

    // Alice sees Bob arrive.
    let presence = alice.recv().await.unwrap();
    assert!(
        matches!(
            presence,
            ServerMsg::Presence { event: PresenceEvent::Join, ref user, .. } if user.nick.as_str() == "bob"
        ),
        "{presence:?}"
    );

    alice.say("general", "hi bob", "a-1").await.unwrap();
    // The sender gets the message and its ack; the other member the message.
    let mut got_ack = false;
    let mut got_message = false;
    while !(got_ack && got_message) {
        match alice.recv().await.unwrap() {
            ServerMsg::Ack { seq, client_id, .. } => {
                assert_eq!((seq, client_id.as_str()), (1, "a-1"));
                got_ack = true;
            }
            ServerMsg::Message(m) => {
                assert_eq!(m.text.as_str(), "hi bob");
                got_message = true;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    let ServerMsg::Message(m) = bob.recv().await.unwrap() else {
        panic!("expected a message")
    };
    assert_eq!(
        (m.seq, m.text.as_str(), m.from.nick.as_str()),
        (1, "hi bob", "alice")
    );
    assert_eq!(m.from.id, alice.user.clone().unwrap().id);
    assert_eq!(m.client_id.unwrap().as_str(), "a-1");

    // Leaving is announced.
    bob.send(&shared::ClientMsg::Leave {
        room: room("general"),
    })
    .await
    .unwrap();
    let presence = alice.recv().await.unwrap();
    assert!(
        matches!(
            presence,
            ServerMsg::Presence {
                event: PresenceEvent::Leave,
                ..
            }
        ),
        "{presence:?}"
    );
    relay.stop().await.unwrap();
}

#[tokio::test]
async fn join_history_is_capped_and_flagged_truncated() {
    let mut config = Config::for_tests();
    config.join_history = 5;
    let relay = InProcessRelay::start(config).await;
    let mut alice = Client::hello(&relay.ws_url(), "alice").await.unwrap();
    alice.join("general", None).await.unwrap();
    for i in 1..=8 {
        alice
            .say_acked("general", "x", &format!("c{i}"))
            .await
            .unwrap();
    }
    let mut bob = Client::hello(&relay.ws_url(), "bob").await.unwrap();
    let joined = bob.join("general", Some(1)).await.unwrap();
    assert_eq!(history_seqs(&joined), [4, 5, 6, 7, 8]);
    assert!(matches!(
        joined,
        ServerMsg::Joined {
            truncated: true,
            ..
        }
    ));
    relay.stop().await.unwrap();
}

#[tokio::test]
async fn a_resent_client_id_is_acked_again_but_stored_once() {
    let relay = InProcessRelay::default().await;
    let mut alice = Client::hello(&relay.ws_url(), "alice").await.unwrap();
    alice.join("general", None).await.unwrap();
    let first = alice.say_acked("general", "once", "same-id").await.unwrap();
    let again = alice.say_acked("general", "once", "same-id").await.unwrap();
    assert_eq!(first, again);
    // Even from a new connection of the same user.
    let mut tab = Client::connect(&relay.ws_url()).await.unwrap();
    tab.login(None, alice.resume.clone()).await.unwrap();
    tab.join("general", None).await.unwrap();
    assert_eq!(
        tab.say_acked("general", "once", "same-id").await.unwrap(),
        first
    );
    let next = tab.say_acked("general", "twice", "other-id").await.unwrap();
    assert_eq!(next, first + 1);

    let mut bob = Client::hello(&relay.ws_url(), "bob").await.unwrap();
    let joined = bob.join("general", None).await.unwrap();
    assert_eq!(history_seqs(&joined), [first, first + 1]);
    relay.stop().await.unwrap();
}

#[tokio::test]
async fn resume_keeps_identity_and_the_room_sees_no_flapping() {
    let relay = InProcessRelay::default().await;
    let mut alice = Client::hello(&relay.ws_url(), "alice").await.unwrap();
    let mut bob = Client::hello(&relay.ws_url(), "bob").await.unwrap();
    bob.join("general", None).await.unwrap();
    alice.join("general", None).await.unwrap();
    bob.recv_until(|m| matches!(m, ServerMsg::Presence { .. }))
        .await
        .unwrap();
    let identity = alice.user.clone().unwrap();
    let token = alice.resume.clone();
    drop(alice);

    let mut again = Client::connect(&relay.ws_url()).await.unwrap();
    let user = again.login(None, token).await.unwrap();
    assert_eq!(user, identity);
    again.join("general", None).await.unwrap();
    again.say_acked("general", "back", "r-1").await.unwrap();
    // Bob's next frame is the message: no leave, no join in between.
    let next = bob.recv().await.unwrap();
    assert!(
        matches!(next, ServerMsg::Message(ref m) if m.text.as_str() == "back"),
        "{next:?}"
    );

    // A bad token gets a fresh identity.
    let mut stranger = Client::connect(&relay.ws_url()).await.unwrap();
    let other = stranger
        .login(None, Some("not-a-token".into()))
        .await
        .unwrap();
    assert_ne!(other.id, identity.id);
    relay.stop().await.unwrap();
}

#[tokio::test]
async fn a_user_who_does_not_return_leaves_after_the_grace_period() {
    let mut config = Config::for_tests();
    config.resume_grace_secs = 1;
    let relay = InProcessRelay::start(config).await;
    let mut alice = Client::hello(&relay.ws_url(), "alice").await.unwrap();
    let mut bob = Client::hello(&relay.ws_url(), "bob").await.unwrap();
    bob.join("general", None).await.unwrap();
    alice.join("general", None).await.unwrap();
    bob.recv_until(|m| matches!(m, ServerMsg::Presence { .. }))
        .await
        .unwrap();
    let gone = std::time::Instant::now();
    drop(alice);
    let left = bob.recv().await.unwrap();
    assert!(
        matches!(left, ServerMsg::Presence { event: PresenceEvent::Leave, ref user, .. } if user.nick.as_str() == "alice"),
        "{left:?}"
    );
    // Not before the grace period: a lower bound, which a slow machine
    // only makes easier to meet.
    assert!(
        gone.elapsed() >= std::time::Duration::from_secs(1),
        "alice left after {:?}, within the grace period",
        gone.elapsed()
    );
    relay.stop().await.unwrap();
}

#[tokio::test]
async fn nick_changes_are_announced_and_guests_get_a_nick() {
    let relay = InProcessRelay::default().await;
    let mut guest = Client::connect(&relay.ws_url()).await.unwrap();
    guest
        .send(&shared::ClientMsg::Join {
            room: room("general"),
            since: None,
        })
        .await
        .unwrap();
    let ServerMsg::Welcome { user, .. } = guest.recv().await.unwrap() else {
        panic!("welcome first")
    };
    assert!(user.nick.as_str().starts_with("guest-"));
    guest
        .recv_until(|m| matches!(m, ServerMsg::Joined { .. }))
        .await
        .unwrap();

    let mut bob = Client::hello(&relay.ws_url(), "bob").await.unwrap();
    bob.join("general", None).await.unwrap();
    guest.rename("carol").await.unwrap();
    let renamed = bob.recv_presence(PresenceEvent::Nick).await.unwrap();
    assert!(
        matches!(renamed, ServerMsg::Presence { ref user, .. } if user.nick.as_str() == "carol")
    );

    // Typing reaches the others, not the typist.
    guest
        .send(&shared::ClientMsg::Typing {
            room: room("general"),
        })
        .await
        .unwrap();
    let typing = bob.recv().await.unwrap();
    assert!(matches!(typing, ServerMsg::Typing { ref user, .. } if user.nick.as_str() == "carol"));
    // The typist's own frames up to a pong (which the relay answers after
    // the typing frame) hold no typing.
    guest.send(&shared::ClientMsg::Ping).await.unwrap();
    loop {
        match guest.recv().await.unwrap() {
            ServerMsg::Pong => break,
            ServerMsg::Typing { .. } => panic!("the typist was told of its own typing"),
            _ => {}
        }
    }
    relay.stop().await.unwrap();
}

#[tokio::test]
async fn health_ready_and_metrics_answer() {
    let relay = InProcessRelay::default().await;
    let mut alice = Client::hello(&relay.ws_url(), "alice").await.unwrap();
    alice.join("general", None).await.unwrap();
    alice.say_acked("general", "counted", "m-1").await.unwrap();
    let (code, _) = tests::relay::http_get(relay.addr, "/healthz")
        .await
        .unwrap();
    assert_eq!(code, 200);
    let (code, _) = tests::relay::http_get(relay.addr, "/readyz").await.unwrap();
    assert_eq!(code, 200);
    let (code, body) = tests::relay::http_get(relay.metrics_addr, "/metrics")
        .await
        .unwrap();
    assert_eq!(code, 200);
    // Not on the public listener, which the proxies forward.
    let (code, _) = tests::relay::http_get(relay.addr, "/metrics")
        .await
        .unwrap();
    assert_ne!(code, 200);
    assert!(body.contains("palaver_connections 1"), "{body}");
    assert!(body.contains("palaver_messages_in_total 1"), "{body}");
    assert!(body.contains("palaver_rooms 1"), "{body}");
    relay.stop().await.unwrap();
}

#[tokio::test]
async fn history_pages_default_to_50_and_stop_at_100() {
    let mut config = Config::for_tests();
    config.rate_limit = 0;
    config.room_rate_limit = 0;
    let relay = InProcessRelay::start(config).await;
    let mut alice = Client::hello(&relay.ws_url(), "alice").await.unwrap();
    alice.join("general", None).await.unwrap();
    for i in 1..=120 {
        alice.say("general", "x", &format!("c{i}")).await.unwrap();
    }
    alice
        .recv_until(|m| matches!(m, ServerMsg::Ack { seq: 120, .. }))
        .await
        .unwrap();
    let page = alice.history("general", None, None).await.unwrap();
    assert_eq!(history_seqs(&page), (71..=120).collect::<Vec<_>>());
    let page = alice
        .history("general", Some(71), Some(1000))
        .await
        .unwrap();
    assert_eq!(history_seqs(&page), (1..=70).collect::<Vec<_>>());
    let page = alice.history("general", None, Some(1000)).await.unwrap();
    assert_eq!(history_seqs(&page), (21..=120).collect::<Vec<_>>());
    // The cap is what `welcome` announces.
    assert_eq!(shared::limits::MAX_HISTORY_PAGE, 100);
    relay.stop().await.unwrap();
}

#[tokio::test]
async fn a_full_room_refuses_a_new_member_but_not_one_already_in() {
    let mut config = Config::for_tests();
    config.max_room_members = 2;
    let relay = InProcessRelay::start(config).await;
    let url = relay.ws_url();
    let mut alice = Client::hello(&url, "alice").await.unwrap();
    let mut bob = Client::hello(&url, "bob").await.unwrap();
    alice.join("small", None).await.unwrap();
    bob.join("small", None).await.unwrap();
    let mut carol = Client::hello(&url, "carol").await.unwrap();
    carol
        .send(&shared::ClientMsg::Join {
            room: room("small"),
            since: None,
        })
        .await
        .unwrap();
    assert_eq!(
        carol.expect_error().await.unwrap().0,
        shared::ErrorCode::RoomFull
    );
    // Another tab of a member is the same member, not a third one.
    let mut tab = Client::connect(&url).await.unwrap();
    tab.login(None, alice.resume.clone()).await.unwrap();
    tab.join("small", None).await.unwrap();
    // The refused user is not in the room: sending there is refused too,
    // and the members saw no join.
    carol.say("small", "let me in", "c-1").await.unwrap();
    assert_eq!(
        carol.expect_error().await.unwrap().0,
        shared::ErrorCode::NotJoined
    );
    alice.send(&shared::ClientMsg::Ping).await.unwrap();
    loop {
        match alice.recv().await.unwrap() {
            ServerMsg::Pong => break,
            ServerMsg::Presence { user, .. } => assert_ne!(user.nick.as_str(), "carol"),
            _ => {}
        }
    }
    // When a member leaves (done once bob's pong follows), there is room
    // again.
    bob.send(&shared::ClientMsg::Leave {
        room: room("small"),
    })
    .await
    .unwrap();
    bob.send(&shared::ClientMsg::Ping).await.unwrap();
    bob.recv_until(|m| matches!(m, ServerMsg::Pong))
        .await
        .unwrap();
    carol.join("small", None).await.unwrap();
    relay.stop().await.unwrap();
}

/// Sends pipelined on one connection (far more than the relay keeps in
/// flight) are acked in the order they were sent, numbered in that order,
/// and each `message` reaches its sender before its `ack`, on the durable
/// store, whose appends really wait for a commit.
#[tokio::test]
async fn pipelined_sends_are_acked_in_order_each_after_its_message() {
    use shared::{limits::MAX_SENDS_IN_FLIGHT, ClientId, ClientMsg, Text};
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::for_tests();
    config.store = relay::config::StoreKind::Sqlite;
    config.data_dir = dir.path().to_path_buf();
    config.rate_limit = 0;
    config.room_rate_limit = 0;
    let relay = InProcessRelay::start(config).await;
    let mut alice = Client::hello(&relay.ws_url(), "alice").await.unwrap();
    alice.join("general", None).await.unwrap();
    let count = 3 * MAX_SENDS_IN_FLIGHT + 1;
    for n in 0..count {
        alice
            .send(&ClientMsg::Send {
                reply_to: None,
                attachments: Vec::new(),
                room: room("general"),
                text: Text::new(&format!("m{n}")).unwrap(),
                client_id: ClientId::new(&format!("c{n}")).unwrap(),
            })
            .await
            .unwrap();
    }
    let mut seen: Vec<(String, u64)> = Vec::new();
    let mut acked: Vec<(String, u64)> = Vec::new();
    while acked.len() < count {
        match alice.recv().await.unwrap() {
            ServerMsg::Message(m) => seen.push((m.client_id.unwrap().to_string(), m.seq)),
            ServerMsg::Ack { client_id, seq, .. } => {
                let id = client_id.to_string();
                assert!(
                    seen.contains(&(id.clone(), seq)),
                    "{id} acked as {seq} before its message arrived (seen {seen:?})"
                );
                acked.push((id, seq));
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    let expected: Vec<String> = (0..count).map(|n| format!("c{n}")).collect();
    let ids: Vec<String> = acked.iter().map(|(id, _)| id.clone()).collect();
    assert_eq!(ids, expected, "acks in send order");
    assert!(
        acked.windows(2).all(|w| w[1].1 == w[0].1 + 1),
        "seqs follow the send order: {acked:?}"
    );
    relay.stop().await.unwrap();
}
