//! The browser's events the service listens to: network online/offline,
//! the tab shown or hidden, and the URL's hash.

use leptos::prelude::*;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

use super::routing::message_from_hash;
use super::{now_ms, Chat};

impl Chat {
    pub(super) fn listen_to_browser(self) {
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
                if let Some((room, seq)) = message_from_hash() {
                    self.open_room(room.clone());
                    if let Some(seq) = seq {
                        self.jump_to(&room, seq);
                    }
                }
            }),
        );
        if let Some(document) = window.document() {
            on(
                &document,
                "visibilitychange",
                Box::new(move || {
                    // Hidden: every room counts unread messages, and the
                    // relay sends a big room's typing to no one here.
                    let visible = is_visible();
                    let route = self.route.get_untracked();
                    let focus = self.client.try_update(|c| c.set_view(route, visible));
                    self.write(focus.flatten());
                    if visible {
                        self.reconnect.update_value(|r| r.wake(now_ms()));
                        self.tick();
                    }
                }),
            );
        }
        if !window.navigator().on_line() {
            self.reconnect.update_value(|r| r.network_offline());
        }
    }
}

pub(super) fn is_visible() -> bool {
    web_sys::window()
        .and_then(|w| w.document())
        .map(|d| !d.hidden())
        .unwrap_or(true)
}
