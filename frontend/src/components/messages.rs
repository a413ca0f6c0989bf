//! The message list: the rows of the shared timeline (messages grouped by
//! sender, day dividers, pending sends below) rendered as they are, an
//! auto-scroll that leaves a scrolled-up reader alone (with a "N new
//! messages" button instead), older history on reaching the top; and the
//! "alice is typing…" line.

use leptos::prelude::*;
use shared::client::{timeline, DayLabel, Row, RowStatus, TimeZone};
use shared::RoomName;

use super::{clock, full_time, iso_time};
use crate::chat::Chat;
use crate::text::{pieces, Piece};

/// "At the bottom" within this many pixels.
const BOTTOM_SLACK: i32 = 48;
/// Older history is asked for within this many pixels of the top.
const TOP_SLACK: i32 = 120;

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

    // After the rows change: stay at the bottom if stuck, keep the reader's
    // place when older messages were put above, and ask for more history
    // when the list does not fill the screen yet.
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
                    <ol class="message-list" data-testid="message-list">
                        <For each=move || rows.get() key=|row| row.key.clone() children=move |row| message(chat, row) />
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

/// The browser's offset from UTC now, in milliseconds (east positive).
fn local_offset_ms() -> i64 {
    -(js_sys::Date::new_0().get_timezone_offset() * 60_000.0) as i64
}

/// What a day divider says; other days in the browser's locale.
fn day_label(label: DayLabel) -> String {
    match label {
        DayLabel::Today => "Today".into(),
        DayLabel::Yesterday => "Yesterday".into(),
        DayLabel::Date(ts) => {
            let date = js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(ts as f64));
            String::from(date.to_locale_date_string("default", &wasm_bindgen::JsValue::UNDEFINED))
        }
    }
}

fn message(chat: Chat, row: Row) -> impl IntoView {
    let state = match &row.status {
        RowStatus::Stored => "sent",
        RowStatus::Pending => "pending",
        RowStatus::Failed(_) => "failed",
    };
    let day = row.day.map(|label| {
        view! {
            <div class="day-divider" role="separator" data-testid="day-divider">
                <span>{day_label(label)}</span>
            </div>
        }
    });
    let gap = row.gap_before.then(|| {
        view! {
            <div class="gap" data-testid="history-gap">
                <span>"Some messages are not loaded yet"</span>
            </div>
        }
    });
    let head = row.first_of_group.then(|| {
        view! {
            <div class="meta">
                <span class="author" data-testid="message-author">
                    {row.from.clone()}
                </span>
                <time datetime=iso_time(row.ts) title=full_time(row.ts)>
                    {clock(row.ts)}
                </time>
            </div>
        }
    });
    let side_time = (!row.first_of_group).then(|| {
        view! {
            <time class="side-time" datetime=iso_time(row.ts) title=full_time(row.ts)>
                {clock(row.ts)}
            </time>
        }
    });
    let text = pieces(&row.text)
        .into_iter()
        .map(|piece| match piece {
            Piece::Text(text) => text.into_any(),
            Piece::Link(url) => {
                let href = url.clone();
                view! {
                    <a href=href target="_blank" rel="noopener noreferrer">
                        {url}
                    </a>
                }
                .into_any()
            }
        })
        .collect_view();
    let footer = match row.status.clone() {
        RowStatus::Stored => None,
        RowStatus::Pending => Some(
            view! {
                <div class="status" data-testid="message-status">
                    "Sending…"
                </div>
            }
            .into_any(),
        ),
        RowStatus::Failed(reason) => {
            let id = row.client_id.clone().expect("pending rows have ids");
            let retry_id = id.clone();
            Some(
                view! {
                    <div class="error" role="alert" data-testid="message-error">
                        <span>{format!("Not sent: {reason}")}</span>
                        <button
                            class="link-button"
                            data-testid="retry"
                            on:click=move |_| chat.retry(&retry_id)
                        >
                            "Retry"
                        </button>
                        <button
                            class="link-button"
                            data-testid="discard"
                            on:click=move |_| chat.discard(&id)
                        >
                            "Discard"
                        </button>
                    </div>
                }
                .into_any(),
            )
        }
    };
    view! {
        <li
            class="message"
            class:head=row.first_of_group
            class:mine=row.mine
            class:pending=matches!(row.status, RowStatus::Pending)
            class:failed=matches!(row.status, RowStatus::Failed(_))
            data-testid="message"
            data-seq=row.seq.map(|s| s.to_string())
            data-client-id=row.client_id.as_ref().map(ToString::to_string)
            data-state=state
            data-from=row.from.clone()
        >
            {gap}
            {day}
            {head}
            {side_time}
            <div class="text" data-testid="message-text">
                {text}
            </div>
            {footer}
        </li>
    }
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
