//! Limits that protect the relay and the other users.

use relay::Config;
use shared::{close, ErrorCode, ServerMsg};
use tests::{Client, InProcessRelay};
use tokio_tungstenite::tungstenite;

#[tokio::test]
async fn sending_faster_than_the_rate_limit_is_refused_with_the_client_id() {
    let relay = InProcessRelay::default().await; // 5/s, burst 10
    let mut alice = Client::hello(&relay.ws_url(), "alice").await.unwrap();
    alice.join("general", None).await.unwrap();
    for i in 0..15 {
        alice
            .say("general", "spam", &format!("s{i}"))
            .await
            .unwrap();
    }
    let (code, reference) = alice.expect_error().await.unwrap();
    assert_eq!(code, ErrorCode::RateLimited);
    assert!(reference.unwrap().starts_with('s'));
    relay.stop().await.unwrap();
}

async fn handshake_status(url: &str, origin: &str) -> Option<u16> {
    match Client::connect_with_origin(url, Some(origin)).await {
        Ok(_) => None,
        Err(err) => match err.downcast_ref::<tungstenite::Error>() {
            Some(tungstenite::Error::Http(response)) => Some(response.status().as_u16()),
            _ => panic!("unexpected failure: {err}"),
        },
    }
}

#[tokio::test]
async fn browsers_from_foreign_origins_are_refused() {
    let mut config = Config::for_tests();
    config.allowed_origins = vec!["https://app.example.com".into()];
    let relay = InProcessRelay::start(config).await;
    let url = relay.ws_url();
    assert_eq!(
        handshake_status(&url, "https://evil.example").await,
        Some(403)
    );
    assert_eq!(
        handshake_status(&url, "https://app.example.com").await,
        None
    );
    assert_eq!(
        handshake_status(&url, &format!("http://{}", relay.addr)).await,
        None
    );
    // No Origin at all: a terminal client or bot.
    assert!(Client::connect(&url).await.is_ok());
    relay.stop().await.unwrap();
}

#[tokio::test]
async fn connections_per_ip_are_capped() {
    let mut config = Config::for_tests();
    config.max_conns_per_ip = 2;
    let relay = InProcessRelay::start(config).await;
    let url = relay.ws_url();
    let _a = Client::hello(&url, "a").await.unwrap();
    let b = Client::hello(&url, "b").await.unwrap();
    let err = Client::connect(&url)
        .await
        .err()
        .expect("third connection refused");
    assert!(
        matches!(
            err.downcast_ref::<tungstenite::Error>(),
            Some(tungstenite::Error::Http(r)) if r.status() == 429
        ),
        "{err}"
    );
    // A place frees up when a connection closes.
    drop(b);
    let deadline = tokio::time::Instant::now() + tests::WAIT;
    while Client::connect(&url).await.is_err() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the slot was never freed"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    relay.stop().await.unwrap();
}

#[tokio::test]
async fn rooms_per_connection_are_capped() {
    let mut config = Config::for_tests();
    config.max_rooms_per_conn = 2;
    let relay = InProcessRelay::start(config).await;
    let mut alice = Client::hello(&relay.ws_url(), "alice").await.unwrap();
    alice.join("one", None).await.unwrap();
    alice.join("two", None).await.unwrap();
    alice
        .send(&shared::ClientMsg::Join {
            room: tests::client::room("three"),
            since: None,
        })
        .await
        .unwrap();
    assert_eq!(
        alice.expect_error().await.unwrap().0,
        ErrorCode::TooManyRooms
    );
    // Rejoining a room it is in is fine.
    alice.join("two", None).await.unwrap();
    relay.stop().await.unwrap();
}

#[tokio::test]
async fn a_client_that_does_not_read_is_dropped_and_the_room_keeps_going() {
    const MESSAGES: usize = 2000;
    let mut config = Config::for_tests();
    config.rate_limit = 0;
    config.queue_len = 64;
    config.history_limit = 10;
    let relay = InProcessRelay::start(config).await;
    let url = relay.ws_url();

    let mut slow = Client::hello(&url, "slow").await.unwrap();
    slow.join("general", None).await.unwrap();
    let mut bystander = Client::hello(&url, "bystander").await.unwrap();
    bystander.join("general", None).await.unwrap();
    let mut sender = Client::hello(&url, "sender").await.unwrap();
    sender.join("general", None).await.unwrap();

    let reader = tokio::spawn(async move {
        let mut seen = 0;
        while seen < MESSAGES {
            if let ServerMsg::Message(_) = bystander.recv().await.unwrap() {
                seen += 1;
            }
        }
        seen
    });
    // Large messages fill the slow client's socket buffers quickly.
    let text = "x".repeat(3900);
    for i in 0..MESSAGES {
        sender
            .say_acked("general", &text, &format!("m{i}"))
            .await
            .unwrap();
    }
    assert_eq!(reader.await.unwrap(), MESSAGES);
    assert_eq!(slow.expect_close().await.unwrap(), close::SLOW_CONSUMER);
    let (_, metrics) = tests::relay::http_get(relay.addr, "/metrics")
        .await
        .unwrap();
    assert!(
        metrics.contains("palaver_slow_consumers_total 1"),
        "{metrics}"
    );
    relay.stop().await.unwrap();
}
