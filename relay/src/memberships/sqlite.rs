//! The standalone relay's memberships: the `memberships` table of the data
//! directory's database (schema in `store::sqlite::schema`), so a user's
//! rooms, read markers and levels survive a restart or a crash.
//!
//! Its own connection (`SideConnection`), like the accounts': a membership
//! changes on a join, a leave, a `read` or a `notify`, each awaited by the
//! session that asked, never queued behind messages.

use std::path::Path;

use futures_util::future::BoxFuture;
use rusqlite::{params, Connection, OptionalExtension};
use shared::{protocol::NotifyLevel, RoomName, UserId};

use super::{Member, Membership, MembershipStore, MembershipsError, Result};
use crate::{
    config::SyncLevel,
    store::sqlite::{OpenError, SideConnection},
};

pub struct SqliteMemberships {
    conn: SideConnection,
}

impl SqliteMemberships {
    /// Opens the database of `dir`, which the store has already locked and
    /// migrated (open the store first).
    pub fn open(dir: &Path, sync: SyncLevel) -> std::result::Result<SqliteMemberships, OpenError> {
        Ok(SqliteMemberships {
            conn: SideConnection::open(dir, sync)?,
        })
    }

    /// Runs `work` on the blocking pool with the connection.
    fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> BoxFuture<'static, Result<T>> {
        let work = self.conn.blocking(work);
        Box::pin(async move { work.await.map_err(MembershipsError::Unavailable) })
    }
}

/// The stored seq as SQLite's signed integer (seqs never come near 2^63).
fn to_sql(seq: u64) -> i64 {
    i64::try_from(seq).unwrap_or(i64::MAX)
}

impl MembershipStore for SqliteMemberships {
    fn list(&self, user: &UserId) -> BoxFuture<'_, Result<Vec<Membership>>> {
        let user = user.0.clone();
        self.blocking(move |conn| {
            let rows: Vec<(String, i64, Option<String>)> = conn
                .prepare_cached(
                    "SELECT room, read_seq, level FROM memberships
                     WHERE user_id = ?1 ORDER BY room",
                )?
                .query_map(params![user], |row| {
                    Ok((row.get(0)?, row.get(1)?, row.get(2)?))
                })?
                .collect::<rusqlite::Result<_>>()?;
            // A row whose room name no longer validates (rules changed) is
            // skipped rather than failing the whole list.
            Ok(rows
                .into_iter()
                .filter_map(|(room, read, level)| {
                    Some(Membership {
                        room: RoomName::new(&room).ok()?,
                        read: u64::try_from(read).unwrap_or(0),
                        level: level.as_deref().and_then(NotifyLevel::parse),
                    })
                })
                .collect())
        })
    }

    fn join(&self, user: &UserId, room: &RoomName, read: u64) -> BoxFuture<'_, Result<bool>> {
        let (user, room) = (user.0.clone(), room.to_string());
        let now = to_sql(crate::clock::now_ms());
        self.blocking(move |conn| {
            let added = conn
                .prepare_cached(
                    "INSERT INTO memberships (user_id, room, read_seq, level, joined_ms)
                     VALUES (?1, ?2, ?3, NULL, ?4)
                     ON CONFLICT (user_id, room) DO NOTHING",
                )?
                .execute(params![user, room, to_sql(read), now])?;
            Ok(added == 1)
        })
    }

    fn members(&self, room: &RoomName) -> BoxFuture<'_, Result<Vec<Member>>> {
        let room = room.to_string();
        self.blocking(move |conn| {
            let rows: Vec<(String, Option<String>)> = conn
                .prepare_cached("SELECT user_id, level FROM memberships WHERE room = ?1")?
                .query_map(params![room], |row| Ok((row.get(0)?, row.get(1)?)))?
                .collect::<rusqlite::Result<_>>()?;
            Ok(rows
                .into_iter()
                .map(|(user, level)| (UserId(user), level.as_deref().and_then(NotifyLevel::parse)))
                .collect())
        })
    }

    fn leave(&self, user: &UserId, room: &RoomName) -> BoxFuture<'_, Result<bool>> {
        let (user, room) = (user.0.clone(), room.to_string());
        self.blocking(move |conn| {
            let gone = conn
                .prepare_cached("DELETE FROM memberships WHERE user_id = ?1 AND room = ?2")?
                .execute(params![user, room])?;
            Ok(gone == 1)
        })
    }

    fn read(
        &self,
        user: &UserId,
        room: &RoomName,
        seq: u64,
    ) -> BoxFuture<'_, Result<Option<bool>>> {
        let (user, room) = (user.0.clone(), room.to_string());
        self.blocking(move |conn| {
            let moved = conn
                .prepare_cached(
                    "UPDATE memberships SET read_seq = ?3
                     WHERE user_id = ?1 AND room = ?2 AND read_seq < ?3",
                )?
                .execute(params![user, room, to_sql(seq)])?;
            if moved == 1 {
                return Ok(Some(true));
            }
            let member = conn
                .prepare_cached("SELECT 1 FROM memberships WHERE user_id = ?1 AND room = ?2")?
                .query_row(params![user, room], |_| Ok(()))
                .optional()?;
            Ok(member.map(|()| false))
        })
    }

    fn notify(
        &self,
        user: &UserId,
        room: &RoomName,
        level: NotifyLevel,
    ) -> BoxFuture<'_, Result<bool>> {
        let (user, room) = (user.0.clone(), room.to_string());
        self.blocking(move |conn| {
            let set = conn
                .prepare_cached(
                    "UPDATE memberships SET level = ?3 WHERE user_id = ?1 AND room = ?2",
                )?
                .execute(params![user, room, level.as_str()])?;
            Ok(set == 1)
        })
    }
}
