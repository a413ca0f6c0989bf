//! Accounts over the engines that run in-process: memory (no engine) and
//! SQLite. The NATS engine runs against a real nats-server in the e2e
//! suite (`identities`).

use std::{path::Path, time::Duration};

use rusqlite::{params, Connection};
use shared::{Nick, User, UserId};
use tokio_util::{sync::CancellationToken, task::TaskTracker};

use super::*;
use crate::store::sqlite::{db_path, SqliteOptions, SqliteStore};

fn nick(n: &str) -> Nick {
    Nick::new(n).unwrap()
}

/// A data directory with its store open (which migrates the schema) and
/// the accounts engine on it; the store holds the lock, so keep it.
fn sqlite(dir: &Path, ttl: Duration) -> (SqliteStore, Arc<SqliteAccounts>) {
    let store = SqliteStore::open(SqliteOptions::new(dir), Arc::new(|_| {})).unwrap();
    let accounts = SqliteAccounts::open(dir, ttl, crate::config::SyncLevel::Normal).unwrap();
    (store, Arc::new(accounts))
}

/// Moves every saved identity `by` into the past, as if that much time
/// went by without a save.
fn age_identities(dir: &Path, by: Duration) {
    let conn = Connection::open(db_path(dir)).unwrap();
    conn.execute(
        "UPDATE identities SET seen_ms = seen_ms - ?1",
        params![by.as_millis() as i64],
    )
    .unwrap();
}

fn seen_ms(dir: &Path, user: &UserId) -> Option<i64> {
    let conn = Connection::open(db_path(dir)).unwrap();
    conn.query_row(
        "SELECT seen_ms FROM identities WHERE user_id = ?1",
        [&user.0],
        |row| row.get(0),
    )
    .ok()
}

#[tokio::test(start_paused = true)]
async fn resume_tokens_expire_a_ttl_after_the_last_connection() {
    let ttl = Duration::from_secs(60);
    let accounts = Accounts::new(Arc::new(NoAccountStore), ttl);
    let (user, token) = accounts.login(Some(nick("alice")), None).await;
    assert_eq!(token.len(), 32, "128 random bits, hex");
    // Still connected: never expires.
    tokio::time::advance(ttl * 2).await;
    accounts.expire_idle();
    accounts.logout(&user.id);
    tokio::time::advance(ttl / 2).await;
    accounts.expire_idle();
    let (again, same) = accounts.login(None, Some(&token)).await;
    assert_eq!((&again.id, &same), (&user.id, &token), "within the TTL");
    accounts.logout(&user.id);
    tokio::time::advance(ttl + Duration::from_secs(1)).await;
    accounts.expire_idle();
    let (stranger, _) = accounts.login(None, Some(&token)).await;
    assert_ne!(stranger.id, user.id, "after the TTL the token is forgotten");
}

#[tokio::test]
async fn verified_logins_share_one_account_per_id_and_keep_no_token() {
    let accounts = Accounts::new(Arc::new(NoAccountStore), Duration::from_secs(60));
    let id = UserId("sub-1".into());
    let (first, token) = accounts.login_verified(id.clone(), nick("Ada"));
    let (second, _) = accounts.login_verified(id.clone(), nick("Ada L"));
    assert_eq!((first.id, second.id), (id.clone(), id.clone()));
    assert_eq!(second.nick.as_str(), "Ada L");
    // The resume token of a verified login resumes nobody.
    let (anonymous, _) = accounts.login(None, Some(&token)).await;
    assert_ne!(anonymous.id, id);
}

