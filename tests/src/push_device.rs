//! One browser on the web app with Web Push wired for tests (used by
//! `tests/e2e/push_browser.rs`): the browser's push service replaced in the
//! page by the local one (`push_service`), notifications allowed, and the
//! service worker driven through DevTools (`devtools`): pushes delivered
//! with `ServiceWorker.deliverPushMessage`, notifications read back with
//! `registration.getNotifications()`, a click dispatched in the worker.

use serde_json::{json, Value};
use shared::ClientMsg;

use crate::{devtools::DevTools, push_service::TestSubscription, Browser, WAIT};

/// Replaces the browser's push service in the page: `subscribe` answers
/// with `sub` (remembered in localStorage, as the browser would keep it).
pub fn push_service_shim(sub: &TestSubscription) -> String {
    let ClientMsg::PushSubscribe { endpoint, keys, .. } = sub.subscribe_frame() else {
        unreachable!()
    };
    let json = json!({ "endpoint": endpoint, "expirationTime": null, "keys": keys });
    format!(
        r#"(() => {{
  const json = {json};
  const sub = {{
    endpoint: json.endpoint,
    options: {{ userVisibleOnly: true }},
    toJSON() {{ return json; }},
    unsubscribe() {{ localStorage.setItem("test.push", "off"); return Promise.resolve(true); }},
  }};
  PushManager.prototype.subscribe = function () {{
    localStorage.setItem("test.push", "on");
    return Promise.resolve(sub);
  }};
  PushManager.prototype.getSubscription = function () {{
    return Promise.resolve(localStorage.getItem("test.push") === "on" ? sub : null);
  }};
}})();"#
    )
}

/// One browser on the app: its DevTools, the app tab's target and session.
pub struct Device {
    pub browser: Browser,
    pub devtools: DevTools,
    /// The app's tab and the DevTools session on it.
    pub tab: String,
    pub session: String,
    /// The app's origin.
    pub origin: String,
    /// The service worker's registration id.
    registration: Value,
}

impl Device {
    /// A browser whose push subscription is `sub`, notifications allowed,
    /// on the app at `url` (the nick prompt answered with `nick`, if any).
    pub async fn open(url: &str, sub: &TestSubscription, nick: Option<&str>) -> Device {
        let browser = Browser::start().await.unwrap();
        let mut devtools = browser.devtools().await.unwrap();
        let (tab, context) = devtools.target("page", "").await.unwrap();
        let session = devtools.attach(&tab).await.unwrap();
        let origin = url.trim_end_matches('/').split('#').next().unwrap();
        let origin = origin.trim_end_matches('/').to_string();
        devtools
            .call(
                None,
                "Browser.grantPermissions",
                json!({ "origin": origin, "permissions": ["notifications"], "browserContextId": context }),
            )
            .await
            .unwrap();
        devtools
            .call(Some(&session), "Page.enable", json!({}))
            .await
            .unwrap();
        devtools
            .call(
                Some(&session),
                "Page.addScriptToEvaluateOnNewDocument",
                json!({ "source": push_service_shim(sub) }),
            )
            .await
            .unwrap();
        browser.goto(url).await.unwrap();
        if let Some(nick) = nick {
            browser
                .type_into("[data-testid=nick-input]", nick)
                .await
                .unwrap();
            browser.click("[data-testid=nick-submit]").await.unwrap();
        }
        browser.find("[data-testid=composer-input]").await.unwrap();
        let mut device = Device {
            browser,
            devtools,
            tab,
            session,
            origin,
            registration: Value::Null,
        };
        device.registration = device.registration().await;
        device
    }

    /// Turns notifications on with the app's switch (a click, as a person
    /// would), which subscribes and sends `push_subscribe`.
    pub async fn notifications_on(&mut self) {
        self.browser
            .click("[data-testid=notify-toggle]")
            .await
            .unwrap();
        self.wait_until("localStorage.getItem('test.push') === 'on'")
            .await;
        let pressed = self
            .browser
            .find("[data-testid=notify-toggle]")
            .await
            .unwrap()
            .attr("aria-pressed")
            .await
            .unwrap();
        assert_eq!(pressed.as_deref(), Some("true"));
    }

