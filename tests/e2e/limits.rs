//! Limits that protect the relay and the other users.

use relay::Config;
use shared::{close, ErrorCode, ServerMsg};
use tests::{Client, InProcessRelay};
use tokio_tungstenite::tungstenite;

#[tokio::test]
async fn sending_faster_than_the_rate_limit_is_refused_with_the_client_id() {
    let relay = InProcessRelay::default().await; // 5/s, burst 10
    let config = Config::for_tests();
    let (rate, burst) = (config.rate_limit as usize, config.rate_burst as usize);
    let mut alice = Client::hello(&relay.ws_url(), "alice").await.unwrap();
    alice.join("general", None).await.unwrap();
    const SENDS: usize = 40;
    let started = std::time::Instant::now();
    for i in 0..SENDS {
        alice
            .say("general", "spam", &format!("s{i}"))
            .await
            .unwrap();
    }
    // Every send is answered: an ack, or `rate_limited` naming that send.
    let mut acked = Vec::new();
    let mut refused = Vec::new();
    while acked.len() + refused.len() < SENDS {
        match alice.recv().await.unwrap() {
            ServerMsg::Ack { client_id, .. } => acked.push(client_id.to_string()),
            ServerMsg::Error {
                code,
                reference,
                retry_after_ms,
                ..
            } => {
                assert_eq!(code, ErrorCode::RateLimited);
                // The wait until the next send fits: at most one interval.
                let wait = retry_after_ms.expect("a rate refusal says how long to wait");
                assert!(
                    (1..=1_000 / rate as u64).contains(&wait),
                    "retry_after_ms {wait} at {rate}/s"
                );
                refused.push(reference.expect("the refusal names the send"));
            }
            _ => {}
        }
    }
    // The burst passes, plus what refilled meanwhile; never more. The
    // bound grows with the time taken, so a slow machine cannot fail it.
    let refilled = (started.elapsed().as_secs_f64() * rate as f64).ceil() as usize;
    assert!(
        (burst..=burst + refilled).contains(&acked.len()),
        "{} of {SENDS} acked, burst {burst}, {refilled} refilled",
        acked.len()
    );
    // The first sends are the ones let through.
    let first: Vec<String> = (0..burst).map(|i| format!("s{i}")).collect();
    assert_eq!(acked[..burst], first[..]);
    let mut answered: Vec<String> = acked.iter().chain(&refused).cloned().collect();
    answered.sort();
    let mut sent: Vec<String> = (0..SENDS).map(|i| format!("s{i}")).collect();
    sent.sort();
    assert_eq!(answered, sent, "each send is answered once");
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
    config.room_rate_limit = 0;
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
    let (_, metrics) = tests::relay::http_get(relay.metrics_addr, "/metrics")
        .await
        .unwrap();
    assert!(
        metrics.contains("palaver_slow_consumers_total 1"),
        "{metrics}"
    );
    relay.stop().await.unwrap();
}

fn refused_with(err: &anyhow::Error, status: u16) -> bool {
    matches!(
        err.downcast_ref::<tungstenite::Error>(),
        Some(tungstenite::Error::Http(r)) if r.status() == status
    )
}

#[tokio::test]
async fn handshakes_per_ip_per_second_are_capped() {
    let mut config = Config::for_tests();
    config.max_handshakes_per_ip_per_sec = 2; // a burst of 4
    let relay = InProcessRelay::start(config).await;
    let url = relay.ws_url();
    let mut open = Vec::new();
    let mut refused = 0;
    let started = std::time::Instant::now();
    for _ in 0..8 {
        match Client::connect(&url).await {
            Ok(client) => open.push(client),
            Err(err) => {
                assert!(refused_with(&err, 429), "{err}");
                refused += 1;
            }
        }
    }
    // The burst, plus what refilled meanwhile (2 per second).
    let refilled = (started.elapsed().as_secs_f64() * 2.0).ceil() as usize;
    assert!(
        (4..=4 + refilled).contains(&open.len()),
        "{} accepted",
        open.len()
    );
    assert!(refused > 0 || refilled >= 4);
    assert_eq!(
        relay
            .metric("palaver_handshakes_rejected_total")
            .await
            .unwrap(),
        refused
    );
    // The bucket refills: a second later there is room again.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    assert!(Client::connect(&url).await.is_ok());
    relay.stop().await.unwrap();
}

