//! The standalone relay's accounts: the `identities` table of the data
//! directory's database (schema in `store::sqlite::schema`), so a user keeps
//! their id across a restart or a crash, and their resends are still
//! recognised as theirs.
//!
//! It has its own connection (`SideConnection`), apart from the message
//! writer's: identity writes are few (a login, a rename, a periodic
//! refresh of the online accounts) and each is awaited by its caller.

use std::{path::Path, time::Duration};

use futures_util::future::BoxFuture;
use rusqlite::{params, Connection, OptionalExtension};
use shared::{Nick, User, UserId};

use super::{AccountStore, AccountsError, Saved, TokenHash};
use crate::{
    config::SyncLevel,
    store::sqlite::{write_tx, OpenError, SideConnection},
};

pub struct SqliteAccounts {
    conn: SideConnection,
    ttl: Duration,
}

impl SqliteAccounts {
    /// Opens the database of `dir`, which the store has already locked and
    /// migrated (open the store first), committing at the store's `sync`.
    pub fn open(dir: &Path, ttl: Duration, sync: SyncLevel) -> Result<SqliteAccounts, OpenError> {
        Ok(SqliteAccounts {
            conn: SideConnection::open(dir, sync)?,
            ttl,
        })
    }

    /// Runs `work` on the blocking pool with the connection.
    fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> BoxFuture<'static, Result<T, AccountsError>> {
        let work = self.conn.blocking(work);
        Box::pin(async move { work.await.map_err(AccountsError::Unavailable) })
    }

    /// Unix milliseconds before which an identity has expired.
    fn cutoff_ms(&self) -> i64 {
        let cutoff = crate::clock::now_ms().saturating_sub(self.ttl.as_millis() as u64);
        i64::try_from(cutoff).unwrap_or(i64::MAX)
    }
}

impl AccountStore for SqliteAccounts {
    fn find(&self, token: TokenHash) -> BoxFuture<'_, Result<Option<User>, AccountsError>> {
        let cutoff = self.cutoff_ms();
        self.blocking(move |conn| {
            let row: Option<(String, String)> = conn
                .prepare_cached(
                    "SELECT user_id, nick FROM identities
                     WHERE token_sha256 = ?1 AND seen_ms >= ?2",
                )?
                .query_row(params![token.as_bytes(), cutoff], |row| {
                    Ok((row.get(0)?, row.get(1)?))
                })
                .optional()?;
            // A nick that no longer validates (rules changed) is a guest's.
            Ok(row.and_then(|(id, nick)| {
                Some(User {
                    id: UserId(id),
                    nick: Nick::new(&nick).ok()?,
                })
            }))
        })
    }

    fn save(&self, identities: Vec<Saved>) -> BoxFuture<'_, Result<(), AccountsError>> {
        let now = i64::try_from(crate::clock::now_ms()).unwrap_or(i64::MAX);
        self.blocking(move |conn| {
            let tx = write_tx(conn)?;
            for saved in &identities {
                tx.prepare_cached(
                    "INSERT INTO identities (token_sha256, user_id, nick, seen_ms)
                     VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT (token_sha256) DO UPDATE SET
                       user_id = excluded.user_id, nick = excluded.nick,
                       seen_ms = excluded.seen_ms",
                )?
                .execute(params![
                    saved.token.as_bytes(),
                    saved.user.id.0,
                    saved.user.nick.as_str(),
                    now
                ])?;
            }
            tx.commit()
        })
    }

    /// Deletes the identities not saved for a TTL, and with them what
    /// only they could use: the memberships and push subscriptions of an
    /// anonymous user whose every identity expired (nobody can log in as
    /// them again). Token users have no identity here: theirs stay.
    fn expire(&self) -> BoxFuture<'_, Result<u64, AccountsError>> {
        let cutoff = self.cutoff_ms();
        self.blocking(move |conn| {
            let tx = write_tx(conn)?;
            const GONE: &str = "SELECT user_id FROM identities WHERE seen_ms < ?1
                 EXCEPT SELECT user_id FROM identities WHERE seen_ms >= ?1";
            for table in ["memberships", "push_subscriptions"] {
                tx.execute(
                    &format!("DELETE FROM {table} WHERE user_id IN ({GONE})"),
                    params![cutoff],
                )?;
            }
            let deleted =
                tx.execute("DELETE FROM identities WHERE seen_ms < ?1", params![cutoff])?;
            tx.commit()?;
            Ok(deleted as u64)
        })
    }
}
