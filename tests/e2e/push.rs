//! Web Push through the real binary to a local push service
//! (`tests::push_service`), which verifies each push's VAPID JWT against
//! the key the relay announced in `welcome` and decrypts its body with the
//! test subscription's private key, as a browser would.
//!
//! A push goes to a member with no visible app; none while a connection
//! says `focus` visible or the level is `none`; a 410 removes the
//! subscription; a 429 and a 500 are retried; endpoints the relay must not
//! POST to are refused without `--push-allow-insecure`.

use std::path::Path;

use shared::{protocol::NotifyLevel, ClientId, ClientMsg, ErrorCode, ServerMsg, Text};
use tests::{
    client::room,
    events::acked,
    push_service::{hello_with_push_key, PushService},
    Client, RelayProcess,
};

/// A relay that may push to the local (http, loopback) push service.
async fn relay(dir: &Path) -> RelayProcess {
    let dir = dir.display().to_string();
    RelayProcess::spawn(&[
        "--data-dir",
        &dir,
        "--rate-limit",
        "0",
        "--push-allow-insecure",
    ])
    .await
    .unwrap()
}

/// Alice (subscribed through `service`, the key trusted) and Bob, both in
/// `general`.
async fn alice_and_bob(url: &str, service: &PushService, subs: &[&str]) -> (Client, Client) {
    let (mut alice, key) = hello_with_push_key(url, "alice").await.unwrap();
    service.trust(&key.expect("the relay announces its VAPID key in welcome"));
    alice.join("general", None).await.unwrap();
    for name in subs {
        alice
            .send(&service.subscription(name).subscribe_frame())
            .await
            .unwrap();
    }
    alice.settle().await.unwrap();
    let mut bob = Client::hello(url, "bob").await.unwrap();
    bob.join("general", None).await.unwrap();
    (alice, bob)
}

#[tokio::test]
async fn a_mention_for_a_user_without_a_visible_app_is_pushed_and_decrypts_to_the_message() {
    // The memory engines (store and subscriptions); the others run on SQLite.
    let relay = RelayProcess::spawn(&[
        "--store",
        "memory",
        "--rate-limit",
        "0",
        "--push-allow-insecure",
    ])
    .await
    .unwrap();
    let service = PushService::start().await.unwrap();
    let (_alice, mut bob) = alice_and_bob(&relay.ws_url(), &service, &["phone"]).await;

    let seq = bob
        .say_acked("general", "@alice lunch?", "b1")
        .await
        .unwrap();
    let got = service.wait_for(1).await.unwrap();
    let push = &got[0];
    assert_eq!(push.name, "phone");
    assert_eq!(push.payload["room"], "general");
    assert_eq!(push.payload["seq"], seq);
    assert_eq!(push.payload["from"], "bob");
    assert_eq!(push.payload["text"], "@alice lunch?");
    assert_eq!(push.payload["mention"], true);
    assert_eq!(push.urgency.as_deref(), Some("high"), "mentions are urgent");
    assert!(push
        .ttl
        .as_deref()
        .is_some_and(|t| t.parse::<u64>().unwrap() > 0));
    let topic = push.topic.clone().expect("a Topic per room");
    assert!(topic.len() <= 32);

    // A small room notifies of everything by default, at normal urgency,
    // under the same topic.
    let plain = bob.say_acked("general", "anyone?", "b2").await.unwrap();
    let got = service.wait_for(2).await.unwrap();
    assert_eq!(got[1].payload["seq"], plain);
    assert_eq!(got[1].payload["mention"], false);
    assert_eq!(got[1].urgency.as_deref(), Some("normal"));
    assert_eq!(got[1].topic.as_deref(), Some(topic.as_str()));
    assert_eq!(
        relay
            .wait_metric("palaver_push_sent_total", |v| v >= 2)
            .await
            .unwrap(),
        2
    );
}

