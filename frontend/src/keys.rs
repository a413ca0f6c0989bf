//! The keyboard shortcuts: which key does what, and the list the `?` help
//! shows. Only the mapping lives here; `components::shortcuts` listens for
//! the keys and carries the actions out.

/// What a shortcut asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    PreviousRoom,
    NextRoom,
    PreviousUnread,
    NextUnread,
    /// The room switcher (Ctrl-K, Cmd-K on a Mac).
    Switcher,
    /// The search dialog (`/`).
    Search,
    /// The list of shortcuts.
    Help,
    /// Close the open drawer.
    Close,
    /// Scroll the message list by a page from wherever focus is.
    PageUp,
    PageDown,
}

/// A key press as the browser reports it.
pub struct Press<'a> {
    /// `KeyboardEvent.key`.
    pub key: &'a str,
    pub alt: bool,
    pub ctrl: bool,
    pub meta: bool,
    pub shift: bool,
    /// Focus is in a text field, where printable keys are text.
    pub typing: bool,
}

/// The action of a key press, if it is a shortcut.
pub fn action(press: &Press) -> Option<Action> {
    let only_alt = press.alt && !press.ctrl && !press.meta;
    match press.key {
        "ArrowUp" if only_alt && press.shift => Some(Action::PreviousUnread),
        "ArrowDown" if only_alt && press.shift => Some(Action::NextUnread),
        "ArrowUp" if only_alt => Some(Action::PreviousRoom),
        "ArrowDown" if only_alt => Some(Action::NextRoom),
        "k" | "K" if (press.ctrl || press.meta) && !press.alt && !press.shift => {
            Some(Action::Switcher)
        }
        "/" if !press.typing && !press.ctrl && !press.meta && !press.alt => Some(Action::Search),
        "?" if !press.typing && !press.ctrl && !press.meta && !press.alt => Some(Action::Help),
        "Escape" => Some(Action::Close),
        "PageUp" if !press.alt && !press.ctrl && !press.meta && !press.shift => {
            Some(Action::PageUp)
        }
        "PageDown" if !press.alt && !press.ctrl && !press.meta && !press.shift => {
            Some(Action::PageDown)
        }
        _ => None,
    }
}

/// The shortcuts as the help lists them: keys, then what they do.
pub const HELP: &[(&str, &str)] = &[
    ("Alt + ↑ / Alt + ↓", "Previous / next room"),
    (
        "Alt + Shift + ↑ / ↓",
        "Previous / next room with unread messages",
    ),
    (
        "Ctrl + K (⌘ K on a Mac)",
        "Go to a room: type to filter, Enter to open",
    ),
    (
        "/",
        "Search your rooms: Enter searches, ↑ ↓ choose, Enter opens",
    ),
    ("Page Up / Page Down", "Scroll the messages"),
    (
        "Enter / Shift + Enter",
        "Send / new line, in the message box",
    ),
    ("Escape", "Close a dialog or a side panel"),
    ("?", "This list"),
];