#[tokio::test]
async fn the_sqlite_engine_keeps_identities_until_a_ttl_without_a_save() {
    let dir = tempfile::tempdir().unwrap();
    let ttl = Duration::from_secs(60);
    let (_store, engine) = sqlite(dir.path(), ttl);
    let alice = User {
        id: UserId("u-alice".into()),
        nick: nick("alice"),
    };
    let token = TokenHash::of("token-1");
    let saved = Saved {
        token,
        user: alice.clone(),
    };
    engine.save(vec![saved.clone()]).await.unwrap();
    assert_eq!(engine.find(token).await.unwrap(), Some(alice.clone()));
    assert_eq!(engine.find(TokenHash::of("token-2")).await.unwrap(), None);

    // A save refreshes it: not expired after most of a TTL twice over.
    age_identities(dir.path(), ttl - Duration::from_secs(5));
    engine.save(vec![saved]).await.unwrap();
    age_identities(dir.path(), ttl - Duration::from_secs(5));
    assert_eq!(engine.expire().await.unwrap(), 0);
    assert_eq!(engine.find(token).await.unwrap(), Some(alice));

    // A TTL without a save: gone for lookups, then deleted.
    age_identities(dir.path(), Duration::from_secs(10));
    assert_eq!(engine.find(token).await.unwrap(), None);
    assert_eq!(engine.expire().await.unwrap(), 1);
}

#[tokio::test]
async fn an_online_account_outlives_its_ttl_across_a_restart_and_an_idle_one_does_not() {
    let dir = tempfile::tempdir().unwrap();
    let ttl = Duration::from_secs(60);
    let (online, idle, online_token, idle_token) = {
        let (_store, engine) = sqlite(dir.path(), ttl);
        let accounts = Accounts::new(engine, ttl);
        let (online, online_token) = accounts.login(Some(nick("alice")), None).await;
        let (idle, idle_token) = accounts.login(Some(nick("bob")), None).await;
        accounts.rename(&online.id, &nick("alicia"));
        accounts.logout(&idle.id);
        // What the refresher does on a change, then on each round, while
        // three TTLs go by.
        accounts.refresh(false).await;
        for _ in 0..3 {
            age_identities(dir.path(), ttl);
            accounts.refresh(true).await;
        }
        (online, idle, online_token, idle_token)
    };
    // The relay died; the next one expires what is old, at startup.
    let (_store, engine) = sqlite(dir.path(), ttl);
    assert_eq!(engine.expire().await.unwrap(), 1, "only the idle account");
    let accounts = Accounts::new(engine, ttl);
    let (again, _) = accounts.login(None, Some(&online_token)).await;
    assert_eq!(again.id, online.id);
    assert_eq!(again.nick.as_str(), "alicia", "the rename was saved");
    let (stranger, _) = accounts.login(None, Some(&idle_token)).await;
    assert_ne!(stranger.id, idle.id);
}

#[tokio::test]
async fn the_refresher_keeps_an_online_account_fresh_past_its_ttl() {
    let dir = tempfile::tempdir().unwrap();
    let ttl = Duration::from_secs(1);
    let (_store, engine) = sqlite(dir.path(), ttl);
    let accounts = Arc::new(Accounts::new(engine.clone(), ttl));
    let (tracker, shutdown) = (TaskTracker::new(), CancellationToken::new());
    accounts.spawn_refresher(&tracker, shutdown.clone());
    let (alice, token) = accounts.login(Some(nick("alice")), None).await;
    let first = seen_ms(dir.path(), &alice.id).unwrap();
    // Bounded wait for a save more than a TTL after the login; meanwhile
    // the refresher also expired what it found old, not alice.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while seen_ms(dir.path(), &alice.id).unwrap() <= first + ttl.as_millis() as i64 {
        assert!(tokio::time::Instant::now() < deadline, "never refreshed");
        tokio::time::sleep(refresh_period(ttl) / 2).await;
    }
    assert_eq!(
        engine.find(TokenHash::of(&token)).await.unwrap(),
        Some(alice)
    );
    shutdown.cancel();
    tracker.close();
    tracker.wait().await;
}

