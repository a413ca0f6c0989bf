//! A second connection to the data directory's database, for what is kept
//! beside the messages (accounts, memberships, push subscriptions; one
//! connection each): each write is awaited by
//! whoever asked, never queued behind messages or dropped when the message
//! writer is busy. The two connections take turns on SQLite's write lock
//! (WAL, with a busy timeout).
//!
//! **Group commit.** Tasks that are waiting when the thread is free run
//! together in one transaction, each in a savepoint of its own: a task
//! that fails (or panics) rolls back alone, and every task is answered
//! only after the one commit, with its error if that commit failed. So
//! 19,000 users joining at once cost a few hundred commits, not 38,000
//! (docs/PERFORMANCE.md). A task that needs a transaction asks
//! [`write_tx`], which is a savepoint inside a group and an immediate
//! transaction on its own.

use std::{
    panic::{catch_unwind, AssertUnwindSafe},
    path::Path,
    sync::mpsc,
    time::Duration,
};

use futures_util::future::BoxFuture;
use rusqlite::{Connection, Savepoint, Transaction, TransactionBehavior};
use tokio::sync::oneshot;

use super::{db_path, schema::set_sync, OpenError};
use crate::config::SyncLevel;

/// Waits this long for the message writer to release the write lock.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Tasks committed together at most.
const MAX_GROUP: usize = 256;

/// A task for the connection's thread: it runs, says whether it
/// succeeded (kept) or not (rolled back), and is answered once the
/// transaction it ran in committed (`None`) or failed (`Some(error)`).
type Job = Box<dyn FnOnce(&mut Connection) -> (bool, Answer) + Send>;
type Answer = Box<dyn FnOnce(Option<String>) + Send>;

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
        super::checkpoint::leave_checkpoints(&conn).map_err(sqlite)?;
        let loaded = init(&conn).map_err(sqlite)?;
        let (jobs, queue) = mpsc::channel::<Job>();
        let thread = std::thread::Builder::new()
            .name("palaver-sqlite-side".into())
            .spawn(move || {
                while let Ok(first) = queue.recv() {
                    let mut group = vec![first];
                    while group.len() < MAX_GROUP {
                        match queue.try_recv() {
                            Ok(job) => group.push(job),
                            Err(_) => break,
                        }
                    }
                    run_group(&mut conn, group);
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
        let (done, result) = oneshot::channel::<Result<T, String>>();
        let job: Job = Box::new(move |conn| {
            let outcome = match catch_unwind(AssertUnwindSafe(|| work(conn))) {
                Ok(Ok(value)) => Ok(value),
                Ok(Err(err)) => Err(err.to_string()),
                Err(_panic) => Err("a database task failed (it panicked)".to_owned()),
            };
            let kept = outcome.is_ok();
            let answer: Answer = Box::new(move |commit_failed| {
                let _ = done.send(match commit_failed {
                    None => outcome,
                    Some(err) => Err(err),
                });
            });
            (kept, answer)
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
            result.await.unwrap_or_else(|_| Err(GONE.to_owned()))
        })
    }
}

/// Runs one task as it is (its own statements, or its own transaction),
/// or several in one transaction, a savepoint each; then answers them.
fn run_group(conn: &mut Connection, group: Vec<Job>) {
    if group.len() == 1 {
        let job = group.into_iter().next().expect("one job");
        let (_, answer) = job(conn);
        return answer(None);
    }
    if let Err(err) = conn.execute_batch("BEGIN IMMEDIATE") {
        // Not one transaction, then: each on its own, as above.
        tracing::debug!("grouping {} database tasks failed: {err}", group.len());
        for job in group {
            let (_, answer) = job(conn);
            answer(None);
        }
        return;
    }
    let mut answers = Vec::with_capacity(group.len());
    for job in group {
        let (kept, answer) = match conn.execute_batch("SAVEPOINT task") {
            Ok(()) => {
                let (kept, answer) = job(conn);
                let end = if kept {
                    "RELEASE task"
                } else {
                    "ROLLBACK TO task; RELEASE task"
                };
                (conn.execute_batch(end).is_ok(), answer)
            }
            Err(_) => (false, job(conn).1),
        };
        if !kept {
            tracing::trace!("a grouped database task was rolled back");
        }
        answers.push(answer);
    }
    let committed = conn.execute_batch("COMMIT").map_err(|err| {
        let _ = conn.execute_batch("ROLLBACK");
        format!("the database could not commit: {err}")
    });
    for answer in answers {
        answer(committed.as_ref().err().cloned());
    }
}

/// A write transaction for a task: an immediate transaction when the task
/// runs alone (one that read first could not take the write lock once the
/// store's writer committed meanwhile: "database is locked", not retried),
/// a savepoint of its group's transaction (already immediate) otherwise.
pub fn write_tx(conn: &mut Connection) -> rusqlite::Result<WriteTx<'_>> {
    if conn.is_autocommit() {
        conn.transaction_with_behavior(TransactionBehavior::Immediate)
            .map(WriteTx::Alone)
    } else {
        conn.savepoint().map(WriteTx::Grouped)
    }
}

