//! The keyboard shortcuts (the keys are in `crate::keys`): one listener on
//! the window while the app is shown, and the `?` dialog that lists them.

use leptos::prelude::*;
use shared::client::Step;
use wasm_bindgen::JsCast;

use super::modal::Modal;
use super::ui::Ui;
use crate::chat::{navigate, Chat};
use crate::keys::{action, Action, Press, HELP};

/// Of the message list's height, how much PageUp/PageDown scroll, so a
/// line of the last page stays in view.
const PAGE: f64 = 0.9;

/// Listens for the shortcuts while mounted.
#[component]
pub fn Shortcuts() -> impl IntoView {
    let chat = expect_context::<Chat>();
    let ui = expect_context::<Ui>();
    let handle = window_event_listener(leptos::ev::keydown, move |ev| on_key(chat, ui, &ev));
    on_cleanup(move || handle.remove());
}

fn on_key(chat: Chat, ui: Ui, ev: &web_sys::KeyboardEvent) {
    if ev.default_prevented() || ev.is_composing() {
        return;
    }
    let document = web_sys::window().and_then(|w| w.document());
    // An open dialog has the keyboard to itself (Escape is its own).
    if document
        .as_ref()
        .and_then(|d| d.query_selector("dialog[open]").ok().flatten())
        .is_some()
    {
        return;
    }
    let target = ev
        .target()
        .and_then(|t| t.dyn_into::<web_sys::Element>().ok());
    let typing = target.as_ref().is_some_and(|el| {
        matches!(el.tag_name().as_str(), "INPUT" | "TEXTAREA")
            || el.has_attribute("contenteditable")
    });
    let key = ev.key();
    let press = Press {
        key: &key,
        alt: ev.alt_key(),
        ctrl: ev.ctrl_key(),
        meta: ev.meta_key(),
        shift: ev.shift_key(),
        typing,
    };
    let Some(action) = action(&press) else {
        return;
    };
    let route = chat.route.get_untracked();
    let go = |room: Option<shared::RoomName>| {
        if let Some(room) = room {
            ui.close_drawers();
            navigate(Some(&room));
        }
    };
    match action {
        Action::PreviousRoom => go(chat
            .client
            .with_untracked(|c| c.room_after(route.as_ref(), Step::Previous))),
        Action::NextRoom => go(chat
            .client
            .with_untracked(|c| c.room_after(route.as_ref(), Step::Next))),
        Action::PreviousUnread => go(chat
            .client
            .with_untracked(|c| c.unread_room_after(route.as_ref(), Step::Previous))),
        Action::NextUnread => go(chat
            .client
            .with_untracked(|c| c.unread_room_after(route.as_ref(), Step::Next))),
        Action::Switcher => {
            ui.close_drawers();
            ui.switcher_open.set(true);
        }
        Action::Search => {
            ui.close_drawers();
            ui.search_open.set(true);
        }
        Action::Help => ui.help_open.set(true),
        Action::Close => {
            if !ui.close_drawers() {
                return;
            }
        }
        Action::PageUp | Action::PageDown => {
            let Some(scroller) = document
                .and_then(|d| d.query_selector(".scroller").ok().flatten())
                .and_then(|el| el.dyn_into::<web_sys::HtmlElement>().ok())
            else {
                return;
            };
            // The list itself scrolls natively when it has focus.
            if target.is_some_and(|t| scroller.contains(Some(&t))) {
                return;
            }
            let page = f64::from(scroller.client_height()) * PAGE;
            let by = if action == Action::PageUp {
                -page
            } else {
                page
            };
            scroller.scroll_by_with_x_and_y(0.0, by);
        }
    }
    ev.prevent_default();
}

/// The list of shortcuts, opened with `?` or from the sidebar.
#[component]
pub fn ShortcutHelp() -> impl IntoView {
    let ui = expect_context::<Ui>();
    let close = Callback::new(move |()| ui.help_open.set(false));
    view! {
        <Modal labelled_by="shortcuts-title" testid="shortcuts" on_close=close>
            <h2 id="shortcuts-title">"Keyboard shortcuts"</h2>
            <dl class="shortcut-list">
                {HELP
                    .iter()
                    .map(|(keys, what)| {
                        view! {
                            <div>
                                <dt>
                                    <kbd>{*keys}</kbd>
                                </dt>
                                <dd>{*what}</dd>
                            </div>
                        }
                    })
                    .collect_view()}
            </dl>
            <div class="actions">
                <button type="button" data-testid="shortcuts-close" on:click=move |_| close.run(())>
                    "Close"
                </button>
            </div>
        </Modal>
    }
}
