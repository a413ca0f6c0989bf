//! What the rest of the relay reads from a [`Config`]: durations and
//! settings derived from the raw flags, so no caller converts seconds.

use std::time::Duration;

use clap::Parser;

use super::Config;

impl Config {
    /// The defaults, as if started with no flags and no environment, except
    /// the memory store (no data dir to clean up); tests start from here and
    /// change what they exercise.
    pub fn for_tests() -> Self {
        Config::parse_from([
            "palaver-relay",
            "--static-dir",
            "/nonexistent",
            "--store",
            "memory",
        ])
    }

    /// The certificate and key of the gateways' TLS: their own, else the
    /// relay's; `None` when neither is set.
    pub fn gateway_tls(&self) -> Option<(&std::path::Path, &std::path::Path)> {
        match (&self.gateway_tls_cert, &self.gateway_tls_key) {
            (Some(cert), Some(key)) => Some((cert, key)),
            _ => Some((self.tls_cert.as_deref()?, self.tls_key.as_deref()?)),
        }
    }

    pub fn ping_interval(&self) -> Duration {
        Duration::from_secs(self.ping_interval_secs)
    }
    pub fn idle_timeout(&self) -> Duration {
        Duration::from_secs(self.idle_timeout_secs)
    }
    pub fn resume_grace(&self) -> Duration {
        Duration::from_secs(self.resume_grace_secs)
    }
    pub fn resume_ttl(&self) -> Duration {
        Duration::from_secs(self.resume_ttl_secs)
    }
    pub fn dedup_window(&self) -> Duration {
        Duration::from_secs(self.dedup_window_secs)
    }
    /// Messages older than this are deleted, if set.
    pub fn retention_age(&self) -> Option<Duration> {
        (self.retention_days > 0).then(|| Duration::from_secs(self.retention_days * 86_400))
    }
    pub fn nats_max_age(&self) -> Duration {
        Duration::from_secs(self.nats_max_age_secs)
    }
    /// Cluster mode: a NATS backplane was configured.
    pub fn clustered(&self) -> bool {
        !self.nats.is_empty()
    }
    pub fn header_timeout(&self) -> Option<Duration> {
        (self.header_timeout_secs != 0).then(|| Duration::from_secs(self.header_timeout_secs))
    }
    pub fn shutdown_timeout(&self) -> Duration {
        Duration::from_secs(self.shutdown_timeout_secs)
    }
    pub fn exit_on_fault(&self) -> Duration {
        Duration::from_secs(self.exit_on_fault_secs)
    }
    /// How long an idle room's state stays in memory (at least 1 s).
    pub fn room_idle(&self) -> Duration {
        Duration::from_secs(self.room_idle_secs.max(1))
    }
    pub fn big_rooms(&self) -> crate::hub::BigRooms {
        crate::hub::BigRooms {
            threshold: self.big_room,
            first_members: self.joined_members.max(1),
        }
    }
}
