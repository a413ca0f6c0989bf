//! The JetStream store: one stream for every room; each relay receives
//! only the rooms it follows.
//!
//! `append` publishes to the room's subject with a `Nats-Msg-Id` made of
//! the room, the user and the `client_id`, so JetStream's duplicate window
//! recognises a resend (even through another relay) and answers with the
//! original sequence. The sender is acked only after JetStream acked the
//! publish.
//!
//! Delivery does not happen in `append`: the stream republishes each
//! stored message to the room's live subject, and each relay follows the
//! live subjects of the rooms that have members on it (`live`), repairing
//! any gap from the stream, and calls [`Deliver`] for each message in the
//! room's order. That is what makes every member of a room, on any relay,
//! see the same order. `append` waits (bounded) until its own message went
//! through the room's feed, so the sender sees its `message` before its
//! `ack`, as in standalone mode; `after` waits the same way for the last
//! message it read, so a joiner gets nothing twice. Both wait on their own
//! room's mark ([`Delivered`]).
//!
//! The hub says when a room's first local member joins and when its last
//! one left (after the linger): [`JetStreamStore::follow`] and
//! [`JetStreamStore::unfollow`]. `append` and `after` follow the room too,
//! so the store works alone (the conformance tests).
//!
//! History reads (`history`) use short-lived consumers of their own.
//! Edits, deletes and reactions (`events`) are stream messages of the
//! room too, delivered and read back in its order.
//!
//! A little over 400 lines: the store's state and its `Store` methods are
//! kept together; following (`live`), reads (`history`), message events
//! (`events`) and a stream that went back (`epoch`) are already their own
//! files.

mod codec;
mod epoch;
mod events;
mod history;
mod live;
mod quotes;

pub(in crate::backplane) use codec::{decode_record, Record};

use std::{
    collections::VecDeque,
    sync::{atomic::AtomicU64, Arc, Mutex, OnceLock, Weak},
    time::Duration,
};

use async_nats::{
    jetstream::{self, stream},
    HeaderMap,
};
use futures_util::future::BoxFuture;
use prometheus_client::metrics::histogram::Histogram;
use shared::{ChatMessage, RoomName};
use tokio::sync::watch;
use tokio_util::{sync::CancellationToken, task::TaskTracker};

use self::{codec::encode, epoch::Epoch, history::timed, live::Followers, quotes::Quotes};
use super::{
    connection::{LinkCheck, Refusal},
    delivered::Delivered,
    room_subject, room_token, LIVE_SUBJECTS, ROOM_SUBJECTS, STREAM,
};
use crate::{
    aging::Aging,
    config::Config,
    faults::Faults,
    metrics::{Counter, LiveCounters},
    store::{
        Appended, Deliver, DeliverUpdate, Found, NewMessage, NewUpdate, Page, SearchRequest, Store,
        StoreError, UpdateError,
    },
};

/// How long a publish may wait for JetStream's ack before the send is
/// refused as `unavailable` (the client then resends it).
const PUBLISH_TIMEOUT: Duration = Duration::from_secs(3);
/// How long `append` and `after` wait for the room's feed to catch up.
const CATCH_UP_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a sender's own message may be late before the room's feed
/// looks for a lost tail.
const LATE: Duration = Duration::from_secs(1);
/// Pause between attempts to set up the stream while NATS is unreachable.
const RETRY_EVERY: Duration = Duration::from_secs(1);

pub struct JetStreamStore {
    client: async_nats::Client,
    js: jetstream::Context,
    /// The stream, once NATS answered and it exists.
    stream: OnceLock<stream::Stream>,
    /// How far each followed room was delivered.
    delivered: Delivered,
    /// The rooms this relay follows, each with its task.
    followers: Mutex<Followers>,
    deliver: Deliver,
    /// Where edits, deletes and reactions go, once the relay says.
    deliver_update: OnceLock<DeliverUpdate>,
    /// Told of each message this relay committed (once, at the ack; the
    /// push sender's queue).
    committed: OnceLock<Deliver>,
    stream_config: stream::Config,
    /// Counts NATS (re)connections: followers then look for what they
    /// missed while disconnected.
    connections: watch::Sender<u64>,
    /// Set when NATS refused the relay's credentials: the store's fault.
    refused: Refusal,
    /// This store, for the followers' tasks (set at construction).
    me: OnceLock<Weak<JetStreamStore>>,
    /// Where followers' tasks are tracked, and what stops them.
    tracker: TaskTracker,
    shutdown: CancellationToken,
    /// The stream's creation time, to notice a recreated stream (`epoch`).
    epoch: Epoch,
    /// Where live messages, repaired gaps and marks reset past the
    /// stream's end are counted (`/metrics`), once the relay says.
    counters: OnceLock<LiveCounters>,
    /// Test-only: a room whose live messages are dropped one in two.
    drop_live: Option<RoomName>,
    dropped: AtomicU64,
    /// The latest sequences of each room delivered here, at most
    /// `recent_cap` per room: where a history read can start instead of
    /// the room's first message. Rooms without deliveries age out.
    recent: Mutex<Aging<RoomName, VecDeque<u64>>>,
    recent_cap: usize,
    /// The start of each followed room's latest messages, as they are
    /// now: the quotes of live replies (`quotes`).
    quotes: Quotes,
    /// How often idle rooms' `recent` state is dropped.
    room_idle: Duration,
    /// Where publish-to-ack latency goes (`/metrics`), once the relay says.
    acks: OnceLock<Histogram>,
    /// Probes the connection after an unacked publish (`connection`).
    link: LinkCheck,
}

