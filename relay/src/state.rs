//! The relay's shared state, one cheap-to-clone handle passed to every
//! handler and session.

use std::sync::{
    atomic::{AtomicU64, Ordering},
    Arc,
};

use shared::{protocol::Limits, RoomName};
use tokio_util::{sync::CancellationToken, task::TaskTracker};

use crate::{
    accounts::{AccountStore, Accounts, Leftovers, NoAccountStore, SqliteAccounts},
    auth::Verifier,
    backplane::{self, NatsPush},
    config::{Config, StoreKind},
    faults::Faults,
    files::{Files, WithFiles},
    health::Health,
    hub::Hub,
    limits::{Budget, ClientKey, ConnLimiter, KeyedRate, TrustedProxies},
    memberships::{MembershipStore, Memberships, MemoryMemberships, SqliteMemberships},
    metrics::Metrics,
    origin::Origins,
    push::{
        MemorySubscriptions, Policy, Push, PushQueue, Sender, SqliteSubscriptions,
        SubscriptionStore, Vapid, VapidSlot,
    },
    reads::ReadGate,
    store::{Deliver, MemoryStore, SqliteOptions, SqliteStore, Store, Timed},
};

#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub hub: Arc<Hub>,
    /// Accounts and resume tokens, apart from the hub's rooms.
    pub accounts: Arc<Accounts>,
    /// Each user's rooms, read markers and levels, and their connections.
    pub memberships: Arc<Memberships>,
    pub store: Arc<dyn Store>,
    pub metrics: Arc<Metrics>,
    pub conns: Arc<ConnLimiter>,
    /// Handshakes per second per client (IPv4 address or IPv6 /64).
    pub handshakes: Arc<KeyedRate<ClientKey>>,
    /// Messages per second per room.
    pub room_rates: Arc<KeyedRate<RoomName>>,
    /// Browser origins that may open WebSockets.
    pub origins: Arc<Origins>,
    /// Peers whose `X-Forwarded-For` names the client.
    pub trusted_proxies: Arc<TrustedProxies>,
    /// Checks connection tokens in token mode; `None` when anonymous.
    pub verifier: Option<Arc<Verifier>>,
    /// Cancelled when the relay shuts down; every session and background
    /// task watches it (through child tokens).
    pub shutdown: CancellationToken,
    /// Every session and background task, so shutdown can wait for them.
    pub tracker: TaskTracker,
    next_conn: Arc<AtomicU64>,
    /// The fatal fault seen, if any (for /healthz and the exit).
    pub health: Arc<Health>,
    /// Test-only faults to inject (none unless `--fault-inject`).
    pub faults: Arc<Faults>,
    /// The cap on store reads at once (`--max-store-reads`).
    pub reads: Arc<ReadGate>,
    /// Web Push: the VAPID key and the subscriptions.
    pub push: Arc<Push>,
    /// Uploaded files, their index and their signed URLs.
    pub files: Arc<Files>,
}

