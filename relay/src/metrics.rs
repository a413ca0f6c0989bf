//! What `/metrics` shows: counters, gauges and histograms on
//! `prometheus-client`, encoded in the Prometheus text format
//! (docs/OPERATIONS.md lists every metric and what to do about it).
//!
//! Labels come only from closed sets (error codes, close codes, frame
//! kinds, the store engine, a read's direction, queue-depth bands): never a
//! room name, user id or address, so a busy relay's scrape stays as small
//! as an idle one's. Counters are atomics; a histogram takes an uncontended
//! lock per observation, so the hot path observes one per *message* (its
//! last recipient's write), never one per delivery.
//!
//! Longer than most modules because every metric's name and help text is
//! here, in one list an operator can read next to docs/OPERATIONS.md.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use prometheus_client::{
    encoding::{text::encode, EncodeLabelSet},
    metrics::{counter, family::Family, gauge, histogram::Histogram},
    registry::{Registry, Unit},
};
use shared::{close, ClientMsg, ErrorCode, ServerMsg};

/// A counter the relay's call sites bump (`inc`, `add`) and tests read.
#[derive(Clone, Default)]
pub struct Counter(counter::Counter);

impl Counter {
    pub fn inc(&self) {
        self.0.inc();
    }
    pub fn add(&self, n: u64) {
        self.0.inc_by(n);
    }
    pub fn get(&self) -> u64 {
        self.0.get()
    }
}

/// Cluster mode's routing counters, which the JetStream store bumps.
#[derive(Clone, Default)]
pub struct LiveCounters {
    /// Messages received from the rooms' live subjects.
    pub messages: Counter,
    /// Gaps (lost live messages, a lost tail) repaired from the stream.
    pub repairs: Counter,
    /// Rooms found delivered past the stream's end, and recreated streams.
    pub resets: Counter,
}

/// Cluster search's counters, which an indexer bumps
/// (`backplane::search`).
#[derive(Clone, Default)]
pub struct SearchCounters {
    /// Stream records (messages, edits, deletes, reactions) applied to the
    /// index by this process.
    pub indexed: Counter,
    /// Search requests this indexer answered.
    pub answered: Counter,
}

/// A gauge that goes up and down with what it counts (open connections).
#[derive(Clone, Default)]
pub struct Level(gauge::Gauge);

impl Level {
    pub fn inc(&self) {
        self.0.inc();
    }
    pub fn sub(&self, n: u64) {
        self.0.dec_by(n as i64);
    }
    pub fn get(&self) -> u64 {
        self.0.get().max(0) as u64
    }
}

/// Latency buckets, seconds: 100 µs to 10 s.
const LATENCY_BUCKETS: [f64; 16] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];

fn latency() -> Histogram {
    Histogram::new(LATENCY_BUCKETS)
}

/// A server frame's kind: an index into the per-kind counters, so counting
/// a frame costs no match and no lookup.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SentKind(u8);

impl SentKind {
    /// `ServerMsg::Unknown` is never sent; it gets no counter.
    pub fn of(msg: &ServerMsg) -> SentKind {
        SentKind(msg.type_index().map_or(u8::MAX, |i| i as u8))
    }
}

