//! What the composer is writing: a new message, a reply to one, or a new
//! text for one of ours. A context, since the message list starts replies
//! and edits and the composer carries them out.

use leptos::prelude::*;
use shared::client::Target;

use super::ui::focus_first;

/// The composer's mode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    New,
    /// Replying to `target`, by `from`, which starts with `quote`.
    Reply {
        target: Target,
        from: String,
        quote: String,
    },
    /// Editing our message `target`.
    Edit {
        target: Target,
    },
}

#[derive(Clone, Copy)]
pub struct Draft {
    pub mode: RwSignal<Mode>,
    /// The composer's text.
    pub text: RwSignal<String>,
    /// What the composer held before an edit took it over, given back when
    /// the edit ends.
    saved: StoredValue<String>,
}

/// The composer's text box.
pub const COMPOSER_INPUT: &str = "composer-input";

impl Draft {
    pub fn new() -> Self {
        Draft {
            mode: RwSignal::new(Mode::New),
            text: RwSignal::new(String::new()),
            saved: StoredValue::new(String::new()),
        }
    }

    pub fn reply(self, target: Target, from: String, quote: String) {
        self.end_edit();
        self.mode.set(Mode::Reply {
            target,
            from,
            quote,
        });
        focus_composer();
    }

    /// Puts `text` (the message's current text) in the composer to edit.
    pub fn edit(self, target: Target, text: String) {
        if !matches!(self.mode.get_untracked(), Mode::Edit { .. }) {
            self.saved.set_value(self.text.get_untracked());
        }
        self.text.set(text);
        self.mode.set(Mode::Edit { target });
        focus_composer();
    }

    /// Escape, or the × of the reply or edit bar: back to a new message
    /// (an edit gives back what was typed before it).
    pub fn cancel(self) {
        self.end_edit();
        self.mode.set(Mode::New);
        focus_composer();
    }

    /// The reply or edit was sent.
    pub fn done(self) {
        self.end_edit();
        self.mode.set(Mode::New);
    }

    /// Another room's composer starts afresh.
    pub fn reset(self) {
        self.mode.set(Mode::New);
        self.text.set(String::new());
        self.saved.set_value(String::new());
    }

    fn end_edit(self) {
        if matches!(self.mode.get_untracked(), Mode::Edit { .. }) {
            self.text.set(
                self.saved
                    .try_update_value(std::mem::take)
                    .unwrap_or_default(),
            );
        }
    }
}

impl Default for Draft {
    fn default() -> Self {
        Draft::new()
    }
}

/// Focuses the composer once the view has caught up.
pub fn focus_composer() {
    request_animation_frame(|| focus_first(&format!("#{COMPOSER_INPUT}")));
}