impl JetStreamStore {
    pub(super) fn new(
        client: async_nats::Client,
        config: &Config,
        deliver: Deliver,
        connections: watch::Sender<u64>,
        refused: Refusal,
        tracker: &TaskTracker,
        shutdown: &CancellationToken,
    ) -> Arc<Self> {
        let js = jetstream::context::ContextBuilder::new()
            .timeout(PUBLISH_TIMEOUT)
            .build(client.clone());
        let max_age = config.nats_max_age();
        let mut duplicate_window = config.dedup_window();
        if !max_age.is_zero() {
            // JetStream refuses a duplicate window longer than the max age.
            duplicate_window = duplicate_window.min(max_age);
        }
        let stream_config = stream::Config {
            name: STREAM.to_string(),
            subjects: vec![format!("{ROOM_SUBJECTS}.*")],
            max_messages_per_subject: config.history_limit.max(1) as i64,
            max_age,
            duplicate_window,
            num_replicas: config.nats_replicas.max(1),
            storage: stream::StorageType::File,
            republish: Some(republish()),
            ..Default::default()
        };
        let drop_live = Faults::parse(&config.fault_inject)
            .ok()
            .and_then(|faults| faults.drop_live_room().cloned());
        // One more than the largest page, to tell a full page from a
        // truncated one.
        let recent_cap = config
            .join_history
            .max(shared::limits::MAX_HISTORY_PAGE as usize)
            + 1;
        let store = Arc::new(JetStreamStore {
            client,
            js,
            stream: OnceLock::new(),
            delivered: Delivered::default(),
            refused,
            followers: Mutex::new(Followers::new()),
            deliver,
            deliver_update: OnceLock::new(),
            committed: OnceLock::new(),
            stream_config,
            connections,
            me: OnceLock::new(),
            tracker: tracker.clone(),
            shutdown: shutdown.clone(),
            epoch: Epoch::default(),
            counters: OnceLock::new(),
            drop_live,
            dropped: AtomicU64::new(0),
            recent: Mutex::new(Aging::default()),
            room_idle: config.room_idle(),
            acks: OnceLock::new(),
            link: LinkCheck::default(),
            recent_cap,
            quotes: Quotes::new(recent_cap),
        });
        let _ = store.me.set(Arc::downgrade(&store));
        store
    }

    /// Times every publish until its ack into `acks` from now on.
    pub fn time_acks(&self, acks: Histogram) {
        let _ = self.acks.set(acks);
    }

    /// Sets the stream up (retrying until NATS answers) and sweeps idle
    /// rooms' state until shutdown.
    pub(super) fn spawn(self: Arc<Self>, servers: String) {
        let sweeper = self.clone();
        let (tracker, shutdown) = (self.tracker.clone(), self.shutdown.clone());
        let sweeper_stop = shutdown.clone();
        tracker.spawn(async move {
            tokio::select! {
                () = async {
                    self.run(&servers).await;
                    // The epoch the relay starts from.
                    if let Err(err) = self.check_epoch().await {
                        tracing::debug!("cannot read the stream's epoch: {err}");
                    }
                    self.watch_epoch().await;
                } => {}
                () = shutdown.cancelled() => {}
            }
        });
        tracker.spawn(async move {
            let mut tick = tokio::time::interval(sweeper.room_idle);
            tick.tick().await;
            loop {
                tokio::select! {
                    _ = tick.tick() => sweeper.sweep(),
                    () = sweeper_stop.cancelled() => return,
                }
            }
        });
    }

    /// Forgets the per-room state of rooms idle since the previous sweep.
    fn sweep(&self) {
        self.recent.lock().unwrap().sweep();
        self.quotes.sweep();
        self.delivered.sweep();
    }

