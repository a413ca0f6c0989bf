//! WAL checkpoints on a thread of their own.
//!
//! By default SQLite checkpoints in whichever connection's commit finds
//! the WAL past 1,000 pages: the message writer would stop every few
//! hundred commits to copy ~4 MB into the database file (and fsync it),
//! and every send waiting behind that commit would wait too. Here the
//! writing connections never checkpoint (`wal_autocheckpoint = 0`); this
//! thread runs a `PASSIVE` checkpoint every [`EVERY`] on a connection of
//! its own, which copies what no reader still needs without taking the
//! write lock, so commits go on meanwhile. The WAL then starts over from
//! its beginning at the next commit after a complete checkpoint, as
//! before. (`Writer::erase_wal` still truncates the WAL itself after a
//! delete.)

use std::{
    path::Path,
    sync::mpsc::{self, RecvTimeoutError},
    thread::JoinHandle,
    time::Duration,
};

use rusqlite::Connection;

use super::{db_path, schema::set_sync, OpenError};
use crate::config::SyncLevel;

/// How often the WAL is checkpointed.
const EVERY: Duration = Duration::from_millis(100);

/// Stops the thread (after one last checkpoint) when dropped.
pub(super) struct Checkpointer {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

/// Makes `conn` leave checkpoints to the [`Checkpointer`].
pub(super) fn leave_checkpoints(conn: &Connection) -> rusqlite::Result<()> {
    conn.pragma_update(None, "wal_autocheckpoint", 0)
}

impl Checkpointer {
    /// Starts checkpointing the database of `dir` (already open and in WAL
    /// mode), fsyncing as the store's `sync` level says.
    pub(super) fn start(dir: &Path, sync: SyncLevel) -> Result<Checkpointer, OpenError> {
        let sqlite = |source| OpenError::Sqlite {
            path: dir.to_path_buf(),
            source,
        };
        let conn = Connection::open(db_path(dir)).map_err(sqlite)?;
        set_sync(&conn, sync).map_err(sqlite)?;
        leave_checkpoints(&conn).map_err(sqlite)?;
        let (stop, stopped) = mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("store-checkpoint".into())
            .spawn(move || loop {
                let last = !matches!(stopped.recv_timeout(EVERY), Err(RecvTimeoutError::Timeout));
                checkpoint(&conn);
                if last {
                    return;
                }
            })
            .map_err(|source| OpenError::DataDir {
                path: dir.to_path_buf(),
                source,
            })?;
        Ok(Checkpointer {
            stop: Some(stop),
            thread: Some(thread),
        })
    }
}

/// One passive checkpoint: as much of the WAL as no reader needs.
fn checkpoint(conn: &Connection) {
    let done = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |row| {
        Ok((row.get::<_, i64>(1)?, row.get::<_, i64>(2)?))
    });
    match done {
        Ok((wal, copied)) if copied < wal => {
            tracing::trace!("checkpoint: {copied} of {wal} WAL pages (a reader holds the rest)")
        }
        Ok(_) => {}
        Err(err) => tracing::debug!("checkpoint failed (will retry): {err}"),
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
