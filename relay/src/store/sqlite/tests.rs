use std::sync::Mutex as StdMutex;

use shared::{ChatMessage, ClientId, Nick, RoomName, Text, User, UserId};

use rusqlite::params;

use super::{writer::DEDUP_LOOKUP, *};

fn new_message(room: &str, user: &str, client_id: &str) -> NewMessage {
    NewMessage {
        mentions: Default::default(),
        reply_to: None,
        room: RoomName::new(room).unwrap(),
        from: User {
            id: UserId(user.into()),
            nick: Nick::new("alice").unwrap(),
        },
        text: Text::new(&format!("text of {client_id}")).unwrap(),
        client_id: ClientId::new(client_id).unwrap(),
        ts: crate::clock::now_ms(),
    }
}

type Delivered = Arc<StdMutex<Vec<(String, u64)>>>;

fn open(options: SqliteOptions) -> (SqliteStore, Delivered) {
    let delivered: Delivered = Arc::default();
    let sink = delivered.clone();
    let deliver: Deliver = Arc::new(move |m: &Arc<ChatMessage>| {
        sink.lock().unwrap().push((m.room.to_string(), m.seq))
    });
    (SqliteStore::open(options, deliver).unwrap(), delivered)
}

/// Appends `n` messages from `u1` to `room`, with client ids `c0`, `c1`, ...
async fn append_n(store: &SqliteStore, room: &str, n: usize) {
    for i in 0..n {
        store
            .append(new_message(room, "u1", &format!("c{i}")))
            .await
            .unwrap();
    }
}

fn seqs(messages: &[ChatMessage]) -> Vec<u64> {
    messages.iter().map(|m| m.seq).collect()
}

fn room(name: &str) -> RoomName {
    RoomName::new(name).unwrap()
}

#[tokio::test]
async fn seqs_dedup_and_history_survive_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let options = SqliteOptions::new(dir.path());
    {
        let (store, delivered) = open(options.clone());
        assert_eq!(
            store.append(new_message("a", "u1", "c1")).await.unwrap(),
            Appended::New(1)
        );
        assert_eq!(
            store.append(new_message("a", "u1", "c2")).await.unwrap(),
            Appended::New(2)
        );
        assert_eq!(
            store.append(new_message("b", "u1", "c1")).await.unwrap(),
            Appended::New(1)
        );
        // Same client id, other user: a different message.
        assert_eq!(
            store.append(new_message("a", "u2", "c1")).await.unwrap(),
            Appended::New(3)
        );
        assert_eq!(
            store.append(new_message("a", "u1", "c1")).await.unwrap(),
            Appended::Duplicate(1)
        );
        let delivered = delivered.lock().unwrap().clone();
        assert_eq!(
            delivered,
            [("a", 1), ("a", 2), ("b", 1), ("a", 3)].map(|(r, s)| (r.to_string(), s))
        );
    }
    let (store, delivered) = open(options);
    // Dedup remembers across the restart, and numbering continues.
    assert_eq!(
        store.append(new_message("a", "u1", "c2")).await.unwrap(),
        Appended::Duplicate(2)
    );
    assert_eq!(
        store.append(new_message("a", "u1", "c9")).await.unwrap(),
        Appended::New(4)
    );
    let page = store.after(&room("a"), None, 100).await.unwrap();
    assert_eq!(
        (seqs(&page.messages), page.truncated),
        (vec![1, 2, 3, 4], false)
    );
    assert_eq!(page.messages[1].text.as_str(), "text of c2");
    assert_eq!(page.messages[1].client_id.as_ref().unwrap().as_str(), "c2");
    let page = store.after(&room("a"), Some(2), 1).await.unwrap();
    assert_eq!((seqs(&page.messages), page.truncated), (vec![4], true));
    let older = store.before(&room("a"), Some(4), 2).await.unwrap();
    assert_eq!(seqs(&older), vec![2, 3]);
    assert_eq!(delivered.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn the_dedup_window_ends() {
    let dir = tempfile::tempdir().unwrap();
    let mut options = SqliteOptions::new(dir.path());
    options.dedup_window = Duration::ZERO;
    let (store, _) = open(options);
    let mut first = new_message("a", "u1", "c1");
    first.ts -= 10;
    store.append(first).await.unwrap();
    assert_eq!(
        store.append(new_message("a", "u1", "c1")).await.unwrap(),
        Appended::New(2)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_appends_are_numbered_gap_free_and_delivered_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let (store, delivered) = open(SqliteOptions::new(dir.path()));
    let store = Arc::new(store);
    let mut tasks = Vec::new();
    for user in 0..8 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let mut seqs = Vec::new();
            for i in 0..50 {
                let msg = new_message("a", &format!("u{user}"), &format!("c{i}"));
                seqs.push(store.append(msg).await.unwrap().seq());
            }
            seqs
        }));
    }
    let mut acked = Vec::new();
    for task in tasks {
        let seqs = task.await.unwrap();
        assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
        acked.extend(seqs);
    }
    acked.sort();
    assert_eq!(acked, (1..=400).collect::<Vec<_>>());
    let delivered: Vec<u64> = delivered.lock().unwrap().iter().map(|d| d.1).collect();
    assert_eq!(delivered, (1..=400).collect::<Vec<_>>());
    let page = store.after(&room("a"), Some(390), 100).await.unwrap();
    assert_eq!(seqs(&page.messages), (391..=400).collect::<Vec<_>>());
}

