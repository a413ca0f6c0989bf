//! The frame ceiling charges every kind of frame, and a client that keeps
//! over it is closed (4004) whatever kind of frame it floods with.

use std::time::Duration;

use relay::Config;
use shared::close;
use tests::{Client, InProcessRelay};
use tokio_tungstenite::tungstenite::{Bytes, Message};

/// Sends `count` copies of `frame`, then waits until the relay has counted
/// a flooder (the close frame itself may be lost to a reset: the socket is
/// closed with unread frames).
async fn flood_is_closed(frame: Message, count: usize) {
    let relay = InProcessRelay::start(Config::for_tests()).await;
    let mut flooder = Client::hello(&relay.ws_url(), "flooder").await.unwrap();
    for _ in 0..count {
        if flooder.send_raw(frame.clone()).await.is_err() {
            break;
        }
    }
    if let Ok(code) = flooder.expect_close().await {
        assert_eq!(code, close::FLOODING);
    }
    let deadline = tokio::time::Instant::now() + tests::WAIT;
    while relay.metric("palaver_flooders_total").await.unwrap() == 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{count} frames were never closed as a flood"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    relay.stop().await.unwrap();
}

#[tokio::test]
async fn binary_frames_are_charged() {
    flood_is_closed(Message::Binary(Bytes::from_static(b"\x00\x01")), 1000).await;
}

#[tokio::test]
async fn oversized_frames_are_charged() {
    flood_is_closed(Message::Text("x".repeat(33 * 1024).into()), 400).await;
}

#[tokio::test]
async fn websocket_pings_are_charged() {
    flood_is_closed(Message::Ping(Bytes::from_static(b"p")), 1000).await;
}
