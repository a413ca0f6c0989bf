//! Retention: deleting what `--retention-messages` and `--retention-days`
//! no longer keep, on the writer thread between batches, at startup and
//! every [`RETENTION_EVERY`].

use std::time::Duration;

use rusqlite::{params, OptionalExtension, TransactionBehavior};
use shared::RoomName;
use tokio::sync::mpsc;

use super::{spawn_ticker, Writer};
use crate::store::sqlite::{to_sql, Command};

/// How often retention runs (and once at startup).
const RETENTION_EVERY: Duration = Duration::from_secs(300);
/// Asks for retention every [`RETENTION_EVERY`] until the store is gone.
pub(in crate::store::sqlite) fn spawn_retention_ticker(tx: mpsc::WeakSender<Command>) {
    spawn_ticker(tx, "retention", RETENTION_EVERY, || {
        Command::Retention(None)
    });
}

impl Writer {
    /// Deletes what the retention settings no longer keep.
    pub(super) fn retention(&mut self) {
        let now = crate::clock::now_ms();
        let max = self.options.retention_messages;
        let cutoff = self
            .options
            .retention_age
            .map(|age| now.saturating_sub(age.as_millis() as u64));
        let result = (|| -> rusqlite::Result<(usize, Vec<(RoomName, u64)>)> {
            let tx = self
                .conn
                .transaction_with_behavior(TransactionBehavior::Immediate)?;
            let mut deleted = 0;
            let mut trimmed = Vec::new();
            if max == 0 && cutoff.is_none() {
                tx.commit()?;
                return Ok((deleted, trimmed));
            }
            let rooms: Vec<(i64, String, i64)> = tx
                .prepare("SELECT id, name, last_seq FROM rooms")?
                .query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))?
                .collect::<rusqlite::Result<_>>()?;
            for (id, name, last_seq) in rooms {
                let last_seq = last_seq as u64;
                let mut through = if max > 0 {
                    last_seq.saturating_sub(max)
                } else {
                    0
                };
                if let Some(cutoff) = cutoff {
                    // Walks the room's oldest messages by primary key up to
                    // the first one young enough: no index on ts to keep up
                    // on every insert.
                    let young: Option<i64> = tx
                        .prepare_cached(
                            "SELECT seq FROM messages WHERE room_id = ?1 AND ts >= ?2
                             ORDER BY seq LIMIT 1",
                        )?
                        .query_row(params![id, to_sql(cutoff)], |row| row.get(0))
                        .optional()?;
                    let old_through = young.map_or(last_seq, |seq| (seq as u64).saturating_sub(1));
                    through = through.max(old_through);
                }
                if through == 0 {
                    continue;
                }
                deleted += tx
                    .prepare_cached("DELETE FROM messages WHERE room_id = ?1 AND seq <= ?2")?
                    .execute(params![id, to_sql(through)])?;
                // Their reactions and events (an edit's text) go with them.
                tx.prepare_cached("DELETE FROM reactions WHERE room_id = ?1 AND seq <= ?2")?
                    .execute(params![id, to_sql(through)])?;
                tx.prepare_cached(
                    "DELETE FROM message_events
                     WHERE room_id = ?1 AND (seq <= ?2 OR target <= ?2)",
                )?
                .execute(params![id, to_sql(through)])?;
                if let Ok(room) = RoomName::new(&name) {
                    trimmed.push((room, through));
                }
            }
            tx.commit()?;
            Ok((deleted, trimmed))
        })();
        match result {
            Ok((deleted, trimmed)) => {
                let mut cache = self.shared.cache.lock().unwrap();
                for (room, through) in trimmed {
                    cache.forget_through(&room, through);
                }
                if deleted > 0 {
                    tracing::info!("retention deleted {deleted} messages");
                }
            }
            Err(err) => tracing::warn!("retention failed (will retry): {err}"),
        }
    }
}
