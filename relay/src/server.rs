//! HTTP: the WebSocket endpoint, health and the built web app on the public
//! listener; metrics on their own (`--metrics-bind`), which the shipped
//! proxy configurations do not forward.

use std::net::SocketAddr;

use crate::{
    health,
    limits::{client_ip, ClientKey, Refused},
    metrics::Snapshot,
    session,
    state::AppState,
    web_app, ws,
};
use axum::{
    extract::{ConnectInfo, RawQuery, Request, State},
    http::{header, HeaderMap, HeaderValue, StatusCode},
    middleware::Next,
    response::{IntoResponse, Response},
    routing::get,
    Router,
};
use tracing::{field::Empty, Instrument};

/// The largest frame the relay reads at all: larger frames close the
/// connection (1009). Between `MAX_FRAME_BYTES` and this, the relay answers
/// `too_large` and keeps the connection.
const HARD_FRAME_LIMIT: usize = 256 * 1024;

pub fn app(state: AppState) -> Router {
    let router = Router::new()
        .route("/ws", get(ws))
        .route("/healthz", get(healthz))
        .route("/readyz", get(ready))
        .merge(crate::files::routes(&state));
    let dir = &state.config.static_dir;
    let router = if dir.join("index.html").is_file() {
        web_app::warn_if_debug(dir);
        web_app::serve(router, dir)
    } else {
        tracing::warn!(
            "no web app in {} (build it with `trunk build --release`); serving the API only",
            dir.display()
        );
        router.route("/", get(no_app))
    };
    router
        .layer(axum::middleware::from_fn(cache_control))
        .with_state(state)
}

/// Hashed build files never change and may be cached for good; everything
/// else (index.html, sw.js, config.json, the manifest, the API) must be
/// revalidated, so a new release reaches users at once.
async fn cache_control(request: Request, next: Next) -> Response {
    let immutable = is_hashed_asset(request.uri().path());
    let mut response = next.run(request).await;
    if response.status().is_success() && !response.headers().contains_key(header::CACHE_CONTROL) {
        let value = if immutable {
            "public, max-age=31536000, immutable"
        } else {
            "no-cache"
        };
        response
            .headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static(value));
    }
    response
}

/// trunk's hashed names: `name-<16 hex>.js`, `name-<16 hex>_bg.wasm`, ...
fn is_hashed_asset(path: &str) -> bool {
    let file = path.rsplit('/').next().unwrap_or("");
    let Some((stem, ext)) = file.rsplit_once('.') else {
        return false;
    };
    let stem = stem.strip_suffix("_bg").unwrap_or(stem);
    let hash = stem.rsplit_once('-').map_or("", |(_, hash)| hash);
    // trunk prints its 64-bit hash as hex without leading zeros, so one
    // build in sixteen has 15 digits (and fewer, more rarely).
    matches!(ext, "js" | "wasm" | "css")
        && (8..=16).contains(&hash.len())
        && hash.bytes().all(|b| b.is_ascii_hexdigit())
}