#[tokio::test]
async fn nothing_is_pushed_while_the_app_is_visible_or_the_level_is_none() {
    let dir = tempfile::tempdir().unwrap();
    let relay = relay(dir.path()).await;
    let url = relay.ws_url();
    let service = PushService::start().await.unwrap();
    let (mut alice, mut bob) = alice_and_bob(&url, &service, &["phone"]).await;
    alice.join("dev", None).await.unwrap();
    bob.join("dev", None).await.unwrap();
    // Carol, subscribed too, only in `side`: her push of a message tells
    // that the sender (one task, messages in order) is done with the ones
    // before it, since attention counts when the sender gets to a message.
    let mut carol = Client::hello(&url, "carol").await.unwrap();
    carol.join("side", None).await.unwrap();
    carol
        .send(&service.subscription("carol-phone").subscribe_frame())
        .await
        .unwrap();
    carol.settle().await.unwrap();
    bob.join("side", None).await.unwrap();
    let mut synced = 0;
    let mut sync = async |bob: &mut Client| {
        synced += 1;
        bob.say_acked("side", &format!("sync {synced}"), &format!("s{synced}"))
            .await
            .unwrap();
    };

    // Visible: the app notifies by itself.
    alice
        .send(&ClientMsg::Focus {
            room: Some(room("general")),
            active: Some(true),
        })
        .await
        .unwrap();
    alice.settle().await.unwrap();
    bob.say_acked("general", "@alice seen?", "b1")
        .await
        .unwrap();
    sync(&mut bob).await;
    service.wait_for(1).await.unwrap();
    // Hidden again: pushed.
    alice
        .send(&ClientMsg::Focus {
            room: None,
            active: Some(false),
        })
        .await
        .unwrap();
    alice.settle().await.unwrap();
    bob.say_acked("general", "@alice now?", "b2").await.unwrap();
    service.wait_for(2).await.unwrap();

    // `none` in general: even a mention is not pushed; dev still is.
    alice
        .send(&ClientMsg::Notify {
            room: room("general"),
            level: NotifyLevel::Off,
        })
        .await
        .unwrap();
    alice.settle().await.unwrap();
    bob.say_acked("general", "@alice muted", "b3")
        .await
        .unwrap();
    bob.say_acked("dev", "in dev", "b4").await.unwrap();
    service.wait_for(3).await.unwrap();
    // Nobody is pushed their own message.
    alice.say_acked("dev", "mine", "a1").await.unwrap();
    bob.say_acked("dev", "after", "b5").await.unwrap();
    sync(&mut bob).await;
    let got = service.wait_for(5).await.unwrap();
    let texts = |name: &str| {
        got.iter()
            .filter(|r| r.name == name)
            .map(|r| r.payload["text"].as_str().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(texts("carol-phone"), ["sync 1", "sync 2"]);
    assert_eq!(texts("phone"), ["@alice now?", "in dev", "after"]);
}

#[tokio::test]
async fn a_gone_subscription_is_removed_and_not_posted_again() {
    let dir = tempfile::tempdir().unwrap();
    let relay = relay(dir.path()).await;
    let service = PushService::start().await.unwrap();
    service.answer("old-laptop", &[(410, None)]);
    let (_alice, mut bob) =
        alice_and_bob(&relay.ws_url(), &service, &["old-laptop", "phone"]).await;
    let count = || {
        rusqlite::Connection::open(dir.path().join("palaver.sqlite3"))
            .unwrap()
            .query_row("SELECT COUNT(*) FROM push_subscriptions", [], |r| {
                r.get::<_, i64>(0)
            })
            .unwrap()
    };
    assert_eq!(count(), 2);

    bob.say_acked("general", "@alice one", "b1").await.unwrap();
    service.wait_for(2).await.unwrap();
    relay
        .wait_metric("palaver_push_subscriptions_removed_total", |v| v >= 1)
        .await
        .expect("the 410 is acted on");
    assert_eq!(
        count(),
        1,
        "the gone subscription is deleted from the store"
    );

    bob.say_acked("general", "@alice two", "b2").await.unwrap();
    let got = service.wait_for(3).await.unwrap();
    let to = |name: &str| got.iter().filter(|r| r.name == name).count();
    assert_eq!((to("old-laptop"), to("phone")), (1, 2), "{got:?}");
    assert_eq!(got[2].payload["text"], "@alice two");
    assert_eq!(
        relay
            .metric("palaver_push_failed_total{status=\"410\"}")
            .await
            .unwrap(),
        1
    );
}

#[tokio::test]
async fn an_unsubscribed_endpoint_gets_nothing_and_the_others_go_on() {
    let dir = tempfile::tempdir().unwrap();
    let relay = relay(dir.path()).await;
    let service = PushService::start().await.unwrap();
    let (mut alice, mut bob) = alice_and_bob(&relay.ws_url(), &service, &["phone", "tablet"]).await;
    alice
        .send(&ClientMsg::PushUnsubscribe {
            endpoint: service.endpoint("tablet"),
        })
        .await
        .unwrap();
    alice.settle().await.unwrap();
    bob.say_acked("general", "@alice one", "b1").await.unwrap();
    service.wait_for(1).await.unwrap();
    bob.say_acked("general", "@alice two", "b2").await.unwrap();
    let got = service.wait_for(2).await.unwrap();
    assert!(got.iter().all(|r| r.name == "phone"), "{got:?}");
    // Someone else's endpoint is not theirs to remove.
    bob.send(&ClientMsg::PushUnsubscribe {
        endpoint: service.endpoint("phone"),
    })
    .await
    .unwrap();
    bob.settle().await.unwrap();
    bob.say_acked("general", "@alice three", "b3")
        .await
        .unwrap();
    let got = service.wait_for(3).await.unwrap();
    assert_eq!(got[2].payload["text"], "@alice three");
}

#[tokio::test]
async fn a_429_and_a_500_are_retried_until_the_push_service_accepts() {
    let dir = tempfile::tempdir().unwrap();
    let relay = relay(dir.path()).await;
    let service = PushService::start().await.unwrap();
    service.answer("phone", &[(429, Some(1)), (500, None)]);
    let (_alice, mut bob) = alice_and_bob(&relay.ws_url(), &service, &["phone"]).await;

    let seq = bob
        .say_acked("general", "@alice retry", "b1")
        .await
        .unwrap();
    let got = service.wait_for(3).await.unwrap();
    assert_eq!(
        got.iter().map(|r| r.answered).collect::<Vec<_>>(),
        [429, 500, 201]
    );
    assert!(
        got.iter().all(|r| r.payload["seq"] == seq),
        "the same push each time"
    );
    relay
        .wait_metric("palaver_push_sent_total", |v| v >= 1)
        .await
        .unwrap();
    let metric = |name: &'static str| {
        let relay = &relay;
        async move { relay.metric(name).await.unwrap() }
    };
    assert_eq!(metric("palaver_push_retries_total").await, 2);
    assert_eq!(metric("palaver_push_failed_total{status=\"429\"}").await, 1);
    assert_eq!(metric("palaver_push_failed_total{status=\"500\"}").await, 1);
}

#[tokio::test]
async fn endpoints_the_relay_must_not_post_to_are_refused_without_the_test_flag() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().display().to_string();
    let relay = RelayProcess::spawn(&["--data-dir", &data]).await.unwrap();
    let service = PushService::start().await.unwrap();
    let (mut alice, key) = hello_with_push_key(&relay.ws_url(), "alice").await.unwrap();
    assert!(key.is_some());
    let sub = service.subscription("phone");
    let ClientMsg::PushSubscribe { keys, .. } = sub.subscribe_frame() else {
        unreachable!()
    };
    let frame = |endpoint: &str| ClientMsg::PushSubscribe {
        hide_text: false,
        endpoint: endpoint.into(),
        keys: keys.clone(),
    };
    for endpoint in [
        sub.endpoint.as_str(),                      // http, loopback
        "https://127.0.0.1:9/push",                 // loopback
        "https://localhost/push",                   // a name for loopback
        "https://169.254.169.254/latest/meta-data", // the cloud metadata address
        "https://10.0.0.8/push",                    // private
        "https://[::1]/push",
    ] {
        alice.send(&frame(endpoint)).await.unwrap();
        let (code, _) = alice.expect_error().await.unwrap();
        assert_eq!(code, ErrorCode::Forbidden, "{endpoint}");
    }
    alice.send(&frame("not a url")).await.unwrap();
    assert_eq!(alice.expect_error().await.unwrap().0, ErrorCode::BadFrame);
    let mut bad_keys = frame("https://127.0.0.1/push");
    if let ClientMsg::PushSubscribe { keys, .. } = &mut bad_keys {
        keys.p256dh = "AAAA".into();
    }
    alice.send(&bad_keys).await.unwrap();
    assert_eq!(alice.expect_error().await.unwrap().0, ErrorCode::BadFrame);
    let count: i64 = rusqlite::Connection::open(dir.path().join("palaver.sqlite3"))
        .unwrap()
        .query_row("SELECT COUNT(*) FROM push_subscriptions", [], |r| r.get(0))
        .unwrap();
    assert_eq!(count, 0);
}

