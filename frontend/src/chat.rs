//! The socket service: one WebSocket per tab, driven by the shared model.
//!
//! [`Chat`] is the only thing components talk to. It holds the
//! [`shared::client::Client`] in a signal (components derive what they show
//! from it), owns the socket and the reconnect timer, and turns user actions
//! into frames. All decisions (what to send on connect, dedup, unread counts,
//! backoff) are made by the shared model; this module only does the I/O:
//! the WebSocket, the clock, the browser's online/visibility events,
//! storage and notifications.

use std::time::Duration;

use futures::channel::{mpsc, oneshot};
use futures::future::{select, Either};
use futures::{SinkExt, StreamExt};
use gloo_net::websocket::futures::WebSocket;
use gloo_net::websocket::Message;
use leptos::prelude::*;
use leptos::task::spawn_local;
use serde::Deserialize;
use shared::client::{Client, ConnState, Outbox, Reconnect};
use shared::{ClientId, ClientMsg, Nick, RoomName, ServerMsg, Text};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;

use crate::storage;

/// The browser's clock, Unix milliseconds.
pub fn now_ms() -> u64 {
    js_sys::Date::now() as u64
}

/// How often the clock signal ticks and the reconnect timer is checked.
const TICK: Duration = Duration::from_millis(500);
/// Messages per room kept for offline use, when they fit the budget.
const CACHE_PER_ROOM: usize = 100;
/// An app-level `ping` this often keeps idle connections (and proxies) alive.
const PING_EVERY_MS: u64 = 25_000;
/// A `ping` unanswered (nothing at all heard) for this long means the
/// connection is dead even if the browser has not noticed (a laptop waking
/// from sleep). Measured from the ping, so a background tab whose timers
/// the browser slows down is not mistaken for a dead one.
const PONG_WAIT_MS: u64 = 15_000;

/// The open socket, as the service holds it.
struct Link {
    /// Which socket this is, so events of an old one are told apart.
    generation: u64,
    /// The writer task's queue; dropping it ends the writer.
    tx: mpsc::UnboundedSender<String>,
    /// Dropping it ends the reader, which drops (and so closes) the socket.
    _cancel: oneshot::Sender<()>,
}

/// The app's connection to the relay and everything it knows. Cheap to copy;
/// provided as context by the app.
#[derive(Clone, Copy)]
pub struct Chat {
    /// The shared client model; components read it with `with`.
    pub client: RwSignal<Client>,
    /// The connection state for the banner.
    pub conn: RwSignal<ConnState>,
    /// The clock, ticking every half second (typing expiry, countdowns).
    pub now: RwSignal<u64>,
    /// The room in the URL (`#/room/NAME`), the one shown.
    pub route: RwSignal<Option<RoomName>>,
    /// Desktop notifications are on (permission granted and wanted).
    pub notify: RwSignal<bool>,
    reconnect: StoredValue<Reconnect>,
    /// The open socket, if any.
    link: StoredValue<Option<Link>, LocalStorage>,
    generation: StoredValue<u64>,
    /// The relay's WebSocket URL, once `config.json` was read.
    url: StoredValue<Option<String>>,
    tab: StoredValue<String>,
    last_ping: StoredValue<u64>,
    /// When the relay last sent anything.
    last_heard: StoredValue<u64>,
    started: StoredValue<bool>,
}

impl Chat {
    /// Restores what the browser kept (nick, rooms, this tab's resume token
    /// and outbox). Connects only on [`Chat::start`].
    pub fn new() -> Self {
        let tab = storage::tab_id();
        // Unique per page load: the tab id survives reloads, and the relay
        // treats a repeated client_id from the same user as a resend.
        let load = format!(
            "{:x}{:x}",
            js_sys::Date::now() as u64,
            (js_sys::Math::random() * f64::from(u32::MAX)) as u32
        );
        let mut client = Client::new(&format!("w{tab}.{load}"));
        if let Some(nick) = storage::nick().and_then(|n| Nick::new(&n).ok()) {
            client.set_nick(nick);
        }
        client.set_resume_token(storage::resume());
        for room in storage::rooms() {
            if let Ok(room) = RoomName::new(&room) {
                client.join(room);
            }
        }
        if let Some(json) = storage::outbox(&tab) {
            client.set_outbox(Outbox::restore(&json));
        }
        if let Some(json) = storage::cache() {
            client.restore_cache(&json);
        }
        let notify = storage::notify() && notification_permission() == "granted";
        Chat {
            client: RwSignal::new(client),
            conn: RwSignal::new(ConnState::Connecting { attempt: 0 }),
            now: RwSignal::new(now_ms()),
            route: RwSignal::new(None),
            notify: RwSignal::new(notify),
            reconnect: StoredValue::new(Reconnect::default()),
            link: StoredValue::new_local(None),
            generation: StoredValue::new(0),
            url: StoredValue::new(None),
            tab: StoredValue::new(tab),
            last_ping: StoredValue::new(now_ms()),
            last_heard: StoredValue::new(now_ms()),
            started: StoredValue::new(false),
        }
    }