#[tokio::test]
async fn reads_past_the_cache_come_from_disk() {
    let dir = tempfile::tempdir().unwrap();
    let mut options = SqliteOptions::new(dir.path());
    options.cache_per_room = 4;
    {
        let (store, _) = open(options.clone());
        append_n(&store, "a", 10).await;
        // Served past the four cached ones.
        let page = store.after(&room("a"), Some(2), 100).await.unwrap();
        assert_eq!(seqs(&page.messages), (3..=10).collect::<Vec<_>>());
        let older = store.before(&room("a"), Some(5), 3).await.unwrap();
        assert_eq!(seqs(&older), vec![2, 3, 4]);
    }
    let (store, _) = open(options);
    // A cold cache: the first read loads the latest, later ones are cached.
    let page = store.after(&room("a"), None, 3).await.unwrap();
    assert_eq!(
        (seqs(&page.messages), page.truncated),
        (vec![8, 9, 10], true)
    );
    store.append(new_message("a", "u1", "new")).await.unwrap();
    let page = store.after(&room("a"), Some(8), 100).await.unwrap();
    assert_eq!(seqs(&page.messages), vec![9, 10, 11]);
    let page = store.after(&room("a"), Some(0), 100).await.unwrap();
    assert_eq!(seqs(&page.messages), (1..=11).collect::<Vec<_>>());
    let empty = store.after(&room("nobody-here"), None, 10).await.unwrap();
    assert_eq!(empty, Page::default());
}

/// Issue 11, item 9: a cache miss reads the room from disk; before it
/// merges the read, the writer commits message 4 and the room's cache
/// entry is evicted by traffic in other rooms. A resumed member asking for
/// what came after 3 must still get 4.
#[tokio::test]
async fn a_cache_miss_racing_a_commit_and_an_eviction_misses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = open(SqliteOptions::new(dir.path()));
    for i in 1..=3 {
        store
            .append(new_message("r", "u1", &format!("c{i}")))
            .await
            .unwrap();
    }
    store.shared.cache.lock().unwrap().clear();
    // The first half of a miss: the ticket, then the disk read.
    let (per_room, ticket) = {
        let cache = store.shared.cache.lock().unwrap();
        (cache.per_room(), cache.begin_load())
    };
    let read = store
        .shared
        .with_reader(|conn| read::read_before(conn, &room("r"), None, per_room))
        .unwrap();
    assert_eq!(seqs(&read), [1, 2, 3]);
    // Meanwhile: message 4, then 1,024 other rooms' messages, which evict
    // the least recently used room, `r`.
    assert_eq!(
        store.append(new_message("r", "u1", "c4")).await.unwrap(),
        Appended::New(4)
    );
    let others = (0..1024).map(|n| store.append(new_message(&format!("o{n}"), "u1", "c")));
    for appended in futures_util::future::join_all(others).await {
        appended.unwrap();
    }
    // The miss ends: its answer is what it read...
    let page = store
        .shared
        .finish_after(ticket, &room("r"), read, Vec::new(), Some(3), 100)
        .unwrap();
    assert_eq!(page, Page::default());
    // ...but the next reader, resuming after 3, gets 4.
    let page = store.after(&room("r"), Some(3), 100).await.unwrap();
    assert_eq!(seqs(&page.messages), [4]);
    // A cursor past every seq is nobody's: an empty page, no overflow.
    let page = store.after(&room("r"), Some(u64::MAX), 100).await.unwrap();
    assert_eq!(page, Page::default());
    store.shared.cache.lock().unwrap().clear();
    let page = store.after(&room("r"), Some(u64::MAX), 100).await.unwrap();
    assert_eq!(page, Page::default());
}