    /// Another tab in front: the app is hidden (and tells the relay).
    pub async fn hide(&mut self) -> String {
        let other = self
            .devtools
            .call(None, "Target.createTarget", json!({ "url": "about:blank" }))
            .await
            .unwrap()["targetId"]
            .as_str()
            .unwrap()
            .to_string();
        self.devtools
            .call(None, "Target.activateTarget", json!({ "targetId": other }))
            .await
            .unwrap();
        self.wait_until("document.visibilityState === 'hidden'")
            .await;
        other
    }

    /// The app's tab in front again.
    pub async fn show(&mut self) {
        let tab = self.tab.clone();
        self.devtools
            .call(None, "Target.activateTarget", json!({ "targetId": tab }))
            .await
            .unwrap();
        self.wait_until("document.visibilityState === 'visible'")
            .await;
    }

    pub async fn eval(&mut self, expression: &str) -> Value {
        let session = self.session.clone();
        self.devtools.eval(&session, expression).await.unwrap()
    }

    /// Polls `expression` in the app's tab until it is true.
    pub async fn wait_until(&mut self, expression: &str) {
        let deadline = tokio::time::Instant::now() + WAIT;
        while self.eval(expression).await != json!(true) {
            assert!(
                tokio::time::Instant::now() < deadline,
                "{expression} still false after {WAIT:?}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }

    /// The service worker's registration id, which only a DevTools event
    /// tells.
    async fn registration(&mut self) -> Value {
        let session = self.session.clone();
        self.devtools
            .call(Some(&session), "ServiceWorker.enable", json!({}))
            .await
            .unwrap();
        let active = |e: &Value| {
            e["params"]["registrations"]
                .as_array()
                .and_then(|r| r.iter().find(|r| r["isDeleted"] == false))
                .map(|r| r["registrationId"].clone())
        };
        let event = self
            .devtools
            .event(|e| {
                e["method"] == "ServiceWorker.workerRegistrationUpdated" && active(e).is_some()
            })
            .await
            .unwrap();
        active(&event).unwrap()
    }

    /// Hands `payload` to the service worker as a push, once it is active
    /// (a push handed to a worker still installing can be lost, which made
    /// this flaky under load).
    pub async fn deliver(&mut self, payload: &Value) {
        self.wait_until(
            "navigator.serviceWorker.ready.then((r) => !!r.active && r.active.state === 'activated')",
        )
        .await;
        let session = self.session.clone();
        let id = self.registration.clone();
        let origin = self.origin.clone();
        self.devtools
            .call(
                Some(&session),
                "ServiceWorker.deliverPushMessage",
                json!({ "origin": origin, "registrationId": id, "data": payload.to_string() }),
            )
            .await
            .unwrap();
    }

    /// The notifications the service worker shows now.
    pub async fn notifications(&mut self) -> Vec<Value> {
        let shown = self
            .eval(
                "navigator.serviceWorker.ready.then((r) => r.getNotifications()).then((all) =>
                   all.map((n) => ({ title: n.title, body: n.body, tag: n.tag, icon: n.icon, data: n.data })))",
            )
            .await;
        shown.as_array().cloned().unwrap_or_default()
    }

    /// Waits until the service worker shows a notification of `tag`.
    pub async fn notification(&mut self, tag: &str) -> Value {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            if let Some(n) = self
                .notifications()
                .await
                .into_iter()
                .find(|n| n["tag"] == tag)
            {
                return n;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "no notification {tag} within {WAIT:?}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }

    /// Clicks the notification of `tag`, as far as headless Chromium
    /// allows: the worker's `notificationclick` handler runs for it.
    pub async fn click_notification(&mut self, tag: &str) {
        let origin = self.origin.clone();
        let (worker, _) = self
            .devtools
            .target("service_worker", &origin)
            .await
            .unwrap();
        let session = self.devtools.attach(&worker).await.unwrap();
        self.devtools
            .eval(
                &session,
                &format!(
                    "self.registration.getNotifications({{ tag: {tag:?} }}).then(([n]) => {{
                       self.dispatchEvent(new NotificationEvent('notificationclick', {{ notification: n }}));
                       return true;
                     }})"
                ),
            )
            .await
            .unwrap();
    }
}