    /// Starts the connection (once a nick is chosen): reads `config.json`,
    /// then connects and keeps reconnecting; listens to the browser's
    /// online/offline and visibility events; keeps storage in sync.
    pub fn start(self) {
        if self.started.get_value() {
            return;
        }
        self.started.set_value(true);
        self.listen_to_browser();
        spawn_local(async move {
            let url = relay_url().await;
            self.url.set_value(Some(url));
            self.connect();
            set_interval(move || self.tick(), TICK);
        });
    }

    fn tick(self) {
        let now = now_ms();
        self.now.set(now);
        if self.reconnect.with_value(|r| r.should_connect(now)) {
            self.connect();
        }
        if self.conn.get_untracked() == ConnState::Online {
            let pinged = self.last_ping.get_value();
            if pinged > self.last_heard.get_value() && now >= pinged + PONG_WAIT_MS {
                web_sys::console::warn_1(&"the relay went silent; reconnecting".into());
                if let Some(generation) = self.current_generation() {
                    self.closed(generation);
                }
            } else if now >= pinged + PING_EVERY_MS {
                self.last_ping.set_value(now);
                self.write(vec![ClientMsg::Ping]);
            }
        }
    }

    fn sync_conn(self) {
        let state = self.reconnect.with_value(|r| r.state());
        self.conn.set(state);
    }