    async fn run(&self, servers: &str) {
        let mut attempts = 0u32;
        loop {
            match self.set_up().await {
                Ok(()) => break,
                Err(err) => {
                    attempts += 1;
                    if attempts == 1 || attempts.is_multiple_of(10) {
                        tracing::warn!(
                            "cannot reach JetStream at {servers} ({err}); /readyz answers 503 and sends are refused until it is back; retrying every {RETRY_EVERY:?}"
                        );
                    }
                    tokio::time::sleep(RETRY_EVERY).await;
                }
            }
        }
        tracing::info!("JetStream stream {STREAM} ready; following rooms as members join");
    }

    /// Creates the stream if no relay did yet, and makes an older one
    /// republish to the live subjects.
    async fn set_up(&self) -> Result<(), async_nats::Error> {
        let mut stream = self
            .js
            .get_or_create_stream(self.stream_config.clone())
            .await?;
        let info = stream.info().await?;
        if info.config.republish != self.stream_config.republish {
            tracing::info!("making stream {STREAM} republish to {LIVE_SUBJECTS}.*");
            let mut config = info.config.clone();
            config.republish = self.stream_config.republish.clone();
            self.js.update_stream(config).await?;
            stream = self.js.get_stream(STREAM).await?;
        }
        let _ = self.stream.set(stream);
        Ok(())
    }

    /// Counts live messages, repairs and resets into `counters` from now on.
    pub fn count_live(&self, counters: LiveCounters) {
        let _ = self.counters.set(counters);
    }

    fn count(&self, which: fn(&LiveCounters) -> &Counter) {
        if let Some(counters) = self.counters.get() {
            which(counters).inc();
        }
    }

    /// Hands one message, edit, delete or reaction of a followed room to
    /// the hub.
    async fn deliver_record(&self, record: Record) {
        let record = self.quoted(record).await;
        self.quotes.saw(&record);
        match record {
            Record::Message(chat) => {
                self.remember(&chat.room, chat.seq);
                (self.deliver)(&Arc::new(chat));
            }
            Record::Event(update, ..) => {
                if let Some(deliver) = self.deliver_update.get() {
                    deliver(&update);
                }
            }
        }
    }

    /// Where stored edits, deletes and reactions go (the hub's fan-out),
    /// from now on.
    pub fn deliver_updates(&self, deliver: DeliverUpdate) {
        let _ = self.deliver_update.set(deliver);
    }

    /// Who hears of each message this relay stores, once, when JetStream
    /// acks it (every relay following the room delivers it; only the one
    /// that stored it is told here), from now on.
    pub fn on_commit(&self, committed: Deliver) {
        let _ = self.committed.set(committed);
    }

    /// Follows the room and waits (bounded) until it is followed.
    async fn follow_now(&self, room: &RoomName) -> Result<(), StoreError> {
        self.follow(room);
        match self
            .delivered
            .wait_followed(&room_subject(room), CATCH_UP_TIMEOUT)
            .await
        {
            Some(_) => Ok(()),
            None => Err(StoreError::Unavailable(format!(
                "cannot follow {room} on JetStream yet"
            ))),
        }
    }

    /// Waits until the room's feed delivered its message `seq` (bounded);
    /// if it is late, the feed looks for a lost tail.
    async fn caught_up(&self, room: &RoomName, seq: u64) {
        let subject = room_subject(room);
        if self.delivered.wait(&subject, seq, LATE).await {
            return;
        }
        self.nudge(room);
        if !self
            .delivered
            .wait(&subject, seq, CATCH_UP_TIMEOUT - LATE)
            .await
        {
            tracing::debug!("local delivery in {room} is behind sequence {seq}");
        }
    }

    /// The stream, while NATS is connected: a send, a join's catch-up or a
    /// history read while NATS is away is refused (`unavailable`) at once
    /// rather than queued toward NATS or left waiting for its timeout.
    fn stream(&self) -> Result<&stream::Stream, StoreError> {
        let stream = self
            .stream
            .get()
            .ok_or_else(|| StoreError::Unavailable("JetStream is not reachable yet".into()))?;
        if self.client.connection_state() != async_nats::connection::State::Connected {
            return Err(StoreError::Unavailable("NATS is unreachable".into()));
        }
        Ok(stream)
    }