#[tokio::test]
async fn retention_keeps_the_latest_and_seqs_are_not_reused() {
    let dir = tempfile::tempdir().unwrap();
    let mut options = SqliteOptions::new(dir.path());
    options.retention_messages = 3;
    {
        let (store, _) = open(options.clone());
        append_n(&store, "a", 10).await;
        store.run_retention().await.unwrap();
        let page = store.after(&room("a"), None, 100).await.unwrap();
        assert_eq!(seqs(&page.messages), vec![8, 9, 10]);
    }
    options.retention_messages = 0;
    options.retention_age = Some(Duration::from_secs(3600));
    let (store, _) = open(options);
    assert_eq!(
        store.append(new_message("a", "u1", "after")).await.unwrap(),
        Appended::New(11)
    );
    let older = store.before(&room("a"), None, 100).await.unwrap();
    assert_eq!(seqs(&older), vec![8, 9, 10, 11]);
}

#[tokio::test]
async fn retention_by_age_deletes_old_messages() {
    let dir = tempfile::tempdir().unwrap();
    let mut options = SqliteOptions::new(dir.path());
    options.retention_age = Some(Duration::from_secs(60));
    let (store, _) = open(options);
    let mut old = new_message("a", "u1", "old");
    old.ts -= 120_000;
    store.append(old).await.unwrap();
    store.append(new_message("a", "u1", "new")).await.unwrap();
    store.run_retention().await.unwrap();
    let page = store.after(&room("a"), None, 100).await.unwrap();
    assert_eq!(seqs(&page.messages), vec![2]);
}

#[tokio::test]
async fn a_second_store_on_the_same_dir_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (_store, _) = open(SqliteOptions::new(dir.path()));
    let deliver: Deliver = Arc::new(|_: &Arc<ChatMessage>| {});
    let err = SqliteStore::open(SqliteOptions::new(dir.path()), deliver)
        .err()
        .expect("the directory is locked");
    assert!(matches!(err, OpenError::Locked { .. }), "{err}");
    assert!(err.to_string().contains("in use by another relay"), "{err}");
}

/// Every migration from 4 on may run again over what it already made (a
/// rewound `user_version`, migrations renumbered when branches merge):
/// each creates only what is missing.
#[tokio::test]
async fn migrations_replayed_over_a_current_schema_do_no_harm() {
    let dir = tempfile::tempdir().unwrap();
    drop(open(SqliteOptions::new(dir.path())));
    {
        let conn = Connection::open(db_path(dir.path())).unwrap();
        conn.pragma_update(None, "user_version", 4).unwrap();
    }
    drop(open(SqliteOptions::new(dir.path())));
}

