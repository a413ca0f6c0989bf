//! The standalone relay's push subscriptions: the `push_subscriptions`
//! table of the data directory's database (schema in
//! `store::sqlite::schema`), so pushes reach a closed app after a restart.
//! Its own connection (`SideConnection`), like the memberships'.

use std::{
    collections::HashSet,
    path::Path,
    sync::{Arc, Mutex},
};

use futures_util::future::BoxFuture;
use rusqlite::{params, Connection};
use shared::UserId;

use super::subscriptions::{
    Result, Subscription, SubscriptionStore, SubscriptionsError, MAX_PER_USER,
};
use crate::{
    config::SyncLevel,
    store::sqlite::{write_tx, OpenError, SideConnection},
};

pub struct SqliteSubscriptions {
    conn: SideConnection,
    /// The users who may have a subscription (every user who has one, and
    /// perhaps a few whose last one went since): after each message the
    /// sender asks for the subscriptions of every away member, and most
    /// have none, which this answers without a query. Each of those
    /// queries took a trip to the connection's thread: at chat rate in
    /// rooms of 10 they cost about a quarter of the relay's CPU
    /// (docs/PERFORMANCE.md).
    subscribed: Arc<Mutex<HashSet<String>>>,
}

impl SqliteSubscriptions {
    /// Opens the database of `dir`, which the store has already locked and
    /// migrated (open the store first), committing at the store's `sync`.
    pub fn open(
        dir: &Path,
        sync: SyncLevel,
    ) -> std::result::Result<SqliteSubscriptions, OpenError> {
        let (conn, subscribed) = SideConnection::open_with(dir, sync, |conn| {
            conn.prepare("SELECT DISTINCT user_id FROM push_subscriptions")?
                .query_map([], |row| row.get::<_, String>(0))?
                .collect::<rusqlite::Result<HashSet<_>>>()
        })?;
        Ok(SqliteSubscriptions {
            conn,
            subscribed: Arc::new(Mutex::new(subscribed)),
        })
    }

    fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> BoxFuture<'static, Result<T>> {
        let work = self.conn.blocking(work);
        Box::pin(async move { work.await.map_err(SubscriptionsError::Unavailable) })
    }
}

impl SubscriptionStore for SqliteSubscriptions {
    fn add(&self, user: &UserId, sub: Subscription) -> BoxFuture<'_, Result<()>> {
        let user = user.0.clone();
        // Strictly increasing per relay, so "oldest" is exact even for
        // several subscriptions in one millisecond.
        let now = crate::clock::now_ms() as i64;
        let subscribed = self.subscribed.clone();
        self.blocking(move |conn| {
            let tx = write_tx(conn)?;
            let last: Option<i64> = tx.query_row(
                "SELECT MAX(created_ms) FROM push_subscriptions WHERE user_id = ?1",
                params![user],
                |row| row.get(0),
            )?;
            let created = last.map_or(now, |last| now.max(last + 1));
            tx.execute(
                "INSERT OR REPLACE INTO push_subscriptions
                 (endpoint, user_id, p256dh, auth, created_ms, hide_text)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    sub.endpoint,
                    user,
                    sub.p256dh,
                    sub.auth,
                    created,
                    sub.hide_text
                ],
            )?;
            tx.execute(
                "DELETE FROM push_subscriptions WHERE user_id = ?1 AND endpoint NOT IN
                 (SELECT endpoint FROM push_subscriptions WHERE user_id = ?1
                  ORDER BY created_ms DESC LIMIT ?2)",
                params![user, MAX_PER_USER as i64],
            )?;
            tx.commit()?;
            subscribed.lock().unwrap().insert(user);
            Ok(())
        })
    }

    fn remove(&self, user: Option<&UserId>, endpoint: &str) -> BoxFuture<'_, Result<bool>> {
        let (user, endpoint) = (user.map(|u| u.0.clone()), endpoint.to_string());
        self.blocking(move |conn| {
            let removed = conn.execute(
                "DELETE FROM push_subscriptions
                 WHERE endpoint = ?1 AND (?2 IS NULL OR user_id = ?2)",
                params![endpoint, user],
            )?;
            Ok(removed > 0)
        })
    }

    fn of(&self, user: &UserId) -> BoxFuture<'_, Result<Vec<Subscription>>> {
        if !self.subscribed.lock().unwrap().contains(&user.0) {
            return Box::pin(async { Ok(Vec::new()) });
        }
        let user = user.0.clone();
        let subscribed = self.subscribed.clone();
        self.blocking(move |conn| {
            let subs: Vec<Subscription> = conn
                .prepare_cached(
                    "SELECT endpoint, p256dh, auth, hide_text FROM push_subscriptions
                 WHERE user_id = ?1 ORDER BY created_ms",
                )?
                .query_map(params![user], |row| {
                    Ok(Subscription {
                        endpoint: row.get(0)?,
                        p256dh: row.get(1)?,
                        auth: row.get(2)?,
                        hide_text: row.get(3)?,
                    })
                })?
                .collect::<rusqlite::Result<_>>()?;
            // Their last one went (a dead endpoint, an expired user).
            if subs.is_empty() {
                subscribed.lock().unwrap().remove(&user);
            }
            Ok(subs)
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::store::sqlite::{SqliteOptions, SqliteStore};

    #[tokio::test]
    async fn the_sqlite_engine_keeps_its_rows_across_opens() {
        let dir = tempfile::tempdir().unwrap();
        let _store =
            SqliteStore::open(SqliteOptions::new(dir.path()), std::sync::Arc::new(|_| {})).unwrap();
        let subs =
            super::SqliteSubscriptions::open(dir.path(), crate::config::SyncLevel::Normal).unwrap();
        use super::SubscriptionStore;
        let ada = shared::UserId("ada".into());
        for n in 0..super::MAX_PER_USER + 2 {
            let sub = super::Subscription {
                endpoint: format!("https://push.example/{n}"),
                p256dh: format!("key{n}"),
                auth: format!("auth{n}"),
                hide_text: false,
            };
            subs.add(&ada, sub).await.unwrap();
        }
        drop(subs);
        let again =
            super::SqliteSubscriptions::open(dir.path(), crate::config::SyncLevel::Normal).unwrap();
        let kept = again.of(&shared::UserId("ada".into())).await.unwrap();
        assert_eq!(kept.len(), super::MAX_PER_USER);
    }
}
