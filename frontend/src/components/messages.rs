//! The message list: the rows of the shared timeline (messages grouped by
//! sender, day dividers, pending sends below) rendered as they are, an
//! auto-scroll that leaves a scrolled-up reader alone (with a "N new
//! messages" button instead), older history on reaching the top; and the
//! "alice is typing…" line. A jump to a message (a reply's quote, a
//! link) loads older pages until it is there, then scrolls to it and
//! focuses it.

use leptos::prelude::*;
use shared::client::{timeline, Target, TimeZone};
use shared::RoomName;
use wasm_bindgen::JsCast;

use super::message::{message, row_id};
use crate::chat::Chat;

/// "At the bottom" within this many pixels.
pub(super) const BOTTOM_SLACK: i32 = 48;
/// Older history is asked for within this many pixels of the top.
pub(super) const TOP_SLACK: i32 = 120;

#[component]
pub fn MessageList(room: RoomName) -> impl IntoView {
    let chat = expect_context::<Chat>();
    let room_for_rows = room.clone();
    // Rows come from the shared timeline; the clock is read untracked, so
    // the list is rebuilt when the model changes, not on every tick.
    let rows = Memo::new(move |_| {
        let tz = TimeZone {
            now_ms: crate::chat::now_ms(),
            offset_ms: local_offset_ms(),
        };
        chat.client.with(|c| timeline(c, &room_for_rows, tz))
    });
    let room_for_meta = room.clone();
    let at_start = Memo::new(move |_| {
        chat.client
            .with(|c| {
                c.room(&room_for_meta)
                    .map(|r| (r.at_start(), r.is_loading_history()))
            })
            .unwrap_or((true, false))
    });

    let scroller = NodeRef::<leptos::html::Div>::new();
    // Follow new messages while the reader is at the bottom.
    let stuck = RwSignal::new(true);
    // The highest seq the reader has had on screen at the bottom.
    let seen_seq = RwSignal::new(0u64);
    let max_seq =
        move || rows.with_untracked(|rows| rows.iter().filter_map(|r| r.seq).max().unwrap_or(0));
    let new_below = Memo::new(move |_| {
        let seen = seen_seq.get();
        if stuck.get() {
            return 0;
        }
        rows.with(|rows| {
            rows.iter()
                .filter(|r| !r.mine && r.seq.is_some_and(|s| s > seen))
                .count()
        })
    });

    let load_room = room.clone();
    let load_older = move || chat.load_older(&load_room);
    let load_older_click = load_older.clone();
    let load_for_jump = load_older.clone();

    // After the rows change: stay at the bottom if stuck, keep the reader's
    // place when older messages were put above, and ask for more history
    // when the list does not fill the screen yet.
    // What had focus inside the list, as a selector: a row drawn anew (an
    // edit, a reaction, an ack) replaces its elements, and the keyboard
    // user must not be thrown back to the top of the page.
    let kept_focus = StoredValue::new(None::<String>);
    let prev_height = StoredValue::new(0i32);
    let prev_first = StoredValue::new(None::<String>);
    let load_if_short = load_older.clone();
    Effect::new(move |_| {
        let first = rows.with(|rows| rows.first().map(|r| r.key.clone()));
        let (start, _) = at_start.get();
        let load_if_short = load_if_short.clone();
        request_animation_frame(move || {
            let Some(el) = scroller.get_untracked() else {
                return;
            };
            let height = el.scroll_height();
            if stuck.get_untracked() {
                el.set_scroll_top(height);
                seen_seq.set(max_seq());
            } else if prev_first.get_value() != first && prev_height.get_value() > 0 {
                el.set_scroll_top(el.scroll_top() + height - prev_height.get_value());
            }
            prev_height.set_value(height);
            prev_first.set_value(first);
            if super::ui::active_element().is_none() {
                if let Some(selector) = kept_focus.get_value() {
                    super::ui::focus_first(&selector);
                }
            }
            if !start && height <= el.client_height() {
                load_if_short();
            }
        });
    });

    let on_scroll = move |_| {
        let Some(el) = scroller.get_untracked() else {
            return;
        };
        let at_bottom = el.scroll_height() - el.scroll_top() - el.client_height() < BOTTOM_SLACK;
        if at_bottom != stuck.get_untracked() {
            stuck.set(at_bottom);
        }
        if at_bottom {
            seen_seq.set(max_seq());
        }
        if el.scroll_top() < TOP_SLACK && !at_start.get_untracked().0 {
            load_older();
        }
    };
    let jump_to_bottom = move |_| {
        if let Some(el) = scroller.get_untracked() {
            el.set_scroll_top(el.scroll_height());
        }
        stuck.set(true);
        seen_seq.set(max_seq());
    };

    // A jump: scroll to the message once it is loaded, asking for older
    // pages until it is (or the room's start shows it is gone).
    let flash = RwSignal::new(None::<u64>);
    let jump_room = room.clone();
    Effect::new(move |_| {
        let Some((target_room, seq)) = chat.jump.get() else {
            return;
        };
        if target_room != jump_room {
            return;
        }
        let loaded = rows.with(|rows| rows.iter().any(|r| r.seq == Some(seq)));
        let (start, loading) = at_start.get();
        if loaded {
            chat.jump.set(None);
            stuck.set(false);
            flash.set(Some(seq));
            // After the list's own frame (which keeps the reader's place
            // when older messages were put above).
            request_animation_frame(move || {
                request_animation_frame(move || show_row(&row_id(&Target::Seq(seq))))
            });
        } else if start {
            chat.jump.set(None);
        } else if !loading {
            load_for_jump();
        }
    });
    let me = Memo::new(move |_| chat.client.with(|c| c.display_nick()));

    let room_name = room.to_string();
    let scroller_label = format!("Messages in #{room_name}");
    let log_label = format!("New messages in #{room_name}");
    view! {
        <div class="messages-wrap">
            <div
                class="scroller"
                data-testid="message-scroller"
                node_ref=scroller
                on:scroll=on_scroll
                tabindex="0"
                role="region"
                aria-label=scroller_label
            >
                <div class="history-edge">
                    {move || match at_start.get() {
                        (true, _) => {
                            view! {
                                <p class="start" data-testid="room-start">
                                    {format!("This is the beginning of #{room_name}.")}
                                </p>
                            }
                                .into_any()
                        }
                        (false, true) => {
                            view! {
                                <p class="loading" data-testid="loading-older">
                                    "Loading older messages…"
                                </p>
                            }
                                .into_any()
                        }
                        (false, false) => {
                            let load = load_older_click.clone();
                            view! {
                                <button
                                    class="link-button"
                                    data-testid="load-older"
                                    on:click=move |_| load()
                                >
                                    "Load older messages"
                                </button>
                            }
                                .into_any()
                        }
                    }}
                </div>
                // The live region wraps the list: with the role on the
                // `<ol>` itself its items would not be list items.
                <div role="log" aria-live="polite" aria-relevant="additions" aria-label=log_label>
                    <ol
                        class="message-list"
                        data-testid="message-list"
                        on:focusin=move |ev| kept_focus.set_value(focus_selector(&ev))
                        on:focusout=move |ev: leptos::ev::FocusEvent| {
                            // Focus moved elsewhere on purpose (not lost
                            // with a removed element).
                            if ev.related_target().is_some() {
                                kept_focus.set_value(None);
                            }
                        }
                    >
                        <For
                            each=move || rows.get()
                            key=|row| row.key.clone()
                            children={
                                let room = room.clone();
                                move |row| message(chat, room.clone(), row, me.get_untracked(), flash)
                            }
                        />
                    </ol>
                </div>
            </div>
            {move || {
                let n = new_below.get();
                (n > 0)
                    .then(|| {
                        view! {
                            <button
                                class="new-messages"
                                data-testid="new-messages"
                                on:click=jump_to_bottom
                            >
                                {if n == 1 {
                                    "1 new message ↓".to_string()
                                } else {
                                    format!("{n} new messages ↓")
                                }}
                            </button>
                        }
                    })
            }}
        </div>
    }
}

