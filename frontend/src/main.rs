//! The Palaver web app. Everything it shows is derived from the shared
//! client model (`shared::client`), driven by one socket service ([`chat`]).
//!
//! - [`chat`]: the socket service: the WebSocket, reconnects, storage,
//!   notifications; the `Chat` context every component uses.
//! - [`components`]: the views, one file per part of the screen.
//! - [`storage`]: what is kept in localStorage and sessionStorage.
//! - [`text`]: message text to text-and-link pieces (never HTML).

mod chat;
mod components;
mod storage;
mod text;

fn main() {
    leptos::mount::mount_to_body(components::App);
}
