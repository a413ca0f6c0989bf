//! Web Push from the app's side: the browser's push subscription (made
//! with `welcome`'s `push_key`) sent to the relay as `push_subscribe`, so
//! the service worker (pwa/sw.js) shows notifications while the app is
//! closed; and the service worker's messages to this window (a clicked
//! notification's room, a subscription the browser replaced).
//!
//! The subscription is sent again on every `welcome`: a relay that lost it,
//! a changed `hide_text`, or a subscription the browser replaced while the
//! app was closed all reach the relay the next time the app connects.

use leptos::prelude::*;
use leptos::task::spawn_local;
use serde::Deserialize;
use shared::{protocol::PushKeys, ClientMsg};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use web_sys::{PushManager, PushSubscription, PushSubscriptionOptionsInit};

use super::Chat;
use crate::storage;

/// `PushSubscription.toJSON()`, the part the relay needs.
#[derive(Deserialize)]
struct SubscriptionJson {
    endpoint: String,
    keys: PushKeys,
}

impl Chat {
    /// Sends this device's push subscription to the relay, subscribing
    /// first if there is none (or it was made with another relay key).
    /// Does nothing unless notifications are on, allowed, and the relay
    /// pushes.
    pub(super) fn sync_push(self) {
        let Some(key) = self.push_key.get_value() else {
            return;
        };
        if !self.notify.get_untracked() || super::notification_permission() != "granted" {
            return;
        }
        let hide_text = self.hide_text.get_untracked();
        spawn_local(async move {
            match subscription(&key).await {
                Ok(sub) => {
                    let endpoint = sub.endpoint.clone();
                    self.write([ClientMsg::PushSubscribe {
                        endpoint: sub.endpoint,
                        keys: sub.keys,
                        hide_text,
                    }]);
                    self.push_endpoint.set_value(Some(endpoint));
                }
                Err(err) => {
                    web_sys::console::warn_1(&format!("no push subscription: {err:?}").into())
                }
            }
        });
    }

    /// Ends this device's push subscription, at the relay and in the
    /// browser.
    pub(super) fn drop_push(self) {
        self.push_endpoint.set_value(None);
        spawn_local(async move {
            let Some(manager) = push_manager().await else {
                return;
            };
            let Some(sub) = current(&manager).await else {
                return;
            };
            self.write([ClientMsg::PushUnsubscribe {
                endpoint: sub.endpoint(),
            }]);
            if let Ok(done) = sub.unsubscribe() {
                let _ = JsFuture::from(done).await;
            }
        });
    }

    /// "Hide message text in notifications" on this device.
    pub fn set_hide_text(self, hide: bool) {
        self.hide_text.set(hide);
        storage::set_hide_text(hide);
        self.sync_push();
    }

    /// Whether pushes reach this device (then the service worker shows
    /// notifications, and the page shows none of its own).
    pub(super) fn pushing(self) -> bool {
        self.push_endpoint.with_value(Option::is_some)
    }

    /// Listens to the service worker: `palaver-open` moves this window to
    /// a clicked notification's message; `palaver-resubscribed` means the
    /// browser replaced the subscription.
    pub(super) fn listen_to_service_worker(self) {
        let Some(container) = web_sys::window().map(|w| w.navigator().service_worker()) else {
            return;
        };
        let closure = Closure::<dyn FnMut(web_sys::MessageEvent)>::new(
            move |event: web_sys::MessageEvent| {
                let data = event.data();
                let field = |name: &str| {
                    js_sys::Reflect::get(&data, &name.into())
                        .ok()
                        .and_then(|v| v.as_string())
                };
                match field("type").as_deref() {
                    Some("palaver-open") => {
                        if let Some(url) = field("url") {
                            open_url(&url);
                        }
                    }
                    Some("palaver-resubscribed") => {
                        if let Some(old) = field("old") {
                            self.write([ClientMsg::PushUnsubscribe { endpoint: old }]);
                        }
                        self.sync_push();
                    }
                    _ => {}
                }
            },
        );
        let _ =
            container.add_event_listener_with_callback("message", closure.as_ref().unchecked_ref());
        // Lives as long as the page.
        closure.forget();
    }
}

/// Shows the room and message of `url` (the service worker's
/// `#/room/NAME/SEQ`): only its hash, so the page does not reload; the
/// hashchange listener does the rest.
fn open_url(url: &str) {
    let Some((_, hash)) = url.split_once('#') else {
        return;
    };
    if let Some(window) = web_sys::window() {
        let _ = window.location().set_hash(hash);
    }
}

/// The service worker's push manager, once the worker is ready.
async fn push_manager() -> Option<PushManager> {
    let container = web_sys::window()?.navigator().service_worker();
    let registration: web_sys::ServiceWorkerRegistration = JsFuture::from(container.ready().ok()?)
        .await
        .ok()?
        .unchecked_into();
    registration.push_manager().ok()
}

async fn current(manager: &PushManager) -> Option<PushSubscription> {
    let sub = JsFuture::from(manager.get_subscription().ok()?)
        .await
        .ok()?;
    (!sub.is_null() && !sub.is_undefined()).then(|| sub.unchecked_into())
}

/// The browser's subscription for `key`: the current one, or a new one.
async fn subscription(key: &str) -> Result<SubscriptionJson, JsValue> {
    let manager = push_manager()
        .await
        .ok_or_else(|| JsValue::from_str("no service worker"))?;
    let mut sub = current(&manager).await;
    if let Some(old) = &sub {
        // Made with another relay key (a new relay, a rotated key): the
        // browser refuses a second subscription with another key.
        if storage::push_key().as_deref() != Some(key) {
            let _ = JsFuture::from(old.unsubscribe()?).await;
            sub = None;
        }
    }
    let sub = match sub {
        Some(sub) => sub,
        None => {
            let options = PushSubscriptionOptionsInit::new();
            options.set_user_visible_only(true);
            options.set_application_server_key_opt_str(Some(key));
            let made = JsFuture::from(manager.subscribe_with_options(&options)?).await?;
            storage::set_push_key(key);
            made.unchecked_into()
        }
    };
    let json = js_sys::JSON::stringify(&sub.to_json()?.into())?;
    serde_json::from_str(&String::from(json)).map_err(|e| JsValue::from_str(&e.to_string()))
}