/// A selector for the element a focus event is about, within its row:
/// the row's id and the element's test id (and emoji, for a chip).
fn focus_selector(ev: &leptos::ev::FocusEvent) -> Option<String> {
    let el = ev.target()?.dyn_into::<web_sys::Element>().ok()?;
    let row = el.closest("li[data-testid=message]").ok()??;
    let mut selector = format!("#{}", row.id());
    if el != row {
        let testid = el.get_attribute("data-testid")?;
        selector.push_str(&format!(" [data-testid=\"{testid}\"]"));
        if let Some(emoji) = el.get_attribute("data-emoji") {
            selector.push_str(&format!("[data-emoji=\"{emoji}\"]"));
        }
    }
    Some(selector)
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

/// The browser's offset from UTC now, in milliseconds (east positive).
fn local_offset_ms() -> i64 {
    -(js_sys::Date::new_0().get_timezone_offset() * 60_000.0) as i64
}

#[component]
pub fn TypingIndicator(room: RoomName) -> impl IntoView {
    let chat = expect_context::<Chat>();
    let text = Memo::new(move |_| {
        let now = chat.now.get();
        chat.client.with(|c| {
            let nicks: Vec<String> = c
                .room(&room)
                .map(|r| r.typing(now).iter().map(|u| u.nick.to_string()).collect())
                .unwrap_or_default();
            match nicks.as_slice() {
                [] => String::new(),
                [one] => format!("{one} is typing…"),
                [a, b] => format!("{a} and {b} are typing…"),
                [a, b, c] => format!("{a}, {b} and {c} are typing…"),
                _ => "Several people are typing…".into(),
            }
        })
    });
    view! {
        <div class="typing" data-testid="typing-indicator" aria-live="polite">
            {move || text.get()}
        </div>
    }
}
