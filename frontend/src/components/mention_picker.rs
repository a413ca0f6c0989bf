//! `@` in the composer: the members whose nick starts with what follows
//! it, as a listbox under the text box. The text box stays a textbox (a
//! `textarea` takes no other role) and points at the list with
//! `aria-controls` and at the highlighted option with
//! `aria-activedescendant`; Up and Down move, Enter or Tab insert the
//! nick, Escape closes the list. In a big room the relay is asked for the
//! members by prefix (`Client::ask_mention_matches`).

use leptos::prelude::*;
use shared::RoomName;

use crate::chat::Chat;

/// Options shown at most.
const SHOWN: usize = 8;
/// The list's id, for `aria-controls`.
pub const LIST_ID: &str = "mention-list";

/// The `@` word being typed before the caret: where its `@` is (a byte
/// offset) and what follows it. A mention starts a word, and the typed
/// part holds no space.
pub fn mention_query(text: &str, caret: usize) -> Option<(usize, String)> {
    let before = text.get(..caret)?;
    let at = before.rfind('@')?;
    let typed = &before[at + 1..];
    if typed.chars().any(char::is_whitespace) || typed.chars().count() > 32 {
        return None;
    }
    let starts_word = !before[..at]
        .chars()
        .next_back()
        .is_some_and(|c| c.is_alphanumeric() || c == '@');
    starts_word.then(|| (at, typed.to_owned()))
}

/// The open list's state; a value the composer owns.
#[derive(Clone, Copy)]
pub struct Picker {
    /// The `@` word being completed, when the list is open.
    pub query: RwSignal<Option<(usize, String)>>,
    /// The highlighted option.
    pub active: RwSignal<usize>,
    /// The nicks offered.
    pub options: Memo<Vec<String>>,
    chat: Chat,
    room: StoredValue<RoomName>,
}

impl Picker {
    pub fn new(chat: Chat, room: RoomName) -> Self {
        let query = RwSignal::new(None::<(usize, String)>);
        let stored_room = StoredValue::new(room.clone());
        let options = Memo::new(move |_| {
            let Some((_, prefix)) = query.get() else {
                return Vec::new();
            };
            chat.client.with(|c| {
                let mut nicks: Vec<String> = c
                    .mention_matches(&room, &prefix)
                    .into_iter()
                    .map(|u| u.nick.to_string())
                    .take(SHOWN)
                    .collect();
                if "room".starts_with(&prefix.to_lowercase()) {
                    nicks.push("room".into());
                }
                nicks
            })
        });
        Picker {
            query,
            active: RwSignal::new(0),
            options,
            chat,
            room: stored_room,
        }
    }

    pub fn is_open(self) -> bool {
        self.query.with(Option::is_some) && self.options.with(|o| !o.is_empty())
    }

    /// The text was edited: the `@` word at the caret, if any.
    pub fn update(self, text: &str, caret: usize) {
        let query = mention_query(text, caret);
        if query != self.query.get_untracked() {
            self.active.set(0);
            if let Some((_, prefix)) = &query {
                // A big room's members beyond those loaded: ask the relay.
                let room = self.room.get_value();
                self.chat.ask_mention_matches(&room, prefix);
            }
            self.query.set(query);
        }
    }

    pub fn close(self) {
        self.query.set(None);
    }

    /// Moves the highlight by `by`, wrapping.
    pub fn step(self, by: isize) {
        let n = self.options.with_untracked(Vec::len) as isize;
        if n > 0 {
            self.active
                .update(|a| *a = (*a as isize + by).rem_euclid(n) as usize);
        }
    }

    /// The text with the highlighted nick in place of the `@` word before
    /// `caret`, and where the caret goes after it.
    pub fn accept(self, text: &str, caret: usize) -> Option<(String, usize)> {
        let (at, _) = self.query.get_untracked()?;
        let nick = self
            .options
            .with_untracked(|o| o.get(self.active.get_untracked()).cloned())?;
        let inserted = format!("@{nick} ");
        let mut out = String::with_capacity(text.len() + inserted.len());
        out.push_str(&text[..at]);
        out.push_str(&inserted);
        out.push_str(text.get(caret..).unwrap_or_default());
        self.close();
        Some((out, at + inserted.len()))
    }

    /// The highlighted option's id, for `aria-activedescendant`.
    pub fn active_id(self) -> Option<String> {
        self.is_open()
            .then(|| format!("{LIST_ID}-{}", self.active.get()))
    }
}

/// The list itself, under the text box; a click picks an option.
#[component]
pub fn MentionList(picker: Picker, on_pick: Callback<usize>) -> impl IntoView {
    view! {
        <Show when=move || picker.is_open()>
            <ul id=LIST_ID class="mention-list" role="listbox" aria-label="Members" data-testid="mention-list">
                {move || {
                    picker
                        .options
                        .get()
                        .into_iter()
                        .enumerate()
                        .map(|(i, nick)| {
                            let selected = move || picker.active.get() == i;
                            view! {
                                <li
                                    id=format!("{LIST_ID}-{i}")
                                    role="option"
                                    class:active=selected
                                    aria-selected=move || selected().to_string()
                                    data-testid="mention-option"
                                    // Keep focus in the text box.
                                    on:mousedown=move |ev| ev.prevent_default()
                                    on:click=move |_| on_pick.run(i)
                                >
                                    {format!("@{nick}")}
                                </li>
                            }
                        })
                        .collect_view()
                }}
            </ul>
        </Show>
    }
}