#[test]
fn migration_3_hashes_the_saved_tokens_and_leaves_none_in_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let clear = "5eca1c1ea7005eca1c1ea7005eca1c1e";
    {
        // A data directory as a schema-2 relay left it.
        let conn = Connection::open(db_path(dir.path())).unwrap();
        conn.execute_batch(
            "CREATE TABLE rooms (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE,
                 last_seq INTEGER NOT NULL);
             CREATE TABLE messages (room_id INTEGER NOT NULL, seq INTEGER NOT NULL,
                 user_id TEXT NOT NULL, nick TEXT NOT NULL, text TEXT NOT NULL,
                 ts INTEGER NOT NULL, client_id TEXT NOT NULL,
                 PRIMARY KEY (room_id, seq)) WITHOUT ROWID;
             CREATE INDEX messages_by_client_id ON messages (room_id, user_id, client_id);
             CREATE TABLE identities (token TEXT PRIMARY KEY, user_id TEXT NOT NULL,
                 nick TEXT NOT NULL, seen_ms INTEGER NOT NULL) WITHOUT ROWID;
             PRAGMA user_version = 2;",
        )
        .unwrap();
        conn.execute(
            "INSERT INTO identities VALUES (?1, 'u-old', 'olga', ?2)",
            params![clear, crate::clock::now_ms() as i64],
        )
        .unwrap();
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    {
        let (_store, engine) = sqlite(dir.path(), Duration::from_secs(60));
        let found = runtime.block_on(engine.find(TokenHash::of(clear))).unwrap();
        assert_eq!(found.map(|user| user.id.0), Some("u-old".to_string()));
    }
    let bytes = std::fs::read(db_path(dir.path())).unwrap();
    let hay = String::from_utf8_lossy(&bytes);
    assert!(hay.contains("olga"), "the identity is still there");
    assert!(
        !hay.contains(clear),
        "the clear token is gone from the file"
    );
}

/// An anonymous user whose identity expired can never log in again: their
/// rooms and push subscriptions go with it. A token user's (no identity
/// here) and a fresh anonymous user's stay.
#[tokio::test]
async fn an_expired_identity_takes_its_memberships_and_push_subscriptions_along() {
    use crate::memberships::{MembershipStore, SqliteMemberships};
    let dir = tempfile::tempdir().unwrap();
    let ttl = Duration::from_secs(60);
    let (_store, engine) = sqlite(dir.path(), ttl);
    let memberships =
        SqliteMemberships::open(dir.path(), crate::config::SyncLevel::Normal).unwrap();
    let user = |id: &str| UserId(id.into());
    let room = shared::RoomName::new("general").unwrap();
    engine
        .save(vec![Saved {
            token: TokenHash::of("old-token"),
            user: User {
                id: user("u-old"),
                nick: nick("olga"),
            },
        }])
        .await
        .unwrap();
    for id in ["u-old", "u-new", "token-sub"] {
        memberships.join(&user(id), &room, 0).await.unwrap();
    }
    let conn = Connection::open(db_path(dir.path())).unwrap();
    conn.execute(
        "INSERT INTO push_subscriptions (endpoint, user_id, p256dh, auth, created_ms)
         VALUES ('https://push.example/old', 'u-old', 'k', 'a', 0)",
        [],
    )
    .unwrap();
    age_identities(dir.path(), ttl + Duration::from_secs(10));
    engine
        .save(vec![Saved {
            token: TokenHash::of("new-token"),
            user: User {
                id: user("u-new"),
                nick: nick("nina"),
            },
        }])
        .await
        .unwrap();

    assert_eq!(engine.expire().await.unwrap(), 1);
    let members: Vec<String> = memberships
        .members(&room)
        .await
        .unwrap()
        .into_iter()
        .map(|(id, _)| id.0)
        .collect();
    let mut members = members;
    members.sort();
    assert_eq!(members, ["token-sub", "u-new"]);
    let subs: i64 = conn
        .query_row("SELECT COUNT(*) FROM push_subscriptions", [], |r| r.get(0))
        .unwrap();
    assert_eq!(subs, 0, "the expired user's subscription is gone");
}
