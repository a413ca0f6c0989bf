//! One store contract, every engine: each behaviour of
//! `tests::conformance` runs against the memory store, SQLite (in a
//! temporary directory) and JetStream (a real nats-server), through the
//! public `relay::store::Store` trait.

use std::sync::Arc;

use relay::{
    backplane,
    store::{Deliver, DeliverUpdate, MemoryStore, SqliteOptions, SqliteStore, Store},
    Config,
};
use tests::{conformance::Engine, events::EventEngine, NatsServer};
use tokio_util::{sync::CancellationToken, task::TaskTracker};

/// The in-memory store: nothing outlives it.
struct Memory;

impl Engine for Memory {
    const DURABLE: bool = false;
    const CONTIGUOUS: bool = true;

    async fn open(&mut self, deliver: Deliver) -> Arc<dyn Store> {
        let config = Config::for_tests();
        Arc::new(MemoryStore::new(
            config.history_limit,
            config.dedup_window(),
            deliver,
        ))
    }
}

impl EventEngine for Memory {
    async fn open_events(&mut self, deliver: Deliver, updates: DeliverUpdate) -> Arc<dyn Store> {
        let config = Config::for_tests();
        Arc::new(
            MemoryStore::new(config.history_limit, config.dedup_window(), deliver)
                .with_updates(updates),
        )
    }
}

/// SQLite in a temporary data directory that outlives restarts, with a
/// cache of `cache_per_room` recent messages per room: the default, which
/// serves these tests' pages from memory, or a tiny one, which sends them
/// to the database.
struct Sqlite {
    dir: tempfile::TempDir,
    cache_per_room: usize,
}

impl Engine for Sqlite {
    const DURABLE: bool = true;
    const CONTIGUOUS: bool = true;

    async fn open(&mut self, deliver: Deliver) -> Arc<dyn Store> {
        let mut options = SqliteOptions::new(self.dir.path());
        options.cache_per_room = self.cache_per_room;
        Arc::new(SqliteStore::open(options, deliver).expect("open the store"))
    }
}

impl EventEngine for Sqlite {
    async fn open_events(&mut self, deliver: Deliver, updates: DeliverUpdate) -> Arc<dyn Store> {
        let mut options = SqliteOptions::new(self.dir.path());
        options.cache_per_room = self.cache_per_room;
        Arc::new(SqliteStore::open_with_updates(options, deliver, updates).expect("open the store"))
    }
}

/// JetStream on a real nats-server, whose stream outlives restarts of the
/// store.
struct JetStream {
    nats: NatsServer,
    /// Stops the previous store's consumer when the store is opened again.
    stop: CancellationToken,
    tracker: TaskTracker,
}

impl Engine for JetStream {
    const DURABLE: bool = true;
    const CONTIGUOUS: bool = false;

    async fn open(&mut self, deliver: Deliver) -> Arc<dyn Store> {
        self.stop.cancel();
        self.stop = CancellationToken::new();
        let mut config = Config::for_tests();
        config.nats = vec![self.nats.url()];
        backplane::start_store(&config, deliver, &self.tracker, &self.stop)
            .await
            .expect("connect to nats-server")
    }
}

impl EventEngine for JetStream {
    async fn open_events(&mut self, deliver: Deliver, updates: DeliverUpdate) -> Arc<dyn Store> {
        self.stop.cancel();
        self.stop = CancellationToken::new();
        let mut config = Config::for_tests();
        config.nats = vec![self.nats.url()];
        let store = backplane::start_store(&config, deliver, &self.tracker, &self.stop)
            .await
            .expect("connect to nats-server");
        store.deliver_updates(updates);
        store
    }
}

impl Drop for JetStream {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

async fn memory() -> Memory {
    Memory
}

async fn sqlite() -> Sqlite {
    Sqlite {
        dir: tempfile::tempdir().unwrap(),
        cache_per_room: SqliteOptions::new("").cache_per_room,
    }
}

async fn sqlite_uncached() -> Sqlite {
    Sqlite {
        dir: tempfile::tempdir().unwrap(),
        cache_per_room: 2,
    }
}

async fn jetstream() -> JetStream {
    JetStream {
        nats: NatsServer::start().await.unwrap(),
        stop: CancellationToken::new(),
        tracker: TaskTracker::new(),
    }
}

/// A test per behaviour, for one engine.
macro_rules! conformance {
    ($engine:ident) => {
        mod $engine {
            #[tokio::test]
            async fn orders_and_numbers_each_room() {
                super::orders_and_numbers_each_room(&mut super::$engine().await).await;
            }

            #[tokio::test]
            async fn recognises_a_resend() {
                super::recognises_a_resend(&mut super::$engine().await).await;
            }

            #[tokio::test]
            async fn survives_a_restart() {
                super::survives_a_restart(&mut super::$engine().await).await;
            }

            #[tokio::test]
            async fn pages_after_and_before() {
                super::pages_after_and_before(&mut super::$engine().await).await;
            }
        }
    };
}

/// The message-event contract (`tests::events`), for one engine that
/// keeps events, in a module `$module`.
macro_rules! events {
    ($module:ident, $engine:ident) => {
        mod $module {
            #[tokio::test]
            async fn an_edit_resent_is_stored_once() {
                tests::events::an_edit_resent_is_stored_once(&mut super::$engine().await).await;
            }

            #[tokio::test]
            async fn delete_erases_and_then_everything_is_gone() {
                tests::events::delete_erases_and_then_everything_is_gone(
                    &mut super::$engine().await,
                )
                .await;
            }

            #[tokio::test]
            async fn reactions_are_unique_per_user() {
                tests::events::reactions_are_unique_per_user(&mut super::$engine().await).await;
            }

            #[tokio::test]
            async fn since_replays_events_in_order() {
                tests::events::since_replays_events_in_order(&mut super::$engine().await).await;
            }

            #[tokio::test]
            async fn a_reply_quotes_its_target() {
                tests::events::a_reply_quotes_its_target(&mut super::$engine().await).await;
            }

            #[tokio::test]
            async fn a_delete_erases_the_quotes_of_replies() {
                tests::events::a_delete_erases_the_quotes_of_replies(&mut super::$engine().await)
                    .await;
            }

            #[tokio::test]
            async fn an_edit_s_mentions_become_the_message_s() {
                tests::events::an_edit_s_mentions_become_the_message_s(&mut super::$engine().await)
                    .await;
            }

            #[tokio::test]
            async fn events_survive_a_restart() {
                tests::events::events_survive_a_restart(&mut super::$engine().await).await;
            }
        }
    };
}

use tests::conformance::*;

events!(memory_events, memory);
events!(sqlite_events, sqlite);
events!(sqlite_uncached_events, sqlite_uncached);
events!(jetstream_events, jetstream);

conformance!(memory);
conformance!(sqlite);
conformance!(sqlite_uncached);
conformance!(jetstream);
