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
//! drop the row on delete (retention, `delete-room`).
//!
//! An index row's rowid is its message's `sid`: a number the writer gives
//! messages in commit order ([`next_sid`]), kept in `messages.sid` so the
//! triggers find the row, with the message's room and seq beside it as
//! unindexed columns. FTS5 walks a word's rows in rowid order, so newest
//! first is `ORDER BY rowid DESC` and a page of 20 stops after 20 matches,
//! however common the word. Rowids that only grow also let FTS5 hold a
//! whole group commit in memory before it writes a segment (it writes one
//! whenever a rowid is not above the last).
//!
//! Each row also has the message's room as a word of its own column,
//! `room` ([`room_token`]: `r` and the room's id). A search in a few
//! rooms (at most `store::search::ROOM_FILTER_MAX`) asks FTS5 for the room words too,
//! so it walks only the matches in those rooms: a user in 1 room of 1,000
//! no longer passes over the 999 others' matches to fill a page. The
//! user's words are asked in `body` only, so `r12` typed in a search
//! finds the text `r12`, never every message of room 12.
//!
//! Until migration 9 an insert trigger indexed new messages; a trigger per
//! row calling back into Rust cost the writer thread about 40% of its
//! flat-out append rate (docs/PERFORMANCE.md). Until migration 11 a rowid
//! was `room_id << 40 | seq`, and a page had to sort every match by time;
//! until migration 12 there was no `room` column.

use rusqlite::{functions::FunctionFlags, params, Connection, OptionalExtension};
use shared::{search::index_text, RoomName};

use super::read::StoredRow;
use crate::store::{
    search::{fts5_in_rooms, Cursor},
    Found, SearchRequest,
};

/// Messages indexed per step of migrations 11 and 12, each step logged.
const REINDEX_STEP: i64 = 100_000;

/// The word that stands for a room in the index's `room` column. Migration
/// 12 writes the same (`'r' || room_id`).
fn room_token(room_id: i64) -> String {
    format!("r{room_id}")
}

/// Registers `palaver_search_text(text)` on a writing connection (the
/// triggers and the migrations call it).
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

/// Migration 4: the first index (rowid `room_id << 40 | seq`), its
/// triggers, and every stored message indexed. Migration 11 replaces it;
/// a shipped migration never changes.
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

/// Migration 11: every message numbered by time (`messages.sid`, in the
/// order of `ts`), and the index rebuilt with those numbers as rowids, in
/// steps of [`REINDEX_STEP`] with progress in the log. The table keeps
/// FTS5 `secure-delete`, so a deleted message's words leave the index's
/// pages (`events`), and has `columnsize=0`: nothing ranks by `bm25`, so
/// no row of word counts per message.
pub fn number_by_time(tx: &rusqlite::Transaction) -> rusqlite::Result<()> {
    let has_sid: bool = tx.query_row(
        "SELECT count(*) > 0 FROM pragma_table_info('messages') WHERE name = 'sid'",
        [],
        |row| row.get(0),
    )?;
    if !has_sid {
        tx.execute_batch("ALTER TABLE messages ADD COLUMN sid INTEGER;")?;
    }
    tx.execute_batch(
        "DROP TRIGGER IF EXISTS message_search_insert;
         DROP TRIGGER IF EXISTS message_search_update;
         DROP TRIGGER IF EXISTS message_search_delete;
         DROP TABLE IF EXISTS message_search;
         CREATE VIRTUAL TABLE message_search USING fts5(
            body, room_id UNINDEXED, seq UNINDEXED,
            tokenize = 'unicode61 remove_diacritics 2', columnsize = 0
         );
         INSERT INTO message_search (message_search, rank) VALUES ('secure-delete', 1);
         UPDATE messages SET sid = numbered.n
         FROM (SELECT room_id AS r, seq AS s,
                      row_number() OVER (ORDER BY ts, room_id, seq) AS n
               FROM messages) AS numbered
         WHERE room_id = numbered.r AND seq = numbered.s;
         CREATE TRIGGER message_search_update AFTER UPDATE OF text ON messages BEGIN
            UPDATE message_search SET body = palaver_search_text(NEW.text)
            WHERE rowid = NEW.sid;
         END;
         CREATE TRIGGER message_search_delete AFTER DELETE ON messages BEGIN
            DELETE FROM message_search WHERE rowid = OLD.sid;
         END;
         CREATE INDEX reindex_by_sid ON messages (sid);",
    )?;
    let total: i64 = tx.query_row("SELECT count(*) FROM messages", [], |row| row.get(0))?;
    if total > 0 {
        tracing::info!("search index: numbering {total} messages by time and indexing them again");
    }
    // In rowid order: FTS5 writes a segment whenever a rowid is not above
    // the last one, so any other order would write one per message.
    let mut done = 0;
    while done < total {
        let to = (done + REINDEX_STEP).min(total);
        tx.execute(
            "INSERT INTO message_search (rowid, body, room_id, seq)
             SELECT sid, palaver_search_text(text), room_id, seq
             FROM messages INDEXED BY reindex_by_sid
             WHERE sid > ?1 AND sid <= ?2 ORDER BY sid",
            params![done, to],
        )?;
        done = to;
        tracing::info!("search index: {done} of {total} messages indexed");
    }
    tx.execute_batch("DROP INDEX reindex_by_sid;")
}

