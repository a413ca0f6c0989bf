//! The push sender's metrics (docs/OPERATIONS.md): pushes sent, failures
//! by the push service's status, retries, subscriptions removed, pushes
//! dropped (queue full or the per-user cap) and the queue's depth.
//!
//! The `status` label is a closed set: the statuses push services use,
//! `4xx`/`5xx` for the rest, `network` (no answer) and `endpoint` (the
//! endpoint's address was refused at send time).

use prometheus_client::{
    encoding::EncodeLabelSet,
    metrics::{counter::Counter, family::Family, gauge::Gauge},
    registry::Registry,
};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StatusLabel {
    status: &'static str,
}

/// Why a push was dropped before it was sent.
#[derive(Clone, Copy, Debug)]
pub enum Drop {
    /// The queue between delivery and the sender was full.
    QueueFull,
    /// The user passed their pushes per minute.
    UserCap,
}

#[derive(Clone, Default)]
pub struct PushMetrics {
    pub sent: Counter,
    failed: Family<StatusLabel, Counter>,
    pub retries: Counter,
    pub removed: Counter,
    dropped_queue: Counter,
    dropped_cap: Counter,
    pub queue_depth: Gauge,
}

impl PushMetrics {
    /// Registers every push metric in `registry` (prefixed `palaver_`).
    pub fn register(registry: &mut Registry) -> PushMetrics {
        let m = PushMetrics::default();
        let r = registry.sub_registry_with_prefix("push");
        r.register(
            "sent",
            "Pushes a push service accepted (2xx)",
            m.sent.clone(),
        );
        r.register(
            "failed",
            "Push attempts that failed, by the push service's status (network: no answer; endpoint: address refused)",
            m.failed.clone(),
        );
        r.register(
            "retries",
            "Push attempts retried after a 429, a 5xx or no answer",
            m.retries.clone(),
        );
        r.register(
            "subscriptions_removed",
            "Subscriptions removed because the push service answered 404 or 410",
            m.removed.clone(),
        );
        r.register(
            "dropped_queue_full",
            "Messages not pushed because the push queue was full",
            m.dropped_queue.clone(),
        );
        r.register(
            "dropped_user_cap",
            "Pushes not sent because the user passed the pushes per minute",
            m.dropped_cap.clone(),
        );
        r.register(
            "queue",
            "Messages waiting in the push queue",
            m.queue_depth.clone(),
        );
        m
    }

    pub fn failed(&self, status: Option<u16>) {
        let status = match status {
            Some(400) => "400",
            Some(401) => "401",
            Some(403) => "403",
            Some(404) => "404",
            Some(410) => "410",
            Some(413) => "413",
            Some(429) => "429",
            Some(500) => "500",
            Some(502) => "502",
            Some(503) => "503",
            Some(400..=499) => "4xx",
            Some(500..=599) => "5xx",
            Some(_) => "other",
            None => "network",
        };
        self.failed.get_or_create(&StatusLabel { status }).inc();
    }

    pub fn endpoint_refused(&self) {
        self.failed
            .get_or_create(&StatusLabel { status: "endpoint" })
            .inc();
    }

    pub fn dropped(&self, why: Drop) {
        match why {
            Drop::QueueFull => self.dropped_queue.inc(),
            Drop::UserCap => self.dropped_cap.inc(),
        };
    }

    /// Failures with `status` so far (for tests).
    pub fn failed_count(&self, status: &'static str) -> u64 {
        self.failed.get_or_create(&StatusLabel { status }).get()
    }
}
