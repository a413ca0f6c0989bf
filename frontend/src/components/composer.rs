//! The composer: Enter sends, Shift+Enter starts a new line, a counter
//! appears near the length limit.

use leptos::prelude::*;
use shared::limits::MAX_TEXT_CHARS;
use shared::{RoomName, Text};

use crate::chat::Chat;

/// The counter shows when fewer than this many characters are left.
const COUNTER_WITHIN: usize = MAX_TEXT_CHARS - shared::limits::TEXT_COUNTER_FROM;

#[component]
pub fn Composer(room: RoomName) -> impl IntoView {
    let chat = expect_context::<Chat>();
    let text = RwSignal::new(String::new());
    let error = RwSignal::new(None::<String>);
    let max = Memo::new(move |_| chat.client.with(|c| c.max_text_chars()));
    let len = Memo::new(move |_| text.with(|t| t.chars().count()));
    let left = move || max.get() as i64 - len.get() as i64;
    let too_long = move || left() < 0;
    let empty = move || text.with(|t| t.trim().is_empty());
    let counter_hidden = move || left() > COUNTER_WITHIN as i64;
    let textarea = NodeRef::<leptos::html::Textarea>::new();
    Effect::new(move |_| {
        if let Some(el) = textarea.get() {
            let _ = el.focus();
        }
    });

    let send_room = room.clone();
    let submit = move || {
        let value = text.get_untracked();
        let trimmed = value.trim_matches(|c: char| c == '\n' || c == '\r' || c == ' ');
        if trimmed.is_empty() {
            return;
        }
        match Text::new(trimmed) {
            Ok(t) => {
                chat.send(&send_room, t);
                text.set(String::new());
                error.set(None);
            }
            Err(err) => {
                let message = err.to_string();
                let message = message
                    .split_once(": ")
                    .map_or(message.clone(), |(_, m)| m.to_string());
                error.set(Some(message));
            }
        }
    };
    let submit_key = submit.clone();
    let typing_room = room.clone();
    let placeholder = format!("Message #{room}");
    view! {
        <form
            class="composer"
            data-testid="composer"
            on:submit=move |ev: leptos::ev::SubmitEvent| {
                ev.prevent_default();
                submit();
            }
        >
            <label for="composer-input" class="sr-only">
                {placeholder.clone()}
            </label>
            <textarea
                id="composer-input"
                data-testid="composer-input"
                node_ref=textarea
                rows="1"
                placeholder=placeholder
                aria-describedby="composer-counter composer-error"
                prop:value=move || text.get()
                on:input=move |ev| {
                    text.set(event_target_value(&ev));
                    chat.typing(&typing_room);
                }
                on:keydown=move |ev: leptos::ev::KeyboardEvent| {
                    if ev.key() == "Enter" && !ev.shift_key() && !ev.is_composing() {
                        ev.prevent_default();
                        submit_key();
                    }
                }
            ></textarea>
            <span
                id="composer-counter"
                class="counter"
                class:over=too_long
                data-testid="composer-counter"
                hidden=counter_hidden
                aria-live="polite"
            >
                {move || {
                    let left = left();
                    if left < 0 {
                        format!("{} too many", -left)
                    } else {
                        format!("{left} left")
                    }
                }}
            </span>
            <button
                type="submit"
                class="send"
                data-testid="send-button"
                disabled=move || empty() || too_long()
                aria-label="Send"
            >
                "Send"
            </button>
            <p id="composer-error" class="field-error" data-testid="composer-error" role="alert">
                {move || error.get()}
            </p>
        </form>
    }
}
