//! Helpers for the end-to-end tests: start real relays (in process on port
//! 0, or as child processes), connect real WebSocket clients, and wait for
//! typed frames with bounded timeouts instead of sleeps; start real
//! nats-server processes for cluster mode.

pub mod browser;
pub mod client;
pub mod conformance;
pub mod devtools;
pub mod events;
pub mod faults;
pub mod files;
pub mod lines;
pub mod login;
pub mod member;
pub mod memberships;
pub mod nats;
pub mod partition;
pub mod push_device;
pub mod push_service;
pub mod push_subscriptions;
pub mod raw_ws;
pub mod relay;
pub mod tmux;

pub use browser::Browser;
pub use client::Client;
pub use lines::LineClient;
pub use member::Member;
pub use nats::{NatsCluster, NatsServer};
pub use partition::Partition;
pub use relay::{InProcessRelay, RelayProcess};

use std::time::Duration;

/// Taken by the tests that load the machine (the hostile suite, the soak)
/// and by those whose bounded waits a loaded machine can miss (a bench
/// smoke run, a crash under load, the browser going offline and back), so
/// that none of them runs while another does. The other tests run as usual.
pub async fn heavy() -> tokio::sync::MutexGuard<'static, ()> {
    static HEAVY: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    HEAVY.lock().await
}

/// How long any single expectation may take before the test fails. Generous,
/// because CI machines are shared; a passing test never waits this long.
pub const WAIT: Duration = Duration::from_secs(10);

/// The directory of the workspace's built binaries (target/debug), next to
/// the test executable's deps/ directory.
pub fn bin_dir() -> std::path::PathBuf {
    let exe = std::env::current_exe().expect("the test knows its own path");
    let deps = exe.parent().expect("tests live in target/<profile>/deps");
    deps.parent().expect("deps has a parent").to_path_buf()
}

/// The path of one of the workspace's binaries; tells how to build it if missing.
pub fn binary(name: &str) -> std::path::PathBuf {
    let path = bin_dir().join(name);
    assert!(
        path.is_file(),
        "{} is missing: build the workspace's binaries first (cargo build --workspace --bins)",
        path.display()
    );
    path
}