/// Migration 12: the index rebuilt with each message's room as a word of
/// its own column (`room`, [`room_token`]), so a search in a few rooms
/// walks only their matches. The rows are copied from the old index in
/// rowid order (their text is already cut into words), in steps of
/// [`REINDEX_STEP`] with progress in the log; the table keeps
/// `secure-delete` and `columnsize=0`, as migration 11 made it.
pub fn index_rooms(tx: &rusqlite::Transaction) -> rusqlite::Result<()> {
    tx.execute_batch(
        "DROP TRIGGER IF EXISTS message_search_update;
         DROP TRIGGER IF EXISTS message_search_delete;
         DROP TABLE IF EXISTS message_search_v11;
         ALTER TABLE message_search RENAME TO message_search_v11;
         CREATE VIRTUAL TABLE message_search USING fts5(
            body, room, room_id UNINDEXED, seq UNINDEXED,
            tokenize = 'unicode61 remove_diacritics 2', columnsize = 0
         );
         INSERT INTO message_search (message_search, rank) VALUES ('secure-delete', 1);
         CREATE TRIGGER message_search_update AFTER UPDATE OF text ON messages BEGIN
            UPDATE message_search SET body = palaver_search_text(NEW.text)
            WHERE rowid = NEW.sid;
         END;
         CREATE TRIGGER message_search_delete AFTER DELETE ON messages BEGIN
            DELETE FROM message_search WHERE rowid = OLD.sid;
         END;",
    )?;
    let last: i64 = tx.query_row(
        "SELECT coalesce(max(rowid), 0) FROM message_search_v11",
        [],
        |row| row.get(0),
    )?;
    if last > 0 {
        tracing::info!("search index: adding the rooms to the index of {last} messages");
    }
    let mut done = 0;
    while done < last {
        let to = (done + REINDEX_STEP).min(last);
        tx.execute(
            "INSERT INTO message_search (rowid, body, room, room_id, seq)
             SELECT rowid, body, 'r' || room_id, room_id, seq
             FROM message_search_v11
             WHERE rowid > ?1 AND rowid <= ?2 ORDER BY rowid",
            params![done, to],
        )?;
        done = to;
        tracing::info!("search index: {done} of {last} rows have their room");
    }
    tx.execute_batch("DROP TABLE message_search_v11;")
}

/// The number the writer gives the next message it commits: above every
/// indexed message's, so the index's rowids grow with time.
pub fn next_sid(conn: &Connection) -> rusqlite::Result<i64> {
    let last: Option<i64> = conn
        .query_row(
            "SELECT rowid FROM message_search ORDER BY rowid DESC LIMIT 1",
            [],
            |row| row.get(0),
        )
        .optional()?;
    Ok(last.unwrap_or(0) + 1)
}

/// Indexes a message just inserted as number `sid`, in the writer's
/// transaction; `body` is `index_text` of its text.
pub fn index(
    tx: &rusqlite::Transaction,
    sid: i64,
    room_id: i64,
    seq: u64,
    body: &str,
) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "INSERT INTO message_search (rowid, body, room, room_id, seq)
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![
        sid,
        body,
        room_token(room_id),
        room_id,
        super::to_sql(seq)
    ])?;
    Ok(())
}

