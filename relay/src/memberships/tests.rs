//! The memberships contract, run on both in-process engines (memory and
//! SQLite), and the SQLite engine across a reopen of its data directory.

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

/// The behaviour every engine shares.
async fn contract(engine: &dyn MembershipStore) {
    let (alice, bob) = (user("alice"), user("bob"));
    assert!(engine.list(&alice).await.unwrap().is_empty());
    assert!(
        engine.join(&alice, &room("general"), 7).await.unwrap(),
        "new"
    );
    assert!(engine.join(&alice, &room("dev"), 0).await.unwrap());
    assert!(
        !engine.join(&alice, &room("general"), 99).await.unwrap(),
        "joining again changes nothing"
    );
    let rooms = engine.list(&alice).await.unwrap();
    assert_eq!(
        rooms
            .iter()
            .map(|m| (m.room.as_str(), m.read, m.level))
            .collect::<Vec<_>>(),
        [("dev", 0, None), ("general", 7, None)],
        "by name, the marker as of the first join"
    );
    assert!(engine.list(&bob).await.unwrap().is_empty(), "per user");

    assert_eq!(
        engine.read(&alice, &room("general"), 9).await.unwrap(),
        Some(true)
    );
    assert_eq!(
        engine.read(&alice, &room("general"), 8).await.unwrap(),
        Some(false),
        "never back"
    );
    assert_eq!(
        engine.read(&alice, &room("general"), 9).await.unwrap(),
        Some(false)
    );
    assert_eq!(
        engine.read(&bob, &room("general"), 9).await.unwrap(),
        None,
        "not a member"
    );

    assert!(engine
        .notify(&alice, &room("dev"), NotifyLevel::Off)
        .await
        .unwrap());
    assert!(!engine
        .notify(&bob, &room("dev"), NotifyLevel::All)
        .await
        .unwrap());
    let rooms = engine.list(&alice).await.unwrap();
    assert_eq!(rooms[0].level, Some(NotifyLevel::Off));
    assert_eq!(rooms[1].read, 9);

    engine.join(&bob, &room("dev"), 0).await.unwrap();
    let mut members = engine.members(&room("dev")).await.unwrap();
    members.sort_by(|a, b| a.0 .0.cmp(&b.0 .0));
    assert_eq!(
        members,
        [(alice.clone(), Some(NotifyLevel::Off)), (bob.clone(), None)],
        "each member of the room with their level"
    );
    assert!(engine.leave(&bob, &room("dev")).await.unwrap());
    assert!(engine.leave(&alice, &room("dev")).await.unwrap());
    assert!(!engine.leave(&alice, &room("dev")).await.unwrap());
    assert_eq!(engine.list(&alice).await.unwrap().len(), 1);
    assert!(
        engine.join(&alice, &room("dev"), 3).await.unwrap(),
        "a member again"
    );
    let dev = engine.list(&alice).await.unwrap().remove(0);
    assert_eq!(
        (dev.read, dev.level),
        (3, None),
        "a new membership forgets the old"
    );
}

#[tokio::test]
async fn the_memory_engine_keeps_the_contract() {
    contract(&MemoryMemberships::default()).await;
}

#[tokio::test]
async fn the_sqlite_engine_keeps_the_contract_and_its_rows_outlive_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    {
        let _store = SqliteStore::open(SqliteOptions::new(dir.path()), Arc::new(|_| {})).unwrap();
        let engine = SqliteMemberships::open(dir.path()).unwrap();
        contract(&engine).await;
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
    let engine = SqliteMemberships::open(dir.path()).unwrap();
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
    let memberships = Memberships::new(Arc::new(MemoryMemberships::default()));
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
    memberships.tell_others(
        &alice,
        1,
        &shared::ServerMsg::Pong,
        &crate::metrics::Metrics::new("memory"),
    );
    assert!(rx2.try_recv().is_err(), "a closed device is told nothing");
}
