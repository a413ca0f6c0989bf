//! The JetStream store: one stream for every room, one consumer per relay.
//!
//! `append` publishes to the room's subject with a `Nats-Msg-Id` made of
//! the room, the user and the `client_id`, so JetStream's duplicate window
//! recognises a resend (even through another relay) and answers with the
//! original sequence. The sender is acked only after JetStream acked the
//! publish.
//!
//! Delivery does not happen in `append`: each relay reads the whole stream
//! with one ordered consumer, started where the stream ended when the relay
//! came up, and calls [`Deliver`] for each message in stream order. That is
//! what makes every member of a room, on any relay, see the same order.
//! `append` waits (bounded) until its own message went through that
//! consumer, so the sender sees its `message` before its `ack`, as in
//! standalone mode; `after` waits the same way for the last message it
//! read, so a joiner gets nothing twice. Both wait on their own room's
//! mark ([`Delivered`]), not on the relay's.
//!
//! History reads (`history`) use short-lived consumers of their own.

mod codec;
mod consume;
mod history;

use std::{
    collections::VecDeque,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, Mutex, OnceLock,
    },
    time::Duration,
};

use async_nats::{
    jetstream::{self, stream},
    HeaderMap,
};
use futures_util::future::BoxFuture;
use prometheus_client::metrics::histogram::Histogram;
use shared::{ChatMessage, RoomName};
use tokio::sync::Notify;
use tokio_util::{sync::CancellationToken, task::TaskTracker};

use self::{codec::encode, history::timed};
use super::{delivered::Delivered, room_subject, room_token, ROOM_SUBJECTS, STREAM};
use crate::{
    aging::Aging,
    config::Config,
    store::{Appended, Deliver, NewMessage, Page, Store, StoreError},
};

/// How long a publish may wait for JetStream's ack before the send is
/// refused as `unavailable` (the client then resends it).
const PUBLISH_TIMEOUT: Duration = Duration::from_secs(3);
/// How long `append` and `after` wait for the local consumer to catch up.
const CATCH_UP_TIMEOUT: Duration = Duration::from_secs(5);
/// How often the consumer's progress is checked against the stream.
const WATCHDOG_EVERY: Duration = Duration::from_secs(2);
/// Pause between attempts to set up the stream while NATS is unreachable.
const RETRY_EVERY: Duration = Duration::from_secs(1);

pub struct JetStreamStore {
    client: async_nats::Client,
    js: jetstream::Context,
    /// The stream, once NATS answered and it exists.
    stream: OnceLock<stream::Stream>,
    /// How far the local consumer has delivered, per room.
    delivered: Delivered,
    /// True while the local consumer is reading the stream.
    consuming: AtomicBool,
    deliver: Deliver,
    stream_config: stream::Config,
    /// Notified on each NATS (re)connection: the consumer is recreated.
    connected: Arc<Notify>,
    /// The latest sequences of each room delivered here, at most
    /// `recent_cap` per room: where a history read can start instead of
    /// the room's first message. Rooms without deliveries age out.
    recent: Mutex<Aging<RoomName, VecDeque<u64>>>,
    recent_cap: usize,
    /// How often idle rooms' `recent` and `delivered` state is dropped.
    room_idle: Duration,
    /// Where publish-to-ack latency goes (`/metrics`), once the relay says.
    acks: OnceLock<Histogram>,
}

impl JetStreamStore {
    pub(super) fn new(
        client: async_nats::Client,
        config: &Config,
        deliver: Deliver,
        connected: Arc<Notify>,
    ) -> Self {
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
            ..Default::default()
        };
        JetStreamStore {
            client,
            js,
            stream: OnceLock::new(),
            delivered: Delivered::default(),
            consuming: AtomicBool::new(false),
            deliver,
            stream_config,
            connected,
            recent: Mutex::new(Aging::default()),
            room_idle: config.room_idle(),
            acks: OnceLock::new(),
            // One more than the largest page, to tell a full page from a
            // truncated one.
            recent_cap: config
                .join_history
                .max(shared::limits::MAX_HISTORY_PAGE as usize)
                + 1,
        }
    }

    /// Times every publish until its ack into `acks` from now on.
    pub fn time_acks(&self, acks: Histogram) {
        let _ = self.acks.set(acks);
    }

    /// Sets the stream up (retrying until NATS answers), then consumes it
    /// until shutdown.
    pub(super) fn spawn(
        self: Arc<Self>,
        tracker: &TaskTracker,
        shutdown: CancellationToken,
        servers: String,
    ) {
        let sweeper = self.clone();
        let sweeper_stop = shutdown.clone();
        tracker.spawn(async move {
            tokio::select! {
                () = self.run(&servers) => {}
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
        self.delivered.sweep();
    }
    /// Waits until the local consumer delivered the room's message `seq`
    /// (bounded).
    async fn caught_up(&self, room: &RoomName, seq: u64) {
        let subject = room_subject(room);
        if !self.delivered.wait(&subject, seq, CATCH_UP_TIMEOUT).await {
            tracing::debug!("local delivery in {room} is behind sequence {seq}");
        }
    }

    fn stream(&self) -> Result<&stream::Stream, StoreError> {
        self.stream
            .get()
            .ok_or_else(|| StoreError::Unavailable("JetStream is not reachable yet".into()))
    }

    async fn publish(&self, msg: NewMessage) -> Result<Appended, StoreError> {
        let id = format!(
            "{}/{}/{}",
            room_token(&msg.room),
            msg.from.id,
            msg.client_id
        );
        let room = msg.room.clone();
        let subject = room_subject(&room);
        let payload = encode(msg);
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
        let ack = match acked {
            Ok(Ok(ack)) => {
                if let Some(acks) = self.acks.get() {
                    acks.observe(start.elapsed().as_secs_f64());
                }
                ack
            }
            Ok(Err(err)) => return Err(StoreError::Unavailable(format!("JetStream: {err}"))),
            Err(_) => {
                return Err(StoreError::Unavailable(format!(
                    "JetStream did not ack within {PUBLISH_TIMEOUT:?}"
                )))
            }
        };
        if ack.duplicate {
            return Ok(Appended::Duplicate(ack.sequence));
        }
        self.caught_up(&room, ack.sequence).await;
        Ok(Appended::New(ack.sequence))
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
            let (page, last) = timed(self.read(&room, from, None, limit)).await?;
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
            let (page, _) = timed(self.read(&room, 1, before, limit)).await?;
            Ok(page.messages)
        })
    }

    fn room_entries(&self) -> usize {
        self.recent.lock().unwrap().len() + self.delivered.rooms()
    }

    fn ready(&self) -> bool {
        self.consuming.load(Ordering::Acquire)
            && self.client.connection_state() == async_nats::connection::State::Connected
    }
}