#[tokio::test]
async fn forwarded_for_counts_only_from_a_trusted_proxy() {
    let mut config = Config::for_tests();
    config.max_conns_per_ip = 1;
    config.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    let relay = InProcessRelay::start(config).await;
    let url = relay.ws_url();
    let from = |ip: &'static str| [("x-forwarded-for", ip)];
    let _a = Client::connect_with_headers(&url, &from("198.51.100.1"))
        .await
        .unwrap();
    let err = Client::connect_with_headers(&url, &from("198.51.100.1"))
        .await
        .err()
        .expect("the same client IP is capped");
    assert!(refused_with(&err, 429), "{err}");
    let _b = Client::connect_with_headers(&url, &from("198.51.100.2"))
        .await
        .unwrap();
    relay.stop().await.unwrap();

    // Without --trusted-proxy the header is the client's word: ignored.
    let mut config = Config::for_tests();
    config.max_conns_per_ip = 1;
    let relay = InProcessRelay::start(config).await;
    let url = relay.ws_url();
    let _a = Client::connect_with_headers(&url, &from("198.51.100.1"))
        .await
        .unwrap();
    let err = Client::connect_with_headers(&url, &from("198.51.100.2"))
        .await
        .err()
        .expect("a forged header does not buy another slot");
    assert!(refused_with(&err, 429), "{err}");
    relay.stop().await.unwrap();
}

#[tokio::test]
async fn a_room_takes_at_most_its_message_rate_from_all_members() {
    let mut config = Config::for_tests();
    config.rate_limit = 0;
    config.room_rate_limit = 2; // a burst of 4
    let relay = InProcessRelay::start(config).await;
    let url = relay.ws_url();
    let mut alice = Client::hello(&url, "alice").await.unwrap();
    let mut bob = Client::hello(&url, "bob").await.unwrap();
    alice.join("busy", None).await.unwrap();
    bob.join("busy", None).await.unwrap();
    alice.join("quiet", None).await.unwrap();
    const ROUNDS: usize = 10;
    let started = std::time::Instant::now();
    let mut outcomes = Vec::new();
    for i in 0..ROUNDS {
        for client in [&mut alice, &mut bob] {
            let id = format!("m{i}");
            client.say("busy", "hi", &id).await.unwrap();
            let reply = client
                .recv_until(|m| matches!(m, ServerMsg::Ack { .. } | ServerMsg::Error { .. }))
                .await
                .unwrap();
            outcomes.push(reply);
        }
    }
    let refused: Vec<_> = outcomes
        .iter()
        .filter_map(|m| match m {
            ServerMsg::Error {
                code, reference, ..
            } => Some((*code, reference.clone())),
            _ => None,
        })
        .collect();
    // 20 sends from two members against a burst of 4: the burst passes,
    // plus one per half second that went by (a bound that grows with the
    // time taken, so a loaded machine cannot fail it).
    let accepted = outcomes.len() - refused.len();
    let refilled = (started.elapsed().as_secs_f64() * 2.0).ceil() as usize;
    assert!(
        (4..=4 + refilled).contains(&accepted),
        "{accepted} accepted, {refilled} refilled: {outcomes:?}"
    );
    assert!(refused
        .iter()
        .all(|(code, reference)| *code == ErrorCode::RateLimited && reference.is_some()));
    // Another room has its own budget.
    alice.say_acked("quiet", "fine", "q-1").await.unwrap();
    assert_eq!(
        relay
            .metric("palaver_room_rate_limited_total")
            .await
            .unwrap(),
        refused.len() as u64
    );
    relay.stop().await.unwrap();
}

#[tokio::test]
async fn a_connection_that_never_finishes_its_headers_is_closed() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut config = Config::for_tests();
    config.header_timeout_secs = 1;
    let relay = InProcessRelay::start(config).await;
    // From before the connection exists: the relay's clock starts at
    // accept, so this measures at least as long as the relay waited.
    let started = std::time::Instant::now();
    let mut tcp = tokio::net::TcpStream::connect(relay.addr).await.unwrap();
    tcp.write_all(b"GET /ws HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let mut rest = Vec::new();
    tokio::time::timeout(tests::WAIT, tcp.read_to_end(&mut rest))
        .await
        .expect("the relay closes the connection")
        .ok();
    assert!(
        started.elapsed() >= std::time::Duration::from_secs(1),
        "closed after {:?}",
        started.elapsed()
    );
    assert_eq!(
        relay.metric("palaver_header_timeouts_total").await.unwrap(),
        1
    );
    relay.stop().await.unwrap();
}

#[tokio::test]
async fn a_client_that_ignores_rate_limited_is_closed_as_a_flood() {
    let relay = InProcessRelay::default().await;
    let mut flooder = Client::hello(&relay.ws_url(), "flooder").await.unwrap();
    for _ in 0..2000 {
        if flooder.send(&shared::ClientMsg::Ping).await.is_err() {
            break;
        }
    }
    // The close frame may be lost to the reset of a socket closed with
    // unread frames; the metric says what happened.
    let ending = flooder.expect_end_within(2 * tests::WAIT).await;
    if let Some(code) = ending.expect("the flooder is disconnected") {
        assert_eq!(code, close::FLOODING);
    }
    assert_eq!(relay.metric("palaver_flooders_total").await.unwrap(), 1);
    relay.stop().await.unwrap();
}
