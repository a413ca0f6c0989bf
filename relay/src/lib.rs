//! The Palaver relay as a library; `main.rs` only parses config and binds.
//!
//! - `auth`: token mode, verifying signed connection tokens.
//! - `config`: flags and environment variables.
//! - `server`: the HTTP routes (`/ws`, health, the web app), and `/metrics`
//!   for its own listener.
//! - `http`: the accept loop serving those routes over HTTP/1.1, with a
//!   timeout for request headers.
//! - `gateway`: sessions for clients without WebSocket: plain TCP lines
//!   (`--line-bind`) and IRC (`--irc-bind`).
//! - `session`: one WebSocket connection: its reader, one method per
//!   client frame, its writer, and its one cleanup block.
//! - `peer`: a connection's outgoing queue, its byte budget and its kick.
//! - `hub`: rooms, members (local and on other relays), presence, fan-out.
//! - `accounts`: who a connection is: accounts and resume tokens.
//! - `memberships`: a user's rooms, read markers and notification levels,
//!   on every device, and each user's open connections.
//! - `store`: message numbering, dedup and history behind one trait; in
//!   memory, or durable in SQLite (the default).
//! - `backplane`: cluster mode, the only module that knows NATS: a
//!   JetStream store, presence across relays, shared resume tokens.
//! - `limits`: rate budgets (governor), connection counting, the client's
//!   address behind trusted proxies, the flood close.
//! - `push`: Web Push: the VAPID key, payload encryption, subscriptions,
//!   and the sender that notifies members with no visible app.
//! - `origin`: which browser origins may connect.
//! - `metrics`: counters for `/metrics`.
//! - `shutdown`: the signal that starts a graceful shutdown.
//! - `health`: faults the relay cannot recover from, for `/healthz` and
//!   the exit that gets it restarted.
//! - `faults`: test-only fault injection (`PALAVER_FAULT_INJECT`).
//! - `clock`: the wall clock, for timestamps.
//! - `random`: random ids and tokens from the OS.
//! - `tls`: optional TLS in the relay itself (rustls).
//! - `web_app`: the built web app as static files, precompressed.
//! - `ws`: the WebSocket itself (RFC 6455, server side), with no buffer
//!   held by an idle connection.
//! - `aging`: a map whose idle entries age out (per-room state).
//! - `files`: files and images attached to messages: uploads, the
//!   content-addressed blobs, thumbnails, signed download URLs, GC.
//! - `reads`: what `join` and `history` may cost: a byte budget per
//!   connection, a cap on store reads at once.
//!
//! [`run`] is the one way to start a relay, used by `main` and by tests.

pub mod accounts;
pub mod aging;
pub mod auth;
pub mod backplane;
pub mod clock;
pub mod config;
pub mod faults;
pub mod files;
pub mod gateway;
pub mod health;
pub mod http;
pub mod hub;
pub mod limits;
pub mod memberships;
pub mod metrics;
pub mod origin;
pub mod peer;
pub mod push;
pub mod random;
pub mod reads;
pub mod server;
pub mod session;
pub mod shutdown;
pub mod state;
pub mod store;
pub mod tls;
pub mod web_app;
pub mod ws;

use std::{future::Future, time::Duration};

use axum::serve::ListenerExt;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use config::Config;
pub use state::AppState;

/// Serves the relay on `listener` (and `/metrics` on `metrics`, if given)
/// until `shutdown` completes, then closes every WebSocket with "going
/// away" and waits (bounded by the configured timeout) for sessions to
/// finish.
pub async fn run(
    listener: TcpListener,
    metrics: Option<TcpListener>,
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let gateways = gateway::Listeners::bind(&config).await?;
    run_with_gateways(listener, metrics, gateways, config, shutdown).await
}

/// [`run`] with the gateways' listeners already bound (tests bind port 0).
pub async fn run_with_gateways(
    listener: TcpListener,
    metrics: Option<TcpListener>,
    gateways: gateway::Listeners,
    mut config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    // The address actually bound (port 0 resolved): the relay's own origin.
    config.bind = listener.local_addr()?;
    let token = CancellationToken::new();
    let state = AppState::new(config, token.clone()).await?;
    let timeout = state.config.shutdown_timeout();
    spawn_housekeeping(&state);
    health::spawn_watch(&state);
    spawn_presence_batches(&state);
    files::spawn_gc(&state);
    gateways.spawn(&state)?;

    if let Some(metrics) = metrics {
        let app = server::metrics_app(state.clone());
        let (state, stop) = (state.clone(), token.clone());
        tokio::spawn(async move { http::serve(metrics, app, &state, stop).await });
    }
    let app = server::app(state.clone());
    let signal_token = token.clone();
    tokio::spawn(async move {
        tokio::select! {
            () = shutdown => {}
            () = signal_token.cancelled() => {}
        }
        signal_token.cancel();
    });
    match (&state.config.tls_cert, &state.config.tls_key) {
        (Some(cert), Some(key)) => {
            let acceptor = tls::acceptor(cert, key)?;
            let listener = tls::TlsListener::new(listener, acceptor, token.clone())?;
            http::serve(listener, app, &state, token.clone()).await;
        }
        (None, None) => {
            // Chat frames are small and latency matters: no Nagle delay.
            let listener = listener.tap_io(|tcp| {
                if let Err(err) = tcp.set_nodelay(true) {
                    tracing::debug!("cannot set TCP_NODELAY: {err}");
                }
            });
            http::serve(listener, app, &state, token.clone()).await;
        }
        _ => anyhow::bail!("TLS needs both --tls-cert and --tls-key"),
    }

    // HTTP connections are done; upgraded ones are sessions, which the
    // tracker waits for.
    token.cancel();
    state.tracker.close();
    if tokio::time::timeout(timeout, state.tracker.wait())
        .await
        .is_err()
    {
        tracing::warn!(
            "{} sessions still open after {timeout:?}; exiting anyway",
            state.tracker.len()
        );
    }
    if let Some(fault) = state.health.fault() {
        anyhow::bail!("the relay stopped after an internal fault: {fault}");
    }
    tracing::info!("relay stopped");
    Ok(())
}

/// Big rooms' presence: one batch per room per second at most.
fn spawn_presence_batches(state: &AppState) {
    let hub = state.hub.clone();
    let token = state.shutdown.clone();
    state.tracker.spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => hub.flush_presence(),
                () = token.cancelled() => return,
            }
        }
    });
}

/// Periodic work: refreshing and expiring accounts (their own task),
/// forgetting idle rate buckets.
fn spawn_housekeeping(state: &AppState) {
    state
        .accounts
        .spawn_refresher(&state.tracker, state.shutdown.clone());
    let token = state.shutdown.clone();
    let (handshakes, room_rates) = (state.handshakes.clone(), state.room_rates.clone());
    state.tracker.spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(60));
        loop {
            tokio::select! {
                _ = tick.tick() => {
                    handshakes.prune();
                    room_rates.prune();
                }
                () = token.cancelled() => return,
            }
        }
    });
}
