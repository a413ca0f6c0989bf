//! The index applies the stream's records idempotently and answers like
//! the standalone store: Chinese inside longer text, current text only,
//! deleted messages never, only the rooms asked for.

use shared::{
    protocol::{Update, UpdateKind},
    search::Query,
    ChatMessage, Nick, RoomName, Text, User, UserId,
};

use super::{index::Index, wire::Ask};
use crate::{
    backplane::jetstream::Record,
    store::{search::Cursor, SearchRequest},
};

fn alice() -> User {
    User {
        id: UserId("u-alice".into()),
        nick: Nick::new("alice").unwrap(),
    }
}

fn message(room: &str, seq: u64, text: &str) -> Record {
    Record::Message(ChatMessage {
        room: RoomName::new(room).unwrap(),
        seq,
        from: alice(),
        text: Text::new(text).unwrap(),
        ts: seq * 10,
        client_id: None,
        state: Default::default(),
    })
}

fn event(room: &str, seq: u64, target: u64, kind: UpdateKind, text: Option<&str>) -> Update {
    Update {
        room: RoomName::new(room).unwrap(),
        seq,
        target,
        kind,
        from: alice(),
        ts: seq * 10,
        client_id: None,
        text: text.map(|t| Text::new(t).unwrap()),
        emoji: None,
        on: None,
        mentions: Vec::new(),
        mentions_room: false,
    }
}

fn edit(room: &str, seq: u64, target: u64, text: &str) -> Record {
    Record::Event(
        event(room, seq, target, UpdateKind::Edit, Some(text)),
        None,
        Vec::new(),
    )
}

/// A delete as the stream keeps it: with its target's tombstone.
fn delete(room: &str, seq: u64, target: u64) -> Record {
    let Record::Message(mut tombstone) = message(room, target, "message deleted") else {
        unreachable!()
    };
    tombstone.state.deleted = true;
    Record::Event(
        event(room, seq, target, UpdateKind::Delete, None),
        Some(Box::new(tombstone)),
        Vec::new(),
    )
}

/// The texts `index` finds for `q` in `rooms`, newest first.
fn found(index: &Index, q: &str, rooms: &[&str]) -> Vec<String> {
    let request = SearchRequest {
        query: Query::parse(q),
        rooms: rooms.iter().map(|r| RoomName::new(r).unwrap()).collect(),
        from: None,
        before: None,
        limit: 20,
    };
    let ask = Ask::of(&request).expect("words to look for");
    let found = index.search(&ask, None).unwrap();
    found.messages.iter().map(|m| m.text.to_string()).collect()
}

fn stream() -> Vec<Record> {
    vec![
        message("general", 1, "我们的分布式聊天系统上线了"),
        message("ops", 2, "the relay is donw"),
        message("general", 3, "secret relay password"),
        edit("ops", 4, 2, "the relay is down"),
        delete("general", 5, 3),
        edit("ops", 6, 2, "the relay is down again"),
    ]
}

#[test]
fn the_index_shows_current_text_and_never_a_deleted_message() {
    let dir = tempfile::tempdir().unwrap();
    let index = Index::open(dir.path()).unwrap();
    let applied = index.apply(&stream(), 6).unwrap();
    assert_eq!((applied.records, applied.indexed), (6, 3));
    let both = ["general", "ops"];
    assert_eq!(found(&index, "聊天", &both), ["我们的分布式聊天系统上线了"]);
    assert_eq!(found(&index, "again", &both), ["the relay is down again"]);
    assert!(found(&index, "donw", &both).is_empty());
    assert!(found(&index, "secret", &both).is_empty());
    assert!(found(&index, "deleted", &both).is_empty());
    assert_eq!(found(&index, "relay", &both), ["the relay is down again"]);
    // Only the rooms asked for.
    assert!(found(&index, "relay", &["general"]).is_empty());
    assert!(found(&index, "聊天", &["ops"]).is_empty());
    assert_eq!(index.applied().unwrap(), 6);
}

#[test]
fn applying_records_again_or_late_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let index = Index::open(dir.path()).unwrap();
    index.apply(&stream(), 6).unwrap();
    // Redelivered, whole and in pieces: the message after its delete, the
    // first edit after the second.
    let again = index.apply(&stream(), 6).unwrap();
    assert_eq!(again.indexed, 0);
    let mut late = stream();
    late.reverse();
    index.apply(&late, 6).unwrap();
    let both = ["general", "ops"];
    assert!(found(&index, "secret", &both).is_empty());
    assert_eq!(found(&index, "relay", &both), ["the relay is down again"]);
    assert_eq!(index.len().unwrap(), 3);
}

#[test]
fn a_delete_whose_message_never_came_keeps_it_deleted() {
    // The stream erased the message before this indexer read it: only the
    // delete, with its tombstone, is left; a stray copy stays hidden.
    let dir = tempfile::tempdir().unwrap();
    let index = Index::open(dir.path()).unwrap();
    index.apply(&[delete("general", 5, 3)], 5).unwrap();
    index
        .apply(&[message("general", 3, "secret relay password")], 5)
        .unwrap();
    assert!(found(&index, "secret", &["general"]).is_empty());
    // An edit of a deleted message does not bring its text back.
    index
        .apply(&[edit("general", 7, 3, "secret again")], 7)
        .unwrap();
    assert!(found(&index, "secret", &["general"]).is_empty());
}

#[test]
fn the_index_and_its_name_outlive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let index = Index::open(dir.path()).unwrap();
    index.apply(&stream(), 6).unwrap();
    let name = index.name().unwrap();
    drop(index);
    let index = Index::open(dir.path()).unwrap();
    assert_eq!(index.name().unwrap(), name);
    assert_eq!(index.applied().unwrap(), 6);
    assert_eq!(found(&index, "分布式", &["general"]).len(), 1);
    index.clear().unwrap();
    assert_eq!((index.len().unwrap(), index.applied().unwrap()), (0, 0));
}

