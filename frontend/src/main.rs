//! The Palaver web app. Everything it shows is derived from the shared
//! client model (`shared::client`), driven by one socket service ([`chat`]).
//!
//! - [`chat`]: the socket service: the WebSocket, reconnects, storage,
//!   notifications; the `Chat` context every component uses.
//! - [`components`]: the views, one file per part of the screen.
//! - [`storage`]: what is kept in localStorage and sessionStorage.
//! - `components::rich_text`: message text (the Markdown subset of
//!   `shared::markdown`) as DOM nodes, never HTML.
//! - [`keys`]: the keyboard shortcuts and what each does.

mod chat;
mod components;
mod keys;
mod storage;

fn main() {
    // The static shell index.html shows until the app runs.
    if let Some(shell) = web_sys::window()
        .and_then(|w| w.document())
        .and_then(|d| d.get_element_by_id("app-shell"))
    {
        shell.remove();
    }
    leptos::mount::mount_to_body(components::App);
}