impl AppState {
    /// Builds the state; in cluster mode also starts the NATS backplane
    /// (whose tasks join `tracker` and watch `shutdown`).
    pub async fn new(config: Config, shutdown: CancellationToken) -> anyhow::Result<Self> {
        if let (Some(dir), false) = (&config.search_index, config.clustered()) {
            anyhow::bail!(
                "--search-index {} needs cluster mode (--nats URL): a standalone relay searches its own store already",
                dir.display()
            );
        }
        let tracker = TaskTracker::new();
        let metrics = Arc::new(Metrics::new(match config.store {
            _ if config.clustered() => "jetstream",
            StoreKind::Memory => "memory",
            StoreKind::Sqlite => "sqlite",
        }));
        let hub = Arc::new(Hub::new(
            metrics.clone(),
            config.queue_len,
            config.big_rooms(),
        ));
        let faults = Arc::new(Faults::parse(&config.fault_inject)?);
        let (push_queue, push_jobs) = PushQueue::new(true, metrics.push.clone());
        // In cluster mode every relay following a room delivers each
        // message; only the one that committed it pushes (`on_commit`).
        let push_on_deliver = !config.clustered();
        // Before the store: the SQLite store migrates the database the
        // file index lives in.
        let (deliver, files_slot): (Deliver, _) = {
            let (hub, faults, queue) = (hub.clone(), faults.clone(), push_queue.clone());
            let slot: Arc<std::sync::OnceLock<Arc<Files>>> = Arc::default();
            let files = slot.clone();
            let deliver: Deliver = Arc::new(move |message| {
                faults.deliver(&message.room);
                // Never waits: a full push queue drops the push.
                if push_on_deliver {
                    queue.offer(message);
                }
                // A message that posted files is delivered with them.
                match files.get().and_then(|files| files.on_deliver(message)) {
                    Some(with_files) => hub.deliver(&with_files),
                    None => hub.deliver(message),
                }
            });
            (deliver, slot)
        };
        // Each store comes with the accounts and memberships engines that
        // last as long.
        let mut nats = None;
        let mut cluster_push = None;
        let (store, kept, rooms): (
            Arc<dyn Store>,
            Arc<dyn AccountStore>,
            Arc<dyn MembershipStore>,
        ) = match config.store {
            _ if config.clustered() => {
                let started =
                    backplane::start(&config, hub.clone(), deliver, &tracker, &shutdown).await?;
                started.store.time_acks(metrics.publish_ack.clone());
                started.store.count_live(metrics.live.clone());
                started.store.deliver_updates({
                    let hub = hub.clone();
                    Arc::new(move |update| hub.deliver_update(update))
                });
                started.store.on_commit({
                    let queue = push_queue.clone();
                    Arc::new(move |message| queue.offer(message))
                });
                cluster_push = Some(started.push.clone());
                if let Some(dir) = &config.search_index {
                    backplane::search::start(
                        started.client.clone(),
                        dir,
                        backplane::search::Retention {
                            max_age: config.nats_max_age(),
                            every: std::time::Duration::from_secs(config.search_prune_secs.max(1)),
                        },
                        metrics.search.clone(),
                        &tracker,
                        &shutdown,
                    )?;
                }
                nats = Some(started.client);
                (started.store, started.accounts, started.memberships)
            }
            StoreKind::Memory => (
                Arc::new(
                    MemoryStore::new(config.history_limit, config.dedup_window(), deliver)
                        .with_updates({
                            let hub = hub.clone();
                            Arc::new(move |update| hub.deliver_update(update))
                        }),
                ),
                Arc::new(NoAccountStore),
                Arc::new(MemoryMemberships::default()),
            ),
            StoreKind::Sqlite => {
                let store = SqliteStore::open_with_updates(
                    SqliteOptions {
                        data_dir: config.data_dir.clone(),
                        sync: config.sync,
                        dedup_window: config.dedup_window(),
                        // Enough that a join's page of history is served from memory.
                        cache_per_room: config.join_history.saturating_mul(2).max(64),
                        retention_messages: config.retention_messages,
                        retention_age: config.retention_age(),
                        room_idle: config.room_idle(),
                    },
                    deliver,
                    {
                        let hub = hub.clone();
                        Arc::new(move |update| hub.deliver_update(update))
                    },
                )?;
                // After the store, which locked and migrated the database.
                let accounts =
                    SqliteAccounts::open(&config.data_dir, config.resume_ttl(), config.sync)?;
                let memberships = SqliteMemberships::open(&config.data_dir, config.sync)?;
                (Arc::new(store), Arc::new(accounts), Arc::new(memberships))
            }
        };
        let push = push_state(&config, push_queue, cluster_push, &tracker, &shutdown)?;
        let shared_files = nats
            .as_ref()
            .map(|client| backplane::NatsFiles::new(client.clone(), &config));
        let files = Files::open(&config, metrics.files.clone(), shared_files.clone())?;
        if let Some(shared) = shared_files {
            shared.spawn(files.clone(), &tracker, shutdown.clone());
        }
        let _ = files_slot.set(files.clone());
        let store: Arc<dyn Store> = Arc::new(WithFiles::new(store, files.clone()));
        let store: Arc<dyn Store> = Arc::new(Timed::new(store, metrics.clone()));
        let accounts = Arc::new(Accounts::new(kept, config.resume_ttl()));
        let memberships = Arc::new(Memberships::new(rooms, metrics.clone()));
        memberships.set_sources(store.clone(), hub.clone());
        accounts.set_leftovers(Leftovers {
            memberships: memberships.shared_engine(),
            subscriptions: push.subscriptions.clone(),
        });
        if let Some(client) = nats {
            backplane::NatsDevices::attach(client, &memberships, shutdown.child_token());
        }
        let conns = Arc::new(ConnLimiter::new(
            config.max_conns,
            config.max_conns_per_ip,
            metrics.clone(),
        ));
        let verifier = Verifier::from_config(&config)?.map(Arc::new);
        let origins = Origins::new(
            config.public_url.as_ref(),
            config.bind,
            config.tls_cert.is_some(),
            &config.allowed_origins,
            config.allow_localhost_origins,
        )?;
        if origins.own_unknown() {
            tracing::warn!(
                "listening on every interface without --public-url: browsers on the relay's own \
                 pages may connect only from localhost or an --allowed-origin; set --public-url"
            );
        }
        let per_second_twice_in_a_burst =
            |rate: u32| Budget::per_second(rate, rate.saturating_mul(2));
        let reads = Arc::new(ReadGate::new(config.max_store_reads));
        if let Some(jobs) = push_jobs {
            let sender = Arc::new(Sender::new(
                push.vapid.clone(),
                push.subscriptions.clone(),
                memberships.clone(),
                hub.clone(),
                push.policy,
                metrics.push.clone(),
            ));
            tracker.spawn(sender.run(jobs, tracker.clone(), shutdown.clone()));
        }
        Ok(AppState {
            handshakes: Arc::new(KeyedRate::new(per_second_twice_in_a_burst(
                config.max_handshakes_per_ip_per_sec,
            ))),
            room_rates: Arc::new(KeyedRate::new(per_second_twice_in_a_burst(
                config.room_rate_limit,
            ))),
            origins: Arc::new(origins),
            trusted_proxies: Arc::new(TrustedProxies::new(config.trusted_proxies.iter().copied())),
            verifier,
            config: Arc::new(config),
            hub,
            accounts,
            memberships,
            push: Arc::new(push),
            store,
            metrics,
            conns,
            shutdown,
            tracker,
            next_conn: Arc::new(AtomicU64::new(1)),
            health: Arc::new(Health::default()),
            faults,
            reads,
            files,
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

/// Web Push's key and subscriptions for this store (after the store
/// opened and migrated the data directory). In cluster mode (`cluster`)
/// both are the cluster's: the key from `--vapid-key` or, once NATS
/// answers, the one kept there.
fn push_state(
    config: &Config,
    queue: PushQueue,
    cluster: Option<Arc<NatsPush>>,
    tracker: &TaskTracker,
    shutdown: &CancellationToken,
) -> anyhow::Result<Push> {
    let policy = if config.push_allow_insecure {
        tracing::warn!(
            "--push-allow-insecure: pushes may go to http endpoints and private addresses; \
             for tests only"
        );
        Policy::Insecure
    } else {
        Policy::Public
    };
    let subject = config
        .vapid_subject
        .clone()
        .or_else(|| {
            config
                .public_url
                .as_ref()
                .map(|u| u.origin().ascii_serialization())
        })
        .unwrap_or_else(|| "mailto:admin@palaver.invalid".into());
    let vapid = VapidSlot::default();
    if let Some(cluster) = cluster {
        match &config.vapid_key {
            Some(file) => {
                let _ = vapid.set(Arc::new(Vapid::load(Some(file), None, subject)?));
            }
            None => {
                let (slot, nats) = (vapid.clone(), cluster.clone());
                let shutdown = shutdown.clone();
                tracker.spawn(async move {
                    tokio::select! {
                        key = nats.key() => {
                            let _ = slot.set(Arc::new(Vapid::new(key, subject)));
                        }
                        () = shutdown.cancelled() => {}
                    }
                });
            }
        }
        return Ok(Push {
            queue,
            vapid,
            subscriptions: cluster,
            policy,
        });
    }
    let durable = matches!(config.store, StoreKind::Sqlite);
    let _ = vapid.set(Arc::new(Vapid::load(
        config.vapid_key.as_deref(),
        durable.then_some(config.data_dir.as_path()),
        subject,
    )?));
    let subscriptions: Arc<dyn SubscriptionStore> = if durable {
        Arc::new(SqliteSubscriptions::open(&config.data_dir, config.sync)?)
    } else {
        Arc::new(MemorySubscriptions::default())
    };
    Ok(Push {
        queue,
        vapid,
        subscriptions,
        policy,
    })
}