/// Bands of a connection's queue depth (frames waiting for its writer),
/// upper bounds inclusive; the last band is everything above.
const DEPTH_BANDS: [(usize, &str); 5] = [
    (0, "0"),
    (3, "1-3"),
    (15, "4-15"),
    (63, "16-63"),
    (usize::MAX, "64+"),
];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CodeLabel {
    code: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CloseLabel {
    code: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabel {
    kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReadLabel {
    read: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DepthLabel {
    depth: &'static str,
}

/// What only a scrape can see: the hub's and the store's state now.
#[derive(Debug, Default)]
pub struct Snapshot {
    pub rooms: usize,
    /// Tracked tasks: sessions, lingering members, housekeeping.
    pub tasks: usize,
    pub room_entries: usize,
    /// Users in rooms through this relay, counted once per room.
    pub members: usize,
    /// Each connection in a room: frames waiting in its queue.
    pub queue_depths: Vec<usize>,
    /// Bytes waiting in every connection's queue.
    pub queued_bytes: usize,
    pub store_ready: bool,
    /// Messages waiting for the store's writer (SQLite).
    pub store_queue: usize,
}

pub struct Metrics {
    registry: Registry,
    pub connections: Level,
    /// Connections whose app said it is visible (`focus`): their users get
    /// no push.
    pub visible_apps: Level,
    pub connections_total: Counter,
    pub connections_rejected: Counter,
    pub origins_rejected: Counter,
    pub messages_in: Counter,
    pub frames_out: Counter,
    pub slow_consumers: Counter,
    pub handshakes_rejected: Counter,
    pub room_rate_limited: Counter,
    pub header_timeouts: Counter,
    pub auth_failures: Counter,
    pub flooders: Counter,
    pub session_panics: Counter,
    pub read_bytes: Counter,
    pub read_budget_refused: Counter,
    pub store_reads_refused: Counter,
    // Big rooms and per-kind budgets (docs/SECURITY.md, "Budgets per
    // frame kind").
    pub presence_batches: Counter,
    pub typing_coalesced: Counter,
    pub joins_refused: Counter,
    pub nicks_refused: Counter,
    errors: Vec<Counter>,
    frames_in: Vec<Counter>,
    frames_sent: Vec<Counter>,
    closes: Family<CloseLabel, counter::Counter>,
    /// A message's acceptance to its write on its last recipient's socket.
    pub delivery: Histogram,
    /// `Store::append`: stored (committed, for SQLite; acked and consumed,
    /// for JetStream) and delivered.
    pub store_append: Histogram,
    /// `Store::after` (catch-up on join) and `Store::before` (history).
    store_reads: Family<ReadLabel, Histogram>,
    /// A JetStream publish until its ack (cluster mode).
    pub publish_ack: Histogram,
    /// Cluster mode: live messages, repairs and resets.
    pub live: LiveCounters,
    /// Cluster mode, `--search-index`: records indexed, searches answered.
    pub search: SearchCounters,
    /// Uploads, downloads, garbage collection (`files`).
    pub files: crate::files::FileMetrics,
    // Set on each scrape from a `Snapshot`.
    rooms: gauge::Gauge,
    tasks: gauge::Gauge,
    room_entries: gauge::Gauge,
    members: gauge::Gauge,
    /// Cluster mode: members on other relays, per (relay, room, user);
    /// kept by the hub as they come and go.
    pub remote_members: gauge::Gauge,
    queue_depth: Family<DepthLabel, gauge::Gauge>,
    queued_bytes: gauge::Gauge,
    store_ready: gauge::Gauge,
    store_queue: gauge::Gauge,
    /// Web Push: sent, failed by status, retries, drops, queue depth.
    pub push: crate::push::PushMetrics,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new("memory")
    }
}

impl Metrics {
    /// `engine` (memory, sqlite, jetstream) labels the store's metrics, so
    /// one dashboard compares relays on different engines.
    pub fn new(engine: &'static str) -> Self {
        let mut registry = Registry::with_prefix("palaver");
        let count = |registry: &mut Registry, name: &str, help: &str| {
            let counter = Counter::default();
            registry.register(name, help, counter.0.clone());
            counter
        };
        let r = &mut registry;
        let connections = Level::default();
        r.register(
            "connections",
            "Open WebSocket connections",
            connections.0.clone(),
        );
        let visible_apps = Level::default();
        r.register(
            "visible_apps",
            "Connections whose app is visible (focus): their users get no push",
            visible_apps.0.clone(),
        );
        let connections_total = count(r, "connections_accepted", "WebSocket connections accepted");
        let connections_rejected = count(
            r,
            "connections_rejected",
            "WebSocket upgrades refused by a connection limit",
        );
        let origins_rejected = count(
            r,
            "origins_rejected",
            "WebSocket upgrades refused for a browser origin not allowed",
        );
        let messages_in = count(r, "messages_in", "Chat messages accepted and stored");
        let frames_out = count(
            r,
            "frames_out",
            "Broadcast frames queued to connections (deliveries)",
        );
        let slow_consumers = count(
            r,
            "slow_consumers",
            "Connections closed because they could not keep up",
        );
        let handshakes_rejected = count(
            r,
            "handshakes_rejected",
            "WebSocket handshakes refused by --max-handshakes-per-ip-per-sec",
        );
        let room_rate_limited = count(r, "room_rate_limited", "Sends refused by --room-rate-limit");
        let header_timeouts = count(
            r,
            "header_timeouts",
            "HTTP connections closed by --header-timeout before their request headers were read",
        );
        let auth_failures = count(
            r,
            "auth_failures",
            "Connections closed for a missing, expired, malformed or wrongly signed token",
        );
        let flooders = count(
            r,
            "flooders",
            "Connections closed (4004) for ignoring the frame-rate limit",
        );
        let session_panics = count(
            r,
            "session_panics",
            "Sessions ended by a panic (a bug); each was cleaned up and closed with 1011",
        );
        let read_bytes = count(r, "read_bytes", "Bytes of joined and history replies sent");
        let read_budget_refused = count(
            r,
            "read_budget_refused",
            "join and history requests refused by --read-bytes-per-sec",
        );
        let store_reads_refused = count(
            r,
            "store_reads_refused",
            "join and history requests refused (unavailable) after waiting for --max-store-reads",
        );
        let presence_batches = count(
            r,
            "presence_batches",
            "presence_batch frames encoded for big rooms (one per room per second at most)",
        );
        let typing_coalesced = count(r, "typing_coalesced", "typing frames not broadcast because the same connection typed in that room within --typing-every-ms");
        let joins_refused = count(
            r,
            "joins_refused",
            "join and leave frames refused by --joins-per-minute",
        );
        let nicks_refused = count(
            r,
            "nicks_refused",
            "nick frames refused by --nicks-per-minute",
        );

        let live = LiveCounters {
            messages: count(
                r,
                "live_messages",
                "Cluster mode: messages received from the live subjects of the rooms this relay follows",
            ),
            repairs: count(
                r,
                "gaps_repaired",
                "Cluster mode: gaps in a followed room (lost live messages, a lost tail) repaired from the stream",
            ),
            resets: count(
                r,
                "stream_resets",
                "Cluster mode: followed rooms found delivered past the stream's end, and recreated streams, reset",
            ),
        };

        let search = SearchCounters {
            indexed: count(
                r,
                "search_indexed",
                "Cluster search indexer: stream records (messages, edits, deletes, reactions) this process applied to its index",
            ),
            answered: count(
                r,
                "search_answered",
                "Cluster search indexer: search requests this process answered",
            ),
        };

        // Labelled counters with closed label sets: every label value is
        // created up front, so each shows as 0 before it first happens
        // (rate() and alerts need the series to exist).
        let errors_family = Family::<CodeLabel, counter::Counter>::default();
        let errors = ErrorCode::ALL
            .iter()
            .map(|code| {
                Counter(
                    errors_family
                        .get_or_create(&CodeLabel {
                            code: code.as_str(),
                        })
                        .clone(),
                )
            })
            .collect();
        r.register("errors", "Error frames sent, by code", errors_family);
        let frames_family = Family::<KindLabel, counter::Counter>::default();
        let frames_in = ClientMsg::TYPES
            .iter()
            .map(|kind| Counter(frames_family.get_or_create(&KindLabel { kind }).clone()))
            .collect();
        r.register("frames_in", "Client frames decoded, by kind", frames_family);
        let sent_family = Family::<KindLabel, counter::Counter>::default();
        let frames_sent = ServerMsg::TYPES
            .iter()
            .map(|kind| Counter(sent_family.get_or_create(&KindLabel { kind }).clone()))
            .collect();
        r.register(
            "frames_sent",
            "Frames queued to connections, by kind (replies and broadcasts; a broadcast counts once per recipient)",
            sent_family,
        );
        let closes = Family::<CloseLabel, counter::Counter>::default();
        for code in [
            close::GOING_AWAY,
            close::PROTOCOL_ERROR,
            close::NOT_UTF8,
            close::MESSAGE_TOO_BIG,
            close::INTERNAL_ERROR,
            close::SLOW_CONSUMER,
            close::IDLE_TIMEOUT,
            close::UNAUTHORIZED,
            close::FLOODING,
            close::TOKEN_EXPIRED,
        ] {
            let _ = closes.get_or_create(&CloseLabel { code });
        }
        r.register(
            "closes",
            "Connections ended, by the close code the relay sent (1001 going away, 1009 too big, 1011 internal, 4001 slow consumer, 4002 idle, 4003 unauthorized, 4004 flooding, 4005 token expired)",
            closes.clone(),
        );

        let engine_registry = r.sub_registry_with_label(("engine".into(), engine.into()));
        let delivery = latency();
        engine_registry.register_with_unit(
            "delivery",
            "From a message's acceptance (its ts, 1 ms resolution) to its write on the socket of its last recipient on this relay",
            Unit::Seconds,
            delivery.clone(),
        );
        let store_append = latency();
        engine_registry.register_with_unit(
            "store_append",
            "Store appends: numbered, committed (SQLite) or acked (JetStream), and delivered",
            Unit::Seconds,
            store_append.clone(),
        );
        let store_reads =
            Family::<ReadLabel, Histogram>::new_with_constructor(latency as fn() -> Histogram);
        for read in ["after", "before", "newer", "search"] {
            let _ = store_reads.get_or_create(&ReadLabel { read });
        }
        engine_registry.register_with_unit(
            "store_read",
            "Store reads: read=after is a join's catch-up, read=before a history page, read=newer a history page after a seq",
            Unit::Seconds,
            store_reads.clone(),
        );
        let publish_ack = latency();
        engine_registry.register_with_unit(
            "jetstream_publish_ack",
            "A JetStream publish until its ack (cluster mode only)",
            Unit::Seconds,
            publish_ack.clone(),
        );
        let store_ready = gauge::Gauge::default();
        engine_registry.register(
            "store_ready",
            "1 when the store takes writes (JetStream: NATS connected and the stream set up), else 0",
            store_ready.clone(),
        );
        let store_queue = gauge::Gauge::default();
        engine_registry.register(
            "store_queue",
            "Messages waiting for the store's writer thread (SQLite)",
            store_queue.clone(),
        );

        let r = &mut registry;
        let mut level = |name: &str, help: &str| {
            let gauge = gauge::Gauge::default();
            r.register(name, help, gauge.clone());
            gauge
        };
        let rooms = level("rooms", "Rooms with at least one member");
        let room_entries = level("store_room_entries", "Per-room state the store keeps in memory (room rows, cached rooms, delivery marks); idle rooms age out");
        let tasks = level(
            "tasks",
            "Tracked tasks: sessions, lingering members, housekeeping",
        );
        let members = level(
            "members",
            "Users in rooms through this relay, once per room they are in",
        );
        let remote_members = level(
            "remote_members",
            "Cluster mode: memberships of other relays' users in the rooms this relay follows",
        );
        let queued_bytes = level(
            "queued_bytes",
            "Bytes waiting in connections' queues for their writers",
        );
        let queue_depth = Family::<DepthLabel, gauge::Gauge>::default();
        for (_, depth) in DEPTH_BANDS {
            let _ = queue_depth.get_or_create(&DepthLabel { depth });
        }
        registry.register(
            "queue_depth_connections",
            "Connections in a room by the frames waiting in their queue (a band per depth label)",
            queue_depth.clone(),
        );

        let push = crate::push::PushMetrics::register(&mut registry);
        let files = crate::files::FileMetrics::register(&mut registry);
        Metrics {
            push,
            files,
            registry,
            connections,
            visible_apps,
            connections_total,
            connections_rejected,
            origins_rejected,
            messages_in,
            frames_out,
            slow_consumers,
            handshakes_rejected,
            room_rate_limited,
            header_timeouts,
            auth_failures,
            flooders,
            session_panics,
            read_bytes,
            read_budget_refused,
            store_reads_refused,
            presence_batches,
            typing_coalesced,
            joins_refused,
            nicks_refused,
            errors,
            frames_in,
            frames_sent,
            closes,
            delivery,
            store_append,
            store_reads,
            publish_ack,
            live,
            search,
            rooms,
            tasks,
            room_entries,
            members,
            remote_members,
            queue_depth,
            queued_bytes,
            store_ready,
            store_queue,
        }
    }

    pub fn error(&self, code: ErrorCode) {
        self.errors[error_index(code)].inc();
    }

    pub fn errors(&self, code: ErrorCode) -> u64 {
        self.errors[error_index(code)].get()
    }

    /// Counts a decoded client frame by its kind.
    pub fn frame_in(&self, msg: &ClientMsg) {
        self.frames_in[msg.type_index()].inc();
    }

    /// Counts `n` frames of `kind` queued to connections.
    pub fn sent(&self, kind: SentKind, n: u64) {
        if let Some(counter) = self.frames_sent.get(usize::from(kind.0)) {
            counter.add(n);
        }
    }

    /// Counts a connection's end by the close code sent.
    pub fn closed(&self, code: u16) {
        self.closes.get_or_create(&CloseLabel { code }).inc();
    }

    /// A message accepted at `ts` (Unix ms) was written to its last
    /// recipient's socket now.
    pub fn delivered(&self, ts: u64) {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let accepted = Duration::from_millis(ts);
        self.delivery
            .observe(now.saturating_sub(accepted).as_secs_f64());
    }

    /// A store read (`after` or `before`) took `took`.
    pub fn store_read(&self, read: &'static str, took: Duration) {
        self.store_reads
            .get_or_create(&ReadLabel { read })
            .observe(took.as_secs_f64());
    }

    /// The text format, with the scrape-time gauges set from `now`.
    pub fn render(&self, now: Snapshot) -> String {
        self.rooms.set(now.rooms as i64);
        self.tasks.set(now.tasks as i64);
        self.room_entries.set(now.room_entries as i64);
        self.members.set(now.members as i64);
        self.queued_bytes.set(now.queued_bytes as i64);
        self.store_ready.set(i64::from(now.store_ready));
        self.store_queue.set(now.store_queue as i64);
        let mut bands = [0i64; DEPTH_BANDS.len()];
        for depth in now.queue_depths {
            let band = DEPTH_BANDS
                .iter()
                .position(|(max, _)| depth <= *max)
                .unwrap_or(DEPTH_BANDS.len() - 1);
            bands[band] += 1;
        }
        for ((_, depth), count) in DEPTH_BANDS.iter().zip(bands) {
            self.queue_depth
                .get_or_create(&DepthLabel { depth })
                .set(count);
        }
        let mut out = String::new();
        encode(&mut out, &self.registry).expect("writing to a String cannot fail");
        out
    }
}

fn error_index(code: ErrorCode) -> usize {
    ErrorCode::ALL
        .iter()
        .position(|c| *c == code)
        .expect("ALL lists every code")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_labels_are_the_documented_ones() {
        let metrics = Metrics::new("sqlite");
        metrics.connections.inc();
        metrics.messages_in.add(3);
        metrics.error(ErrorCode::RateLimited);
        metrics.closed(4001);
        metrics.delivered(0);
        let text = metrics.render(Snapshot {
            queue_depths: vec![0, 0, 2, 100],
            store_ready: true,
            ..Snapshot::default()
        });
        for line in [
            "palaver_connections 1",
            "palaver_messages_in_total 3",
            "palaver_errors_total{code=\"rate_limited\"} 1",
            "palaver_errors_total{code=\"bad_frame\"} 0",
            "palaver_closes_total{code=\"4001\"} 1",
            "palaver_frames_in_total{kind=\"send\"} 0",
            "palaver_queue_depth_connections{depth=\"0\"} 2",
            "palaver_queue_depth_connections{depth=\"1-3\"} 1",
            "palaver_queue_depth_connections{depth=\"64+\"} 1",
            "palaver_store_ready{engine=\"sqlite\"} 1",
            "palaver_delivery_seconds_count{engine=\"sqlite\"} 1",
            "palaver_delivery_seconds_bucket{engine=\"sqlite\",le=\"+Inf\"} 1",
            "palaver_store_read_seconds_count{engine=\"sqlite\",read=\"before\"} 0",
            "palaver_live_messages_total 0",
            "palaver_gaps_repaired_total 0",
            "palaver_stream_resets_total 0",
        ] {
            assert!(text.lines().any(|l| l == line), "no {line:?} in\n{text}");
        }
    }
}
