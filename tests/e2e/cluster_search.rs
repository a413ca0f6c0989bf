//! Search in cluster mode (issue 17): relay A has no index, relay B is an
//! indexer (`--search-index DIR`) on the same nats-server. A's users find
//! their messages through B, Chinese inside longer text, edits by their
//! new text only, deletes never, in their own rooms only. With B killed,
//! A refuses searches as `unavailable`; B restarted on the same DIR answers
//! again, messages sent meanwhile included, having read only those.
//!
//! The index follows the stream a moment behind it, so each search that
//! expects new results is retried (bounded by [`WAIT`]) until it sees them.

use std::time::Duration;

use futures_util::StreamExt;

use shared::{protocol::SearchHit, ClientId, ClientMsg, ErrorCode, ServerMsg, Text};
use tests::{
    client::room, events::acked, relay::run_relay, Client, NatsServer, RelayProcess, WAIT,
};

/// Sends `search` and returns its hits' texts, or the refusal's code and
/// message.
async fn search(client: &mut Client, q: &str) -> Result<Vec<String>, (ErrorCode, String)> {
    match client.search(q, None, None, None).await.unwrap() {
        ServerMsg::SearchResults { hits, .. } => Ok(texts(&hits)),
        ServerMsg::Error { code, message, .. } => Err((code, message)),
        other => unreachable!("{other:?}"),
    }
}

fn texts(hits: &[SearchHit]) -> Vec<String> {
    hits.iter().map(|h| h.text.to_string()).collect()
}