async fn ws(
    State(state): State<AppState>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    upgrade: ws::Upgrade,
) -> Response {
    let client = client_ip(addr.ip(), &headers, &state.trusted_proxies);
    let ip = ClientKey::of(client);
    if !state.origins.allows(&headers) {
        let origin = headers
            .get(header::ORIGIN)
            .and_then(|o| o.to_str().ok())
            .unwrap_or("?");
        tracing::info!(%addr, origin, "refused WebSocket from a foreign origin");
        state.metrics.origins_rejected.inc();
        return (
            StatusCode::FORBIDDEN,
            "this origin may not open a Palaver WebSocket; the relay's operator can allow it with --allowed-origin\n",
        )
            .into_response();
    }
    if state.shutdown.is_cancelled() {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "the relay is shutting down\n",
        )
            .into_response();
    }
    if !state.handshakes.allow(&ip) {
        state.metrics.handshakes_rejected.inc();
        return (
            StatusCode::TOO_MANY_REQUESTS,
            "too many new connections from your address; wait a second\n",
        )
            .into_response();
    }
    let slot = match state.conns.acquire(ip) {
        Ok(slot) => slot,
        Err(refused) => {
            state.metrics.connections_rejected.inc();
            let why = match refused {
                Refused::TooManyTotal => "the relay is at its connection limit; try again later\n",
                Refused::TooManyFromIp => "too many connections from your address; close some\n",
            };
            return (StatusCode::TOO_MANY_REQUESTS, why).into_response();
        }
    };
    let token = query.as_deref().and_then(query_token);
    // Every line the session logs carries these (docs/OPERATIONS.md);
    // `conn` and `user` are filled in as they become known.
    let span = tracing::info_span!("conn", conn = Empty, ip = %client, user = Empty);
    let tracker = state.tracker.clone();
    upgrade.on_upgrade(HARD_FRAME_LIMIT, move |reader, writer| {
        tracker.track_future(session::run(reader, writer, state, slot, token).instrument(span))
    })
}

/// The `token` parameter of the query string. Tokens are base64url and dots,
/// which need no percent-decoding; one that does is refused as malformed.
fn query_token(query: &str) -> Option<String> {
    query
        .split('&')
        .find_map(|pair| pair.strip_prefix("token="))
        .map(str::to_owned)
}

/// Alive unless a fault the relay cannot recover from was seen (`health`).
async fn healthz(State(state): State<AppState>) -> Response {
    match health::check(&state) {
        Some(fault) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("unhealthy: {fault}\n"),
        )
            .into_response(),
        None => "ok\n".into_response(),
    }
}

async fn ready(State(state): State<AppState>) -> Response {
    if let Some(fault) = health::check(&state) {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("unhealthy: {fault}\n"),
        )
            .into_response()
    } else if state.shutdown.is_cancelled() {
        (StatusCode::SERVICE_UNAVAILABLE, "shutting down\n").into_response()
    } else if !state.store.ready() {
        (StatusCode::SERVICE_UNAVAILABLE, "store unavailable\n").into_response()
    } else {
        "ready\n".into_response()
    }
}

/// The metrics listener's routes: `/metrics`, and health for probes that
/// only reach this port.
pub fn metrics_app(state: AppState) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .route("/readyz", get(ready))
        .with_state(state)
}

async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    let hub = state.hub.stats();
    let now = Snapshot {
        rooms: hub.rooms,
        tasks: state.tracker.len(),
        room_entries: state.store.room_entries(),
        members: hub.members,
        queue_depths: hub.queue_depths,
        queued_bytes: hub.queued_bytes,
        store_ready: state.store.ready(),
        store_queue: state.store.queue_depth(),
    };
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.render(now),
    )
}

async fn no_app() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        "<!doctype html><title>Palaver relay</title><p>This relay is running, but the web app is not built. \
         Run <code>trunk build --release</code> and start the relay with <code>--static-dir dist</code>.</p>",
    )
}

#[cfg(test)]
mod tests {
    use super::is_hashed_asset;

    #[test]
    fn hashed_assets_are_recognised() {
        assert!(is_hashed_asset("/frontend-9ea7ab70b6d588c9_bg.wasm"));
        assert!(is_hashed_asset("/app/frontend-9ea7ab70b6d588c9.js"));
        assert!(is_hashed_asset("/style-cb91d00c14fb4d02.css"));
        assert!(is_hashed_asset("/frontend-5f1613ada2ffaa3_bg.wasm"));
        assert!(!is_hashed_asset("/frontend-5f16_bg.wasm"));
        assert!(!is_hashed_asset("/index.html"));
        assert!(!is_hashed_asset("/sw.js"));
        assert!(!is_hashed_asset("/pwa.js"));
        assert!(!is_hashed_asset("/config.json"));
    }
}
