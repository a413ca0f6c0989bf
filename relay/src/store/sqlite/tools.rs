//! Operator tools on a data directory: `export` and `delete-room`.
//!
//! Export only reads, so it works while a relay runs (WAL lets readers and
//! the writer proceed together). Deleting takes the data directory's lock:
//! the running relay caches recent messages, so it must be stopped first.

use std::{io::Write, path::Path};

use rusqlite::{params, OptionalExtension};
use shared::RoomName;

use super::{read_range, schema, OpenError};
use crate::config::SyncLevel;

/// Messages read per query while exporting.
const EXPORT_PAGE: usize = 1000;

#[derive(Debug, thiserror::Error)]
pub enum ToolError {
    #[error(transparent)]
    Open(#[from] OpenError),
    #[error("reading the store failed: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("writing the export failed: {0}")]
    Write(#[from] std::io::Error),
    /// A stored file is not what its record says (`export --files`).
    #[error("{0}")]
    Corrupt(String),
}

/// Writes every stored message of `room` to `out` as JSON lines (one
/// `ChatMessage` per line, oldest first); returns how many. `each` sees
/// every message too, with the export's read transaction (what
/// `files::export` writes a message's files with).
pub fn export_room(
    dir: &Path,
    room: &RoomName,
    out: &mut impl Write,
    mut each: impl FnMut(&rusqlite::Connection, &shared::ChatMessage) -> Result<(), ToolError>,
) -> Result<u64, ToolError> {
    let conn = schema::open_reader(dir)?;
    // One read transaction: the export is a consistent snapshot even while
    // the relay keeps writing.
    conn.execute_batch("BEGIN")?;
    let mut after = 0;
    let mut count = 0;
    loop {
        let page = oldest_after(&conn, room, after)?;
        let Some(last) = page.last() else { break };
        after = last.seq;
        for message in &page {
            serde_json::to_writer(&mut *out, message).map_err(std::io::Error::from)?;
            out.write_all(b"\n")?;
            each(&conn, message)?;
            count += 1;
        }
    }
    conn.execute_batch("COMMIT")?;
    out.flush()?;
    Ok(count)
}

/// The oldest [`EXPORT_PAGE`] messages after `after`.
fn oldest_after(
    conn: &rusqlite::Connection,
    room: &RoomName,
    after: u64,
) -> rusqlite::Result<Vec<shared::ChatMessage>> {
    let upper: Option<i64> = conn
        .query_row(
            "SELECT m.seq FROM messages m JOIN rooms r ON r.id = m.room_id
             WHERE r.name = ?1 AND m.seq > ?2 ORDER BY m.seq LIMIT 1 OFFSET ?3",
            params![room.as_str(), super::to_sql(after), EXPORT_PAGE as i64],
            |row| row.get(0),
        )
        .optional()?;
    let below = upper.map_or(u64::MAX, |seq| seq as u64);
    read_range(conn, room, after, below, EXPORT_PAGE)
}

/// Deletes every message of `room` (its seq counter stays, so seqs are
/// never reused); returns how many were deleted. Fails if a relay is
/// running on `dir`.
pub fn delete_room(dir: &Path, room: &RoomName) -> Result<u64, ToolError> {
    if !super::db_path(dir).is_file() {
        return Err(OpenError::Missing {
            path: dir.to_path_buf(),
        }
        .into());
    }
    let _lock = schema::lock(dir)?;
    let mut conn = schema::open_writer(dir, SyncLevel::Full)?;
    let tx = conn.transaction()?;
    let deleted = tx.execute(
        "DELETE FROM messages WHERE room_id = (SELECT id FROM rooms WHERE name = ?1)",
        [room.as_str()],
    )?;
    for table in ["reactions", "message_events"] {
        tx.execute(
            &format!("DELETE FROM {table} WHERE room_id = (SELECT id FROM rooms WHERE name = ?1)"),
            [room.as_str()],
        )?;
    }
    tx.commit()?;
    Ok(deleted as u64)
}
