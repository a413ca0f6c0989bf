//! The SQLite engine across a reopen of its data directory, and the
//! user's devices and attention. The contract every engine keeps runs in
//! the e2e suite (`memberships_conformance`), NATS included.

use std::sync::Arc;

use shared::{protocol::NotifyLevel, RoomName, UserId};

use super::*;
use crate::store::sqlite::{SqliteOptions, SqliteStore};

fn room(name: &str) -> RoomName {
    RoomName::new(name).unwrap()
}

fn user(id: &str) -> UserId {
    UserId(id.into())
}

#[tokio::test]
async fn the_sqlite_engines_rows_outlive_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    {
        let _store = SqliteStore::open(SqliteOptions::new(dir.path()), Arc::new(|_| {})).unwrap();
        let engine = SqliteMemberships::open(dir.path(), crate::config::SyncLevel::Normal).unwrap();
        engine
            .join(&user("alice"), &room("general"), 7)
            .await
            .unwrap();
        engine.join(&user("alice"), &room("dev"), 3).await.unwrap();
        engine
            .read(&user("alice"), &room("general"), 12)
            .await
            .unwrap();
        engine
            .notify(&user("alice"), &room("general"), NotifyLevel::Mentions)
            .await
            .unwrap();
    }
    let _store = SqliteStore::open(SqliteOptions::new(dir.path()), Arc::new(|_| {})).unwrap();
    let engine = SqliteMemberships::open(dir.path(), crate::config::SyncLevel::Normal).unwrap();
    let rooms = engine.list(&user("alice")).await.unwrap();
    assert_eq!(
        rooms
            .iter()
            .map(|m| (m.room.as_str(), m.read, m.level))
            .collect::<Vec<_>>(),
        [
            ("dev", 3, None),
            ("general", 12, Some(NotifyLevel::Mentions))
        ]
    );
}

#[test]
fn a_user_is_attentive_only_while_a_connection_says_its_app_is_visible() {
    let memberships = Memberships::new(
        Arc::new(MemoryMemberships::default()),
        Arc::new(crate::metrics::Metrics::new("memory")),
    );
    let alice = user("alice");
    let (phone, _rx1) = crate::peer::test_peer(1, 8);
    let (laptop, mut rx2) = crate::peer::test_peer(2, 8);
    memberships.connected(&alice, phone);
    memberships.connected(&alice, laptop);
    assert!(
        !memberships.attentive(&alice),
        "a socket alone is not attention"
    );
    memberships.attend(&alice, 1, Some(Some(room("general"))));
    assert!(memberships.attentive(&alice));
    memberships.attend(&alice, 1, None);
    assert!(!memberships.attentive(&alice), "hidden again");
    memberships.attend(&alice, 2, Some(None));
    memberships.disconnected(&alice, 2);
    assert!(!memberships.attentive(&alice), "gone with its connection");
    memberships.tell_others(&alice, 1, &shared::ServerMsg::Pong);
    assert!(rx2.try_recv().is_err(), "a closed device is told nothing");
}
