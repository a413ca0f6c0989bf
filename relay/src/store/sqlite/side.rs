//! A second connection to the data directory's database, for what is kept
//! beside the messages (accounts, memberships, push subscriptions; one
//! connection each): each write is awaited by
//! whoever asked, never queued behind messages or dropped when the message
//! writer is busy. The two connections take turns on SQLite's write lock
//! (WAL, with a busy timeout).

use std::{
    panic::{catch_unwind, AssertUnwindSafe},
    path::Path,
    sync::mpsc,
    time::Duration,
};

use futures_util::future::BoxFuture;
use rusqlite::Connection;
use tokio::sync::oneshot;

use super::{db_path, schema::set_sync, OpenError};
use crate::config::SyncLevel;

/// Waits this long for the message writer to release the write lock.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// A task for the connection's thread.
type Job = Box<dyn FnOnce(&mut Connection) + Send>;

/// The connection lives on its own thread, which runs the tasks sent to it
/// one after the other, in the order they came. (Each task used to take a
/// thread of tokio's blocking pool and wait there for the connection's
/// lock: 19,000 users joining at once held 512 threads, most of them
/// waiting, and joined at half the speed of the memory store;
/// docs/PERFORMANCE.md.)
pub struct SideConnection {
    /// `None` only while dropping.
    jobs: Option<mpsc::Sender<Job>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl SideConnection {
    /// Opens the database of `dir`, which the store has already locked and
    /// migrated (open the store first), with the store's `--sync` level,
    /// and starts its thread. Dropping the `SideConnection` waits for the
    /// tasks sent and closes the connection (SQLite's checkpoint on close
    /// included), as dropping a `Connection` does.
    pub fn open(dir: &Path, sync: SyncLevel) -> Result<SideConnection, OpenError> {
        Self::open_with(dir, sync, |_| Ok(())).map(|(side, ())| side)
    }

    /// [`SideConnection::open`], running `init` on the connection before
    /// its thread takes it (what an engine loads once at start-up).
    pub fn open_with<T>(
        dir: &Path,
        sync: SyncLevel,
        init: impl FnOnce(&Connection) -> rusqlite::Result<T>,
    ) -> Result<(SideConnection, T), OpenError> {
        let sqlite = |source| OpenError::Sqlite {
            path: dir.to_path_buf(),
            source,
        };
        let mut conn = Connection::open(db_path(dir)).map_err(sqlite)?;
        conn.busy_timeout(BUSY_TIMEOUT).map_err(sqlite)?;
        // Without it every commit of accounts and memberships was fsynced
        // (SQLite's default, FULL), whatever --sync said: two fsyncs per
        // user joining (docs/PERFORMANCE.md).
        set_sync(&conn, sync).map_err(sqlite)?;
        let loaded = init(&conn).map_err(sqlite)?;
        let (jobs, queue) = mpsc::channel::<Job>();
        let thread = std::thread::Builder::new()
            .name("palaver-sqlite-side".into())
            .spawn(move || {
                for job in queue {
                    job(&mut conn);
                }
            })
            .map_err(|source| OpenError::DataDir {
                path: dir.to_path_buf(),
                source,
            })?;
        let side = SideConnection {
            jobs: Some(jobs),
            thread: Some(thread),
        };
        Ok((side, loaded))
    }

    /// Runs `work` on the connection's thread; a failure is its message,
    /// for the caller's own error type. A task that panics fails alone:
    /// the thread goes on with the next.
    pub fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> BoxFuture<'static, Result<T, String>> {
        let (done, result) = oneshot::channel();
        let job: Job = Box::new(move |conn| {
            let _ = done.send(catch_unwind(AssertUnwindSafe(|| work(conn))));
        });
        let queued = self
            .jobs
            .as_ref()
            .is_some_and(|jobs| jobs.send(job).is_ok());
        Box::pin(async move {
            const GONE: &str = "the database connection's thread has stopped";
            if !queued {
                return Err(GONE.to_owned());
            }
            match result.await {
                Ok(Ok(outcome)) => outcome.map_err(|err| err.to_string()),
                Ok(Err(_panic)) => Err("a database task failed (it panicked)".to_owned()),
                Err(_) => Err(GONE.to_owned()),
            }
        })
    }
}

impl Drop for SideConnection {
    fn drop(&mut self) {
        drop(self.jobs.take());
        if let Some(thread) = self.thread.take() {
            // Never from its own thread (a task that dropped the last
            // owner): that would wait for itself.
            if thread.thread().id() != std::thread::current().id() {
                let _ = thread.join();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn side() -> (tempfile::TempDir, SideConnection) {
        let dir = tempfile::tempdir().unwrap();
        let conn = Connection::open(db_path(dir.path())).unwrap();
        conn.execute_batch("CREATE TABLE t (n INTEGER)").unwrap();
        drop(conn);
        let side = SideConnection::open(dir.path(), SyncLevel::Normal).unwrap();
        (dir, side)
    }

    #[tokio::test]
    async fn tasks_run_in_order_and_a_panic_fails_only_its_own() {
        let (_dir, side) = side();
        let writes: Vec<_> = (0..100)
            .map(|n| side.blocking(move |c| c.execute("INSERT INTO t VALUES (?1)", [n])))
            .collect();
        let panicked = side.blocking(|_| -> rusqlite::Result<()> { panic!("a bug") });
        for write in writes {
            assert_eq!(write.await, Ok(1));
        }
        assert!(panicked.await.unwrap_err().contains("panicked"));
        let order: Vec<i64> = side
            .blocking(|c| {
                let mut stmt = c.prepare("SELECT n FROM t ORDER BY rowid")?;
                let rows = stmt.query_map([], |r| r.get(0))?;
                rows.collect()
            })
            .await
            .unwrap();
        assert_eq!(order, (0..100).collect::<Vec<_>>(), "in the order sent");
    }

    #[tokio::test]
    async fn it_commits_at_the_stores_sync_level_not_sqlites_default() {
        let dir = tempfile::tempdir().unwrap();
        for (level, pragma) in [
            (SyncLevel::Off, 0),
            (SyncLevel::Normal, 1),
            (SyncLevel::Full, 2),
        ] {
            let side = SideConnection::open(dir.path(), level).unwrap();
            let got: i64 = side
                .blocking(|c| c.query_row("PRAGMA synchronous", [], |r| r.get(0)))
                .await
                .unwrap();
            assert_eq!(got, pragma, "{level:?}");
        }
    }
}
