//! Search over the SQLite store: an FTS5 index of every message, written
//! in the transaction that changes the message, so it never disagrees
//! with what is committed.
//!
//! The index holds each message's text as `shared::search::index_text`
//! writes it (lowercase words; Chinese and Japanese runs cut into
//! overlapping bigrams, so `聊天` is found inside `分布式聊天系统`), in an
//! FTS5 table with the `unicode61` tokenizer, which then only has to split
//! on the spaces. The SQL function `palaver_search_text` is that Rust
//! function, registered on every connection that writes messages. A new
//! message is indexed by the writer ([`index`], its text cut by the
//! sender's task before it reaches the one writer thread); triggers on
//! `messages` follow an update of the text (edits, a delete's erasure) and
//! drop the row on delete (retention, `delete-room`). An FTS row's rowid
//! is `room_id << 40 | seq`, so it finds its message by primary key and is
//! deleted by rowid.
//!
//! Until migration 9 an insert trigger indexed new messages too; a trigger
//! per row calling back into Rust cost the writer thread about 40% of its
//! flat-out append rate (docs/PERFORMANCE.md).

use rusqlite::{functions::FunctionFlags, params, Connection};
use shared::{search::index_text, RoomName};

use super::read::StoredRow;
use crate::store::{Found, SearchRequest};

/// Registers `palaver_search_text(text)` on a writing connection (the
/// triggers and the migration call it).
pub fn register(conn: &Connection) -> rusqlite::Result<()> {
    conn.create_scalar_function(
        "palaver_search_text",
        1,
        FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC,
        |ctx| {
            let text: String = ctx.get(0)?;
            Ok(index_text(&text))
        },
    )
}

/// Migration 4: the index, its triggers, and every stored message indexed
/// (room by room, with progress in the log).
pub fn create_index(tx: &rusqlite::Transaction) -> rusqlite::Result<()> {
    tx.execute_batch(
        "CREATE VIRTUAL TABLE message_search USING fts5(
            body, tokenize = 'unicode61 remove_diacritics 2'
         );
         CREATE TRIGGER message_search_insert AFTER INSERT ON messages BEGIN
            INSERT INTO message_search (rowid, body)
            VALUES ((NEW.room_id << 40) | NEW.seq, palaver_search_text(NEW.text));
         END;
         CREATE TRIGGER message_search_update AFTER UPDATE OF text ON messages BEGIN
            UPDATE message_search SET body = palaver_search_text(NEW.text)
            WHERE rowid = (NEW.room_id << 40) | NEW.seq;
         END;
         CREATE TRIGGER message_search_delete AFTER DELETE ON messages BEGIN
            DELETE FROM message_search WHERE rowid = (OLD.room_id << 40) | OLD.seq;
         END;",
    )?;
    let rooms: Vec<(i64, String)> = tx
        .prepare("SELECT id, name FROM rooms ORDER BY id")?
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    let (mut done, total) = (0, rooms.len());
    for (id, name) in rooms {
        let indexed = tx.execute(
            "INSERT INTO message_search (rowid, body)
             SELECT (room_id << 40) | seq, palaver_search_text(text)
             FROM messages WHERE room_id = ?1",
            [id],
        )?;
        done += 1;
        tracing::info!("search index: room {name} ({done} of {total}): {indexed} messages");
    }
    Ok(())
}

/// Migration 9: new messages are indexed by the writer ([`index`]), not
/// by a trigger.
pub fn drop_insert_trigger(tx: &rusqlite::Transaction) -> rusqlite::Result<()> {
    tx.execute_batch("DROP TRIGGER IF EXISTS message_search_insert;")
}

/// Indexes a message just inserted, in the writer's transaction; `body`
/// is `index_text` of its text.
pub fn index(
    tx: &rusqlite::Transaction,
    room_id: i64,
    seq: u64,
    body: &str,
) -> rusqlite::Result<()> {
    tx.prepare_cached("INSERT INTO message_search (rowid, body) VALUES (?1, ?2)")?
        .execute(params![(room_id << 40) | super::to_sql(seq), body])?;
    Ok(())
}

