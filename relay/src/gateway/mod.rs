//! Gateways: more kinds of sessions on the same hub, for clients that do
//! not speak WebSocket. Each connection runs an ordinary session
//! (`session::run_driven`), so identities, rooms, history, limits and
//! metrics are the WebSocket's; a gateway only translates its client's
//! lines into `ClientMsg`s and the session's `ServerMsg`s back into lines.
//!
//! - `lines`: reading lines of bounded length from a socket.
//! - `conn`: one gateway connection: the driven session, the socket, and
//!   the [`Dialect`] that translates between them.
//! - `line`: the plain TCP line dialect (`--line-bind`).
//! - `irc`: the IRC dialect (`--irc-bind`).
//!
//! Either gateway may speak TLS (`--line-tls`, `--irc-tls`): the handshake
//! runs in the connection's own task, bounded in time, after the same caps
//! as a plain connection.
//!
//! docs/GATEWAYS.md describes both for users and operators.

mod conn;
pub mod irc;
pub mod line;
pub mod lines;

use std::{net::SocketAddr, sync::Arc, time::Duration};

use anyhow::Context;
use shared::RoomName;
use tokio::{
    io::{AsyncRead, AsyncWrite, AsyncWriteExt},
    net::{TcpListener, TcpStream},
};
use tokio_rustls::TlsAcceptor;
use tracing::{field::Empty, Instrument};

pub use self::conn::{Dialect, Out};
use crate::{
    limits::{ClientKey, Refused},
    state::AppState,
    Config,
};

/// The gateways' listeners, bound before the relay runs (tests bind port 0).
#[derive(Default)]
pub struct Listeners {
    pub line: Option<TcpListener>,
    pub irc: Option<TcpListener>,
}

impl Listeners {
    /// Binds what `config` asks for (`--line-bind`, `--irc-bind`).
    pub async fn bind(config: &Config) -> anyhow::Result<Listeners> {
        async fn listen(
            addr: Option<SocketAddr>,
            flag: &str,
        ) -> anyhow::Result<Option<TcpListener>> {
            match addr {
                None => Ok(None),
                Some(addr) => TcpListener::bind(addr)
                    .await
                    .map(Some)
                    .with_context(|| format!("cannot listen on {addr} ({flag})")),
            }
        }
        Ok(Listeners {
            line: listen(config.line_bind, "--line-bind").await?,
            irc: listen(config.irc_bind, "--irc-bind").await?,
        })
    }

    /// Starts an accept loop for each listener, on the relay's tracker.
    pub fn spawn(self, state: &AppState) -> anyhow::Result<()> {
        let config = &state.config;
        let line_tls = tls_for(config, config.line_tls && self.line.is_some(), "--line-tls")?;
        let irc_tls = tls_for(config, config.irc_tls && self.irc.is_some(), "--irc-tls")?;
        if let Some(listener) = self.line {
            let room = RoomName::new(&state.config.line_room).map_err(|_| {
                anyhow::anyhow!(
                    "--line-room {:?} is not a room name",
                    state.config.line_room
                )
            })?;
            let idle = Duration::from_secs(state.config.line_idle_timeout_secs.max(1));
            let token_mode = state.verifier.is_some();
            let tls = line_tls.is_some();
            tracing::info!(addr = %listener.local_addr()?, tls, "line gateway listening");
            state
                .tracker
                .spawn(accept_loop(listener, line_tls, state.clone(), move || {
                    conn::Setup::new(
                        line::Line::new(room.clone(), token_mode),
                        line::MAX_LINE,
                        idle,
                    )
                }));
        }
        if let Some(listener) = self.irc {
            let idle = state.config.idle_timeout();
            let ping = state.config.ping_interval();
            let token_mode = state.verifier.is_some();
            let hub = state.hub.clone();
            let in_use: irc::NickInUse =
                Arc::new(move |nick, except| hub.nick_in_use(nick, except));
            let tls = irc_tls.is_some();
            tracing::info!(addr = %listener.local_addr()?, tls, "IRC gateway listening");
            state
                .tracker
                .spawn(accept_loop(listener, irc_tls, state.clone(), move || {
                    let irc = irc::Irc::new(token_mode, in_use.clone());
                    conn::Setup::new(irc, irc::MAX_LINE, idle).with_tick(ping)
                }));
        }
        Ok(())
    }
}

