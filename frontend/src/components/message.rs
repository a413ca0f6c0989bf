//! One message row: its header, the quote of what it replies to (a button
//! that jumps there), its formatted text (or a tombstone), "(edited)",
//! its reaction chips and, on hover, focus or a long press, its actions.

use leptos::prelude::*;
use shared::client::{DayLabel, Row, RowStatus, Target};
use shared::RoomName;

use super::attachments::Attachments;
use super::message_actions::MessageActions;
use super::message_press::LongPress;
use super::rich_text::rich_text;
use super::ui::focus_soon;
use super::{clock, full_time, iso_time};
use crate::chat::Chat;

/// The DOM id of a row, for focus and jumps.
pub fn row_id(target: &Target) -> String {
    match target {
        Target::Seq(seq) => format!("msg-{seq}"),
        Target::Pending(id) => format!("msg-p-{id}"),
    }
}

/// One row of the list. `me` is our nick (highlighted where mentioned,
/// more strongly than the others the row names);
/// `flash` is the seq just jumped to.
pub fn message(
    chat: Chat,
    room: RoomName,
    row: Row,
    me: String,
    flash: RwSignal<Option<u64>>,
) -> impl IntoView {
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
    let quote = row.quote.clone().map(|quote| {
        let from = quote.from.nick.to_string();
        let text = if quote.deleted {
            "(message deleted)".to_string()
        } else {
            // The quote is the target's source: shown plain, on one line.
            let mut plain = String::new();
            let source = quote.text.clone().unwrap_or_default();
            shared::markdown::collect_text(&shared::markdown::parse(&source, &[]), &mut plain);
            plain.replace('\n', " ")
        };
        let jump_room = room.clone();
        let reply_to = row.reply_to;
        view! {
            <button
                class="reply-quote"
                class:deleted=quote.deleted
                data-testid="reply-quote"
                title="Show the message it replies to"
                disabled=reply_to.is_none()
                on:click=move |_| {
                    if let Some(seq) = reply_to {
                        chat.jump_to(&jump_room, seq);
                    }
                }
            >
                <span class="sr-only">"In reply to "</span>
                <span class="quote-author">{from}</span>
                <span class="sr-only">": "</span>
                <span class="quote-text">{text}</span>
            </button>
        }
    });
    let body = if row.deleted {
        view! {
            <div class="text tombstone" data-testid="message-deleted">
                "This message was deleted."
            </div>
        }
        .into_any()
    } else {
        let edited = row.edited_ts.map(|ts| {
            let label = format!("edited {}", full_time(ts));
            view! {
                <span class="edited" data-testid="message-edited" title=label.clone() aria-label=label>
                    "(edited)"
                </span>
            }
        });
        let others: Vec<&str> = row.mentioned.iter().map(String::as_str).collect();
        view! {
            <div class="text" data-testid="message-text">
                {rich_text(&row.text, &[me.as_str()], &others)}
                {edited.is_some().then_some(" ")}
                {edited}
            </div>
        }
        .into_any()
    };
    let reactions = (!row.reactions.is_empty() && !row.deleted).then(|| {
        let chips = row
            .reactions
            .iter()
            .map(|r| {
                let emoji = r.emoji.clone();
                let label = format!(
                    "{} {}{}",
                    r.emoji,
                    r.count,
                    if r.mine { ", you reacted" } else { "" }
                );
                let (room, target) = (room.clone(), row.target.clone());
                let focus = format!(
                    "#{} button[data-emoji=\"{}\"]",
                    row_id(&row.target),
                    r.emoji
                );
                view! {
                    <button
                        class="chip"
                        class:mine=r.mine
                        data-testid="reaction"
                        data-emoji=r.emoji.to_string()
                        aria-pressed=r.mine.to_string()
                        aria-label=label
                        on:click=move |_| {
                            let _ = chat.toggle_reaction(&room, target.clone(), emoji.clone());
                            // The row is drawn anew: keep the keyboard here.
                            focus_soon(focus.clone());
                        }
                    >
                        <span aria-hidden="true">{r.emoji.to_string()}</span>
                        <span class="count" aria-hidden="true">
                            {r.count}
                        </span>
                    </button>
                }
            })
            .collect_view();
        view! {
            <div class="reactions" role="group" aria-label="Reactions">
                {chips}
            </div>
        }
    });
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
    let actions = (!row.deleted && !matches!(row.status, RowStatus::Failed(_)))
        .then(|| view! { <MessageActions room=room.clone() row=row.clone() /> });
    let files = (!row.attachments.is_empty() && !row.deleted).then(
        || view! { <Attachments room=room.clone() seq=row.seq files=row.attachments.clone() /> },
    );
    let seq = row.seq;
    // Touch has no hover: holding a finger on the row opens its actions.
    let press = LongPress::new(row_id(&row.target));
    view! {
        <li
            on:pointerdown=move |ev| press.down(ev)
            on:pointermove=move |ev| press.moved(ev)
            on:pointerup=move |_| press.cancel()
            on:pointercancel=move |_| press.cancel()
            on:click=move |ev| press.swallow(ev)
            on:contextmenu=move |ev| press.menu(ev)
            class="message"
            class:head=row.first_of_group
            class:mine=row.mine
            class:pending=matches!(row.status, RowStatus::Pending)
            class:failed=matches!(row.status, RowStatus::Failed(_))
            class:deleted=row.deleted
            class:mentions-me=row.mentions_me
            class:flash=move || seq.is_some() && flash.get() == seq
            id=row_id(&row.target)
            tabindex="-1"
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
            {quote}
            {body}
            {files}
            {reactions}
            {footer}
            {actions}
        </li>
    }
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