/// Where a page that ended at `cursor` goes on: below that message's
/// `sid`. A message deleted since (retention) has none; then below its
/// time.
fn resume_at(conn: &Connection, cursor: &Cursor) -> rusqlite::Result<(Option<i64>, Option<i64>)> {
    let sid: Option<i64> = conn
        .prepare_cached(
            "SELECT m.sid FROM messages m JOIN rooms r ON r.id = m.room_id
             WHERE r.name = ?1 AND m.seq = ?2",
        )?
        .query_row(
            params![cursor.room.as_str(), super::to_sql(cursor.seq)],
            |row| row.get(0),
        )
        .optional()?
        .flatten();
    Ok(match sid {
        Some(sid) => (Some(sid), None),
        None => (None, Some(super::to_sql(cursor.ts))),
    })
}

/// A page of hits: the index is the outer loop (`CROSS JOIN`), walked
/// from its newest row down, so the page ends after `limit + 1` admitted
/// hits rather than after sorting every match. `?2` is the asked rooms'
/// ids as a JSON array, looked up once by [`search`] for the room words too.
pub(super) const SEARCH_PAGE: &str =
    "SELECT r.name, m.seq, m.user_id, m.nick, m.text, m.ts, m.client_id
     FROM message_search s
     CROSS JOIN messages m ON m.room_id = s.room_id AND m.seq = s.seq
     CROSS JOIN rooms r ON r.id = m.room_id
     WHERE message_search MATCH ?1
       AND s.room_id IN (SELECT value FROM json_each(?2))
       AND (?3 IS NULL OR s.rowid < ?3)
       AND m.deleted = 0
       AND (?4 IS NULL OR m.user_id = ?4)
       AND (?5 IS NULL OR lower(m.nick) = ?5)
       AND (?6 IS NULL OR m.ts < ?6)
     ORDER BY s.rowid DESC
     LIMIT ?7";