#[tokio::test]
async fn a_newer_schema_or_a_file_as_data_dir_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    drop(open(SqliteOptions::new(dir.path())));
    {
        let conn = Connection::open(db_path(dir.path())).unwrap();
        conn.pragma_update(None, "user_version", 99).unwrap();
    }
    let deliver: Deliver = Arc::new(|_: &Arc<ChatMessage>| {});
    let err = SqliteStore::open(SqliteOptions::new(dir.path()), deliver.clone())
        .err()
        .expect("newer schema");
    assert!(
        matches!(err, OpenError::NewerSchema { found: 99, .. }),
        "{err}"
    );

    let file = dir.path().join("not-a-dir");
    std::fs::write(&file, "x").unwrap();
    let err = SqliteStore::open(SqliteOptions::new(&file), deliver)
        .err()
        .expect("a file is no data dir");
    assert!(matches!(err, OpenError::DataDir { .. }), "{err}");
}

#[tokio::test]
async fn export_and_delete_room() {
    let dir = tempfile::tempdir().unwrap();
    let options = SqliteOptions::new(dir.path());
    let (store, _) = open(options.clone());
    for i in 0..2500 {
        let room = if i % 2 == 0 { "a" } else { "b" };
        store
            .append(new_message(room, "u1", &format!("c{i}")))
            .await
            .unwrap();
    }
    // Export works while the store is open.
    let mut out = Vec::new();
    let count = tools::export_room(dir.path(), &room("a"), &mut out, |_, _| Ok(())).unwrap();
    assert_eq!(count, 1250);
    let exported: Vec<ChatMessage> = String::from_utf8(out)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(seqs(&exported), (1..=1250).collect::<Vec<_>>());
    // Deleting needs the relay stopped.
    let err = tools::delete_room(dir.path(), &room("a")).unwrap_err();
    assert!(err.to_string().contains("in use by another relay"), "{err}");
    drop(store);
    assert_eq!(tools::delete_room(dir.path(), &room("a")).unwrap(), 1250);
    let (store, _) = open(options);
    assert_eq!(
        store.after(&room("a"), None, 10).await.unwrap(),
        Page::default()
    );
    assert_eq!(
        store.append(new_message("a", "u1", "again")).await.unwrap(),
        Appended::New(1251)
    );
    assert_eq!(
        store
            .after(&room("b"), None, 10)
            .await
            .unwrap()
            .messages
            .len(),
        10
    );
}

#[test]
fn hot_queries_use_their_indexes() {
    let dir = tempfile::tempdir().unwrap();
    let conn = schema::open_writer(dir.path(), SyncLevel::Normal).unwrap();
    let plan = |sql: &str| -> String {
        let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
        let rows = stmt
            .query_map(params![1, "u", "c", 0], |row| row.get::<_, String>(3))
            .unwrap();
        rows.map(Result::unwrap).collect::<Vec<_>>().join("; ")
    };
    let dedup = plan(DEDUP_LOOKUP);
    assert!(
        dedup.contains("INDEX messages_by_client_id (room_id=? AND user_id=? AND client_id=?)"),
        "{dedup}"
    );
    // Search walks the index newest first and stops at the page's end:
    // no sort of every match.
    let mut stmt = conn
        .prepare(&format!(
            "EXPLAIN QUERY PLAN {}",
            super::search::SEARCH_PAGE
        ))
        .unwrap();
    let search: Vec<String> = stmt
        .query_map(params!["w", "[]", 1, "u", "n", 0, 21], |row| row.get(3))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert!(search[0].starts_with("SCAN s VIRTUAL TABLE"), "{search:?}");
    assert!(
        !search.iter().any(|step| step.contains("TEMP B-TREE")),
        "{search:?}"
    );
}

#[tokio::test]
async fn the_wal_is_copied_into_the_database_file_while_the_store_runs() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = open(SqliteOptions::new(dir.path()));
    let db = db_path(dir.path());
    let before = std::fs::metadata(&db).unwrap().len();
    // Far fewer WAL pages than SQLite's own checkpoint waits for (1,000):
    // only the checkpointer's thread copies them into the file.
    append_n(&store, "a", 20).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while std::fs::metadata(&db).unwrap().len() == before {
        assert!(
            std::time::Instant::now() < deadline,
            "nothing was checkpointed into the database file"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
