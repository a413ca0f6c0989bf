//! The real binary as a child process: graceful shutdown on signals.

use shared::close;
use tests::{Client, RelayProcess};

#[tokio::test]
async fn sigterm_closes_sockets_with_going_away_and_exits() {
    let mut relay = RelayProcess::spawn(&["--store", "memory"]).await.unwrap();
    let mut alice = Client::hello(&relay.ws_url(), "alice").await.unwrap();
    alice.join("general", None).await.unwrap();
    alice
        .say_acked("general", "before shutdown", "b-1")
        .await
        .unwrap();
    let started = std::time::Instant::now();
    relay.signal("TERM").unwrap();
    assert_eq!(alice.expect_close().await.unwrap(), close::GOING_AWAY);
    let status = tokio::time::timeout(tests::WAIT, relay.child.wait())
        .await
        .expect("the relay exits within the wait")
        .unwrap();
    assert!(status.success(), "{status}");
    assert!(started.elapsed() < tests::WAIT);
    // Nothing listens any more.
    assert!(Client::connect(&relay.ws_url()).await.is_err());
}
