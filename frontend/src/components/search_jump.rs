//! A room's messages after a jump to a search hit: the page of history
//! around the hit (`Chat::around`), the hit marked and focused, with
//! "Jump to latest" back to the live list. [`RoomMessages`] picks which
//! list a room shows. The page is laid out by the same shared timeline
//! as the live list (a model holding only the page), so rows look alike.

use leptos::prelude::*;
use shared::client::{page_timeline, Row, Target, TimeZone};
use shared::{protocol::User, ChatMessage, RoomName};
use wasm_bindgen::JsCast;

use super::message::{message, row_id};
use super::messages::MessageList;
use super::ui::focus_soon;
use crate::chat::Chat;

/// The room's live list, or the page around a search hit in it.
#[component]
pub fn RoomMessages(room: RoomName) -> impl IntoView {
    let chat = expect_context::<Chat>();
    let here = room.clone();
    let jumped = Memo::new(move |_| {
        chat.around
            .with(|a| a.as_ref().is_some_and(|a| a.room == here))
    });
    // Leaving the room leaves the jump (a jump to another room replaced
    // it already).
    let gone = room.clone();
    on_cleanup(move || {
        if chat
            .around
            .with_untracked(|a| a.as_ref().is_some_and(|a| a.room == gone))
        {
            chat.around.set(None);
        }
    });
    move || match jumped.get() {
        true => view! { <AroundList room=room.clone() /> }.into_any(),
        false => view! { <MessageList room=room.clone() /> }.into_any(),
    }
}

#[component]
fn AroundList(room: RoomName) -> impl IntoView {
    let chat = expect_context::<Chat>();
    let page_room = room.clone();
    let target = Memo::new(move |_| chat.around.with(|a| a.as_ref().map(|a| a.seq)));
    let rows = Memo::new(move |_| {
        // Who we are is known before any page is asked for (`welcome`).
        let me = chat.client.with_untracked(|c| c.me().cloned());
        chat.around.with(|a| {
            a.as_ref()
                .and_then(|a| a.page.as_ref())
                .map(|page| page_rows(me.as_ref(), &page_room, page))
        })
    });
    let flash = RwSignal::new(None::<u64>);
    // Once the page is drawn: mark the hit, scroll it to the middle and
    // focus it.
    Effect::new(move |_| {
        let loaded = rows.with(|r| r.as_ref().is_some_and(|r| !r.is_empty()));
        let Some(seq) = target.get().filter(|_| loaded) else {
            return;
        };
        flash.set(Some(seq));
        request_animation_frame(move || {
            request_animation_frame(move || show_row(&row_id(&Target::Seq(seq))))
        });
    });
    let me = Memo::new(move |_| chat.client.with(|c| c.display_nick()));
    let back = move |_| {
        chat.jump_to_latest();
        focus_soon("[data-testid=composer-input]".into());
    };
    let label = format!("Messages around a search result in #{room}");
    view! {
        <div class="messages-wrap">
            <div
                class="scroller"
                data-testid="message-scroller"
                tabindex="0"
                role="region"
                aria-label=label
            >
                <p class="around-note" data-testid="around-note">
                    {move || match rows.with(Option::is_some) {
                        true => "Older messages, around a search result.",
                        false => "Loading the messages around the search result…",
                    }}
                </p>
                <ol class="message-list" data-testid="message-list">
                    <For
                        each=move || rows.get().unwrap_or_default()
                        key=|row| row.key.clone()
                        children={
                            let room = room.clone();
                            move |row| message(chat, room.clone(), row, me.get_untracked(), flash)
                        }
                    />
                </ol>
            </div>
            <button class="new-messages" data-testid="jump-latest" on:click=back>
                "Jump to latest ↓"
            </button>
        </div>
    }
}

/// The page's rows, as the shared timeline lays them out, for `me`.
fn page_rows(me: Option<&User>, room: &RoomName, page: &[ChatMessage]) -> Vec<Row> {
    let tz = TimeZone {
        now_ms: crate::chat::now_ms(),
        offset_ms: -(js_sys::Date::new_0().get_timezone_offset() * 60_000.0) as i64,
    };
    page_timeline(me, room, page, tz)
}

/// Scrolls a row into the middle of the list and focuses it.
fn show_row(id: &str) {
    let Some(el) = web_sys::window()
        .and_then(|w| w.document())
        .and_then(|d| d.get_element_by_id(id))
        .and_then(|el| el.dyn_into::<web_sys::HtmlElement>().ok())
    else {
        return;
    };
    let options = web_sys::ScrollIntoViewOptions::new();
    options.set_block(web_sys::ScrollLogicalPosition::Center);
    el.scroll_into_view_with_scroll_into_view_options(&options);
    let _ = el.focus();
}