/// See [`write_tx`]; commits with [`WriteTx::commit`], rolls back when
/// dropped.
pub enum WriteTx<'c> {
    Alone(Transaction<'c>),
    Grouped(Savepoint<'c>),
}

impl WriteTx<'_> {
    pub fn commit(self) -> rusqlite::Result<()> {
        match self {
            WriteTx::Alone(tx) => tx.commit(),
            WriteTx::Grouped(sp) => sp.commit(),
        }
    }
}

impl std::ops::Deref for WriteTx<'_> {
    type Target = Connection;
    fn deref(&self) -> &Connection {
        match self {
            WriteTx::Alone(tx) => tx,
            WriteTx::Grouped(sp) => sp,
        }
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

    /// Holds the connection's thread until the returned sender is used (or
    /// dropped), so the tasks sent meanwhile wait and run as one group.
    fn hold(side: &SideConnection) -> std::sync::mpsc::Sender<()> {
        let (release, held) = std::sync::mpsc::channel::<()>();
        drop(side.blocking(move |_| {
            let _ = held.recv();
            Ok(())
        }));
        release
    }

    #[tokio::test]
    async fn waiting_tasks_commit_together_and_a_failed_one_rolls_back_alone() {
        let (dir, side) = side();
        let release = hold(&side);
        let insert = |n: i64| {
            side.blocking(move |c| {
                c.execute("INSERT INTO t VALUES (?1)", [n])?;
                Ok(c.is_autocommit())
            })
        };
        let first = insert(1);
        // Writes, then fails: its write must not stay.
        let failed = side.blocking(|c| {
            c.execute("INSERT INTO t VALUES (2)", [])?;
            c.execute("INSERT INTO missing VALUES (2)", [])?;
            Ok(c.is_autocommit())
        });
        let panicked = side.blocking(|c| -> rusqlite::Result<bool> {
            c.execute("INSERT INTO t VALUES (3)", [])?;
            panic!("a bug")
        });
        // A task with a transaction of its own gets a savepoint.
        let own = side.blocking(|c| {
            let tx = write_tx(c)?;
            tx.execute("INSERT INTO t VALUES (4)", [])?;
            let grouped = !tx.is_autocommit() && matches!(tx, WriteTx::Grouped(_));
            tx.commit()?;
            Ok(grouped)
        });
        let last = insert(5);
        drop(release);
        assert_eq!(first.await, Ok(false), "ran inside the group's transaction");
        assert!(failed.await.unwrap_err().contains("missing"));
        assert!(panicked.await.unwrap_err().contains("panicked"));
        assert_eq!(own.await, Ok(true));
        assert_eq!(last.await, Ok(false));
        // Answered after the commit: another connection sees the rows.
        let other = Connection::open(db_path(dir.path())).unwrap();
        let kept: Vec<i64> = other
            .prepare("SELECT n FROM t ORDER BY rowid")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        assert_eq!(
            kept,
            [1, 4, 5],
            "the failed and the panicked task's writes are gone"
        );
    }

    #[tokio::test]
    async fn a_task_alone_runs_outside_any_transaction_and_write_tx_is_immediate() {
        let (_dir, side) = side();
        let alone = side
            .blocking(|c| {
                let autocommit = c.is_autocommit();
                let tx = write_tx(c)?;
                let immediate = matches!(tx, WriteTx::Alone(_));
                tx.commit()?;
                Ok((autocommit, immediate))
            })
            .await;
        assert_eq!(alone, Ok((true, true)));
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
