//! A message's actions: react (a small emoji picker), reply, edit (ours)
//! and delete (ours, or anyone's for a moderator), copy a link to it. Shown on hover and whenever focus is
//! inside the row, so they work by mouse and by keyboard alike: the
//! toolbar is one Tab stop (its first button), the arrow keys move
//! between its buttons (the ARIA toolbar pattern), Escape closes the
//! picker or the delete question and gives focus back.

use leptos::prelude::*;
use shared::client::Row;
use shared::{Emoji, RoomName};
use wasm_bindgen::JsCast;

use super::draft::Draft;
use super::message::row_id;
use super::ui::focus_soon;
use crate::chat::{message_href, Chat};

/// The picker's emoji, with what a screen reader says for each.
const PICKS: &[(&str, &str)] = &[
    ("👍", "thumbs up"),
    ("❤️", "heart"),
    ("😂", "laughing"),
    ("🎉", "party"),
    ("😮", "surprised"),
    ("😢", "sad"),
    ("👀", "eyes"),
    ("✅", "check mark"),
];

#[component]
pub fn MessageActions(room: RoomName, row: Row) -> impl IntoView {
    let chat = expect_context::<Chat>();
    let draft = expect_context::<Draft>();
    let picking = RwSignal::new(false);
    let confirming = RwSignal::new(false);
    let copied = RwSignal::new(false);
    let id = row_id(&row.target);
    let target = row.target.clone();

    let react_button = format!("#{id} [data-testid=react-button]");
    let pick = {
        let (room, target, back) = (room.clone(), target.clone(), react_button.clone());
        move |emoji: &str| {
            if let Ok(emoji) = Emoji::new(emoji) {
                let _ = chat.toggle_reaction(&room, target.clone(), emoji);
            }
            picking.set(false);
            focus_soon(back.clone());
        }
    };
    let reply = {
        let (target, from, text) = (target.clone(), row.from.clone(), row.text.clone());
        move |_| {
            let mut plain = String::new();
            shared::markdown::collect_text(&shared::markdown::parse(&text, &[]), &mut plain);
            let quote: String = plain
                .replace('\n', " ")
                .chars()
                .take(shared::limits::QUOTE_CHARS)
                .collect();
            draft.reply(target.clone(), from.clone(), quote);
        }
    };
    let edit = {
        let (target, text) = (target.clone(), row.text.clone());
        move |_| draft.edit(target.clone(), text.clone())
    };
    let delete = {
        let (room, target) = (room.clone(), target.clone());
        move |_| {
            confirming.set(false);
            let _ = chat.delete(&room, target.clone());
        }
    };
    let copy_link = {
        let link = row.seq.map(|seq| message_href(&room, seq));
        move |_| {
            if let (Some(link), Some(window)) = (link.clone(), web_sys::window()) {
                let _ = window.navigator().clipboard().write_text(&link);
                copied.set(true);
            }
        }
    };
    let open_picker = {
        let first = format!("#{id} .emoji-picker button");
        move |_| {
            picking.update(|p| *p = !*p);
            if picking.get_untracked() {
                focus_soon(first.clone());
            }
        }
    };
    let ask_delete = {
        let cancel = format!("#{id} [data-testid=delete-cancel]");
        move |_| {
            confirming.set(true);
            focus_soon(cancel.clone());
        }
    };
    let escape = {
        let back = react_button.clone();
        let delete_button = format!("#{id} [data-testid=delete-button]");
        move |ev: leptos::ev::KeyboardEvent| {
            if ev.key() != "Escape" || !(picking.get_untracked() || confirming.get_untracked()) {
                return;
            }
            ev.prevent_default();
            ev.stop_propagation();
            if picking.get_untracked() {
                picking.set(false);
                focus_soon(back.clone());
            } else {
                confirming.set(false);
                focus_soon(delete_button.clone());
            }
        }
    };
    let mine = row.mine;
    // Ours, or anyone's for a moderator (the relay's `welcome.roles`,
    // which may come after the row is drawn from the cache). Deleted rows
    // have no actions, so the role is all there is to track here (cheap:
    // every row's memo runs on every change of the model).
    let may_delete = Memo::new(move |_| mine || chat.client.with(|c| c.is_moderator()));
    let from = row.from.clone();
    let has_seq = row.seq.is_some();
    let editing_target = target.clone();

    view! {
        <div class="message-actions" on:keydown=escape>
            <div
                class="actions"
                role="toolbar"
                aria-label=format!("Message from {}", row.from)
                on:keydown=move_between_buttons
            >
                <button
                    class="icon-button"
                    data-testid="react-button"
                    aria-label="Add a reaction"
                    title="Add a reaction"
                    aria-expanded=move || picking.get().to_string()
                    tabindex="0"
                    on:click=open_picker
                >
                    "☺"
                </button>
                <button
                    class="icon-button"
                    data-testid="reply-button"
                    aria-label="Reply"
                    title="Reply"
                    tabindex="-1"
                    on:click=reply
                >
                    "↩"
                </button>
                {mine
                    .then(|| {
                        view! {
                            <button
                                class="icon-button"
                                data-testid="edit-button"
                                aria-label="Edit"
                                title="Edit (↑ in an empty message box)"
                                tabindex="-1"
                                aria-pressed=move || {
                                    (draft.mode.get()
                                        == super::draft::Mode::Edit {
                                            target: editing_target.clone(),
                                        })
                                        .to_string()
                                }
                                on:click=edit
                            >
                                "✎"
                            </button>
                        }
                    })}
                {move || {
                    may_delete
                        .get()
                        .then(|| {
                        let label = if mine {
                            "Delete".to_string()
                        } else {
                            format!("Delete {from}'s message (moderator)")
                        };
                        let ask_delete = ask_delete.clone();
                        view! {
                            <button
                                class="icon-button"
                                data-testid="delete-button"
                                aria-label=label.clone()
                                title=label
                                tabindex="-1"
                                on:click=ask_delete
                            >
                                "🗑"
                            </button>
                        }
                    })
                }}
                {has_seq
                    .then(|| {
                        view! {
                            <button
                                class="icon-button"
                                data-testid="copy-link"
                                aria-label=move || {
                                    if copied.get() { "Link copied" } else { "Copy link" }
                                }
                                title="Copy link"
                                tabindex="-1"
                                on:click=copy_link
                            >
                                "🔗"
                            </button>
                        }
                    })}
            </div>
            <Show when=move || picking.get()>
                <div class="emoji-picker" role="group" aria-label="Pick a reaction" data-testid="emoji-picker" on:keydown=move_between_buttons>
                    {PICKS
                        .iter()
                        .map(|(emoji, name)| {
                            let pick = pick.clone();
                            view! {
                                <button
                                    class="icon-button"
                                    data-testid="emoji-choice"
                                    data-emoji=*emoji
                                    aria-label=*name
                                    title=*name
                                    on:click=move |_| pick(emoji)
                                >
                                    {*emoji}
                                </button>
                            }
                        })
                        .collect_view()}
                </div>
            </Show>
            <Show when=move || confirming.get()>
                <div class="confirm-delete" role="group" aria-label="Delete this message?" data-testid="delete-confirm">
                    <span>"Delete this message?"</span>
                    <button class="danger" data-testid="delete-confirm-button" on:click=delete.clone()>
                        "Delete"
                    </button>
                    <button
                        class="secondary"
                        data-testid="delete-cancel"
                        on:click=move |_| confirming.set(false)
                    >
                        "Cancel"
                    </button>
                </div>
            </Show>
        </div>
    }
}

/// Left and Right (and Home, End) move focus between a group's buttons.
fn move_between_buttons(ev: leptos::ev::KeyboardEvent) {
    let Some(current) = ev
        .target()
        .and_then(|t| t.dyn_into::<web_sys::Element>().ok())
    else {
        return;
    };
    let next = match ev.key().as_str() {
        "ArrowRight" => current.next_element_sibling(),
        "ArrowLeft" => current.previous_element_sibling(),
        "Home" => current
            .parent_element()
            .and_then(|p| p.first_element_child()),
        "End" => current
            .parent_element()
            .and_then(|p| p.last_element_child()),
        _ => return,
    };
    if let Some(next) = next.and_then(|n| n.dyn_into::<web_sys::HtmlElement>().ok()) {
        ev.prevent_default();
        let _ = next.focus();
    }
}