/// One page of hits for `request`, newest first (in commit order).
pub fn search(conn: &Connection, request: &SearchRequest) -> rusqlite::Result<Found> {
    let Some(expr) = request.query.fts5() else {
        return Ok(Found::default());
    };
    let rooms: Vec<&str> = request.rooms.iter().map(RoomName::as_str).collect();
    let rooms = serde_json::to_string(&rooms).expect("names serialize");
    let room_ids: Vec<i64> = conn
        .prepare_cached("SELECT id FROM rooms WHERE name IN (SELECT value FROM json_each(?1))")?
        .query_map([&rooms], |row| row.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    if room_ids.is_empty() {
        return Ok(Found::default());
    }
    let words: Vec<String> = room_ids.iter().copied().map(room_token).collect();
    let expr = fts5_in_rooms(&expr, &words);
    let room_ids = serde_json::to_string(&room_ids).expect("ids serialize");
    let (below_sid, before_ts) = match &request.before {
        Some(cursor) => resume_at(conn, cursor)?,
        None => (None, None),
    };
    let limit = i64::try_from(request.limit).unwrap_or(i64::MAX);
    let mut statement = conn.prepare_cached(SEARCH_PAGE)?;
    let rows = statement.query_map(
        params![
            expr,
            room_ids,
            below_sid,
            request.from.as_ref().map(|id| id.0.as_str()),
            request.query.from.as_deref(),
            before_ts,
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
    async fn pages_over_several_rooms_interleave_by_time_and_miss_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path());
        // Rooms a, b, c take turns; a and b share a timestamp.
        for ts in 1..=9u64 {
            let room = ["a", "b", "c"][(ts % 3) as usize];
            say(&store, room, "alice", &format!("ping at {ts}"), ts).await;
        }
        say(&store, "b", "bob", "ping twice at 9", 9).await;
        say(&store, "zzz", "eve", "ping elsewhere", 10).await;
        let mut request = SearchRequest {
            query: Query::parse("ping"),
            rooms: vec![room("c"), room("a"), room("b")],
            from: None,
            before: None,
            limit: 3,
        };
        let mut seen = Vec::new();
        loop {
            let found = store.search(request.clone()).await.unwrap();
            seen.extend(found.messages.iter().map(|m| (m.ts, m.room.to_string())));
            if !found.more {
                break;
            }
            request.before = found.messages.last().map(Cursor::of);
        }
        let mut want: Vec<(u64, String)> = (1..=9u64)
            .map(|ts| (ts, ["a", "b", "c"][(ts % 3) as usize].to_string()))
            .chain([(9, "b".to_string())])
            .collect();
        // Newest first; at equal times the greater room name first.
        want.sort_by(|x, y| y.cmp(x));
        assert_eq!(seen, want);
    }

    #[tokio::test]
    async fn a_search_in_a_few_rooms_or_in_many_finds_the_same_and_room_words_stay_hidden() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path());
        // More rooms than the index is asked for by name.
        let rooms: Vec<String> = (0..crate::store::search::ROOM_FILTER_MAX + 8)
            .map(|n| format!("room-{n}"))
            .collect();
        for (ts, name) in (1..).zip(&rooms) {
            say(&store, name, "alice", &format!("ping from {name}"), ts).await;
        }
        say(&store, "room-3", "bob", "ping r1 r2 r3", 100).await;
        let all: Vec<&str> = rooms.iter().map(String::as_str).collect();
        let few = ["room-3", "room-7"];
        assert_eq!(found(&store, "ping", &all).await.len(), 20);
        assert_eq!(
            found(&store, "ping", &few).await,
            ["ping r1 r2 r3", "ping from room-7", "ping from room-3"]
        );
        // Searched in many rooms, the walk passes over the others' matches.
        let many: Vec<&str> = all.iter().copied().skip(3).collect();
        let hits = found(&store, "ping", &many).await;
        assert_eq!(hits.len(), 20);
        assert!(hits.iter().all(|text| !text.ends_with("room-0")));
        // A room's word in the index is never a match for typed words.
        for rooms in [&all[..], &few[..]] {
            assert_eq!(found(&store, "r1", rooms).await, ["ping r1 r2 r3"]);
            assert_eq!(found(&store, "r1*", rooms).await, ["ping r1 r2 r3"]);
            for n in 0..=rooms.len() + 8 {
                let word = format!("r{n}");
                for hit in found(&store, &word, rooms).await {
                    assert!(hit.split(' ').any(|w| w == word), "{word}: {hit}");
                }
            }
        }
        assert!(found(&store, "r2", &["room-0"]).await.is_empty());
        assert!(found(&store, "ping", &["nowhere"]).await.is_empty());
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
        // As a relay before search left it: no index, no `sid`; then the
        // old migrations' index (rowids by room), as schema 10 had it.
        let mut conn = schema::open_writer(dir.path(), crate::config::SyncLevel::Full).unwrap();
        conn.execute_batch(
            "DROP TRIGGER message_search_update;
             DROP TRIGGER message_search_delete;
             DROP TABLE message_search;
             ALTER TABLE messages DROP COLUMN sid;",
        )
        .unwrap();
        let tx = conn.transaction().unwrap();
        super::create_index(&tx).unwrap();
        super::drop_insert_trigger(&tx).unwrap();
        tx.commit().unwrap();
        conn.pragma_update(None, "user_version", 10).unwrap();
        drop(conn);
        // Opening runs migrations 11 and 12: numbered by time, indexed
        // again, with the rooms (two rooms: found through their words).
        let store = open(dir.path());
        let both = ["general", "ops"];
        assert_eq!(found(&store, "分布式", &["general"]).await.len(), 1);
        assert_eq!(
            found(&store, "聊天", &both).await,
            ["deploy finished; 聊天 works", "我们的分布式聊天系统上线了"]
        );
        // New messages are numbered after the old ones: found first.
        say(&store, "general", "dave", "分布式 again", 9).await;
        assert_eq!(
            found(&store, "分布式", &both).await,
            ["分布式 again", "我们的分布式聊天系统上线了"]
        );
        drop(store);
        // And the triggers follow the new numbers.
        let conn = schema::open_writer(dir.path(), crate::config::SyncLevel::Full).unwrap();
        conn.execute(
            "UPDATE messages SET text = 'gone' WHERE text = '分布式 again'",
            [],
        )
        .unwrap();
        drop(conn);
        let store = open(dir.path());
        assert_eq!(found(&store, "gone", &both).await, ["gone"]);
        assert_eq!(found(&store, "分布式", &both).await.len(), 1);
    }
}
