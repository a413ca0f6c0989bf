//! The accept loop: the router served over HTTP/1.1 by hyper, one task per
//! connection, with a deadline for request headers.
//!
//! `axum::serve` sets no timer on hyper, so a peer that opens a connection
//! and never finishes its request headers (or idles between keep-alive
//! requests) would hold a socket forever. Here every connection must send
//! complete headers within `--header-timeout`; WebSocket upgrades are then
//! handed to the session, which has its own first-frame and idle timeouts.

use std::{convert::Infallible, net::SocketAddr};

use axum::serve::Listener;
use axum::{extract::ConnectInfo, Router};
use hyper::{body::Incoming, server::conn::http1, service::service_fn, Request};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio_util::{sync::CancellationToken, task::TaskTracker};
use tower::ServiceExt;

use crate::state::AppState;

/// Connections the kernel may hold for `accept` (capped by
/// `net.core.somaxconn`). tokio's default, 1024, overflowed when thousands
/// of clients connected at once (a relay restart brings every client back
/// within seconds): each overflow drops a SYN, which the client resends
/// only after a second (docs/PERFORMANCE.md).
const BACKLOG: u32 = 4096;

/// A TCP listener on `addr` with room for a burst of connections.
pub fn listen(addr: SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    // As `TcpListener::bind` does: a restarted relay can bind at once.
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(BACKLOG)
}

/// Serves `router` until `stop` is cancelled, then lets requests in flight
/// finish (bounded by the shutdown timeout).
///
/// `listener` is plain TCP (with TCP_NODELAY set) or TLS; axum's
/// `Listener` retries failed accepts itself.
pub async fn serve<L>(mut listener: L, router: Router, state: &AppState, stop: CancellationToken)
where
    L: Listener<Addr = SocketAddr>,
{
    let conns = TaskTracker::new();
    let header_timeout = state.config.header_timeout();
    loop {
        let (tcp, addr) = tokio::select! {
            () = stop.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        let router = router.clone();
        let stop = stop.clone();
        let metrics = state.metrics.clone();
        conns.spawn(async move {
            let service = service_fn(move |mut request: Request<Incoming>| {
                request
                    .extensions_mut()
                    .insert(ConnectInfo::<SocketAddr>(addr));
                let router = router.clone();
                async move {
                    Ok::<_, Infallible>(
                        router
                            .oneshot(request)
                            .await
                            .unwrap_or_else(|err| match err {}),
                    )
                }
            });
            let mut builder = http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(header_timeout);
            let conn = builder
                .serve_connection(TokioIo::new(tcp), service)
                .with_upgrades();
            tokio::pin!(conn);
            let result = tokio::select! {
                result = conn.as_mut() => result,
                () = stop.cancelled() => {
                    conn.as_mut().graceful_shutdown();
                    conn.await
                }
            };
            if let Err(err) = result {
                if err.is_timeout() {
                    metrics.header_timeouts.inc();
                    tracing::debug!(%addr, "closed: no request headers within the timeout");
                } else {
                    tracing::debug!(%addr, "HTTP connection failed: {err}");
                }
            }
        });
    }
    conns.close();
    let timeout = state.config.shutdown_timeout();
    if tokio::time::timeout(timeout, conns.wait()).await.is_err() {
        tracing::warn!(
            "{} HTTP connections still open after {timeout:?}",
            conns.len()
        );
    }
}
