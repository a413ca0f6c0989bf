//! What the app keeps in the browser between page loads.
//!
//! localStorage (shared by the tabs of one origin) holds the chosen nick and
//! the joined rooms. sessionStorage (one tab, kept across reloads) holds the
//! resume token and the tab's id, so two tabs are two users and a reload is
//! the same user. Each tab's outbox lives in localStorage under its tab id,
//! so a reload (or a crash) loses no typed message and tabs do not overwrite
//! each other's. The latest messages of each room are cached in
//! localStorage too (bounded), so the installed app opens with them offline.

use web_sys::Storage;

const NICK: &str = "palaver.nick";
const ROOMS: &str = "palaver.rooms";
const NOTIFY: &str = "palaver.notify";
const HIDE_TEXT: &str = "palaver.hide_text";
const PUSH_KEY: &str = "palaver.push_key";
const RESUME: &str = "palaver.resume";
const TAB: &str = "palaver.tab";
const OUTBOX_PREFIX: &str = "palaver.outbox.";
const CACHE: &str = "palaver.cache";
/// The offline message cache's budget in localStorage (UTF-16 code units
/// count double there; browsers allow about 5 MiB per origin in all).
pub const CACHE_BUDGET_BYTES: usize = 512 * 1024;

fn local() -> Option<Storage> {
    web_sys::window()?.local_storage().ok().flatten()
}

fn session() -> Option<Storage> {
    web_sys::window()?.session_storage().ok().flatten()
}

fn get(storage: Option<Storage>, key: &str) -> Option<String> {
    storage?.get_item(key).ok().flatten()
}

fn set(storage: Option<Storage>, key: &str, value: Option<&str>) {
    if let Some(storage) = storage {
        // Storage can be full or disabled (private mode); the app works on
        // without it.
        let _ = match value {
            Some(value) => storage.set_item(key, value),
            None => storage.remove_item(key),
        };
    }
}

pub fn nick() -> Option<String> {
    get(local(), NICK)
}

pub fn set_nick(nick: &str) {
    set(local(), NICK, Some(nick));
}

/// The joined rooms, in sidebar order.
pub fn rooms() -> Vec<String> {
    get(local(), ROOMS)
        .and_then(|json| serde_json::from_str(&json).ok())
        .unwrap_or_default()
}

pub fn set_rooms(rooms: &[String]) {
    let json = serde_json::to_string(rooms).unwrap_or_default();
    set(local(), ROOMS, Some(&json));
}

pub fn notify() -> bool {
    get(local(), NOTIFY).as_deref() == Some("on")
}

pub fn set_notify(on: bool) {
    set(local(), NOTIFY, Some(if on { "on" } else { "off" }));
}

/// "Hide message text in notifications" on this device.
pub fn hide_text() -> bool {
    get(local(), HIDE_TEXT).as_deref() == Some("on")
}

pub fn set_hide_text(on: bool) {
    set(local(), HIDE_TEXT, Some(if on { "on" } else { "off" }));
}

/// The relay key this device's push subscription was made with.
pub fn push_key() -> Option<String> {
    get(local(), PUSH_KEY)
}

pub fn set_push_key(key: &str) {
    set(local(), PUSH_KEY, Some(key));
}

pub fn resume() -> Option<String> {
    get(session(), RESUME)
}

pub fn set_resume(token: Option<&str>) {
    set(session(), RESUME, token);
}

/// This tab's id: random on a tab's first load, the same after reloads.
pub fn tab_id() -> String {
    if let Some(id) = get(session(), TAB) {
        return id;
    }
    let id = format!(
        "{:x}{:x}",
        (js_sys::Math::random() * f64::from(u32::MAX)) as u32,
        js_sys::Date::now() as u64 % 0xFFFF_FFFF
    );
    set(session(), TAB, Some(&id));
    id
}

pub fn outbox(tab: &str) -> Option<String> {
    get(local(), &format!("{OUTBOX_PREFIX}{tab}"))
}

/// Saves the outbox JSON; an empty outbox removes the key.
pub fn set_outbox(tab: &str, json: Option<&str>) {
    set(local(), &format!("{OUTBOX_PREFIX}{tab}"), json);
}

/// The offline cache of recent messages (JSON from the client model).
pub fn cache() -> Option<String> {
    get(local(), CACHE)
}

pub fn set_cache(json: &str) {
    set(local(), CACHE, Some(json));
}
