//! The relay's clocks on a connection: the first-frame and idle timeouts
//! (close 4002) and its pings, with short flags instead of the defaults
//! (10 s, 60 s, 20 s). Every bound here is a lower bound on the relay's
//! patience or a generous upper bound on its action, so a slow machine
//! cannot fail them.

use std::time::{Duration, Instant};

use relay::Config;
use shared::close;
use tests::{relay::metric, Client, InProcessRelay, WAIT};
use tokio_tungstenite::tungstenite::Message;

const IDLE_SECS: u64 = 2;
const PING_SECS: u64 = 1;

/// A relay with a short idle timeout, pinging every `ping_secs`.
async fn relay(ping_secs: u64) -> InProcessRelay {
    let mut config = Config::for_tests();
    config.idle_timeout_secs = IDLE_SECS;
    config.ping_interval_secs = ping_secs;
    InProcessRelay::start(config).await
}

/// Waits until the relay has no connection open (it closed ours).
async fn no_connections(relay: &InProcessRelay) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while metric(relay.addr, "palaver_connections").await.unwrap() != 0 {
        assert!(tokio::time::Instant::now() < deadline, "never closed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[test]
fn the_defaults_are_the_documented_ones() {
    let config = Config::for_tests();
    assert_eq!(config.ping_interval_secs, 20);
    assert_eq!(config.idle_timeout_secs, 60);
}

// In the two tests below the relay pings rarely, so that no ping (and no
// pong a reading client would answer, which counts as life) comes before
// the timeout.

#[tokio::test]
async fn a_connection_that_never_sends_a_frame_is_closed_with_4002() {
    let relay = relay(60).await;
    // From before the connection exists, so at least the relay's wait.
    let started = Instant::now();
    let mut silent = Client::connect(&relay.ws_url()).await.unwrap();
    assert_eq!(
        silent.expect_close_within(WAIT).await.unwrap(),
        close::IDLE_TIMEOUT
    );
    assert!(
        started.elapsed() >= Duration::from_secs(IDLE_SECS),
        "closed after {:?}",
        started.elapsed()
    );
    relay.stop().await.unwrap();
}

#[tokio::test]
async fn a_member_that_goes_silent_is_closed_with_4002() {
    let relay = relay(60).await;
    // The relay's clock restarts after it handled `hello`, so after this.
    let started = Instant::now();
    let mut alice = Client::hello(&relay.ws_url(), "alice").await.unwrap();
    no_connections(&relay).await;
    assert!(
        started.elapsed() >= Duration::from_secs(IDLE_SECS),
        "closed after {:?}",
        started.elapsed()
    );
    assert_eq!(
        alice.expect_close_within(WAIT).await.unwrap(),
        close::IDLE_TIMEOUT
    );
    relay.stop().await.unwrap();
}

#[tokio::test]
async fn pings_keep_a_reading_client_alive() {
    let relay = relay(PING_SECS).await;
    let mut alice = Client::hello(&relay.ws_url(), "alice").await.unwrap();
    // A client that reads answers each ping with a pong (as browsers do),
    // which counts as life: it outlives several idle timeouts without
    // sending a frame of its own.
    let since_hello = Instant::now();
    let mut pings = 0;
    while pings < 3 * IDLE_SECS / PING_SECS {
        match alice.recv_raw_within(WAIT).await.unwrap() {
            Message::Ping(_) => pings += 1,
            Message::Close(frame) => panic!("closed while answering pings: {frame:?}"),
            _ => {}
        }
    }
    assert!(since_hello.elapsed() > Duration::from_secs(2 * IDLE_SECS));
    assert_eq!(metric(relay.addr, "palaver_connections").await.unwrap(), 1);
    relay.stop().await.unwrap();
}
