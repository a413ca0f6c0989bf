//! Joining a room while messages flow into it: the joiner gets `joined`
//! first, then every later message exactly once, with no gap between its
//! history and the live feed (the hub holds a joiner's frames in a pending
//! buffer until its history is read).
//!
//! The relay runs in cluster mode on a real nats-server: its history read
//! is a JetStream round trip while the stream consumer keeps delivering,
//! so messages do arrive between a join and its `joined`, every run. (With
//! the memory store the read finishes before anything else runs, and the
//! pending buffer would never be used.)

use relay::Config;
use shared::{ClientMsg, ServerMsg};
use tests::{
    client::{history_seqs, room},
    Client, InProcessRelay, NatsServer,
};
use tokio::sync::watch;

/// Messages the sender sends.
const MESSAGES: u64 = 300;
/// Joiners, each starting at a different point of the flow.
const JOINERS: u64 = 12;

/// Joins once `progress` reaches `start`, and returns every seq it was
/// given, history then live, in the order it got them.
async fn joiner(url: String, n: u64, start: u64, mut progress: watch::Receiver<u64>) -> Vec<u64> {
    progress.wait_for(|acked| *acked >= start).await.unwrap();
    let mut client = Client::hello(&url, &format!("joiner{n}")).await.unwrap();
    client
        .send(&ClientMsg::Join {
            room: room("flow"),
            since: None,
        })
        .await
        .unwrap();
    // The very next frame is `joined`: nothing about the room before it.
    let joined = client.recv().await.unwrap();
    assert!(
        matches!(joined, ServerMsg::Joined { .. }),
        "joiner{n}: {joined:?} before joined"
    );
    let mut seqs = history_seqs(&joined);
    while seqs.last() != Some(&MESSAGES) {
        if let ServerMsg::Message(m) = client.recv().await.unwrap() {
            seqs.push(m.seq);
        }
    }
    seqs
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn joining_while_messages_flow_misses_nothing_and_repeats_nothing() {
    let nats = NatsServer::start().await.unwrap();
    let mut config = Config::for_tests();
    config.nats = vec![nats.url()];
    config.rate_limit = 0;
    config.room_rate_limit = 0;
    config.join_history = MESSAGES as usize;
    let relay = InProcessRelay::start(config).await;
    relay.wait_ready().await.unwrap();
    let url = relay.ws_url();
    let mut sender = Client::hello(&url, "sender").await.unwrap();
    sender.join("flow", None).await.unwrap();

    let (progress, watcher) = watch::channel(0);
    let joiners: Vec<_> = (0..JOINERS)
        .map(|n| {
            let start = n * MESSAGES / JOINERS / 2;
            tokio::spawn(joiner(url.clone(), n, start, watcher.clone()))
        })
        .collect();
    for i in 1..=MESSAGES {
        let seq = sender
            .say_acked("flow", "x", &format!("m{i}"))
            .await
            .unwrap();
        assert_eq!(seq, i);
        progress.send_replace(i);
    }
    for (n, joiner) in joiners.into_iter().enumerate() {
        let seqs = tokio::time::timeout(tests::WAIT, joiner)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            seqs,
            (1..=MESSAGES).collect::<Vec<_>>(),
            "joiner{n}: a gap or a repeat"
        );
    }
    relay.stop().await.unwrap();
}