/// One page of hits for `request`, newest first.
pub fn search(conn: &Connection, request: &SearchRequest) -> rusqlite::Result<Found> {
    let Some(expr) = request.query.fts5() else {
        return Ok(Found::default());
    };
    let rooms: Vec<&str> = request.rooms.iter().map(RoomName::as_str).collect();
    let rooms = serde_json::to_string(&rooms).expect("names serialize");
    let before = request.before.as_ref();
    let limit = i64::try_from(request.limit).unwrap_or(i64::MAX);
    let mut statement = conn.prepare_cached(
        "SELECT r.name, m.seq, m.user_id, m.nick, m.text, m.ts, m.client_id
         FROM message_search s
         JOIN messages m ON m.room_id = (s.rowid >> 40) AND m.seq = (s.rowid & 1099511627775)
         JOIN rooms r ON r.id = m.room_id
         WHERE message_search MATCH ?1 AND m.deleted = 0
           AND r.name IN (SELECT value FROM json_each(?2))
           AND (?3 IS NULL OR m.user_id = ?3)
           AND (?4 IS NULL OR lower(m.nick) = ?4)
           AND (?5 IS NULL OR (m.ts, r.name, m.seq) < (?5, ?6, ?7))
         ORDER BY m.ts DESC, r.name DESC, m.seq DESC
         LIMIT ?8",
    )?;
    let rows = statement.query_map(
        params![
            expr,
            rooms,
            request.from.as_ref().map(|id| id.0.as_str()),
            request.query.from.as_deref(),
            before.map(|c| super::to_sql(c.ts)),
            before.map(|c| c.room.as_str()),
            before.map(|c| super::to_sql(c.seq)),
            limit + 1,
        ],
        |row| {
            let room: String = row.get(0)?;
            Ok((room, StoredRow::from_row(row, 1)?))
        },
    )?;
    let mut messages = Vec::new();
    for row in rows {
        let (room, stored) = row?;
        if let Some(msg) = RoomName::new(&room)
            .ok()
            .and_then(|room| stored.into_message(&room))
        {
            messages.push(msg);
        }
    }
    let more = messages.len() > request.limit;
    messages.truncate(request.limit);
    Ok(Found { messages, more })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use shared::{search::Query, ClientId, Nick, RoomName, Text, User, UserId};

    use super::super::{schema, SqliteOptions, SqliteStore};
    use crate::store::{search::Cursor, Deliver, NewMessage, SearchRequest, Store};

    fn room(name: &str) -> RoomName {
        RoomName::new(name).unwrap()
    }

    fn open(dir: &std::path::Path) -> SqliteStore {
        let deliver: Deliver = Arc::new(|_| {});
        SqliteStore::open(SqliteOptions::new(dir), deliver).unwrap()
    }

    async fn say(store: &SqliteStore, room_name: &str, nick: &str, text: &str, ts: u64) {
        store
            .append(NewMessage {
                reply_to: None,
                mentions: Default::default(),
                room: room(room_name),
                from: User {
                    id: UserId(format!("u-{nick}")),
                    nick: Nick::new(nick).unwrap(),
                },
                text: Text::new(text).unwrap(),
                client_id: ClientId::new(&format!("c-{ts}")).unwrap(),
                ts,
            })
            .await
            .unwrap();
    }

    /// The texts found for `q` in `rooms`, newest first.
    async fn found(store: &SqliteStore, q: &str, rooms: &[&str]) -> Vec<String> {
        let request = SearchRequest {
            query: Query::parse(q),
            rooms: rooms.iter().map(|r| room(r)).collect(),
            from: None,
            before: None,
            limit: 20,
        };
        let found = store.search(request).await.unwrap();
        found.messages.iter().map(|m| m.text.to_string()).collect()
    }

    async fn fill(store: &SqliteStore) {
        say(store, "general", "alice", "我们的分布式聊天系统上线了", 1).await;
        say(
            store,
            "general",
            "bob",
            "Deploying the relay behind nginx",
            2,
        )
        .await;
        say(store, "ops", "alice", "deploy finished; 聊天 works", 3).await;
        say(store, "general", "carol", "天气很好", 4).await;
    }

    #[tokio::test]
    async fn chinese_words_of_two_or_more_characters_and_english_prefixes_are_found() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path());
        fill(&store).await;
        let both = ["general", "ops"];
        assert_eq!(
            found(&store, "聊天", &both).await,
            ["deploy finished; 聊天 works", "我们的分布式聊天系统上线了"]
        );
        assert_eq!(
            found(&store, "分布式", &both).await,
            ["我们的分布式聊天系统上线了"]
        );
        assert_eq!(
            found(&store, "系统 上线", &both).await,
            ["我们的分布式聊天系统上线了"]
        );
        assert!(found(&store, "布聊", &both).await.is_empty());
        assert_eq!(
            found(&store, "deploy*", &both).await,
            [
                "deploy finished; 聊天 works",
                "Deploying the relay behind nginx"
            ]
        );
        assert_eq!(
            found(&store, "deploy", &both).await,
            ["deploy finished; 聊天 works"]
        );
        assert_eq!(found(&store, "\"the relay\" nginx", &both).await.len(), 1);
        // Only the rooms asked for; `from:` narrows by nick.
        assert_eq!(found(&store, "聊天", &["general"]).await.len(), 1);
        assert_eq!(found(&store, "聊天 from:Alice", &both).await.len(), 2);
        assert!(found(&store, "聊天 from:bob", &both).await.is_empty());
        // FTS syntax typed by a user is only words.
        assert!(found(&store, "NEAR(deploy relay) OR *", &both)
            .await
            .is_empty());
    }

    #[tokio::test]
    async fn pages_go_newest_first_and_the_cursor_continues_where_a_page_ended() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path());
        for ts in 1..=5 {
            say(&store, "general", "alice", &format!("ping number {ts}"), ts).await;
        }
        let mut request = SearchRequest {
            query: Query::parse("ping"),
            rooms: vec![room("general")],
            from: None,
            before: None,
            limit: 2,
        };
        let mut pages = Vec::new();
        loop {
            let found = store.search(request.clone()).await.unwrap();
            pages.push(found.messages.iter().map(|m| m.ts).collect::<Vec<_>>());
            if !found.more {
                break;
            }
            request.before = found.messages.last().map(Cursor::of);
        }
        assert_eq!(pages, [vec![5, 4], vec![3, 2], vec![1]]);
    }

    #[tokio::test]
    async fn the_index_follows_edits_and_deletes_of_the_messages_table() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path());
        fill(&store).await;
        drop(store);
        let conn = schema::open_writer(dir.path(), crate::config::SyncLevel::Full).unwrap();
        conn.execute(
            "UPDATE messages SET text = 'rewritten' WHERE text LIKE 'Deploying%'",
            [],
        )
        .unwrap();
        conn.execute("DELETE FROM messages WHERE text LIKE '我们%'", [])
            .unwrap();
        // No index row outlives its message.
        let count = |table: &str| -> i64 {
            conn.query_row(&format!("SELECT count(*) FROM {table}"), [], |row| {
                row.get(0)
            })
            .unwrap()
        };
        assert_eq!(count("message_search"), count("messages"));
        drop(conn);
        let store = open(dir.path());
        let both = ["general", "ops"];
        assert_eq!(
            found(&store, "deploy*", &both).await,
            ["deploy finished; 聊天 works"]
        );
        assert_eq!(found(&store, "rewritten", &both).await, ["rewritten"]);
        assert_eq!(
            found(&store, "聊天", &both).await,
            ["deploy finished; 聊天 works"]
        );
    }

    #[tokio::test]
    async fn a_data_dir_from_before_search_is_indexed_on_upgrade() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path());
        fill(&store).await;
        drop(store);
        // Without the index, as a relay before search left it; then the
        // migrations' work, as an upgrade runs it (whatever their numbers):
        // the index with its triggers, then the writer's indexing instead
        // of the insert trigger.
        let mut conn = schema::open_writer(dir.path(), crate::config::SyncLevel::Full).unwrap();
        conn.execute_batch(
            "DROP TRIGGER IF EXISTS message_search_insert;
             DROP TRIGGER message_search_update;
             DROP TRIGGER message_search_delete;
             DROP TABLE message_search;",
        )
        .unwrap();
        let tx = conn.transaction().unwrap();
        super::create_index(&tx).unwrap();
        super::drop_insert_trigger(&tx).unwrap();
        tx.commit().unwrap();
        drop(conn);
        let store = open(dir.path());
        assert_eq!(found(&store, "分布式", &["general"]).await.len(), 1);
        say(&store, "general", "dave", "分布式 again", 9).await;
        assert_eq!(found(&store, "分布式", &["general"]).await.len(), 2);
    }
}
