//! The stream goes back under running relays: deleted and created again by
//! an operator (sequences restart at 1, below every room's mark), or
//! deleted only. The relays notice (a new epoch, a mark past the stream's
//! end), members keep receiving what is sent, and a deleted stream is made
//! again by the relays.

use relay::{backplane::STREAM, Config};
use shared::ServerMsg;
use tests::{Client, InProcessRelay, NatsServer, WAIT};

async fn relay_on(nats: &NatsServer) -> InProcessRelay {
    let mut config = Config::for_tests();
    config.nats = vec![nats.url()];
    config.rate_limit = 0;
    let relay = InProcessRelay::start(config).await;
    relay.wait_ready().await.unwrap();
    relay
}

/// Waits for the chat message with `text`; returns its seq.
async fn receives(client: &mut Client, text: &str) -> u64 {
    match client
        .recv_until(|m| matches!(m, ServerMsg::Message(chat) if chat.text.as_str() == text))
        .await
    {
        Ok(ServerMsg::Message(chat)) => chat.seq,
        other => panic!("{text:?} never arrived: {other:?}"),
    }
}

/// Sends until the relay acks (a send while the stream is missing is
/// refused as `unavailable`; the resend keeps its `client_id`).
async fn sent(client: &mut Client, text: &str, client_id: &str) -> u64 {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        match client.say_acked("phoenix", text, client_id).await {
            Ok(seq) => return seq,
            Err(err) => {
                assert!(tokio::time::Instant::now() < deadline, "never acked: {err}");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        }
    }
}

#[tokio::test]
async fn a_stream_recreated_or_deleted_under_running_relays_is_followed_again() {
    let _heavy = tests::heavy().await;
    let nats = NatsServer::start().await.unwrap();
    let (a, b) = (relay_on(&nats).await, relay_on(&nats).await);
    let mut alice = Client::hello(&a.ws_url(), "alice").await.unwrap();
    let mut bob = Client::hello(&b.ws_url(), "bob").await.unwrap();
    alice.join("phoenix", None).await.unwrap();
    bob.join("phoenix", None).await.unwrap();
    let mut last = 0;
    for i in 0..3 {
        let text = format!("before {i}");
        last = sent(&mut alice, &text, &format!("b{i}")).await;
        assert_eq!(receives(&mut bob, &text).await, last);
    }

    // An operator deletes the stream and creates it again as it was.
    let js = async_nats::jetstream::new(async_nats::connect(nats.url()).await.unwrap());
    let config = js
        .get_stream(STREAM)
        .await
        .unwrap()
        .cached_info()
        .config
        .clone();
    js.delete_stream(STREAM).await.unwrap();
    js.create_stream(config).await.unwrap();
    // Numbered from 1 again, below both relays' marks, and still delivered
    // on both.
    let seq = sent(&mut alice, "reborn", "r1").await;
    assert!(seq < last, "{seq} is not below {last}");
    assert_eq!(receives(&mut bob, "reborn").await, seq);
    let resets = b.metric("palaver_stream_resets_total").await.unwrap();
    assert!(resets >= 1, "{resets} resets");

    // Deleted only: the relays make it again, and a send goes through.
    js.delete_stream(STREAM).await.unwrap();
    let seq = sent(&mut alice, "again", "g1").await;
    assert_eq!(receives(&mut bob, "again").await, seq);
    let stored = js
        .get_stream(STREAM)
        .await
        .unwrap()
        .cached_info()
        .state
        .messages;
    assert_eq!(stored, 1);

    a.stop().await.unwrap();
    b.stop().await.unwrap();
}
