//! Counters for `/metrics`, in the Prometheus text format.
//!
//! Plain atomics: incrementing one is the only cost on the hot path.

use std::{
    fmt::Write,
    sync::atomic::{AtomicU64, Ordering},
};

use shared::ErrorCode;

#[derive(Default)]
pub struct Counter(AtomicU64);

impl Counter {
    pub fn inc(&self) {
        self.add(1);
    }
    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }
    pub fn sub(&self, n: u64) {
        self.0.fetch_sub(n, Ordering::Relaxed);
    }
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

#[derive(Default)]
pub struct Metrics {
    pub connections: Counter,
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
    /// Cluster mode: members on other relays, per (relay, room, user).
    pub remote_members: Counter,
    errors: [Counter; ErrorCode::ALL.len()],
}

impl Metrics {
    pub fn error(&self, code: ErrorCode) {
        let index = ErrorCode::ALL
            .iter()
            .position(|c| *c == code)
            .expect("ALL lists every code");
        self.errors[index].inc();
    }

    pub fn errors(&self, code: ErrorCode) -> u64 {
        let index = ErrorCode::ALL
            .iter()
            .position(|c| *c == code)
            .expect("listed");
        self.errors[index].get()
    }

    /// `tasks` is the relay's tracked tasks: sessions, lingering members
    /// and housekeeping.
    pub fn render(&self, rooms: usize, tasks: usize, room_entries: usize) -> String {
        let mut out = String::new();
        let mut gauge = |name: &str, help: &str, kind: &str, value: u64| {
            let _ = writeln!(out, "# HELP palaver_{name} {help}\n# TYPE palaver_{name} {kind}\npalaver_{name} {value}");
        };
        gauge(
            "connections",
            "Open WebSocket connections.",
            "gauge",
            self.connections.get(),
        );
        gauge(
            "connections_total",
            "WebSocket connections accepted.",
            "counter",
            self.connections_total.get(),
        );
        gauge(
            "connections_rejected_total",
            "WebSocket upgrades refused by a connection limit.",
            "counter",
            self.connections_rejected.get(),
        );
        gauge(
            "origins_rejected_total",
            "WebSocket upgrades refused for a browser origin not allowed.",
            "counter",
            self.origins_rejected.get(),
        );
        gauge(
            "rooms",
            "Rooms with at least one member.",
            "gauge",
            rooms as u64,
        );
        gauge(
            "store_room_entries",
            "Per-room state the store keeps in memory (room rows, cached rooms, delivery marks); idle rooms age out.",
            "gauge",
            room_entries as u64,
        );
        gauge(
            "remote_members",
            "Cluster mode: memberships of other relays' users in the rooms this relay follows.",
            "gauge",
            self.remote_members.get(),
        );
        gauge(
            "tasks",
            "Tracked tasks: sessions, lingering members, housekeeping.",
            "gauge",
            tasks as u64,
        );
        gauge(
            "messages_in_total",
            "Chat messages accepted and stored.",
            "counter",
            self.messages_in.get(),
        );
        gauge(
            "frames_out_total",
            "Broadcast frames queued to connections (deliveries).",
            "counter",
            self.frames_out.get(),
        );
        gauge(
            "slow_consumers_total",
            "Connections closed because they could not keep up.",
            "counter",
            self.slow_consumers.get(),
        );
        gauge(
            "handshakes_rejected_total",
            "WebSocket handshakes refused by --max-handshakes-per-ip-per-sec.",
            "counter",
            self.handshakes_rejected.get(),
        );
        gauge(
            "room_rate_limited_total",
            "Sends refused by --room-rate-limit.",
            "counter",
            self.room_rate_limited.get(),
        );
        gauge(
            "header_timeouts_total",
            "HTTP connections closed by --header-timeout before their request headers were read.",
            "counter",
            self.header_timeouts.get(),
        );
        gauge(
            "auth_failures_total",
            "Connections closed for a missing, expired, malformed or wrongly signed token.",
            "counter",
            self.auth_failures.get(),
        );
        gauge(
            "flooders_total",
            "Connections closed (4004) for ignoring the frame-rate limit.",
            "counter",
            self.flooders.get(),
        );
        gauge(
            "session_panics_total",
            "Sessions ended by a panic (a bug); each was cleaned up and closed with 1011.",
            "counter",
            self.session_panics.get(),
        );
        gauge(
            "read_bytes_total",
            "Bytes of joined and history replies sent.",
            "counter",
            self.read_bytes.get(),
        );
        gauge(
            "read_budget_refused_total",
            "join and history requests refused by --read-bytes-per-sec.",
            "counter",
            self.read_budget_refused.get(),
        );
        gauge(
            "store_reads_refused_total",
            "join and history requests refused (unavailable) after waiting for --max-store-reads.",
            "counter",
            self.store_reads_refused.get(),
        );
        gauge(
            "presence_batches_total",
            "presence_batch frames encoded for big rooms (one per room per second at most).",
            "counter",
            self.presence_batches.get(),
        );
        gauge(
            "typing_coalesced_total",
            "typing frames not broadcast because the same connection typed in that room within --typing-every-ms.",
            "counter",
            self.typing_coalesced.get(),
        );
        gauge(
            "joins_refused_total",
            "join and leave frames refused by --joins-per-minute.",
            "counter",
            self.joins_refused.get(),
        );
        gauge(
            "nicks_refused_total",
            "nick frames refused by --nicks-per-minute.",
            "counter",
            self.nicks_refused.get(),
        );
        let _ = writeln!(out, "# HELP palaver_errors_total Error frames sent, by code.\n# TYPE palaver_errors_total counter");
        for (code, counter) in ErrorCode::ALL.iter().zip(&self.errors) {
            let _ = writeln!(
                out,
                "palaver_errors_total{{code=\"{}\"}} {}",
                code.as_str(),
                counter.get()
            );
        }
        out
    }
}