#[tokio::test]
async fn a_device_that_hides_message_text_gets_only_the_room_and_the_author() {
    let dir = tempfile::tempdir().unwrap();
    let relay = relay(dir.path()).await;
    let service = PushService::start().await.unwrap();
    let (mut alice, mut bob) = alice_and_bob(&relay.ws_url(), &service, &["laptop"]).await;
    let phone = service.subscription("phone");
    alice
        .send(&phone.subscribe_frame_hiding_text(true))
        .await
        .unwrap();
    alice.settle().await.unwrap();

    let seq = bob
        .say_acked("general", "@alice the door code is 4711", "b1")
        .await
        .unwrap();
    let got = service.wait_for(2).await.unwrap();
    let to = |name: &str| got.iter().find(|r| r.name == name).unwrap().payload.clone();
    assert_eq!(
        to("phone"),
        serde_json::json!({"room": "general", "seq": seq, "from": "bob", "mention": true}),
        "no text for the device that hides it"
    );
    assert_eq!(to("laptop")["text"], "@alice the door code is 4711");

    // Subscribing the same endpoint again changes the setting (and it is
    // kept in the data directory).
    alice
        .send(&phone.subscribe_frame_hiding_text(false))
        .await
        .unwrap();
    alice.settle().await.unwrap();
    bob.say_acked("general", "@alice shown", "b2")
        .await
        .unwrap();
    let got = service.wait_for(4).await.unwrap();
    assert!(
        got[2..].iter().all(|r| r.payload["text"] == "@alice shown"),
        "{got:?}"
    );
}

