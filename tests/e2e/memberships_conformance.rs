//! One memberships contract (`tests::memberships`), every engine: memory,
//! SQLite in a temporary data directory, and NATS (a real nats-server),
//! through the public `relay::memberships::MembershipStore` trait.

use std::{sync::Arc, time::Duration};

use relay::{
    backplane::NatsMemberships,
    memberships::{MembershipStore, MemoryMemberships, SqliteMemberships},
    store::{SqliteOptions, SqliteStore},
    Config,
};
use shared::UserId;
use tests::{memberships::contract, NatsServer, WAIT};
use tokio_util::{sync::CancellationToken, task::TaskTracker};

#[tokio::test]
async fn the_memory_engine_keeps_the_contract() {
    contract(&MemoryMemberships::default()).await;
}

#[tokio::test]
async fn the_sqlite_engine_keeps_the_contract() {
    let dir = tempfile::tempdir().unwrap();
    let _store = SqliteStore::open(SqliteOptions::new(dir.path()), Arc::new(|_| {})).unwrap();
    contract(&SqliteMemberships::open(dir.path(), relay::config::SyncLevel::Normal).unwrap()).await;
}

#[tokio::test]
async fn the_nats_engine_keeps_the_contract() {
    let nats = NatsServer::start().await.unwrap();
    let client = async_nats::connect(nats.url()).await.unwrap();
    let engine = Arc::new(NatsMemberships::new(
        async_nats::jetstream::new(client),
        &Config::for_tests(),
    ));
    let (tracker, stop) = (TaskTracker::new(), CancellationToken::new());
    engine.clone().spawn(&tracker, stop.clone());
    // The stream opens in the background.
    let deadline = tokio::time::Instant::now() + WAIT;
    while engine.list(&UserId("nobody".into())).await.is_err() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the stream never opened"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    contract(engine.as_ref()).await;
    stop.cancel();
}
