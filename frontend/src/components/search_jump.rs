//! A room's messages after a jump to a search hit: the room's detached
//! window around the hit (`Chat::around`, a `shared::client::Window`),
//! the hit marked and focused, older pages on scrolling to the top and
//! newer ones on scrolling to the bottom (or the "Load older/newer
//! messages" buttons), until the window meets the live tail and the room
//! is live again; "Jump to latest" goes back to the live list at once.
//! [`RoomMessages`] picks which list a room shows. The page is laid out
//! by the same shared timeline as the live list (a model holding only
//! the page), so rows look alike.

use leptos::prelude::*;
use shared::client::{page_timeline, Dir, Row, Target, TimeZone, Window};
use shared::{protocol::User, ChatMessage, RoomName};
use wasm_bindgen::JsCast;

use super::message::{message, row_id};
use super::messages::{MessageList, BOTTOM_SLACK, TOP_SLACK};
use super::ui::focus_soon;
use crate::chat::Chat;

/// The room's live list, or the page around a search hit in it.
#[component]
pub fn RoomMessages(room: RoomName) -> impl IntoView {
    let chat = expect_context::<Chat>();
    let here = room.clone();
    let jumped = Memo::new(move |_| {
        chat.around
            .with(|a| a.as_ref().is_some_and(|a| *a.room() == here))
    });
    // Leaving the room leaves the jump (a jump to another room replaced
    // it already).
    let gone = room.clone();
    on_cleanup(move || {
        if chat
            .around
            .with_untracked(|a| a.as_ref().is_some_and(|a| *a.room() == gone))
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
    let target = Memo::new(move |_| chat.around.with(|a| a.as_ref().map(Window::target)));
    let rows = Memo::new(move |_| {
        // Who we are is known before any page is asked for (`welcome`).
        let me = chat.client.with_untracked(|c| c.me().cloned());
        chat.around.with(|a| {
            a.as_ref().filter(|w| w.is_loaded()).map(|w| {
                let page: Vec<ChatMessage> = w.messages().cloned().collect();
                page_rows(me.as_ref(), &page_room, &page)
            })
        })
    });
    // Which way a page is on its way, and whether the room's start shows.
    let edges = Memo::new(move |_| {
        chat.around.with(|a| {
            a.as_ref()
                .map_or((None, true), |w| (w.loading(), w.at_start()))
        })
    });
    let scroller = NodeRef::<leptos::html::Div>::new();
    let flash = RwSignal::new(None::<u64>);
    let shown = StoredValue::new(false);
    let prev_height = StoredValue::new(0i32);
    let prev_first = StoredValue::new(None::<String>);
    // Once the first page is drawn: mark the hit, scroll it to the middle
    // and focus it. After that, keep the reader's place when an older
    // page goes above (a newer one below moves nothing).
    Effect::new(move |_| {
        let first = rows.with(|r| r.as_ref().and_then(|r| r.first().map(|r| r.key.clone())));
        let Some(seq) = target.get().filter(|_| first.is_some()) else {
            return;
        };
        let first_time = !shown.get_value();
        shown.set_value(true);
        if first_time {
            flash.set(Some(seq));
        }
        request_animation_frame(move || {
            let Some(el) = scroller.get_untracked() else {
                return;
            };
            let height = el.scroll_height();
            if first_time {
                request_animation_frame(move || show_row(&row_id(&Target::Seq(seq))));
            } else if prev_first.get_value() != first && prev_height.get_value() > 0 {
                el.set_scroll_top(el.scroll_top() + height - prev_height.get_value());
            }
            prev_height.set_value(height);
            prev_first.set_value(first);
        });
    });
    // Scrolled (by mouse, touch or keys: PageUp, PageDown, Home, End) to
    // an end of the page: the next page that way.
    let on_scroll = move |_| {
        let Some(el) = scroller.get_untracked() else {
            return;
        };
        if !shown.get_value() {
            return;
        }
        if el.scroll_height() - el.scroll_top() - el.client_height() < BOTTOM_SLACK {
            chat.read_newer();
        } else if el.scroll_top() < TOP_SLACK {
            chat.read_older();
        }
    };
    let me = Memo::new(move |_| chat.client.with(|c| c.display_nick()));
    let back = move |_| {
        chat.jump_to_latest();
        focus_soon("[data-testid=composer-input]".into());
    };
    let label = format!("Messages around a search result in #{room}");
    let room_name = room.to_string();
    view! {
        <div class="messages-wrap">
            // Before the list in focus order (shown below it): reading on
            // through the rows by Tab grows the page, and may make it live,
            // so the way back must not lie past them.
            <button class="new-messages" data-testid="jump-latest" on:click=back>
                "Jump to latest ↓"
            </button>
            <div
                class="scroller"
                data-testid="message-scroller"
                node_ref=scroller
                on:scroll=on_scroll
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
                <div class="history-edge">
                    {move || match edges.get() {
                        (_, true) => {
                            view! {
                                <p class="start" data-testid="room-start">
                                    {format!("This is the beginning of #{room_name}.")}
                                </p>
                            }
                                .into_any()
                        }
                        (Some(Dir::Older), false) => {
                            view! {
                                <p class="loading" data-testid="loading-older">
                                    "Loading older messages…"
                                </p>
                            }
                                .into_any()
                        }
                        _ => {
                            view! {
                                <button
                                    class="link-button"
                                    data-testid="load-older"
                                    on:click=move |_| chat.read_older()
                                >
                                    "Load older messages"
                                </button>
                            }
                                .into_any()
                        }
                    }}
                </div>
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
                <div class="history-edge">
                    {move || match edges.get().0 {
                        Some(Dir::Newer) => {
                            view! {
                                <p class="loading" data-testid="loading-newer">
                                    "Loading newer messages…"
                                </p>
                            }
                                .into_any()
                        }
                        _ => {
                            view! {
                                <button
                                    class="link-button"
                                    data-testid="load-newer"
                                    on:click=move |_| chat.read_newer()
                                >
                                    "Load newer messages"
                                </button>
                            }
                                .into_any()
                        }
                    }}
                </div>
            </div>
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
