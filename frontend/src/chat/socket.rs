//! The socket: one WebSocket at a time, numbered so events of an old one
//! are ignored; a reader task feeding frames to the model and a writer task
//! draining a queue; the half-second tick that drives the reconnect timer
//! and the liveness pings. The relay's URL (and, in token mode, where
//! tokens come from) is in `config.json`.

use std::time::Duration;

use futures::channel::{mpsc, oneshot};
use futures::future::{select, Either};
use futures::{SinkExt, StreamExt};
use gloo_net::websocket::futures::WebSocket;
use gloo_net::websocket::Message;
use leptos::prelude::*;
use leptos::task::spawn_local;
use serde::Deserialize;
use shared::client::{Beat, Change, Client, ConnState};
use shared::{ClientMsg, ServerMsg};
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;

use super::{now_ms, token, Chat};

/// How often the clock signal ticks and the reconnect timer is checked.
pub(super) const TICK: Duration = Duration::from_millis(500);

/// The open socket, as the service holds it.
pub(super) struct Link {
    /// Which socket this is, so events of an old one are told apart.
    generation: u64,
    /// The writer task's queue; dropping it ends the writer.
    tx: mpsc::UnboundedSender<String>,
    /// Dropping it ends the reader, which drops (and so closes) the socket.
    _cancel: oneshot::Sender<()>,
}

impl Chat {
    pub(super) fn tick(self) {
        let now = now_ms();
        self.now.set(now);
        if self.reconnect.with_value(|r| r.should_connect(now)) {
            self.connect();
        }
        if self.conn.get_untracked() == ConnState::Online {
            let beat = self.liveness.try_update_value(|l| l.tick(now));
            match beat {
                Some(Beat::Dead) => {
                    web_sys::console::warn_1(&"the relay went silent; reconnecting".into());
                    if let Some(generation) = self.current_generation() {
                        self.closed(generation);
                    }
                }
                Some(Beat::Ping) => self.write(vec![ClientMsg::Ping]),
                Some(Beat::Idle) | None => {}
            }
            self.renew();
        }
    }

    pub(super) fn sync_conn(self) {
        let state = self.reconnect.with_value(|r| r.state());
        self.conn.set(state);
    }

    pub(super) fn connect(self) {
        let Some(url) = self.url.get_value() else {
            return;
        };
        self.reconnect.update_value(|r| r.connecting());
        self.sync_conn();
        // Token mode: each connection starts with a fresh token.
        match self.token_url.get_value() {
            Some(token_url) => spawn_local(async move {
                match token::fetch(&token_url).await {
                    Some(token) => self.open(&url, Some(token)),
                    None => self.lost(),
                }
            }),
            None => self.open(&url, None),
        }
    }

    /// Opens the socket and starts its reader and writer tasks.
    fn open(self, url: &str, token: Option<String>) {
        let generation = self.generation.get_value() + 1;
        self.generation.set_value(generation);
        let ws = match WebSocket::open(url) {
            Ok(ws) => ws,
            Err(err) => {
                web_sys::console::warn_1(&format!("cannot open {url}: {err}").into());
                self.lost();
                return;
            }
        };
        let (mut sink, mut stream) = ws.split();
        let (tx, mut rx) = mpsc::unbounded::<String>();
        let (cancel, mut cancelled) = oneshot::channel::<()>();
        self.link.set_value(Some(Link {
            generation,
            tx,
            _cancel: cancel,
        }));
        self.liveness.update_value(|l| l.opened(now_ms()));
        // The relay answers the first frame with `welcome`; gloo-net holds
        // these until the socket is open.
        let mut frames = self
            .client
            .try_update(|c| c.connected())
            .unwrap_or_default();
        if let Some(ClientMsg::Hello { token: hello, .. }) = frames.first_mut() {
            *hello = token;
        }
        self.write(frames);
        spawn_local(async move {
            while let Some(text) = rx.next().await {
                if sink.send(Message::Text(text)).await.is_err() {
                    break;
                }
            }
            let _ = sink.close().await;
        });
        spawn_local(async move {
            // Ends when the socket does, or when the service drops the link.
            while let Either::Left((Some(item), _)) = select(stream.next(), &mut cancelled).await {
                match item {
                    Ok(Message::Text(text)) => match ServerMsg::decode(&text) {
                        Ok(msg) if self.current_generation() == Some(generation) => {
                            self.receive(msg)
                        }
                        Ok(_) => break,
                        Err(err) => web_sys::console::warn_1(
                            &format!("unreadable frame from the relay: {err}").into(),
                        ),
                    },
                    Ok(Message::Bytes(_)) => {}
                    Err(_) => break,
                }
            }
            self.closed(generation);
        });
    }

