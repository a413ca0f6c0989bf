//! How a relay connects to NATS: its credentials and TLS, and what a
//! refusal means.
//!
//! The backplane is a trust boundary (docs/SECURITY.md): whoever may
//! publish on `palaver.>` can post as any user. So a relay authenticates
//! (a credentials file, a user and password, or a token) and can require
//! TLS with a CA of its own and a client certificate.
//!
//! A relay retries a NATS it cannot reach forever (it may start before
//! NATS does), but a NATS that refuses its credentials will refuse them on
//! every attempt: before the first connection succeeded, that is a fatal
//! fault (`health`), so the relay exits with the flag to check rather than
//! waiting unready forever. After a connection succeeded, a refusal is
//! logged as an error and retried (the servers' accounts may be being
//! reloaded).

use std::{
    path::Path,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, OnceLock,
    },
    time::Duration,
};

use async_nats::ConnectOptions;
use bytes::Bytes;
use tokio::sync::watch;
use tokio_util::task::TaskTracker;

use crate::{config::Config, random::random_hex};

/// How long the NATS connection may be silent before the client pings;
/// three silent periods (about 6 s) and it reconnects (docs/DEPLOY.md,
/// "A relay cut off from NATS"). Any traffic from the server resets it,
/// so a busy relay sends no pings.
pub const PING_EVERY: Duration = Duration::from_secs(2);

/// How long the server may take to answer [`LinkCheck`]'s probe.
const PROBE_TIMEOUT: Duration = Duration::from_secs(1);

/// Why the backplane cannot work, once known: the store reports it as its
/// fault.
pub type Refusal = Arc<OnceLock<String>>;

/// The connection options the flags ask for: authentication and TLS.
/// Fails at once, naming the flag, when a file it names cannot be read.
pub async fn secured(config: &Config) -> anyhow::Result<ConnectOptions> {
    let mut options = ConnectOptions::new();
    if let Some(creds) = &config.nats_creds {
        options = options.credentials_file(creds).await.map_err(|err| {
            anyhow::anyhow!("--nats-creds {}: cannot use it: {err}", creds.display())
        })?;
    }
    if let (Some(user), Some(password)) = (&config.nats_user, &config.nats_password) {
        options = options.user_and_password(user.clone(), password.clone());
    }
    if let Some(token) = &config.nats_token {
        options = options.token(token.clone());
    }
    if let Some(ca) = &config.nats_tls_ca {
        readable("--nats-tls-ca", ca)?;
        options = options.add_root_certificates(ca.clone()).require_tls(true);
    }
    if let (Some(cert), Some(key)) = (&config.nats_tls_cert, &config.nats_tls_key) {
        readable("--nats-tls-cert", cert)?;
        readable("--nats-tls-key", key)?;
        options = options
            .add_client_certificate(cert.clone(), key.clone())
            .require_tls(true);
    }
    Ok(options)
}

fn readable(flag: &str, path: &Path) -> anyhow::Result<()> {
    std::fs::metadata(path)
        .map(|_| ())
        .map_err(|err| anyhow::anyhow!("{flag} {}: {err}", path.display()))
}

