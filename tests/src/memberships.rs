//! The memberships contract: what every engine (memory, SQLite, NATS)
//! does with a user's rooms, read markers and levels, through the public
//! `relay::memberships::MembershipStore` trait. Run per engine by the e2e
//! suite's `memberships_conformance`.

use relay::memberships::MembershipStore;
use shared::{protocol::NotifyLevel, RoomName, UserId};

fn room(name: &str) -> RoomName {
    RoomName::new(name).unwrap()
}

fn user(id: &str) -> UserId {
    UserId(id.into())
}

/// The behaviour every engine shares.
pub async fn contract(engine: &dyn MembershipStore) {
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

    // An expired anonymous user's rooms all go; the others' stay.
    engine.join(&bob, &room("dev"), 0).await.unwrap();
    engine.forget(&alice).await.unwrap();
    assert!(engine.list(&alice).await.unwrap().is_empty());
    assert_eq!(
        engine.members(&room("dev")).await.unwrap(),
        [(bob.clone(), None)]
    );
    assert!(engine.members(&room("general")).await.unwrap().is_empty());
    engine.forget(&alice).await.unwrap();
}
