//! The composer: Enter sends, Shift+Enter starts a new line, a counter
//! appears near the length limit. It also replies (a bar shows what to),
//! edits (Up in an empty box edits our last message; Escape cancels), and
//! completes `@` mentions (`mention_picker`).

use leptos::prelude::*;
use shared::limits::MAX_TEXT_CHARS;
use shared::{RoomName, Text};

use super::attach::{AttachButton, UploadList, Uploads};
use super::draft::{Draft, Mode, COMPOSER_INPUT};
use super::mention_picker::{MentionList, Picker, LIST_ID};
use crate::chat::Chat;

/// What the composer says while a message waits for its uploads.
const WAITING_FOR_UPLOADS: &str = "Sends when the uploads finish.";

/// The counter shows when fewer than this many characters are left.
const COUNTER_WITHIN: usize = MAX_TEXT_CHARS - shared::limits::TEXT_COUNTER_FROM;

#[component]
pub fn Composer(room: RoomName) -> impl IntoView {
    let chat = expect_context::<Chat>();
    let draft = expect_context::<Draft>();
    draft.reset();
    let text = draft.text;
    let error = RwSignal::new(None::<String>);
    let max = Memo::new(move |_| chat.client.with(|c| c.max_text_chars()));
    let len = Memo::new(move |_| text.with(|t| t.chars().count()));
    let left = move || max.get() as i64 - len.get() as i64;
    let too_long = move || left() < 0;
    let empty = move || text.with(|t| t.trim().is_empty());
    let counter_hidden = move || left() > COUNTER_WITHIN as i64;
    let textarea = NodeRef::<leptos::html::Textarea>::new();
    let picker = Picker::new(chat, room.clone());
    let uploads = Uploads::new(chat, room.clone());
    Effect::new(move |_| {
        if let Some(el) = textarea.get() {
            let _ = el.focus();
        }
    });

    // Enter while files upload or wait for the relay: the message goes
    // when they are done (offline first), with the text then in the box.
    let send_when_uploaded = RwSignal::new(false);
    let send_room = room.clone();
    let submit = move || {
        let value = text.get_untracked();
        let trimmed = value.trim_matches(|c: char| c == '\n' || c == '\r' || c == ' ');
        let files = uploads.done();
        if uploads.busy() {
            send_when_uploaded.set(true);
            uploads.keep_message(trimmed);
            error.set(Some(WAITING_FOR_UPLOADS.into()));
            return;
        }
        if uploads.failed() {
            send_when_uploaded.set(false);
            return error.set(Some(
                "An upload failed: remove it or attach the file again, then send.".into(),
            ));
        }
        if !files.is_empty() && !matches!(draft.mode.get_untracked(), Mode::Edit { .. }) {
            let text_value = if trimmed.is_empty() {
                Text::empty()
            } else {
                match Text::new(trimmed) {
                    Ok(t) => t,
                    Err(err) => return error.set(Some(err.to_string())),
                }
            };
            let reply_to = match draft.mode.get_untracked() {
                Mode::Reply { target, .. } => Some(target),
                _ => None,
            };
            let sent = chat.send_files(&send_room, text_value, files, reply_to);
            uploads.sent(sent);
            draft.done();
            text.set(String::new());
            error.set(None);
            picker.close();
            return;
        }
        if trimmed.is_empty() {
            return;
        }
        let text_value = match Text::new(trimmed) {
            Ok(t) => t,
            Err(err) => {
                let message = err.to_string();
                let message = message
                    .split_once(": ")
                    .map_or(message.clone(), |(_, m)| m.to_string());
                error.set(Some(message));
                return;
            }
        };
        let result = match draft.mode.get_untracked() {
            Mode::New => {
                chat.send(&send_room, text_value);
                Ok(())
            }
            Mode::Reply { target, .. } => {
                chat.reply(&send_room, text_value, target);
                Ok(())
            }
            Mode::Edit { target } => chat.edit(&send_room, target, text_value),
        };
        match result {
            Ok(()) => {
                uploads.forget_message();
                draft.done();
                text.set(String::new());
                error.set(None);
                picker.close();
            }
            Err(err) => error.set(Some(err.to_string())),
        }
    };
    // A message that waited for its uploads when the page was closed
    // waits again, with its text back in the box.
    uploads.restore(move |kept| {
        if text.with_untracked(|t| t.trim().is_empty()) {
            text.set(kept);
        }
        send_when_uploaded.set(true);
        error.set(Some(WAITING_FOR_UPLOADS.into()));
    });
    Effect::new({
        let submit = submit.clone();
        move |_| {
            if send_when_uploaded.get() && !uploads.busy() {
                send_when_uploaded.set(false);
                submit();
            }
        }
    });
    let submit_key = submit.clone();
    let typing_room = room.clone();
    let edit_room = room.clone();
    let placeholder = format!("Message #{room}");

    // Inserts the highlighted nick at the caret.
    let accept = move || {
        let Some(el) = textarea.get_untracked() else {
            return;
        };
        let value = text.get_untracked();
        let caret = caret_byte(&el, &value);
        if let Some((new_text, new_caret)) = picker.accept(&value, caret) {
            text.set(new_text.clone());
            el.set_value(&new_text);
            let utf16 = new_text[..new_caret].encode_utf16().count() as u32;
            let _ = el.set_selection_range(utf16, utf16);
        }
    };
    let accept_key = accept;

    let on_keydown = move |ev: leptos::ev::KeyboardEvent| {
        if ev.is_composing() {
            return;
        }
        let plain = !(ev.shift_key() || ev.alt_key() || ev.ctrl_key() || ev.meta_key());
        if picker.is_open() {
            let handled = match ev.key().as_str() {
                "ArrowDown" => {
                    picker.step(1);
                    true
                }
                "ArrowUp" => {
                    picker.step(-1);
                    true
                }
                "Enter" | "Tab" if plain => {
                    accept_key();
                    true
                }
                "Escape" => {
                    picker.close();
                    true
                }
                _ => false,
            };
            if handled {
                ev.prevent_default();
                ev.stop_propagation();
                return;
            }
        }
        match ev.key().as_str() {
            "Enter" if !ev.shift_key() => {
                ev.prevent_default();
                submit_key();
            }
            "ArrowUp" if plain && text.with_untracked(|t| t.is_empty()) => {
                let last = chat.client.with_untracked(|c| {
                    let target = c.last_editable(&edit_room)?;
                    let shown = c.shown(&edit_room, &target)?;
                    Some((target, shown.text.to_string()))
                });
                if let Some((target, current)) = last {
                    ev.prevent_default();
                    draft.edit(target, current);
                }
            }
            "Escape" if draft.mode.with_untracked(|m| *m != Mode::New) => {
                ev.prevent_default();
                ev.stop_propagation();
                draft.cancel();
                error.set(None);
            }
            _ => {}
        }
    };

    let mode_bar = move || {
        match draft.mode.get() {
        Mode::New => None,
        Mode::Reply { from, quote, .. } => Some(
            view! {
                <div class="mode-bar" data-testid="replying-to">
                    <span>
                        "Replying to " <strong>{from}</strong> <span class="quote-text">{quote}</span>
                    </span>
                    <button
                        type="button"
                        class="icon-button"
                        data-testid="cancel-mode"
                        aria-label="Cancel the reply (Escape)"
                        on:click=move |_| draft.cancel()
                    >
                        "×"
                    </button>
                </div>
            }
            .into_any(),
        ),
        Mode::Edit { .. } => Some(
            view! {
                <div class="mode-bar" data-testid="editing">
                    <span>"Editing your message: Enter saves, Escape cancels"</span>
                    <button
                        type="button"
                        class="icon-button"
                        data-testid="cancel-mode"
                        aria-label="Cancel the edit (Escape)"
                        on:click=move |_| draft.cancel()
                    >
                        "×"
                    </button>
                </div>
            }
            .into_any(),
        ),
    }
    };
    let submit_label = move || match draft.mode.get() {
        Mode::Edit { .. } => "Save",
        Mode::Reply { .. } => "Reply",
        Mode::New => "Send",
    };

    view! {
        <form
            class="composer"
            data-testid="composer"
            on:submit=move |ev: leptos::ev::SubmitEvent| {
                ev.prevent_default();
                submit();
            }
            on:dragover=move |ev: leptos::ev::DragEvent| ev.prevent_default()
            on:drop=move |ev: leptos::ev::DragEvent| {
                if let Some(files) = ev.data_transfer().and_then(|d| d.files()) {
                    if files.length() > 0 {
                        ev.prevent_default();
                        uploads.add_list(&files);
                    }
                }
            }
        >
            {mode_bar}
            <UploadList uploads=uploads />
            <label for=COMPOSER_INPUT class="sr-only">
                {placeholder.clone()}
            </label>
            <textarea
                id=COMPOSER_INPUT
                data-testid="composer-input"
                node_ref=textarea
                rows="1"
                placeholder=placeholder
                aria-describedby="composer-counter composer-error"
                aria-autocomplete="list"
                aria-controls=move || picker.is_open().then_some(LIST_ID)
                aria-activedescendant=move || picker.active_id()
                prop:value=move || text.get()
                on:input=move |ev| {
                    let value = event_target_value(&ev);
                    if let Some(el) = textarea.get_untracked() {
                        picker.update(&value, caret_byte(&el, &value));
                    }
                    text.set(value);
                    chat.typing(&typing_room);
                }
                on:keydown=on_keydown
                on:paste=move |ev: leptos::ev::ClipboardEvent| {
                    if let Some(files) = ev.clipboard_data().and_then(|d| d.files()) {
                        if files.length() > 0 {
                            ev.prevent_default();
                            uploads.add_list(&files);
                        }
                    }
                }
                on:blur=move |_| picker.close()
            ></textarea>
            <MentionList
                picker=picker
                on_pick=Callback::new(move |i| {
                    picker.active.set(i);
                    accept();
                })
            />
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
            <AttachButton uploads=uploads />
            <button
                type="submit"
                class="send"
                data-testid="send-button"
                disabled=move || (empty() && uploads.items.with(|i| i.is_empty())) || too_long()
            >
                {submit_label}
            </button>
            <p id="composer-error" class="field-error" data-testid="composer-error" role="alert">
                {move || error.get()}
            </p>
        </form>
    }
}

/// The caret's position in `value` as a byte offset (the browser counts
/// UTF-16 units).
fn caret_byte(el: &web_sys::HtmlTextAreaElement, value: &str) -> usize {
    let units = el.selection_start().ok().flatten().unwrap_or(0) as usize;
    let mut seen = 0;
    for (i, c) in value.char_indices() {
        if seen >= units {
            return i;
        }
        seen += c.len_utf16();
    }
    value.len()
}
