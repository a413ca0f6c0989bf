//! Notifications: permission asked for only from a click; while the relay
//! pushes to this device (`push`), the service worker shows them, closed
//! app or not; otherwise the page shows others' live messages while the
//! tab is hidden.

use leptos::prelude::*;
use leptos::task::spawn_local;
use shared::protocol::NotifyLevel;
use shared::RoomName;
use wasm_bindgen_futures::JsFuture;

use super::browser::is_visible;
use super::Chat;
use crate::storage;

impl Chat {
    /// Turns notifications on (asking for permission, which only works
    /// from a click, then subscribing to pushes) or off (unsubscribing).
    pub fn toggle_notifications(self) {
        if self.notify.get_untracked() {
            self.notify.set(false);
            storage::set_notify(false);
            self.drop_push();
            return;
        }
        spawn_local(async move {
            let granted = request_notification_permission().await;
            self.permission.set(notification_permission());
            self.notify.set(granted);
            storage::set_notify(granted);
            self.sync_push();
        });
    }

    /// Sets which of `room`'s messages notify the user, on every device.
    pub fn set_level(self, room: &RoomName, level: NotifyLevel) {
        self.act(|c| c.set_level(room, level));
    }

    pub(super) fn maybe_notify(self, msg: &shared::ChatMessage) {
        // With pushes the service worker shows it (the relay pushes to a
        // hidden app), so the page would show it twice.
        if !self.notify.get_untracked() || is_visible() || self.pushing() {
            return;
        }
        // The room's level (set on any device) decides; never one's own.
        let wanted = self.client.with_untracked(|c| {
            let me = c.me()?;
            let level = c.room(&msg.room)?.level_or_default();
            Some(level.notifies(msg, &me.id))
        });
        if wanted != Some(true) {
            return;
        }
        let options = web_sys::NotificationOptions::new();
        options.set_body(msg.text.as_str());
        // The service worker's tag for the room, so either replaces the other.
        options.set_tag(&format!("room:{}", msg.room));
        let title = format!("{} in #{}", msg.from.nick, msg.room);
        let _ = web_sys::Notification::new_with_options(&title, &options);
    }
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
