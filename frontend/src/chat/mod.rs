//! The socket service: one WebSocket per tab, driven by the shared model.
//!
//! [`Chat`] is the only thing components talk to. It holds the
//! [`shared::client::Client`] in a signal (components derive what they show
//! from it), owns the socket and the reconnect timer, and turns user actions
//! into frames. All decisions (what to send on connect, dedup, unread counts,
//! backoff) are made by the shared model; this module only does the I/O:
//! the WebSocket, the clock, the browser's online/visibility events,
//! storage and notifications, one concern per file:
//!
//! - `socket`: the WebSocket, its reader and writer tasks, the clock tick
//!   (reconnect timer and [`shared::client::Liveness`] pings), `config.json`.
//! - `browser`: online/offline, visibility and hash changes.
//! - `members`: the member panel's paging, search and subscription.
//! - `routing`: the `#/room/NAME` URLs.
//! - `persist`: keeping localStorage and the title in step with the model.
//! - `notify`: notifications and their permission.
//! - `push`: the Web Push subscription and the service worker's messages.
//! - `token`: token mode's fresh tokens from `token_url`, for `hello` and
//!   `reauth`.
//! - `pacing`: the outbox's timer (messages wait for the relay's rate).
//! - `actions`: replies, edits, deletes, reactions and jumps to a message.
//! - `search`: search and its answers, and the page around a hit.
//! - `file_urls`: fresh attachment URLs before (or once) they expire.
//! - `upload`: a file's upload over HTTP; `upload_store`: waiting uploads
//!   and their message kept in IndexedDB across a reload, forgotten once
//!   the message is acked (`kept_uploads`).

mod actions;
mod browser;
pub mod file_urls;
mod kept_uploads;
mod members;
mod notify;
mod pacing;
mod persist;
mod push;
mod routing;
mod search;
mod socket;
mod token;
mod upload;
pub mod upload_store;

pub use upload::{UploadEvent, UploadFailure, UploadHandle};

use leptos::prelude::*;
use leptos::task::spawn_local;
use shared::client::{Client, ConnState, Liveness, Outbox, Reconnect, Renewal, Window};
use shared::{ClientId, Nick, RoomName, Text};

use crate::storage;
use browser::is_visible;
pub use notify::notification_permission;
pub use routing::{message_from_hash, message_href, navigate, room_href, route_from_hash};
pub use search::Search;
use socket::Link;