    fn connect(self) {
        let Some(url) = self.url.get_value() else {
            return;
        };
        self.reconnect.update_value(|r| r.connecting());
        self.sync_conn();
        let generation = self.generation.get_value() + 1;
        self.generation.set_value(generation);
        let ws = match WebSocket::open(&url) {
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
        self.last_heard.set_value(now_ms());
        // The relay answers the first frame with `welcome`; gloo-net holds
        // these until the socket is open.
        let frames = self
            .client
            .try_update(|c| c.connected())
            .unwrap_or_default();
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

    fn current_generation(self) -> Option<u64> {
        self.link
            .with_value(|link| link.as_ref().map(|link| link.generation))
    }

    /// The socket of `generation` ended (closed, failed, or went silent).
    /// Events of a socket already given up on are ignored.
    fn closed(self, generation: u64) {
        if self.current_generation() != Some(generation) {
            return;
        }
        // Dropping the link ends both tasks, which closes the socket.
        self.link.set_value(None);
        self.lost();
    }

    /// No connection any more: queue what was in flight, plan a retry.
    fn lost(self) {
        self.client.update(|c| c.disconnected());
        let (now, jitter) = (now_ms(), js_sys::Math::random());
        self.reconnect.update_value(|r| {
            r.closed(now, jitter);
        });
        self.sync_conn();
    }

    fn receive(self, msg: ServerMsg) {
        let now = now_ms();
        self.last_heard.set_value(now);
        if let ServerMsg::Message(m) = &msg {
            self.maybe_notify(m);
        }
        let welcome = matches!(msg, ServerMsg::Welcome { .. });
        let frames = self
            .client
            .try_update(|c| c.apply(msg, now))
            .unwrap_or_default();
        self.write(frames);
        if welcome {
            self.reconnect.update_value(|r| r.online());
            self.sync_conn();
        }
    }

    fn write(self, frames: impl IntoIterator<Item = ClientMsg>) {
        self.link.with_value(|link| {
            if let Some(link) = link {
                for frame in frames {
                    let _ = link.tx.unbounded_send(frame.encode());
                }
            }
        });
    }

    fn act(self, f: impl FnOnce(&mut Client) -> Option<ClientMsg>) {
        let frame = self.client.try_update(f).flatten();
        self.write(frame);
    }

    // ---- what components call ----

    /// Shows a room, joining it first if needed (deep links, the join form).
    pub fn open_room(self, room: RoomName) {
        self.route.set(Some(room.clone()));
        let visible = is_visible();
        self.act(|c| {
            let frame = c.join(room.clone());
            if visible {
                c.set_active(Some(room));
            }
            frame
        });
    }

    pub fn leave(self, room: &RoomName) {
        self.act(|c| c.leave(room));
        if self.route.get_untracked().as_ref() == Some(room) {
            let next = self
                .client
                .with_untracked(|c| c.rooms().first().map(|r| r.name().clone()));
            if next.is_none() {
                self.route.set(None);
            }
            navigate(next.as_ref());
        }
    }

    pub fn send(self, room: &RoomName, text: Text) {
        let now = now_ms();
        self.act(|c| c.send(room, text, now).1);
    }

    pub fn retry(self, id: &ClientId) {
        self.act(|c| c.retry(id));
    }

    pub fn discard(self, id: &ClientId) {
        self.client.update(|c| c.discard(id));
    }

    pub fn typing(self, room: &RoomName) {
        let now = now_ms();
        // Only a frame to write: no need to wake every reader of the model.
        let frame = self
            .client
            .try_update_untracked(|c| c.typing(room, now))
            .flatten();
        self.write(frame);
    }

    pub fn load_older(self, room: &RoomName) {
        self.act(|c| c.load_older(room));
    }

    pub fn set_nick(self, nick: Nick) {
        storage::set_nick(nick.as_str());
        self.act(|c| c.set_nick(nick));
    }

    pub fn dismiss_notice(self, index: usize) {
        self.client.update(|c| c.dismiss_notice(index));
    }

    /// "Retry now" in the banner.
    pub fn retry_now(self) {
        self.reconnect.update_value(|r| r.wake(now_ms()));
        self.tick();
    }

    /// Turns desktop notifications on (asking for permission, which only
    /// works from a click) or off.
    pub fn toggle_notifications(self) {
        if self.notify.get_untracked() {
            self.notify.set(false);
            storage::set_notify(false);
            return;
        }
        spawn_local(async move {
            let granted = request_notification_permission().await;
            self.notify.set(granted);
            storage::set_notify(granted);
        });
    }

    // ---- the browser ----

    fn listen_to_browser(self) {
        let on = |target: &web_sys::EventTarget, name: &str, f: Box<dyn FnMut()>| {
            let closure = Closure::<dyn FnMut()>::wrap(f);
            let _ = target.add_event_listener_with_callback(name, closure.as_ref().unchecked_ref());
            // The listeners live as long as the page.
            closure.forget();
        };
        let Some(window) = web_sys::window() else {
            return;
        };
        on(
            &window,
            "online",
            Box::new(move || {
                self.reconnect.update_value(|r| r.network_online(now_ms()));
                self.tick();
            }),
        );
        on(
            &window,
            "offline",
            Box::new(move || {
                self.reconnect.update_value(|r| r.network_offline());
                self.sync_conn();
            }),
        );
        on(
            &window,
            "hashchange",
            Box::new(move || {
                if let Some(room) = route_from_hash() {
                    self.open_room(room);
                }
            }),
        );
        if let Some(document) = window.document() {
            on(
                &document,
                "visibilitychange",
                Box::new(move || {
                    if is_visible() {
                        let route = self.route.get_untracked();
                        self.client.update(|c| c.set_active(route));
                        self.reconnect.update_value(|r| r.wake(now_ms()));
                        self.tick();
                    } else {
                        // Hidden: every room counts unread messages.
                        self.client.update(|c| c.set_active(None));
                    }
                }),
            );
        }
        if !window.navigator().on_line() {
            self.reconnect.update_value(|r| r.network_offline());
        }
    }

    /// Keeps storage in step with the model: rooms, resume token and this
    /// tab's outbox (so a reload loses no typed message), and the title.
    /// Call it from a component, so the effect has an owner.
    pub fn persist(self) {
        let client = self.client;
        let saved = Memo::new(move |_| {
            client.with(|c| {
                let rooms: Vec<String> = c.rooms().iter().map(|r| r.name().to_string()).collect();
                let outbox = (!c.outbox().is_empty()).then(|| c.outbox().save());
                let unread: u32 = c.rooms().iter().map(|r| r.unread()).sum();
                (rooms, c.resume_token().map(String::from), outbox, unread)
            })
        });
        // The offline cache: each room's latest messages, as many per room
        // as fit the storage budget.
        let cache = Memo::new(move |_| {
            client.with(|c| {
                [CACHE_PER_ROOM, CACHE_PER_ROOM / 4, 5]
                    .into_iter()
                    .map(|per_room| c.cache_snapshot(per_room))
                    .find(|json| json.len() <= storage::CACHE_BUDGET_BYTES)
            })
        });
        Effect::new(move |_| {
            if let Some(json) = cache.get() {
                storage::set_cache(&json);
            }
        });
        let tab = self.tab.get_value();
        Effect::new(move |_| {
            let (rooms, resume, outbox, unread) = saved.get();
            storage::set_rooms(&rooms);
            storage::set_resume(resume.as_deref());
            storage::set_outbox(&tab, outbox.as_deref());
            if let Some(document) = web_sys::window().and_then(|w| w.document()) {
                document.set_title(&if unread > 0 {
                    format!("({unread}) Palaver")
                } else {
                    "Palaver".into()
                });
            }
        });
    }

    fn maybe_notify(self, msg: &shared::ChatMessage) {
        if !self.notify.get_untracked() || is_visible() {
            return;
        }
        let mine = self
            .client
            .with_untracked(|c| c.me().map(|me| me.id == msg.from.id))
            .unwrap_or(true);
        if mine {
            return;
        }
        let options = web_sys::NotificationOptions::new();
        options.set_body(msg.text.as_str());
        options.set_tag(msg.room.as_str());
        let title = format!("{} in #{}", msg.from.nick, msg.room);
        let _ = web_sys::Notification::new_with_options(&title, &options);
    }
}

impl Default for Chat {
    fn default() -> Self {
        Chat::new()
    }
}

/// The relay URL: `relay_url` from `config.json` beside index.html, or this
/// origin's `/ws`.
async fn relay_url() -> String {
    match config_relay_url().await {
        Some(url) => url,
        None => same_origin_ws(),
    }
}

async fn config_relay_url() -> Option<String> {
    #[derive(Deserialize)]
    struct Config {
        relay_url: String,
    }
    let window = web_sys::window()?;
    let response: web_sys::Response = JsFuture::from(window.fetch_with_str("config.json"))
        .await
        .ok()?
        .dyn_into()
        .ok()?;
    if !response.ok() {
        return None;
    }
    let text = JsFuture::from(response.text().ok()?)
        .await
        .ok()?
        .as_string()?;
    let config: Config = serde_json::from_str(&text).ok()?;
    Some(config.relay_url).filter(|url| !url.trim().is_empty())
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

/// The room in `#/room/NAME`, if the hash is one.
pub fn route_from_hash() -> Option<RoomName> {
    let hash = web_sys::window()?.location().hash().ok()?;
    let name = hash.strip_prefix("#/room/")?;
    let name = js_sys::decode_uri_component(name).ok()?.as_string()?;
    RoomName::new(&name).ok()
}

/// Changes the hash to a room (or clears it); the hashchange listener does
/// the rest.
pub fn navigate(room: Option<&RoomName>) {
    if let Some(window) = web_sys::window() {
        let hash = match room {
            Some(room) => format!(
                "#/room/{}",
                String::from(js_sys::encode_uri_component(room.as_str()))
            ),
            None => "#/".into(),
        };
        let _ = window.location().set_hash(&hash);
    }
}

pub fn room_href(room: &RoomName) -> String {
    format!(
        "#/room/{}",
        String::from(js_sys::encode_uri_component(room.as_str()))
    )
}

fn is_visible() -> bool {
    web_sys::window()
        .and_then(|w| w.document())
        .map(|d| !d.hidden())
        .unwrap_or(true)
}

/// "granted", "denied", "default", or "unsupported".
pub fn notification_permission() -> &'static str {
    let supported = web_sys::window()
        .map(|w| js_sys::Reflect::has(&w, &"Notification".into()).unwrap_or(false))
        .unwrap_or(false);
    if !supported {
        return "unsupported";
    }
    match web_sys::Notification::permission() {
        web_sys::NotificationPermission::Granted => "granted",
        web_sys::NotificationPermission::Denied => "denied",
        _ => "default",
    }
}

async fn request_notification_permission() -> bool {
    if notification_permission() == "unsupported" {
        return false;
    }
    match web_sys::Notification::request_permission() {
        Ok(promise) => JsFuture::from(promise)
            .await
            .ok()
            .and_then(|v| v.as_string())
            .is_some_and(|v| v == "granted"),
        Err(_) => false,
    }
}