    pub(super) fn current_generation(self) -> Option<u64> {
        self.link
            .with_value(|link| link.as_ref().map(|link| link.generation))
    }

    /// The socket of `generation` ended (closed, failed, or went silent).
    /// Events of a socket already given up on are ignored.
    pub(super) fn closed(self, generation: u64) {
        if self.current_generation() != Some(generation) {
            return;
        }
        // Dropping the link ends both tasks, which closes the socket.
        self.link.set_value(None);
        self.lost();
    }

    /// No connection any more: queue what was in flight, plan a retry.
    pub(super) fn lost(self) {
        self.client.update(|c| c.disconnected());
        self.window_lost();
        self.renewal.update_value(|r| r.disconnected());
        let (now, jitter) = (now_ms(), js_sys::Math::random());
        self.reconnect.update_value(|r| {
            r.closed(now, jitter);
        });
        self.sync_conn();
    }

    pub(super) fn receive(self, msg: ServerMsg) {
        let now = now_ms();
        self.liveness.update_value(|l| l.heard(now));
        // Token mode: the driver owns the way to a fresh token.
        if let ServerMsg::TokenExpiring { exp } = msg {
            self.token_expiring(exp);
        }
        if let ServerMsg::Welcome { push_key, .. } = &msg {
            self.push_key.set_value(push_key.clone());
        }
        if self.search_frame(&msg) {
            return;
        }
        let applied = self
            .client
            .try_update(|c| c.apply(msg, now))
            .unwrap_or_default();
        self.write(applied.frames);
        for change in applied.changes {
            match change {
                Change::Welcome { .. } => {
                    self.reconnect.update_value(|r| r.online());
                    self.sync_conn();
                    self.sync_push();
                }
                Change::Message {
                    room,
                    seq,
                    live: true,
                } => {
                    let msg = self
                        .client
                        .with_untracked(|c| c.room(&room).and_then(|r| r.message(seq)).cloned());
                    if let Some(msg) = msg {
                        self.maybe_notify(&msg);
                    }
                }
                Change::Dropped { room } => self.dropped(&room),
                _ => {}
            }
        }
    }

    pub(super) fn write(self, frames: impl IntoIterator<Item = ClientMsg>) {
        self.link.with_value(|link| {
            if let Some(link) = link {
                for frame in frames {
                    let _ = link.tx.unbounded_send(frame.encode());
                }
            }
        });
        // What was written may be what the outbox waited for.
        self.schedule_outbox();
    }

    pub(super) fn act(self, f: impl FnOnce(&mut Client) -> Option<ClientMsg>) {
        let frame = self.client.try_update(f).flatten();
        self.write(frame);
    }
}

/// What `config.json` beside index.html says; every field is optional.
#[derive(Default, Deserialize)]
pub(super) struct AppConfig {
    /// The relay's WebSocket URL; this origin's `/ws` when absent.
    #[serde(default)]
    relay_url: Option<String>,
    /// Token mode: where to fetch a connection token (see `token`).
    #[serde(default)]
    pub(super) token_url: Option<String>,
}

impl AppConfig {
    /// The relay URL: `relay_url`, or this origin's `/ws`.
    pub(super) fn relay_url(&self) -> String {
        self.relay_url
            .clone()
            .filter(|url| !url.trim().is_empty())
            .unwrap_or_else(same_origin_ws)
    }
}

/// Reads `config.json`; a missing or unreadable one is the default.
pub(super) async fn app_config() -> AppConfig {
    read_config().await.unwrap_or_default()
}

async fn read_config() -> Option<AppConfig> {
    let text = fetch_text(&web_sys::window()?.fetch_with_str("config.json")).await?;
    serde_json::from_str(&text).ok()
}

/// The body of a fetch's answer, if it came and was a success.
pub(super) async fn fetch_text(request: &js_sys::Promise) -> Option<String> {
    let response: web_sys::Response = JsFuture::from(request.clone())
        .await
        .ok()?
        .dyn_into()
        .ok()?;
    if !response.ok() {
        return None;
    }
    JsFuture::from(response.text().ok()?)
        .await
        .ok()?
        .as_string()
}

fn same_origin_ws() -> String {
    let location = web_sys::window().map(|w| w.location());
    let protocol = location.as_ref().and_then(|l| l.protocol().ok());
    let host = location
        .as_ref()
        .and_then(|l| l.host().ok())
        .unwrap_or_else(|| "127.0.0.1:8080".into());
    let scheme = if protocol.as_deref() == Some("https:") {
        "wss:"
    } else {
        "ws:"
    };
    format!("{scheme}//{host}/ws")
}