/// Searches until the hits are `want` (the index may lag the stream a
/// little), within [`WAIT`].
async fn search_until(client: &mut Client, q: &str, want: &[&str]) {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let got = search(client, q).await;
        if got.as_ref().is_ok_and(|texts| texts == want) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "search {q:?}: want {want:?}, got {got:?} after {WAIT:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The indexers' durable consumers of the message stream, by name, with
/// the stream sequence each acked through, once none has records
/// delivered and unacked (within [`WAIT`]).
async fn indexer_consumers(nats: &str) -> Vec<(String, u64)> {
    let js = async_nats::jetstream::new(async_nats::connect(nats).await.unwrap());
    let stream = js.get_stream(relay::backplane::STREAM).await.unwrap();
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let infos: Vec<_> = stream
            .consumers()
            .filter_map(|info| async move { info.ok() })
            .filter(|info| std::future::ready(info.name.starts_with("palaver-search-")))
            .collect()
            .await;
        if infos.iter().all(|info| info.num_ack_pending == 0) {
            return infos
                .into_iter()
                .map(|info| (info.name, info.ack_floor.stream_sequence))
                .collect();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the indexer left records unacked"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn indexer(nats: &str, dir: &str) -> RelayProcess {
    RelayProcess::clustered(nats, &["--search-index", dir])
        .await
        .unwrap()
}

#[tokio::test]
async fn a_relay_searches_through_an_indexer_which_resumes_after_a_kill() {
    let _heavy = tests::heavy().await;
    let nats = NatsServer::start().await.unwrap();
    let index = tempfile::tempdir().unwrap();
    let dir = index.path().to_str().unwrap();
    let a = RelayProcess::clustered(&nats.url(), &[]).await.unwrap();
    let b = indexer(&nats.url(), dir).await;

    let mut alice = Client::hello(&a.ws_url(), "alice").await.unwrap();
    let mut bob = Client::hello(&a.ws_url(), "bob").await.unwrap();
    for name in ["general", "ops"] {
        alice.join(name, None).await.unwrap();
    }
    bob.join("general", None).await.unwrap();
    alice
        .say_acked("general", "我们的分布式聊天系统上线了", "a-1")
        .await
        .unwrap();
    alice
        .say_acked("ops", "聊天 relay deployed in ops", "a-2")
        .await
        .unwrap();
    let typo = alice
        .say_acked("general", "the relay is donw", "a-3")
        .await
        .unwrap();
    let gone = alice
        .say_acked("general", "secret relay password", "a-4")
        .await
        .unwrap();
    let edit = ClientMsg::Edit {
        room: room("general"),
        seq: typo,
        text: Text::new("the relay is down").unwrap(),
        client_id: ClientId::new("a-5").unwrap(),
    };
    acked(&mut alice, edit, "a-5").await.unwrap();
    let delete = ClientMsg::Delete {
        room: room("general"),
        seq: gone,
        client_id: ClientId::new("a-6").unwrap(),
    };
    acked(&mut alice, delete, "a-6").await.unwrap();

    // Through B: the last record (the delete) applied first, then the rest.
    search_until(&mut alice, "secret", &[]).await;
    search_until(
        &mut alice,
        "聊天",
        &["聊天 relay deployed in ops", "我们的分布式聊天系统上线了"],
    )
    .await;
    assert_eq!(
        search(&mut alice, "down").await.unwrap(),
        ["the relay is down"]
    );
    assert!(search(&mut alice, "donw").await.unwrap().is_empty());
    assert!(search(&mut alice, "password").await.unwrap().is_empty());
    assert!(search(&mut alice, "deleted").await.unwrap().is_empty());
    // Bob is not in ops: the asking relay sends his rooms only.
    assert_eq!(
        search(&mut bob, "聊天").await.unwrap(),
        ["我们的分布式聊天系统上线了"]
    );
    assert_eq!(
        search(&mut bob, "relay").await.unwrap(),
        ["the relay is down"]
    );
    assert!(b.metric("palaver_search_answered_total").await.unwrap() >= 1);
    assert_eq!(b.metric("palaver_search_indexed_total").await.unwrap(), 6);
    // One durable consumer, which acked what the index committed: the
    // delete, the stream's last record.
    let consumers = indexer_consumers(&nats.url()).await;
    let [(consumer, acked)] = consumers.as_slice() else {
        panic!("one indexer consumer, not {consumers:?}")
    };
    assert_eq!(*acked, typo.max(gone) + 2, "acked through the delete");

    // No indexer: a clear refusal, at once.
    b.signal("KILL").unwrap();
    let mut b = b;
    tokio::time::timeout(WAIT, b.child.wait())
        .await
        .unwrap()
        .unwrap();
    let (code, message) = search(&mut alice, "聊天").await.unwrap_err();
    assert_eq!(code, ErrorCode::Unavailable, "{message}");
    assert!(message.contains("--search-index"), "{message}");

    // Sent while no indexer runs.
    alice
        .say_acked("general", "聊天 while the indexer was down", "a-7")
        .await
        .unwrap();
    alice
        .say_acked("ops", "one more while down", "a-8")
        .await
        .unwrap();

    // Restarted on the same DIR: it resumes from its consumer.
    let b = indexer(&nats.url(), dir).await;
    search_until(
        &mut alice,
        "down",
        &[
            "one more while down",
            "聊天 while the indexer was down",
            "the relay is down",
        ],
    )
    .await;
    assert_eq!(
        search(&mut alice, "聊天").await.unwrap(),
        [
            "聊天 while the indexer was down",
            "聊天 relay deployed in ops",
            "我们的分布式聊天系统上线了"
        ]
    );
    assert!(search(&mut alice, "secret").await.unwrap().is_empty());
    assert_eq!(
        b.metric("palaver_search_indexed_total").await.unwrap(),
        2,
        "the restarted indexer read only what was sent while it was down"
    );
    let consumers = indexer_consumers(&nats.url()).await;
    assert_eq!(consumers.len(), 1, "{consumers:?}");
    assert_eq!(&consumers[0].0, consumer, "the same durable consumer");
    b.stop().await.unwrap();
    a.stop().await.unwrap();
}

#[tokio::test]
async fn a_search_index_needs_cluster_mode() {
    let index = tempfile::tempdir().unwrap();
    let out = run_relay(&[
        "--store",
        "memory",
        "--search-index",
        index.path().to_str().unwrap(),
    ])
    .await;
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("needs cluster mode (--nats URL)"),
        "{stderr}"
    );
}

/// Sends `ping N` to `general` for each N, each acked.
async fn say_pings(client: &mut Client, ns: std::ops::RangeInclusive<u32>) {
    for n in ns {
        client
            .say_acked("general", &format!("ping {n}"), &format!("a-{n}"))
            .await
            .unwrap();
    }
}

/// The stream keeps `--history-limit` records a room; what it pushed out
/// history no longer shows, and the indexer drops it too at its next pass
/// (`--search-prune-secs`), so search does not find it either.
#[tokio::test]
async fn messages_pushed_out_of_a_room_by_the_history_limit_are_not_found() {
    let _heavy = tests::heavy().await;
    let nats = NatsServer::start().await.unwrap();
    let index = tempfile::tempdir().unwrap();
    let dir = index.path().to_str().unwrap();
    let relay = RelayProcess::clustered(
        &nats.url(),
        &[
            "--search-index",
            dir,
            "--history-limit",
            "3",
            "--search-prune-secs",
            "1",
        ],
    )
    .await
    .unwrap();
    let mut alice = Client::hello(&relay.ws_url(), "alice").await.unwrap();
    alice.join("general", None).await.unwrap();
    alice.join("ops", None).await.unwrap();
    alice.say_acked("ops", "ping ops", "o-1").await.unwrap();
    say_pings(&mut alice, 1..=3).await;
    // Indexed while the stream still holds them.
    search_until(
        &mut alice,
        "ping",
        &["ping 3", "ping 2", "ping 1", "ping ops"],
    )
    .await;
    say_pings(&mut alice, 4..=5).await;
    // 1 and 2 left general; ops keeps its one message.
    search_until(
        &mut alice,
        "ping",
        &["ping 5", "ping 4", "ping 3", "ping ops"],
    )
    .await;
}