    async fn publish(&self, msg: NewMessage) -> Result<Appended, StoreError> {
        self.stream()?;
        self.follow_now(&msg.room).await?;
        let id = format!(
            "{}/{}/{}",
            room_token(&msg.room),
            msg.from.id,
            msg.client_id
        );
        let room = msg.room.clone();
        let subject = room_subject(&room);
        let payload = encode(msg);
        let stored = self.committed.get().map(|_| payload.clone());
        let mut headers = HeaderMap::new();
        headers.insert(async_nats::header::NATS_MESSAGE_ID, id.as_str());
        let start = std::time::Instant::now();
        let acked = tokio::time::timeout(PUBLISH_TIMEOUT, async {
            self.js
                .publish_with_headers(subject, headers, payload.into())
                .await?
                .await
                .map_err(async_nats::Error::from)
        })
        .await;
        let timed_out = match &acked {
            Err(_) => true,
            Ok(Err(err)) => err
                .downcast_ref::<jetstream::context::PublishError>()
                .is_some_and(|err| err.kind() == jetstream::context::PublishErrorKind::TimedOut),
            Ok(Ok(_)) => false,
        };
        if timed_out {
            self.link.after_timeout(&self.client, &self.tracker);
        }
        let ack = match acked {
            Ok(Ok(ack)) => {
                if let Some(acks) = self.acks.get() {
                    acks.observe(start.elapsed().as_secs_f64());
                }
                ack
            }
            Ok(Err(err)) => {
                if err
                    .downcast_ref::<jetstream::context::PublishError>()
                    .is_some_and(|err| {
                        err.kind() == jetstream::context::PublishErrorKind::StreamNotFound
                    })
                {
                    // Deleted under the relay: made again for the resend.
                    if let Err(err) = self.check_epoch().await {
                        tracing::debug!("cannot create the stream again: {err}");
                    }
                }
                return Err(StoreError::Unavailable(format!("JetStream: {err}")));
            }
            Err(_) => {
                return Err(StoreError::Unavailable(format!(
                    "JetStream did not ack within {PUBLISH_TIMEOUT:?}"
                )))
            }
        };
        if ack.duplicate {
            return Ok(Appended::Duplicate(ack.sequence));
        }
        if let (Some(committed), Some(stored)) = (self.committed.get(), stored) {
            if let Some(Record::Message(chat)) = codec::decode_record(&stored, ack.sequence) {
                committed(&Arc::new(chat));
            }
        }
        self.caught_up(&room, ack.sequence).await;
        Ok(Appended::New(ack.sequence))
    }
}

/// Each stored message goes out again on its room's live subject.
fn republish() -> stream::Republish {
    stream::Republish {
        source: format!("{ROOM_SUBJECTS}.*"),
        destination: format!("{LIVE_SUBJECTS}.{{{{wildcard(1)}}}}"),
        headers_only: false,
    }
}

impl Store for JetStreamStore {
    fn append(&self, msg: NewMessage) -> BoxFuture<'_, Result<Appended, StoreError>> {
        Box::pin(self.publish(msg))
    }

    fn after(
        &self,
        room: &RoomName,
        since: Option<u64>,
        limit: usize,
    ) -> BoxFuture<'_, Result<Page, StoreError>> {
        let room = room.clone();
        Box::pin(async move {
            // A cursor at the last possible seq has nothing after it.
            let Some(from) = since.map_or(Some(1), |since| since.checked_add(1)) else {
                return Ok(Page::default());
            };
            self.stream()?;
            // Followed first: every message after the page then comes live.
            self.follow_now(&room).await?;
            let (page, last) = timed(self.read(&room, from, None, limit, since.is_some())).await?;
            // Messages up to `last` are in the page (or older than it): wait
            // until the live feed is past them so none comes twice.
            self.caught_up(&room, last).await;
            Ok(page)
        })
    }

    fn before(
        &self,
        room: &RoomName,
        before: Option<u64>,
        limit: usize,
    ) -> BoxFuture<'_, Result<Vec<ChatMessage>, StoreError>> {
        let room = room.clone();
        Box::pin(async move {
            let (page, _) = timed(self.read(&room, 1, before, limit, false)).await?;
            Ok(page.messages)
        })
    }

    fn newer(
        &self,
        room: &RoomName,
        after: u64,
        limit: usize,
    ) -> BoxFuture<'_, Result<Vec<ChatMessage>, StoreError>> {
        let room = room.clone();
        Box::pin(async move { timed(self.read_newer(&room, after, limit)).await })
    }

    fn update(&self, update: NewUpdate) -> BoxFuture<'_, Result<Appended, UpdateError>> {
        Box::pin(self.change(update))
    }

    /// Asks the cluster's search indexers (`backplane::search`).
    fn search(&self, request: SearchRequest) -> BoxFuture<'_, Result<Found, StoreError>> {
        Box::pin(super::search::ask(&self.client, request))
    }

    fn room_entries(&self) -> usize {
        self.recent.lock().unwrap().len() + self.delivered.rooms() + self.quotes.len()
    }

    fn fault(&self) -> Option<String> {
        self.refused.get().cloned()
    }

    fn ready(&self) -> bool {
        self.stream.get().is_some()
            && self.client.connection_state() == async_nats::connection::State::Connected
    }
}
