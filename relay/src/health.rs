//! Whether the relay can still do its job: `/healthz`, `/readyz`, and the
//! exit after a fault it cannot recover from.
//!
//! A panic in one session costs that session only: its cleanup runs from a
//! drop guard (`session::cleanup`). Some failures cannot be repaired inside
//! the process: the store's writer or deliverer thread died (nothing more
//! is stored or delivered), or the hub's lock, which every session takes,
//! was poisoned by a panic while held (every later use would panic). On
//! one of those the relay logs an error, `/healthz` and `/readyz` answer
//! 503 with the reason, and after `--exit-on-fault-secs` the relay shuts
//! down gracefully and exits with status 1, so that systemd
//! (`Restart=on-failure`) or the orchestrator starts a fresh one.

use std::{sync::OnceLock, time::Duration};

use crate::state::AppState;

/// How often the watcher looks for a fault.
const CHECK_EVERY: Duration = Duration::from_millis(500);

/// The first fatal fault seen, kept: a relay that had one stays unhealthy.
#[derive(Default)]
pub struct Health {
    fault: OnceLock<String>,
}

impl Health {
    /// The fault that will stop the relay, if one was seen.
    pub fn fault(&self) -> Option<&str> {
        self.fault.get().map(String::as_str)
    }
}

/// Looks for a fatal fault now; returns it (the first one seen) if any.
pub fn check(state: &AppState) -> Option<String> {
    if let Some(fault) = state.health.fault() {
        return Some(fault.to_string());
    }
    let found = if state.hub.poisoned() {
        Some("a panic poisoned the hub's lock".to_string())
    } else {
        state.store.fault()
    }?;
    if state.health.fault.set(found.clone()).is_ok() {
        let delay = state.config.exit_on_fault();
        tracing::error!(
            "internal fault: {found}; /healthz and /readyz now fail, and the relay exits in {delay:?} to be restarted"
        );
    }
    state.health.fault().map(str::to_string)
}

/// Watches for a fatal fault; on one, waits `--exit-on-fault-secs` (so
/// probes see the failure and load balancers drain the relay), then starts
/// the graceful shutdown, after which `run` returns an error.
pub fn spawn_watch(state: &AppState) {
    let state = state.clone();
    let token = state.shutdown.clone();
    state.tracker.clone().spawn(async move {
        let mut tick = tokio::time::interval(CHECK_EVERY);
        loop {
            tokio::select! {
                _ = tick.tick() => {
                    if check(&state).is_some() {
                        break;
                    }
                }
                () = token.cancelled() => return,
            }
        }
        tokio::select! {
            () = tokio::time::sleep(state.config.exit_on_fault()) => token.cancel(),
            () = token.cancelled() => {}
        }
    });
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use shared::{Nick, RoomName, User, UserId};
    use tokio_util::sync::CancellationToken;

    use super::*;
    use crate::{peer::test_peer, Config};

    #[tokio::test]
    async fn a_panic_under_the_hub_lock_makes_the_relay_unhealthy() {
        let state = AppState::new(Config::for_tests(), CancellationToken::new())
            .await
            .unwrap();
        assert_eq!(check(&state), None);
        // The announce hook runs under the hub's lock: a panic there
        // poisons it.
        state
            .hub
            .set_announce(Arc::new(|_| panic!("fault in the announce hook")));
        let hub = state.hub.clone();
        let joined = std::thread::spawn(move || {
            let (peer, _rx) = test_peer(1, 1);
            let user = User {
                id: UserId("u-1".into()),
                nick: Nick::new("alice").unwrap(),
            };
            let _ = hub.join(&RoomName::new("r").unwrap(), &user, &peer, 0, false);
        })
        .join();
        assert!(joined.is_err(), "the join panicked");
        let fault = check(&state).expect("unhealthy");
        assert!(fault.contains("hub"), "{fault}");
        assert_eq!(state.health.fault(), Some(fault.as_str()));
    }
}
