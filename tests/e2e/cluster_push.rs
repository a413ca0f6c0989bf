//! Web Push in cluster mode: two relays on one nats-server announce one
//! VAPID key (kept in NATS), share the subscriptions, and exactly one of
//! them (the one that stored the message) pushes each message, only when
//! the member's app is visible on no relay. The local push service
//! (`tests::push_service`) verifies each push's JWT against the announced
//! key and decrypts it, as a browser would. Relays given one
//! `--vapid-key FILE` announce that key instead.

use std::time::Duration;

use shared::ClientMsg;
use tests::{
    client::room,
    push_service::{hello_with_cluster_key, hello_with_push_key, PushService},
    Client, NatsServer, RelayProcess,
};

/// Long enough for a second push of the same message to have come (a
/// push takes milliseconds on this machine).
const NO_SECOND_PUSH: Duration = Duration::from_secs(3);

async fn relay_on(nats: &str) -> RelayProcess {
    RelayProcess::clustered(nats, &["--push-allow-insecure"])
        .await
        .unwrap()
}

async fn focus(client: &mut Client, visible: bool) {
    client
        .send(&ClientMsg::Focus {
            room: visible.then(|| room("general")),
            active: Some(visible),
        })
        .await
        .unwrap();
    client.settle().await.unwrap();
}

#[tokio::test]
async fn one_relay_pushes_each_message_and_none_while_the_app_is_visible_on_another() {
    let _heavy = tests::heavy().await;
    let nats = NatsServer::start().await.unwrap();
    let (one, two) = (relay_on(&nats.url()).await, relay_on(&nats.url()).await);
    let service = PushService::start().await.unwrap();

    // One key for the cluster, whichever relay a browser subscribed on.
    let (mut alice, key_one) = hello_with_cluster_key(&one.ws_url(), "alice").await;
    let (mut bob, key_two) = hello_with_cluster_key(&two.ws_url(), "bob").await;
    assert_eq!(key_one, key_two, "both relays announce the cluster's key");
    service.trust(&key_one);
    alice.join("general", None).await.unwrap();
    bob.join("general", None).await.unwrap();
    // Bob subscribes on relay two; relay one is the one that will push.
    bob.send(&service.subscription("bob-phone").subscribe_frame())
        .await
        .unwrap();
    bob.settle().await.unwrap();

    // Carol, subscribed on relay one, alone with alice in `side`: her
    // push tells that relay one's sender (one task, messages in order) has
    // decided the messages before it.
    let (mut carol, _) = hello_with_cluster_key(&one.ws_url(), "carol").await;
    carol.join("side", None).await.unwrap();
    carol
        .send(&service.subscription("carol-phone").subscribe_frame())
        .await
        .unwrap();
    carol.settle().await.unwrap();
    alice.join("side", None).await.unwrap();

    // Bob's app is visible on relay two: no push for alice's message on
    // relay one.
    focus(&mut bob, true).await;
    alice
        .say_acked("general", "while you look", "a1")
        .await
        .unwrap();
    alice.say_acked("side", "sync", "s1").await.unwrap();
    service.wait_for(1).await.unwrap();
    // Hidden: the next one is pushed, once.
    focus(&mut bob, false).await;
    let hidden = alice.say_acked("general", "now away", "a2").await.unwrap();
    // Gone: pushed too.
    drop(bob);
    let gone = alice.say_acked("general", "and gone", "a3").await.unwrap();
    service.wait_for(3).await.unwrap();
    tokio::time::sleep(NO_SECOND_PUSH).await;
    let got: Vec<_> = service
        .received()
        .into_iter()
        .filter(|p| p.name == "bob-phone")
        .collect();
    assert_eq!(
        got.len(),
        2,
        "exactly one push per message, none while visible: {got:?}"
    );
    let seqs: Vec<_> = got.iter().map(|p| p.payload["seq"].clone()).collect();
    assert_eq!(seqs, [hidden, gone]);
    for push in &got {
        assert!((200..300).contains(&push.answered), "verified: {push:?}");
        assert_eq!(push.payload["room"], "general");
        assert_eq!(push.payload["from"], "alice");
    }
    assert_eq!(got[0].payload["text"], "now away");
    assert_eq!(got[1].payload["text"], "and gone");
}

#[tokio::test]
async fn relays_given_one_vapid_key_file_announce_that_key() {
    let _heavy = tests::heavy().await;
    let nats = NatsServer::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("vapid.pem");
    let secret = relay::push::vapid::random_secret();
    std::fs::write(&file, relay::push::vapid::pem(&secret)).unwrap();
    let expected = relay::push::Vapid::new(secret, String::new())
        .public_key()
        .to_string();
    let file = file.display().to_string();
    let args = ["--push-allow-insecure", "--vapid-key", file.as_str()];
    let one = RelayProcess::clustered(&nats.url(), &args).await.unwrap();
    let two = RelayProcess::clustered(&nats.url(), &args).await.unwrap();
    for relay in [&one, &two] {
        let (_client, key) = hello_with_push_key(&relay.ws_url(), "ada").await.unwrap();
        assert_eq!(key.as_deref(), Some(expected.as_str()));
    }
}
