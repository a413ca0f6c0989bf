//! A second connection to the data directory's database, for what is kept
//! beside the messages (accounts, memberships): each write is awaited by
//! whoever asked, never queued behind messages or dropped when the message
//! writer is busy. The two connections take turns on SQLite's write lock
//! (WAL, with a busy timeout).

use std::{
    path::Path,
    sync::{Arc, Mutex},
    time::Duration,
};

use futures_util::future::BoxFuture;
use rusqlite::Connection;

use super::{db_path, OpenError};

/// Waits this long for the message writer to release the write lock.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

pub struct SideConnection {
    /// One connection, used by one blocking task at a time.
    conn: Arc<Mutex<Connection>>,
}

impl SideConnection {
    /// Opens the database of `dir`, which the store has already locked and
    /// migrated (open the store first).
    pub fn open(dir: &Path) -> Result<SideConnection, OpenError> {
        let sqlite = |source| OpenError::Sqlite {
            path: dir.to_path_buf(),
            source,
        };
        let conn = Connection::open(db_path(dir)).map_err(sqlite)?;
        conn.busy_timeout(BUSY_TIMEOUT).map_err(sqlite)?;
        Ok(SideConnection {
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    /// Runs `work` on the blocking pool with the connection; a failure is
    /// its message, for the caller's own error type.
    pub fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> BoxFuture<'static, Result<T, String>> {
        let conn = self.conn.clone();
        Box::pin(async move {
            tokio::task::spawn_blocking(move || work(&mut conn.lock().unwrap()))
                .await
                .map_err(|err| err.to_string())?
                .map_err(|err| err.to_string())
        })
    }
}
