//! The data directory: its lock file, the database file, and the schema
//! migrations (numbered by `PRAGMA user_version`).

use std::{
    fs::{File, OpenOptions},
    path::{Path, PathBuf},
};

use rusqlite::{Connection, OpenFlags};

use crate::config::SyncLevel;

/// The database file inside the data directory.
pub const DB_FILE: &str = "palaver.sqlite3";
/// Held (flock) by the one relay or tool that writes the data directory.
pub const LOCK_FILE: &str = "palaver.lock";

/// One step of the schema: SQL, or code for what SQL cannot do.
enum Migration {
    Sql(&'static str),
    Code(fn(&rusqlite::Transaction) -> rusqlite::Result<()>),
}

/// Migration `i` takes a database from `user_version` i to i + 1. Append
/// only: a shipped migration never changes.
const MIGRATIONS: &[Migration] = &[
    // 1: rooms with their seq counter, messages, and the index for dedup.
    Migration::Sql(
        "CREATE TABLE rooms (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        -- The last seq ever assigned; outlives deleted messages so seqs are
        -- never reused.
        last_seq INTEGER NOT NULL
    );
    CREATE TABLE messages (
        room_id INTEGER NOT NULL REFERENCES rooms (id),
        seq INTEGER NOT NULL,
        user_id TEXT NOT NULL,
        nick TEXT NOT NULL,
        text TEXT NOT NULL,
        ts INTEGER NOT NULL,
        client_id TEXT NOT NULL,
        PRIMARY KEY (room_id, seq)
    ) WITHOUT ROWID;
    CREATE INDEX messages_by_client_id ON messages (room_id, user_id, client_id);",
    ),
    // 2: resume identities, so a user keeps their id (and dedup its window)
    // across a restart.
    Migration::Sql(
        "CREATE TABLE identities (
        token TEXT PRIMARY KEY,
        user_id TEXT NOT NULL,
        nick TEXT NOT NULL,
        seen_ms INTEGER NOT NULL
    ) WITHOUT ROWID;",
    ),
    // 3: resume tokens kept only as their SHA-256 (`accounts::TokenHash`).
    Migration::Code(hash_resume_tokens),
    // 4: the search index over every message, kept by triggers (`search`).
    Migration::Code(super::search::create_index),
    // 5: each user's rooms, read marker and notification level
    // (`memberships`); `level` NULL means the default by the room's size.
    Migration::Sql(
        "CREATE TABLE IF NOT EXISTS memberships (
        user_id TEXT NOT NULL,
        room TEXT NOT NULL,
        read_seq INTEGER NOT NULL,
        level TEXT,
        joined_ms INTEGER NOT NULL,
        PRIMARY KEY (user_id, room)
    ) WITHOUT ROWID;
    CREATE INDEX IF NOT EXISTS memberships_by_room ON memberships (room);",
    ),
    // 6: the file index (`files::sqlite`): uploads and the messages that
    // posted them.
    Migration::Code(crate::files::sqlite::create_tables),
    // 7: message events: replies, mentions, edits, deletes, reactions
    // (`events`).
    Migration::Code(super::events::create_tables),
    // 8: each user's Web Push subscriptions (`push::subscriptions`), one
    // row per endpoint (a browser's endpoint is unique to it).
    Migration::Sql(
        "CREATE TABLE IF NOT EXISTS push_subscriptions (
        endpoint TEXT PRIMARY KEY,
        user_id TEXT NOT NULL,
        p256dh TEXT NOT NULL,
        auth TEXT NOT NULL,
        created_ms INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE INDEX IF NOT EXISTS push_subscriptions_by_user ON push_subscriptions (user_id, created_ms);",
    ),
    // 9: new messages are indexed for search by the writer, in its
    // transaction, not by a trigger per row (`search`).
    Migration::Code(super::search::drop_insert_trigger),
    // 10: a subscription's "hide message text in notifications" (its pushes
    // carry only the room and the author).
    Migration::Code(add_hide_text),
    // 11: messages numbered by time (`messages.sid`), and the search index
    // rebuilt with those numbers as rowids, so a page of hits is the
    // index's newest rows rather than every match sorted (`search`).
    Migration::Code(super::search::number_by_time),
    // 12: the search index has each message's room as a word of its own
    // column, so a search in a few rooms walks only their matches
    // (`search`).
    Migration::Code(super::search::index_rooms),
];

/// Migration 10. Only if missing: replaying migrations (a test rewinding
/// `user_version`, numbers changed at a merge) must do no harm, and
/// `ADD COLUMN` has no `IF NOT EXISTS`.
fn add_hide_text(tx: &rusqlite::Transaction) -> rusqlite::Result<()> {
    let has: bool = tx.query_row(
        "SELECT count(*) > 0 FROM pragma_table_info('push_subscriptions') WHERE name = 'hide_text'",
        [],
        |row| row.get(0),
    )?;
    if !has {
        tx.execute_batch(
            "ALTER TABLE push_subscriptions ADD COLUMN hide_text INTEGER NOT NULL DEFAULT 0;",
        )?;
    }
    Ok(())
}

