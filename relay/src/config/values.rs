//! The value types of some flags: the store engine, its sync level and
//! the metrics address, with their parsers.

use std::net::SocketAddr;

use clap::ValueEnum;

/// The default of `--metrics-bind`: loopback, on a port no common service
/// (Prometheus itself: 9090, its push gateway: 9091) uses.
pub const DEFAULT_METRICS_BIND: &str = "127.0.0.1:9187";

/// `--metrics-bind`: an address, or `None` for no metrics listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetricsBind(pub Option<SocketAddr>);

pub(super) fn parse_metrics_bind(value: &str) -> Result<MetricsBind, String> {
    match value.trim() {
        "" | "off" => Ok(MetricsBind(None)),
        addr => addr
            .parse()
            .map(|addr| MetricsBind(Some(addr)))
            .map_err(|_| format!("{addr:?} is not an address like 127.0.0.1:9187, nor `off`")),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StoreKind {
    Memory,
    Sqlite,
}

/// SQLite's `PRAGMA synchronous` for the sqlite store, in WAL mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SyncLevel {
    /// No fsync: an acked message survives a crash of the relay process
    /// (the OS still holds the write) but not power loss or an OS crash.
    Off,
    /// fsync at WAL checkpoints only: survives a relay crash; power loss
    /// may lose the last commits but never corrupts the database.
    Normal,
    /// fsync the WAL at every commit: an acked message survives power loss.
    Full,
}