/// Connects (in the background, retrying forever) with `options`; counts
/// (re)connections into `connections` and records into `refused` a
/// refusal of the relay's credentials before it ever connected.
pub async fn connect(
    config: &Config,
    options: ConnectOptions,
    connections: watch::Sender<u64>,
    refused: Refusal,
) -> anyhow::Result<async_nats::Client> {
    let servers = config.nats.join(",");
    let events_servers = servers.clone();
    let ever_connected = Arc::new(AtomicBool::new(false));
    let tls = config.nats_tls_ca.is_some() || config.nats_tls_cert.is_some();
    options
        .name("palaver-relay")
        .retry_on_initial_connect()
        .connection_timeout(Duration::from_secs(2))
        // A partition closes nothing: the client learns of it only when
        // PING_EVERY passes three times with nothing from the server
        // (async-nats gives up past two unanswered pings). The default
        // (60 s) left a cut-off relay "connected" and ready for 3 min.
        .ping_interval(PING_EVERY)
        .max_reconnects(None)
        .reconnect_delay_callback(|attempts| {
            Duration::from_millis((250 * attempts as u64).min(2_000))
        })
        .event_callback(move |event| {
            let servers = events_servers.clone();
            let on_connect = connections.clone();
            let ever_connected = ever_connected.clone();
            let refused = refused.clone();
            async move {
                match event {
                    async_nats::Event::Connected => {
                        tracing::info!("connected to NATS ({servers})");
                        ever_connected.store(true, Ordering::Relaxed);
                        on_connect.send_modify(|n| *n += 1);
                    }
                    async_nats::Event::Disconnected => tracing::warn!(
                        "lost NATS ({servers}); sends fail with `unavailable` until it is back; reconnecting"
                    ),
                    // The client dropped messages it could not hand over
                    // fast enough: the followed rooms look for gaps.
                    async_nats::Event::SlowConsumer(_) => {
                        tracing::warn!("NATS: slow consumer; checking followed rooms for gaps");
                        on_connect.send_modify(|n| *n += 1);
                    }
                    async_nats::Event::ServerError(async_nats::ServerError::AuthorizationViolation) => {
                        refusal(&servers, "authorization violation", &ever_connected, &refused)
                    }
                    // Each failed connection attempt; the store's set-up
                    // loop says what it means for the relay, except a
                    // refusal or a TLS failure, which retrying won't fix.
                    async_nats::Event::ClientError(async_nats::ClientError::Other(err)) => {
                        match err.as_str() {
                            "authorization violation" | "failed signing nonce" => {
                                refusal(&servers, &err, &ever_connected, &refused)
                            }
                            "TLS error" => tracing::error!(
                                "NATS ({servers}): TLS failed{}; retrying",
                                if tls {
                                    ": check that --nats-tls-ca signed the server's certificate, that it names the host in --nats, and that the server accepts --nats-tls-cert"
                                } else {
                                    ": the server requires TLS; give the relay --nats-tls-ca (and --nats-tls-cert/--nats-tls-key if it verifies clients)"
                                }
                            ),
                            _ => tracing::debug!("NATS: {err}"),
                        }
                    }
                    other => tracing::info!("NATS: {other}"),
                }
            }
        })
        .connect(config.nats.clone())
        .await
        .map_err(|err| anyhow::anyhow!("bad --nats address {servers}: {err}"))
}

/// NATS refused the relay's credentials: fatal until the relay has been
/// connected once.
fn refusal(servers: &str, err: &str, ever_connected: &AtomicBool, refused: &Refusal) {
    let what = format!(
        "NATS ({servers}) refused the relay's credentials ({err}): check --nats-creds, \
         --nats-user/--nats-password or --nats-token against the NATS server's users, \
         and that the user may publish and subscribe on palaver.> and $JS.API.> (docs/DEPLOY.md)"
    );
    if ever_connected.load(Ordering::Relaxed) {
        tracing::error!("{what}; retrying");
    } else {
        let _ = refused.set(what);
    }
}

/// After a JetStream request went unanswered while the client thinks it is
/// connected: does the server answer at all? A link that lost one
/// direction (a half-broken route, a firewall dropping one way) looks up
/// to the client as long as traffic keeps coming in, since any incoming
/// byte postpones its pings; every send would then wait its full timeout
/// and `/readyz` would stay 200. So the relay asks the server something it
/// answers itself at once (a request to a subject nobody serves: its `no
/// responders` reply), and reconnects when no answer comes within
/// [`PROBE_TIMEOUT`], as three unanswered pings would make it. A server
/// that answers (a node that lost JetStream's quorum, say) is left alone.
#[derive(Default)]
pub struct LinkCheck {
    /// Set while a probe runs: one at a time, however many sends time out.
    running: Arc<AtomicBool>,
}

impl LinkCheck {
    /// Probes the link in the background (unless a probe runs already or
    /// the client already knows it is disconnected).
    pub fn after_timeout(&self, client: &async_nats::Client, tracker: &TaskTracker) {
        if client.connection_state() != async_nats::connection::State::Connected
            || self.running.swap(true, Ordering::AcqRel)
        {
            return;
        }
        let (client, running) = (client.clone(), self.running.clone());
        tracker.spawn(async move {
            if !answers(&client).await {
                tracing::warn!(
                    "NATS does not answer over a connection that looks up (a link broken one way?); reconnecting"
                );
                let _ = client.force_reconnect().await;
            }
            running.store(false, Ordering::Release);
        });
    }
}

/// Whether the server answers a probe within [`PROBE_TIMEOUT`].
async fn answers(client: &async_nats::Client) -> bool {
    let subject = format!("palaver.probe.{}", random_hex(8));
    match tokio::time::timeout(PROBE_TIMEOUT, client.request(subject, Bytes::new())).await {
        Ok(Ok(_)) => true,
        Ok(Err(err)) => err.kind() == async_nats::RequestErrorKind::NoResponders,
        Err(_) => false,
    }
}
