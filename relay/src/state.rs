//! The relay's shared state, one cheap-to-clone handle passed to every
//! handler and session.

use std::{
    net::IpAddr,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
};

use shared::{protocol::Limits, RoomName};
use tokio_util::{sync::CancellationToken, task::TaskTracker};

use crate::{
    accounts::{AccountStore, Accounts, NoAccountStore, SqliteAccounts},
    auth::Verifier,
    backplane,
    config::{Config, StoreKind},
    hub::Hub,
    limits::{ConnLimiter, KeyedLimiter},
    metrics::Metrics,
    store::{Deliver, MemoryStore, SqliteOptions, SqliteStore, Store},
};

#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub hub: Arc<Hub>,
    /// Accounts and resume tokens, apart from the hub's rooms.
    pub accounts: Arc<Accounts>,
    pub store: Arc<dyn Store>,
    pub metrics: Arc<Metrics>,
    pub conns: Arc<ConnLimiter>,
    /// Handshakes per second per client IP.
    pub handshakes: Arc<KeyedLimiter<IpAddr>>,
    /// Messages per second per room.
    pub room_rates: Arc<KeyedLimiter<RoomName>>,
    /// Checks connection tokens in token mode; `None` when anonymous.
    pub verifier: Option<Arc<Verifier>>,
    /// Cancelled when the relay shuts down; every session and background
    /// task watches it (through child tokens).
    pub shutdown: CancellationToken,
    /// Every session and background task, so shutdown can wait for them.
    pub tracker: TaskTracker,
    next_conn: Arc<AtomicU64>,
}

impl AppState {
    /// Builds the state; in cluster mode also starts the NATS backplane
    /// (whose tasks join `tracker` and watch `shutdown`).
    pub async fn new(config: Config, shutdown: CancellationToken) -> anyhow::Result<Self> {
        let tracker = TaskTracker::new();
        let metrics = Arc::new(Metrics::default());
        let hub = Arc::new(Hub::new(metrics.clone(), config.queue_len));
        let deliver: Deliver = {
            let hub = hub.clone();
            Arc::new(move |message| hub.deliver(message))
        };
        // Each store comes with the accounts engine that lasts as long.
        let (store, kept): (Arc<dyn Store>, Arc<dyn AccountStore>) = match config.store {
            _ if config.clustered() => {
                let (store, accounts) =
                    backplane::start(&config, hub.clone(), deliver, &tracker, &shutdown).await?;
                (store, accounts)
            }
            StoreKind::Memory => (
                Arc::new(MemoryStore::new(
                    config.history_limit,
                    config.dedup_window(),
                    deliver,
                )),
                Arc::new(NoAccountStore),
            ),
            StoreKind::Sqlite => {
                let store = SqliteStore::open(
                    SqliteOptions {
                        data_dir: config.data_dir.clone(),
                        sync: config.sync,
                        dedup_window: config.dedup_window(),
                        // Enough that a join's page of history is served from memory.
                        cache_per_room: config.join_history.saturating_mul(2).max(64),
                        retention_messages: config.retention_messages,
                        retention_age: config.retention_age(),
                    },
                    deliver,
                )?;
                // After the store, which locked and migrated the database.
                let accounts = SqliteAccounts::open(&config.data_dir, config.resume_ttl())?;
                (Arc::new(store), Arc::new(accounts))
            }
        };
        let accounts = Arc::new(Accounts::new(kept, config.resume_ttl()));
        let conns = Arc::new(ConnLimiter::new(
            config.max_conns,
            config.max_conns_per_ip,
            metrics.clone(),
        ));
        let verifier = Verifier::from_config(&config)?.map(Arc::new);
        Ok(AppState {
            handshakes: Arc::new(KeyedLimiter::new(config.max_handshakes_per_ip_per_sec)),
            room_rates: Arc::new(KeyedLimiter::new(config.room_rate_limit)),
            verifier,
            config: Arc::new(config),
            hub,
            accounts,
            store,
            metrics,
            conns,
            shutdown,
            tracker,
            next_conn: Arc::new(AtomicU64::new(1)),
        })
    }

    pub fn next_conn_id(&self) -> u64 {
        self.next_conn.fetch_add(1, Ordering::Relaxed)
    }

    /// The limits announced to clients in `welcome`.
    pub fn limits(&self) -> Limits {
        let c = &self.config;
        Limits {
            max_text_chars: shared::limits::MAX_TEXT_CHARS as u32,
            max_frame_bytes: shared::limits::MAX_FRAME_BYTES as u32,
            rate_per_sec: c.rate_limit,
            rate_burst: c.rate_burst,
            max_rooms: c.max_rooms_per_conn,
            max_history_page: shared::limits::MAX_HISTORY_PAGE,
        }
    }
}