#[test]
fn pages_go_newest_first_and_continue_at_the_cursor() {
    let dir = tempfile::tempdir().unwrap();
    let index = Index::open(dir.path()).unwrap();
    let records: Vec<Record> = (1..=5)
        .map(|seq| message(["a", "b"][seq as usize % 2], seq, &format!("ping {seq}")))
        .collect();
    index.apply(&records, 5).unwrap();
    let mut request = SearchRequest {
        query: Query::parse("ping"),
        rooms: vec![RoomName::new("a").unwrap(), RoomName::new("b").unwrap()],
        from: None,
        before: None,
        limit: 2,
    };
    let mut pages = Vec::new();
    loop {
        let ask = Ask::of(&request).unwrap();
        let found = index.search(&ask, ask.cursor().unwrap().as_ref()).unwrap();
        pages.push(found.messages.iter().map(|m| m.seq).collect::<Vec<_>>());
        if !found.more {
            break;
        }
        request.before = found.messages.last().map(Cursor::of);
    }
    assert_eq!(pages, [vec![5, 4], vec![3, 2], vec![1]]);
}

#[test]
fn messages_past_the_streams_max_age_leave_the_index() {
    let dir = tempfile::tempdir().unwrap();
    let index = Index::open(dir.path()).unwrap();
    index.apply(&stream(), 6).unwrap();
    // Messages 1 and 2 are older than ts 30; message 3 was deleted.
    assert_eq!(index.forget_before(30).unwrap(), 2);
    assert!(found(&index, "聊天", &["general"]).is_empty());
    assert!(found(&index, "relay", &["ops"]).is_empty());
}

#[test]
fn messages_the_stream_pushed_out_of_a_room_leave_the_index() {
    let dir = tempfile::tempdir().unwrap();
    let index = Index::open(dir.path()).unwrap();
    let mut records = stream();
    records.push(message("general", 7, "聊天 later"));
    records.push(message("ops", 8, "relay up"));
    index.apply(&records, 8).unwrap();
    assert_eq!(
        index.oldest_per_room().unwrap(),
        [("general".to_string(), 1), ("ops".to_string(), 2)]
    );
    // The stream's first record of general is now 5: 1 and 3 are gone
    // from history (3, a tombstone, with them). ops keeps everything.
    let dropped = index
        .forget_below(&[("general".to_string(), 5), ("ops".to_string(), 2)])
        .unwrap();
    assert_eq!(dropped, 2);
    let both = ["general", "ops"];
    assert_eq!(found(&index, "聊天", &both), ["聊天 later"]);
    assert_eq!(
        found(&index, "relay", &both),
        ["relay up", "the relay is down again"]
    );
    // A room the stream holds nothing of any more loses every message.
    index
        .forget_below(&[("ops".to_string(), i64::MAX as u64)])
        .unwrap();
    assert!(found(&index, "relay", &both).is_empty());
    assert_eq!(index.len().unwrap(), 1);
}

#[test]
fn an_index_from_before_room_words_is_indexed_again_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let index = Index::open(dir.path()).unwrap();
    index.apply(&stream(), 6).unwrap();
    drop(index);
    // As schema 1 left it: no `room` column.
    let conn = rusqlite::Connection::open(dir.path().join(super::index::INDEX_FILE)).unwrap();
    conn.execute_batch(
        "DROP TABLE message_search;
         CREATE VIRTUAL TABLE message_search USING fts5(
            body, tokenize = 'unicode61 remove_diacritics 2', columnsize = 0
         );
         INSERT INTO message_search (rowid, body)
         SELECT seq, lower(text) FROM messages WHERE deleted = 0;
         PRAGMA user_version = 1;",
    )
    .unwrap();
    drop(conn);
    let index = Index::open(dir.path()).unwrap();
    let both = ["general", "ops"];
    assert_eq!(found(&index, "聊天", &both), ["我们的分布式聊天系统上线了"]);
    assert_eq!(
        found(&index, "relay", &["ops"]),
        ["the relay is down again"]
    );
    assert!(found(&index, "relay", &["general"]).is_empty());
    assert!(found(&index, "secret", &both).is_empty());
    // A room's word is not a word of the text.
    let general = format!("r{}", crate::backplane::hex_token("general"));
    assert!(found(&index, &general, &both).is_empty());
}

#[test]
fn the_request_and_answer_on_palaver_search_keep_their_form() {
    let request = SearchRequest {
        query: Query::parse("聊天 deploy* from:Alice"),
        rooms: vec![RoomName::new("general").unwrap()],
        from: None,
        before: Some(Cursor {
            ts: 7,
            room: RoomName::new("general").unwrap(),
            seq: 3,
        }),
        limit: 20,
    };
    let ask = Ask::of(&request).unwrap();
    let json = serde_json::to_string(&ask).unwrap();
    assert_eq!(
        json,
        r#"{"fts5":"(\"聊天\") AND (\"deploy\" *)","nick":"alice","rooms":["general"],"before":"7.3.general","limit":20}"#
    );
    let back: Ask = serde_json::from_str(&json).unwrap();
    assert_eq!(back.cursor().unwrap(), request.before);
    let error = super::wire::Answer::Error {
        error: "boom".into(),
    };
    assert_eq!(
        serde_json::to_string(&error).unwrap(),
        r#"{"error":"boom"}"#
    );
    let hits: super::wire::Answer =
        serde_json::from_str(r#"{"messages":[],"more":false}"#).unwrap();
    assert_eq!(
        hits,
        super::wire::Answer::Hits {
            messages: Vec::new(),
            more: false
        }
    );
}
