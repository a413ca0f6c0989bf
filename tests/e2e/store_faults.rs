//! The SQLite store when things fail underneath it, through its public
//! API: a commit that fails (injected with a trigger in the real database
//! file) and a store whose delivery thread dies.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use futures_util::future::join_all;
use relay::store::{sqlite::db_path, Appended, Deliver, SqliteOptions, SqliteStore, Store};
use shared::ChatMessage;
use tests::{client::room, conformance::message, WAIT};

/// A store over `dir` and the seqs it delivered, in order.
fn open(dir: &std::path::Path) -> (SqliteStore, Arc<Mutex<Vec<u64>>>) {
    let delivered = Arc::new(Mutex::new(Vec::new()));
    let sink = delivered.clone();
    let deliver: Deliver = Arc::new(move |m: &Arc<ChatMessage>| {
        sink.lock().unwrap().push(m.seq);
    });
    let store = SqliteStore::open(SqliteOptions::new(dir), deliver).unwrap();
    (store, delivered)
}

async fn stored(store: &SqliteStore, name: &str) -> Vec<u64> {
    let page = store.after(&room(name), None, 100).await.unwrap();
    page.messages.iter().map(|m| m.seq).collect()
}

#[tokio::test]
async fn a_failed_commit_refuses_the_batch_delivers_nothing_and_leaves_no_gap() {
    let dir = tempfile::tempdir().unwrap();
    let (store, delivered) = open(dir.path());
    for id in ["m1", "m2"] {
        store.append(message("general", "alice", id)).await.unwrap();
    }

    // From now on every commit that stores a message fails at its last
    // statement (the rooms' counters), after the batch's inserts.
    let db = rusqlite::Connection::open(db_path(dir.path())).unwrap();
    db.execute_batch(
        "CREATE TRIGGER fail_commit BEFORE UPDATE ON rooms
         BEGIN SELECT RAISE(ABORT, 'injected failure'); END;",
    )
    .unwrap();
    let sends = ["f1", "f2", "f3"].map(|id| store.append(message("general", "alice", id)));
    for result in join_all(sends).await {
        let err = result.expect_err("a failed commit is not acked");
        assert!(err.to_string().contains("could not be stored"), "{err}");
    }
    // Nothing was delivered or kept, nor cached for readers.
    assert_eq!(*delivered.lock().unwrap(), [1, 2]);
    assert_eq!(stored(&store, "general").await, [1, 2]);
    assert!(store.ready(), "a failed commit does not stop the store");

    // The disk recovers; the clients resend. Numbering goes on from what
    // was committed: the refused batch left no gap.
    db.execute_batch("DROP TRIGGER fail_commit").unwrap();
    for (id, seq) in [("f1", 3), ("f2", 4), ("f3", 5)] {
        let appended = store.append(message("general", "alice", id)).await.unwrap();
        assert_eq!(appended, Appended::New(seq), "{id}");
    }
    assert_eq!(*delivered.lock().unwrap(), [1, 2, 3, 4, 5]);
    assert_eq!(stored(&store, "general").await, [1, 2, 3, 4, 5]);
    // Also as a fresh reader (no cache) sees it.
    drop(store);
    let (store, _) = open(dir.path());
    assert_eq!(stored(&store, "general").await, [1, 2, 3, 4, 5]);
}

#[tokio::test]
async fn a_store_whose_delivery_died_is_not_ready_and_refuses_sends() {
    let dir = tempfile::tempdir().unwrap();
    // A delivery that panics on one message, as a bug in fan-out would.
    let deliver: Deliver = Arc::new(|m: &Arc<ChatMessage>| {
        assert_ne!(m.text.as_str(), "fatal", "the fan-out failed (on purpose)");
    });
    let store = SqliteStore::open(SqliteOptions::new(dir.path()), deliver).unwrap();
    store
        .append(message("general", "alice", "fine"))
        .await
        .unwrap();
    assert!(store.ready());
    // The panicking delivery loses its reply: refused, not acked.
    assert!(store
        .append(message("general", "alice", "fatal"))
        .await
        .is_err());
    // The writer notices at its next commit and stops; /readyz (which asks
    // `ready`) then answers 503, and every send is refused.
    let deadline = tokio::time::Instant::now() + WAIT;
    let mut n = 0;
    while store.ready() {
        assert!(tokio::time::Instant::now() < deadline, "still ready");
        n += 1;
        let _ = store
            .append(message("general", "alice", &format!("after-{n}")))
            .await;
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(store
        .append(message("general", "alice", "refused"))
        .await
        .is_err());
}