/// Migration 3: rewrites `identities` keyed by the SHA-256 of each token.
/// Run with `secure_delete`, so the pages that held clear tokens are
/// zeroed, not left for whoever reads the file.
fn hash_resume_tokens(tx: &rusqlite::Transaction) -> rusqlite::Result<()> {
    tx.execute_batch(
        "ALTER TABLE identities RENAME TO identities_v2;
         CREATE TABLE identities (
            token_sha256 BLOB PRIMARY KEY,
            user_id TEXT NOT NULL,
            nick TEXT NOT NULL,
            seen_ms INTEGER NOT NULL
         ) WITHOUT ROWID;",
    )?;
    let old: Vec<(String, String, String, i64)> = tx
        .prepare("SELECT token, user_id, nick, seen_ms FROM identities_v2")?
        .query_map([], |row| {
            Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
        })?
        .collect::<rusqlite::Result<_>>()?;
    for (token, user_id, nick, seen_ms) in old {
        let hash = crate::accounts::TokenHash::of(&token);
        tx.execute(
            "INSERT OR REPLACE INTO identities (token_sha256, user_id, nick, seen_ms)
             VALUES (?1, ?2, ?3, ?4)",
            rusqlite::params![hash.as_bytes(), user_id, nick, seen_ms],
        )?;
    }
    tx.execute_batch("DROP TABLE identities_v2;")
}

/// The schema version this relay writes.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// Why a data directory cannot be used; each says what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("cannot use the data directory {path}: {source}; check that it is a writable directory or choose another with --data-dir")]
    DataDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the data directory {path} is in use by another relay (it holds {LOCK_FILE}); stop that relay or choose another --data-dir")]
    Locked { path: PathBuf },
    #[error("the data directory {path} was written by a newer relay (schema version {found}, this relay knows up to {SCHEMA_VERSION}); run a newer palaver-relay")]
    NewerSchema { path: PathBuf, found: i64 },
    #[error("there is no history in {path} (no {DB_FILE})")]
    Missing { path: PathBuf },
    #[error("the database in {path} cannot be opened: {source}")]
    Sqlite {
        path: PathBuf,
        source: rusqlite::Error,
    },
}

/// Creates the directory if needed and takes its lock; the lock lasts as
/// long as the returned file is open (and ends with the process, even on
/// `kill -9`).
pub fn lock(dir: &Path) -> Result<File, OpenError> {
    let io = |source| OpenError::DataDir {
        path: dir.to_path_buf(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(io)?;
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.join(LOCK_FILE))
        .map_err(io)?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(OpenError::Locked {
            path: dir.to_path_buf(),
        }),
        Err(std::fs::TryLockError::Error(err)) => Err(io(err)),
    }
}

/// `PRAGMA synchronous` (per connection: every connection that writes
/// must set it, or SQLite's default, FULL, fsyncs its every commit).
pub fn set_sync(conn: &Connection, sync: SyncLevel) -> rusqlite::Result<()> {
    let level = match sync {
        SyncLevel::Off => "OFF",
        SyncLevel::Normal => "NORMAL",
        SyncLevel::Full => "FULL",
    };
    conn.pragma_update(None, "synchronous", level)
}

/// Opens the writing connection: WAL mode, the chosen sync level, and the
/// schema migrated to [`SCHEMA_VERSION`].
pub fn open_writer(dir: &Path, sync: SyncLevel) -> Result<Connection, OpenError> {
    let sqlite = |source| OpenError::Sqlite {
        path: dir.to_path_buf(),
        source,
    };
    let mut conn = Connection::open(dir.join(DB_FILE)).map_err(sqlite)?;
    check_version(dir, &conn)?;
    let mode: String = conn
        .query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))
        .map_err(sqlite)?;
    if !mode.eq_ignore_ascii_case("wal") {
        tracing::warn!("sqlite did not switch to WAL mode (got {mode}); writes will be slower");
    }
    set_sync(&conn, sync).map_err(sqlite)?;
    // Before the migrations: the search index's triggers call it.
    super::search::register(&conn).map_err(sqlite)?;
    migrate(&mut conn).map_err(sqlite)?;
    // A deleted message's text is erased, not hidden: space SQLite frees
    // (the old row, its overflow pages, index pages FTS5 merged away) is
    // zeroed rather than left for whoever reads the file.
    conn.pragma_update(None, "secure_delete", true)
        .map_err(sqlite)?;
    Ok(conn)
}

/// Opens a connection for reading only (history reads, export).
pub fn open_reader(dir: &Path) -> Result<Connection, OpenError> {
    let path = dir.join(DB_FILE);
    if !path.is_file() {
        return Err(OpenError::Missing {
            path: dir.to_path_buf(),
        });
    }
    let conn = Connection::open_with_flags(
        &path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|source| OpenError::Sqlite {
        path: dir.to_path_buf(),
        source,
    })?;
    check_version(dir, &conn)?;
    Ok(conn)
}

fn check_version(dir: &Path, conn: &Connection) -> Result<(), OpenError> {
    let found: i64 = conn
        .pragma_query_value(None, "user_version", |row| row.get(0))
        .map_err(|source| OpenError::Sqlite {
            path: dir.to_path_buf(),
            source,
        })?;
    if found > SCHEMA_VERSION {
        return Err(OpenError::NewerSchema {
            path: dir.to_path_buf(),
            found,
        });
    }
    Ok(())
}

/// Applies the missing migrations, each in its own transaction with the
/// version bump, so a crash leaves the database at some whole version.
fn migrate(conn: &mut Connection) -> rusqlite::Result<()> {
    let current: i64 = conn.pragma_query_value(None, "user_version", |row| row.get(0))?;
    // Deleted rows are zeroed during migrations (see migration 3), and
    // after them (`open_writer`).
    conn.pragma_update(None, "secure_delete", true)?;
    for (index, step) in MIGRATIONS.iter().enumerate().skip(current as usize) {
        let tx = conn.transaction()?;
        match step {
            Migration::Sql(sql) => tx.execute_batch(sql)?,
            Migration::Code(code) => code(&tx)?,
        }
        tx.pragma_update(None, "user_version", index as i64 + 1)?;
        tx.commit()?;
        tracing::info!("store schema migrated to version {}", index + 1);
    }
    Ok(())
}