/// The browser's clock, Unix milliseconds.
pub fn now_ms() -> u64 {
    js_sys::Date::now() as u64
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
    /// Notifications are on (permission granted and wanted).
    pub notify: RwSignal<bool>,
    /// The browser's notification permission ("granted", "denied",
    /// "default", "unsupported"), as last seen.
    pub permission: RwSignal<&'static str>,
    /// This device's "hide message text in notifications" (sent with
    /// `push_subscribe`).
    pub hide_text: RwSignal<bool>,
    /// The relay's VAPID key from `welcome`: pushes are possible.
    push_key: StoredValue<Option<String>>,
    /// The endpoint this device last sent in `push_subscribe`.
    push_endpoint: StoredValue<Option<String>>,
    /// A message to scroll to and focus (a reply's quote was clicked, a
    /// link to a message opened); cleared once it is shown.
    pub jump: RwSignal<Option<(RoomName, u64)>>,
    /// The search dialog's query and hits (`search`).
    pub search: RwSignal<Search>,
    /// A jump to a search hit: the room shows the page around it.
    pub around: RwSignal<Option<Window>>,
    /// What a polite live region says about something the user did not
    /// do here (a room left on another device).
    pub announcement: RwSignal<String>,
    reconnect: StoredValue<Reconnect>,
    /// The open socket, if any.
    link: StoredValue<Option<Link>, LocalStorage>,
    generation: StoredValue<u64>,
    /// The relay's WebSocket URL, once `config.json` was read.
    url: StoredValue<Option<String>>,
    /// Token mode: where fresh tokens come from (`config.json`).
    token_url: StoredValue<Option<String>>,
    /// When to fetch a fresh token for `reauth` (the shared policy).
    renewal: StoredValue<Renewal>,
    tab: StoredValue<String>,
    /// When to ping and when the socket is dead (the shared policy).
    liveness: StoredValue<Liveness>,
    started: StoredValue<bool>,
    /// When the outbox's timer fires, if one is set (`pacing`).
    outbox_timer: StoredValue<Option<u64>>,
    /// Kept files (`upload_store` record ids) of messages in the outbox,
    /// forgotten once the outbox is done with their message.
    kept_sent: StoredValue<Vec<(ClientId, Vec<String>)>>,
    /// Attachment URLs already asked to be refreshed (`file_urls`).
    refreshed: StoredValue<std::collections::HashSet<String>>,
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
            permission: RwSignal::new(notification_permission()),
            hide_text: RwSignal::new(storage::hide_text()),
            push_key: StoredValue::new(None),
            push_endpoint: StoredValue::new(None),
            jump: RwSignal::new(None),
            search: RwSignal::new(Search::default()),
            around: RwSignal::new(None),
            announcement: RwSignal::new(String::new()),
            reconnect: StoredValue::new(Reconnect::default()),
            link: StoredValue::new_local(None),
            generation: StoredValue::new(0),
            url: StoredValue::new(None),
            token_url: StoredValue::new(None),
            renewal: StoredValue::new(Renewal::default()),
            tab: StoredValue::new(tab),
            liveness: StoredValue::new(Liveness::new(now_ms())),
            started: StoredValue::new(false),
            outbox_timer: StoredValue::new(None),
            kept_sent: StoredValue::new(Vec::new()),
            refreshed: StoredValue::new(Default::default()),
        }
    }

    /// Starts the connection (once a nick is chosen): reads `config.json`
    /// (the relay's URL; in token mode, `token_url`),
    /// then connects and keeps reconnecting; listens to the browser's
    /// online/offline and visibility events; keeps storage in sync.
    pub fn start(self) {
        if self.started.get_value() {
            return;
        }
        self.started.set_value(true);
        self.listen_to_browser();
        self.listen_to_service_worker();
        spawn_local(async move {
            let config = socket::app_config().await;
            self.token_url.set_value(config.token_url.clone());
            self.url.set_value(Some(config.relay_url()));
            self.connect();
            set_interval(move || self.tick(), socket::TICK);
        });
    }

    /// Whether the relay's `config.json` names a `token_url`: then the
    /// login token says who the user is, and there is no nick to ask for.
    pub async fn token_mode() -> bool {
        socket::app_config()
            .await
            .token_url
            .is_some_and(|url| !url.trim().is_empty())
    }

    // ---- what components call ----

    /// This tab's id (the key of what it keeps across a reload).
    pub fn tab_id(self) -> String {
        self.tab.get_value()
    }

    /// Shows a room, joining it first if needed (deep links, the join
    /// form), and tells the relay it is on screen (`focus`).
    pub fn open_room(self, room: RoomName) {
        self.route.set(Some(room.clone()));
        let visible = is_visible();
        let frames = self
            .client
            .try_update(|c| [c.join(room.clone()), c.set_view(Some(room), visible)])
            .unwrap_or_default();
        self.write(frames.into_iter().flatten());
    }

    pub fn leave(self, room: &RoomName) {
        self.act(|c| c.leave(room));
        self.move_off(room);
    }

    /// The user left `room` on another device and the model dropped it:
    /// the view moves off it if it was shown, and screen readers hear
    /// why (the `announcement` region).
    pub(super) fn dropped(self, room: &RoomName) {
        let mut said = format!("You left #{room} on another device.");
        if let Some(next) = self.move_off(room) {
            said.push_str(&format!(" Now showing #{next}."));
        }
        self.announcement.set(said);
    }

    /// When `room` is on screen, shows `general` or the first room
    /// instead (whose composer takes the focus), or, with no room left,
    /// moves the focus to the join form. Returns the room moved to.
    fn move_off(self, room: &RoomName) -> Option<RoomName> {
        if self.route.get_untracked().as_ref() != Some(room) {
            return None;
        }
        let next = self.client.with_untracked(|c| c.fallback_room());
        if next.is_none() {
            self.route.set(None);
            focus_join_form();
        }
        navigate(next.as_ref());
        next
    }

    pub fn send(self, room: &RoomName, text: Text) {
        let now = now_ms();
        self.act(|c| c.send(room, text, now).1);
    }

    pub fn retry(self, id: &ClientId) {
        let now = now_ms();
        self.act(|c| c.retry(id, now));
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
}

/// The focus goes to the join form's box (nothing else is left to do).
fn focus_join_form() {
    use wasm_bindgen::JsCast;
    let input = web_sys::window()
        .and_then(|w| w.document())
        .and_then(|d| d.get_element_by_id("join-input"))
        .and_then(|el| el.dyn_into::<web_sys::HtmlElement>().ok());
    if let Some(input) = input {
        let _ = input.focus();
    }
}

impl Default for Chat {
    fn default() -> Self {
        Chat::new()
    }
}