/// The gateways' TLS acceptor when `wanted` (the flag `flag` is set).
fn tls_for(config: &Config, wanted: bool, flag: &str) -> anyhow::Result<Option<TlsAcceptor>> {
    if !wanted {
        return Ok(None);
    }
    let Some((cert, key)) = config.gateway_tls() else {
        anyhow::bail!(
            "{flag} needs a certificate: give --gateway-tls-cert and --gateway-tls-key \
             (or --tls-cert and --tls-key)"
        );
    };
    crate::tls::acceptor_for(cert, key, &[])
        .with_context(|| format!("{flag}: cannot load the gateways' certificate"))
        .map(Some)
}

/// Accepts connections until shutdown; each is counted against the same
/// per-IP and total caps, and the same handshake rate, as WebSockets.
async fn accept_loop<D: Dialect + 'static>(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    state: AppState,
    setup: impl Fn() -> conn::Setup<D> + Send + 'static,
) {
    loop {
        let accepted = tokio::select! {
            () = state.shutdown.cancelled() => return,
            accepted = listener.accept() => accepted,
        };
        let (stream, addr) = match accepted {
            Ok(accepted) => accepted,
            Err(err) => {
                // Out of file descriptors and the like: the next accept
                // may work; a pause keeps this from spinning.
                tracing::warn!("gateway accept failed: {err}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        admit(stream, addr, tls.clone(), &state, setup());
    }
}

/// The caps a WebSocket meets at its handshake; a refused connection is
/// told why in one line and closed.
fn admit<D: Dialect + 'static>(
    stream: TcpStream,
    addr: SocketAddr,
    tls: Option<TlsAcceptor>,
    state: &AppState,
    setup: conn::Setup<D>,
) {
    let ip = ClientKey::of(addr.ip());
    let refused = if !state.handshakes.allow(&ip) {
        state.metrics.handshakes_rejected.inc();
        Err("too many new connections from your address; wait a second")
    } else {
        state.conns.acquire(ip).map_err(|refused| {
            state.metrics.connections_rejected.inc();
            match refused {
                Refused::TooManyTotal => "the relay is at its connection limit; try again later",
                Refused::TooManyFromIp => "too many connections from your address; close some",
            }
        })
    };
    let _ = stream.set_nodelay(true);
    match refused {
        Ok(slot) => {
            let span = tracing::info_span!("conn", conn = Empty, ip = %addr.ip(), user = Empty);
            let state2 = state.clone();
            state.tracker.spawn(
                async move {
                    match tls {
                        None => conn::serve(stream, state2, slot, setup).await,
                        Some(tls) => {
                            if let Some(stream) = handshake(&tls, stream).await {
                                conn::serve(stream, state2, slot, setup).await;
                            }
                        }
                    }
                }
                .instrument(span),
            );
        }
        Err(why) => {
            let line = setup.dialect.refusal(why);
            state.tracker.spawn(async move {
                match tls {
                    None => refuse(stream, &line).await,
                    // Refused connections hold no slot, so the handshake
                    // and the line together get the plain refusal's 2 s,
                    // not a handshake's 10: a flood of them cannot hold
                    // descriptors for long.
                    Some(tls) => {
                        let _ = tokio::time::timeout(REFUSAL_TIME, async {
                            if let Ok(stream) = tls.accept(stream).await {
                                refuse(stream, &line).await;
                            }
                        })
                        .await;
                    }
                }
            });
        }
    }
}

/// The TLS handshake, bounded in time; `None` (logged) when it fails.
async fn handshake(
    tls: &TlsAcceptor,
    stream: TcpStream,
) -> Option<tokio_rustls::server::TlsStream<TcpStream>> {
    match tokio::time::timeout(crate::tls::HANDSHAKE_TIMEOUT, tls.accept(stream)).await {
        Ok(Ok(stream)) => Some(stream),
        Ok(Err(err)) => {
            tracing::debug!("gateway TLS handshake failed: {err}");
            None
        }
        Err(_) => {
            tracing::debug!("gateway TLS handshake timed out");
            None
        }
    }
}

/// How long a refused connection is served: its one line, and closed.
const REFUSAL_TIME: Duration = Duration::from_secs(2);

/// Writes the one line of a refusal, for at most [`REFUSAL_TIME`], and
/// closes.
async fn refuse(mut stream: impl AsyncRead + AsyncWrite + Unpin, line: &str) {
    let _ = tokio::time::timeout(REFUSAL_TIME, async {
        stream.write_all(line.as_bytes()).await?;
        stream.shutdown().await
    })
    .await;
}
