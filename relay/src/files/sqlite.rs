//! The file index in the data directory's database: tables `files` and
//! `file_posts`, created by the migration [`create_tables`] (appended to
//! the store's list in `store::sqlite::schema`).
//!
//! Its own connection, like the accounts': file writes are few (an
//! upload, a post, a delivery's seq, garbage collection) and must not wait
//! behind the message writer's queue.

use std::{
    path::Path,
    sync::{Arc, Mutex},
    time::Duration,
};

use rusqlite::{params, Connection};
use shared::{ClientId, FileId, RoomName, UserId};

use super::index::{FileRecord, Post, PostKey};
use crate::store::sqlite::db_path;

const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The migration that adds the file tables. Self-contained: it only
/// creates tables of its own, and only if missing, so it may be renumbered
/// and a test that winds `user_version` back may run it again.
pub fn create_tables(tx: &rusqlite::Transaction) -> rusqlite::Result<()> {
    tx.execute_batch(
        "CREATE TABLE IF NOT EXISTS files (
            id TEXT PRIMARY KEY,
            sha256 TEXT NOT NULL,
            name TEXT NOT NULL,
            size INTEGER NOT NULL,
            mime TEXT NOT NULL,
            width INTEGER,
            height INTEGER,
            thumb TEXT,
            owner TEXT NOT NULL,
            created_ms INTEGER NOT NULL
        ) WITHOUT ROWID;
        CREATE TABLE IF NOT EXISTS file_posts (
            room TEXT NOT NULL,
            user_id TEXT NOT NULL,
            client_id TEXT NOT NULL,
            -- The posted file ids, in order, separated by spaces.
            files TEXT NOT NULL,
            seq INTEGER,
            created_ms INTEGER NOT NULL,
            PRIMARY KEY (room, user_id, client_id)
        ) WITHOUT ROWID;",
    )
}

/// Every file record and every post, as kept.
pub type Loaded = (Vec<FileRecord>, Vec<(PostKey, Post)>);

pub struct SqliteFiles {
    conn: Arc<Mutex<Connection>>,
}

fn to_sql(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

impl SqliteFiles {
    /// Opens the database of `dir`, which the store has already locked and
    /// migrated, committing at the store's `sync` level.
    pub fn open(dir: &Path, sync: crate::config::SyncLevel) -> rusqlite::Result<SqliteFiles> {
        let conn = Connection::open(db_path(dir))?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        crate::store::sqlite::schema::set_sync(&conn, sync)?;
        Ok(SqliteFiles {
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    /// Runs `work` with the connection on the blocking pool.
    pub async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> rusqlite::Result<T> {
        let conn = self.conn.clone();
        tokio::task::spawn_blocking(move || work(&conn.lock().unwrap()))
            .await
            .unwrap_or_else(|err| std::panic::resume_unwind(err.into_panic()))
    }

    pub fn load(&self) -> rusqlite::Result<Loaded> {
        let conn = self.conn.lock().unwrap();
        let files = conn
            .prepare(
                "SELECT id, sha256, name, size, mime, width, height, thumb, owner, created_ms FROM files",
            )?
            .query_map([], |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    FileRecord {
                        id: FileId::new("x").expect("valid"),
                        sha256: row.get(1)?,
                        name: row.get(2)?,
                        size: row.get::<_, i64>(3)? as u64,
                        mime: row.get(4)?,
                        width: row.get(5)?,
                        height: row.get(6)?,
                        thumb: row.get(7)?,
                        owner: UserId(row.get(8)?),
                        created_ms: row.get::<_, i64>(9)? as u64,
                    },
                ))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?
            .into_iter()
            .filter_map(|(id, file)| {
                Some(FileRecord {
                    id: FileId::new(&id).ok()?,
                    ..file
                })
            })
            .collect();
        let posts = conn
            .prepare("SELECT room, user_id, client_id, files, seq, created_ms FROM file_posts")?
            .query_map([], |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    row.get::<_, String>(1)?,
                    row.get::<_, String>(2)?,
                    row.get::<_, String>(3)?,
                    row.get::<_, Option<i64>>(4)?,
                    row.get::<_, i64>(5)?,
                ))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?
            .into_iter()
            .filter_map(|(room, user, client_id, files, seq, created_ms)| {
                let key = PostKey {
                    room: RoomName::new(&room).ok()?,
                    user: UserId(user),
                    client_id: ClientId::new(&client_id).ok()?,
                };
                let post = Post {
                    files: files
                        .split(' ')
                        .filter_map(|id| FileId::new(id).ok())
                        .collect(),
                    seq: seq.map(|seq| seq as u64),
                    created_ms: created_ms as u64,
                };
                Some((key, post))
            })
            .collect();
        Ok((files, posts))
    }

    pub async fn insert_file(&self, file: FileRecord) -> rusqlite::Result<()> {
        self.run(move |conn| {
            conn.execute(
                "INSERT OR REPLACE INTO files (id, sha256, name, size, mime, width, height, thumb, owner, created_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                params![
                    file.id.as_str(),
                    file.sha256,
                    file.name,
                    to_sql(file.size),
                    file.mime,
                    file.width,
                    file.height,
                    file.thumb,
                    file.owner.0,
                    to_sql(file.created_ms)
                ],
            )
            .map(drop)
        })
        .await
    }

    pub async fn insert_post(&self, key: PostKey, post: Post) -> rusqlite::Result<()> {
        self.run(move |conn| {
            let files: Vec<&str> = post.files.iter().map(FileId::as_str).collect();
            conn.execute(
                "INSERT OR IGNORE INTO file_posts (room, user_id, client_id, files, seq, created_ms)
                 VALUES (?1, ?2, ?3, ?4, NULL, ?5)",
                params![
                    key.room.as_str(),
                    key.user.0,
                    key.client_id.as_str(),
                    files.join(" "),
                    to_sql(post.created_ms)
                ],
            )
            .map(drop)
        })
        .await
    }

    pub async fn set_seq(&self, key: PostKey, seq: u64) -> rusqlite::Result<()> {
        self.run(move |conn| {
            conn.execute(
                "UPDATE file_posts SET seq = ?4 WHERE room = ?1 AND user_id = ?2 AND client_id = ?3",
                params![key.room.as_str(), key.user.0, key.client_id.as_str(), to_sql(seq)],
            )
            .map(drop)
        })
        .await
    }

    pub async fn delete(&self, posts: Vec<PostKey>, files: Vec<FileId>) -> rusqlite::Result<()> {
        self.run(move |conn| {
            let tx = conn.unchecked_transaction()?;
            for key in &posts {
                tx.execute(
                    "DELETE FROM file_posts WHERE room = ?1 AND user_id = ?2 AND client_id = ?3",
                    params![key.room.as_str(), key.user.0, key.client_id.as_str()],
                )?;
            }
            for id in &files {
                tx.execute("DELETE FROM files WHERE id = ?1", params![id.as_str()])?;
            }
            tx.commit()
        })
        .await
    }
}