/// The queue's guarantee (docs/SECURITY.md): at most once per message and
/// subscription, from the relay's memory. A push waiting for its retry
/// when the relay is killed is lost, never sent again after the restart,
/// and later messages are pushed as before (the subscription and the key
/// are in the data directory).
#[tokio::test]
async fn a_push_queued_when_the_relay_is_killed_is_never_sent_twice() {
    let dir = tempfile::tempdir().unwrap();
    let mut relay = relay(dir.path()).await;
    let service = PushService::start().await.unwrap();
    // The push service is busy: the first push waits a minute, queued in
    // the relay's memory, for its retry.
    service.answer("phone", &[(429, Some(60))]);
    let (alice, mut bob) = alice_and_bob(&relay.ws_url(), &service, &["phone"]).await;
    let lost = bob
        .say_acked("general", "@alice before the crash", "b1")
        .await
        .unwrap();
    let got = service.wait_for(1).await.unwrap();
    assert_eq!(
        (got[0].answered, &got[0].payload["seq"]),
        (429, &lost.into())
    );

    relay.signal("KILL").unwrap();
    relay.child.wait().await.unwrap();
    drop((alice, bob));
    let relay = self::relay(dir.path()).await;
    let mut bob = Client::hello(&relay.ws_url(), "bob").await.unwrap();
    bob.join("general", None).await.unwrap();
    let after = bob
        .say_acked("general", "after the crash", "b2")
        .await
        .unwrap();
    let last = bob.say_acked("general", "and then", "b3").await.unwrap();
    let got = service.wait_for(3).await.unwrap();
    // Each push is its own POST, so the two after the restart may arrive
    // in either order; what matters is that each seq arrives once.
    let mut seqs: Vec<Option<u64>> = got.iter().map(|r| r.payload["seq"].as_u64()).collect();
    seqs.sort();
    assert_eq!(seqs, [Some(lost), Some(after), Some(last)], "{got:?}");
}

/// An edit that mentions someone new notifies them as a mention would,
/// with the new text, even at the `mentions` level where the message
/// itself did not; fixing a typo in a message that mentioned them already
/// notifies nobody again.
#[tokio::test]
async fn an_edit_that_adds_a_mention_is_pushed_once() {
    let dir = tempfile::tempdir().unwrap();
    let relay = relay(dir.path()).await;
    let service = PushService::start().await.unwrap();
    let (mut alice, mut bob) = alice_and_bob(&relay.ws_url(), &service, &["phone"]).await;
    alice
        .send(&ClientMsg::Notify {
            room: room("general"),
            level: NotifyLevel::Mentions,
        })
        .await
        .unwrap();
    alice.settle().await.unwrap();
    let edit = |seq: u64, text: &str, client_id: &str| ClientMsg::Edit {
        room: room("general"),
        seq,
        text: Text::new(text).unwrap(),
        client_id: ClientId::new(client_id).unwrap(),
    };

    let lunch = bob.say_acked("general", "lunch?", "b1").await.unwrap();
    acked(&mut bob, edit(lunch, "lunch, @alice?", "b2"), "b2")
        .await
        .unwrap();
    let got = service.wait_for(1).await.unwrap();
    assert_eq!(
        (
            &got[0].payload["seq"],
            &got[0].payload["text"],
            &got[0].payload["mention"]
        ),
        (&lunch.into(), &"lunch, @alice?".into(), &true.into()),
        "{got:?}"
    );

    // The typo fix mentions nobody new; the next push is the next mention.
    acked(&mut bob, edit(lunch, "lunch, @alice ?", "b3"), "b3")
        .await
        .unwrap();
    let later = bob.say_acked("general", "@alice now", "b4").await.unwrap();
    let got = service.wait_for(2).await.unwrap();
    let seqs: Vec<Option<u64>> = got.iter().map(|r| r.payload["seq"].as_u64()).collect();
    assert_eq!(seqs, [Some(lunch), Some(later)], "{got:?}");
}

