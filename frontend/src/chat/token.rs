//! Token mode: fresh connection tokens from `token_url` in `config.json`.
//!
//! The login service in front of the relay hands the signed-in user a
//! token at `token_url` (with the browser's cookies: `credentials:
//! "include"`, so it may sit on another origin that allows this one with
//! CORS). The app fetches one before each connection, for `hello.token`,
//! and again when the relay warns that it expires (`token_expiring`), to
//! send it in `reauth`; [`shared::client::Renewal`] decides when.

use super::socket::fetch_text;
use super::{now_ms, Chat};
use leptos::prelude::*;
use leptos::task::spawn_local;
use shared::client::token_from_body;
use shared::ClientMsg;

/// Fetches a token from `url`; a failure is logged and gives `None`.
pub(super) async fn fetch(url: &str) -> Option<String> {
    let token = try_fetch(url).await;
    if token.is_none() {
        web_sys::console::warn_1(&format!("no token from {url}").into());
    }
    token
}

async fn try_fetch(url: &str) -> Option<String> {
    let init = web_sys::RequestInit::new();
    init.set_credentials(web_sys::RequestCredentials::Include);
    init.set_cache(web_sys::RequestCache::NoStore);
    let request = web_sys::window()?.fetch_with_str_and_init(url, &init);
    token_from_body(&fetch_text(&request).await?)
}

impl Chat {
    /// The relay warned that the connection's token expires at `exp`.
    pub(super) fn token_expiring(self, exp: u64) {
        self.renewal.update_value(|r| r.expiring(exp, now_ms()));
        self.renew();
    }

    /// Starts a fetch for `reauth` if the renewal policy says so now.
    pub(super) fn renew(self) {
        let Some(url) = self.token_url.get_value() else {
            return;
        };
        if !self
            .renewal
            .try_update_value(|r| r.poll(now_ms()))
            .unwrap_or(false)
        {
            return;
        }
        spawn_local(async move {
            let token = fetch(&url).await;
            self.renewal
                .update_value(|r| r.fetched(token.is_some(), now_ms()));
            if let Some(token) = token {
                self.write([ClientMsg::Reauth { token }]);
            }
        });
    }
}
