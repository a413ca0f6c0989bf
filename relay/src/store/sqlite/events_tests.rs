//! Message events in SQLite beyond the store contract (`tests::events`):
//! the upgrade of a data directory from before them, search after edits
//! and deletes, and retention taking events and reactions along.

use std::sync::Arc;

use shared::{search::Query, ClientId, Emoji, Nick, RoomName, Text, User, UserId};

use super::{schema, SqliteOptions, SqliteStore};
use crate::store::{Action, Deliver, NewMessage, NewUpdate, SearchRequest, Store};

fn room() -> RoomName {
    RoomName::new("r").unwrap()
}

fn alice() -> User {
    User {
        id: UserId("u-alice".into()),
        nick: Nick::new("alice").unwrap(),
    }
}

fn open(options: SqliteOptions) -> SqliteStore {
    let deliver: Deliver = Arc::new(|_| {});
    SqliteStore::open(options, deliver).unwrap()
}

async fn say(store: &SqliteStore, text: &str, client_id: &str) -> u64 {
    let msg = NewMessage {
        room: room(),
        from: alice(),
        text: Text::new(text).unwrap(),
        client_id: ClientId::new(client_id).unwrap(),
        ts: crate::clock::now_ms(),
        reply_to: None,
        mentions: Default::default(),
    };
    store.append(msg).await.unwrap().seq()
}

async fn change(store: &SqliteStore, client_id: &str, target: u64, action: Action) -> u64 {
    let update = NewUpdate {
        room: room(),
        from: alice(),
        client_id: ClientId::new(client_id).unwrap(),
        ts: crate::clock::now_ms(),
        target,
        action,
        moderator: false,
    };
    store.update(update).await.unwrap().seq()
}

async fn found(store: &SqliteStore, q: &str) -> Vec<String> {
    let request = SearchRequest {
        query: Query::parse(q),
        rooms: vec![room()],
        from: None,
        before: None,
        limit: 20,
    };
    let found = store.search(request).await.unwrap();
    found.messages.iter().map(|m| m.text.to_string()).collect()
}

#[tokio::test]
async fn messages_from_before_events_read_plainly_and_take_events() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(SqliteOptions::new(dir.path()));
    let old = say(&store, "written before the upgrade", "c1").await;
    drop(store);
    // Without the tables and columns of message events, as a relay before
    // them left it; then the migration's work, as an upgrade runs it
    // (whatever its number).
    let mut conn = schema::open_writer(dir.path(), crate::config::SyncLevel::Full).unwrap();
    conn.execute_batch(
        "DROP TABLE message_events;
         DROP TABLE reactions;
         DROP INDEX messages_by_reply_to;
         ALTER TABLE messages DROP COLUMN reply_to;
         ALTER TABLE messages DROP COLUMN quote;
         ALTER TABLE messages DROP COLUMN mentions;
         ALTER TABLE messages DROP COLUMN mentions_room;
         ALTER TABLE messages DROP COLUMN edited_ts;
         ALTER TABLE messages DROP COLUMN deleted;",
    )
    .unwrap();
    let tx = conn.transaction().unwrap();
    super::events::create_tables(&tx).unwrap();
    tx.commit().unwrap();
    drop(conn);
    let store = open(SqliteOptions::new(dir.path()));
    let page = store.after(&room(), None, 10).await.unwrap();
    assert_eq!(page.messages[0].state, Default::default());
    drop(store);
    // Replayed (a rewound `user_version`): nothing to add, no harm.
    let mut conn = schema::open_writer(dir.path(), crate::config::SyncLevel::Full).unwrap();
    let tx = conn.transaction().unwrap();
    super::events::create_tables(&tx).unwrap();
    tx.commit().unwrap();
    drop(conn);
    let store = open(SqliteOptions::new(dir.path()));
    let edit = change(
        &store,
        "e1",
        old,
        Action::Edit(Text::new("and after").unwrap(), Default::default()),
    )
    .await;
    assert!(edit > old);
    let page = store.after(&room(), None, 10).await.unwrap();
    assert_eq!(page.messages[0].text.as_str(), "and after");
}

#[tokio::test]
async fn search_finds_edits_by_their_new_text_and_never_a_deleted_message() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(SqliteOptions::new(dir.path()));
    let typo = say(&store, "the relay is donw", "c1").await;
    let gone = say(&store, "the relay password is hunter2", "c2").await;
    change(
        &store,
        "e1",
        typo,
        Action::Edit(Text::new("the relay is down").unwrap(), Default::default()),
    )
    .await;
    change(&store, "e2", gone, Action::Delete).await;
    assert_eq!(found(&store, "down").await, ["the relay is down"]);
    assert!(found(&store, "donw").await.is_empty(), "the old text");
    assert!(found(&store, "hunter2").await.is_empty(), "a deleted text");
    assert_eq!(found(&store, "relay").await, ["the relay is down"]);
}

#[tokio::test]
async fn retention_takes_the_events_and_reactions_of_what_it_deletes() {
    let dir = tempfile::tempdir().unwrap();
    let mut options = SqliteOptions::new(dir.path());
    options.retention_messages = 3;
    let store = open(options.clone());
    let first = say(&store, "first", "c1").await;
    change(
        &store,
        "e1",
        first,
        Action::Edit(Text::new("first!").unwrap(), Default::default()),
    )
    .await;
    let react = Action::React {
        emoji: Emoji::new("👍").unwrap(),
        on: true,
    };
    change(&store, "e2", first, react).await;
    for i in 0..3 {
        say(&store, "later", &format!("l{i}")).await;
    }
    store.run_retention().await.unwrap();
    drop(store);
    let conn = schema::open_reader(dir.path()).unwrap();
    let count = |table: &str| -> i64 {
        conn.query_row(&format!("SELECT count(*) FROM {table}"), [], |row| {
            row.get(0)
        })
        .unwrap()
    };
    assert_eq!(count("messages"), 3);
    assert_eq!(count("message_events"), 0);
    assert_eq!(count("reactions"), 0);
}