/// An anonymous user's rooms and push subscriptions go with their
/// identity, `--resume-ttl-secs` after their last connection, whatever
/// the store (`engine`'s flags): pushes to them stop, and their token
/// starts someone new, who has no rooms. Carol, who stays, is pushed
/// every message; the sender takes messages in order, so once carol has
/// message n + 1, whether alice got message n is settled.
async fn expiry_takes_rooms_and_pushes_along(engine: &[&str]) {
    let mut args = vec![
        "--rate-limit",
        "0",
        "--push-allow-insecure",
        "--resume-ttl-secs",
        "1",
    ];
    args.extend_from_slice(engine);
    let relay = RelayProcess::spawn(&args).await.unwrap();
    relay.wait_ready().await.unwrap();
    let url = relay.ws_url();
    let service = PushService::start().await.unwrap();
    let (mut alice, mut bob) = alice_and_bob(&url, &service, &["alice-phone"]).await;
    let (alice_id, resume) = (
        alice.user.clone().unwrap().id,
        alice.resume.clone().unwrap(),
    );
    alice.join("dev", None).await.unwrap();
    let mut carol = Client::hello(&url, "carol").await.unwrap();
    carol.join("general", None).await.unwrap();
    carol
        .send(&service.subscription("carol-phone").subscribe_frame())
        .await
        .unwrap();
    carol.settle().await.unwrap();
    drop(alice);

    let pushed = |name: &str, seq: u64| {
        service
            .received()
            .iter()
            .any(|p| p.name == name && p.payload["seq"] == seq)
    };
    let mut to_alice = Vec::new();
    let mut previous = None;
    for round in 0.. {
        let seq = bob
            .say_acked("general", &format!("round {round}"), &format!("r{round}"))
            .await
            .unwrap();
        while !pushed("carol-phone", seq) {
            let n = service.received().len();
            service.wait_for(n + 1).await.unwrap();
        }
        if let Some(previous) = previous {
            if !pushed("alice-phone", previous) {
                break;
            }
            to_alice.push(previous);
        }
        // A round every 0.4 s, at most 15 (past 20 a minute, carol's
        // pushes would be dropped): 6 s for an expiry due after 1.25 s.
        assert!(
            round < 15,
            "alice's subscription outlived her identity: pushed {to_alice:?}"
        );
        previous = Some(seq);
        tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    }
    assert!(!to_alice.is_empty(), "alice, away, was pushed at first");

    let mut again = Client::connect(&url).await.unwrap();
    let user = again.login(None, Some(resume)).await.unwrap();
    assert_ne!(user.id, alice_id, "her token starts someone new");
    again.send(&ClientMsg::Ping).await.unwrap();
    assert_eq!(
        again.recv().await.unwrap(),
        ServerMsg::Pong,
        "with no rooms"
    );
    relay.stop().await.unwrap();
}

#[tokio::test]
async fn an_expired_anonymous_user_takes_rooms_and_pushes_along_in_memory() {
    expiry_takes_rooms_and_pushes_along(&["--store", "memory"]).await;
}

#[tokio::test]
async fn an_expired_anonymous_user_takes_rooms_and_pushes_along_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path().display().to_string();
    expiry_takes_rooms_and_pushes_along(&["--data-dir", &dir]).await;
}

#[tokio::test]
async fn an_expired_anonymous_user_takes_rooms_and_pushes_along_in_a_cluster() {
    let _heavy = tests::heavy().await;
    let nats = tests::NatsServer::start().await.unwrap();
    let url = nats.url();
    expiry_takes_rooms_and_pushes_along(&["--nats", &url]).await;
}
