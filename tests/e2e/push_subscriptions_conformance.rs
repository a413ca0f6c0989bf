//! One push subscriptions contract (`tests::push_subscriptions`), every
//! engine: memory, SQLite in a temporary data directory, and NATS (a real
//! nats-server, the cluster's `NatsPush`), through the public
//! `relay::push::SubscriptionStore` trait.

use std::{sync::Arc, time::Duration};

use relay::{
    backplane::NatsPush,
    push::{MemorySubscriptions, SqliteSubscriptions, SubscriptionStore},
    store::{SqliteOptions, SqliteStore},
};
use shared::UserId;
use tests::{push_subscriptions::contract, NatsServer, WAIT};
use tokio_util::{sync::CancellationToken, task::TaskTracker};

#[tokio::test]
async fn the_memory_engine_keeps_the_contract() {
    contract(&MemorySubscriptions::default()).await;
}

#[tokio::test]
async fn the_sqlite_engine_keeps_the_contract() {
    let dir = tempfile::tempdir().unwrap();
    let _store = SqliteStore::open(SqliteOptions::new(dir.path()), Arc::new(|_| {})).unwrap();
    let engine = SqliteSubscriptions::open(dir.path(), relay::config::SyncLevel::Normal).unwrap();
    contract(&engine).await;
}

#[tokio::test]
async fn the_nats_engine_keeps_the_contract() {
    let nats = NatsServer::start().await.unwrap();
    let client = async_nats::connect(nats.url()).await.unwrap();
    let engine = NatsPush::new(async_nats::jetstream::new(client), 1);
    let (tracker, stop) = (TaskTracker::new(), CancellationToken::new());
    engine.spawn(&tracker, stop.clone());
    // The stream opens in the background.
    let deadline = tokio::time::Instant::now() + WAIT;
    while engine.of(&UserId("nobody".into())).await.is_err() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the stream never opened"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    contract(engine.as_ref()).await;
    stop.cancel();
}
