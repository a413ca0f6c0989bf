//! What is open besides the room: the two drawers of narrow screens and the
//! dialogs, with where focus goes. Opening a drawer moves focus into it
//! (the rest of the screen is inert meanwhile); closing it, or closing a
//! dialog, gives focus back to the control that opened it.

use leptos::prelude::*;
use wasm_bindgen::JsCast;

/// The UI state every part of the screen may open or close; a context.
#[derive(Clone, Copy)]
pub struct Ui {
    /// The rooms drawer (the sidebar, on narrow screens).
    pub rooms_open: RwSignal<bool>,
    /// The members drawer (on screens narrower than three columns).
    pub members_open: RwSignal<bool>,
    /// The change-nickname dialog.
    pub editing_nick: RwSignal<bool>,
    /// The keyboard shortcuts dialog (`?`).
    pub help_open: RwSignal<bool>,
    /// The room switcher (Ctrl-K).
    pub switcher_open: RwSignal<bool>,
    /// The search dialog (`/`).
    pub search_open: RwSignal<bool>,
    /// What had focus when each open dialog opened, innermost last.
    openers: StoredValue<Vec<web_sys::HtmlElement>, LocalStorage>,
}

/// The ids the drawers and their toggles have in the DOM.
pub const ROOMS_TOGGLE: &str = "rooms-toggle";
pub const MEMBERS_TOGGLE: &str = "members-toggle";
pub const SIDEBAR: &str = "sidebar";
pub const MEMBERS: &str = "members";

impl Ui {
    pub fn new() -> Self {
        Ui {
            rooms_open: RwSignal::new(false),
            members_open: RwSignal::new(false),
            editing_nick: RwSignal::new(false),
            help_open: RwSignal::new(false),
            switcher_open: RwSignal::new(false),
            search_open: RwSignal::new(false),
            openers: StoredValue::new_local(Vec::new()),
        }
    }

    /// A drawer is open: the rest of the screen is inert.
    pub fn drawer_open(self) -> bool {
        self.rooms_open.get() || self.members_open.get()
    }

    pub fn toggle_rooms(self) {
        if self.rooms_open.get_untracked() {
            self.close_drawers();
        } else {
            self.members_open.set(false);
            self.rooms_open.set(true);
            // After the drawer is shown (a hidden element takes no focus).
            request_animation_frame(|| {
                focus_first(&format!(
                    "#{SIDEBAR} a, #{SIDEBAR} button, #{SIDEBAR} input"
                ))
            });
        }
    }

    pub fn toggle_members(self) {
        if self.members_open.get_untracked() {
            self.close_drawers();
        } else {
            self.rooms_open.set(false);
            self.members_open.set(true);
            request_animation_frame(|| focus_first(&format!("#{MEMBERS}")));
        }
    }

    /// Closes an open drawer and gives focus back to its toggle; false if
    /// none was open.
    pub fn close_drawers(self) -> bool {
        let toggle = if self.rooms_open.get_untracked() {
            ROOMS_TOGGLE
        } else if self.members_open.get_untracked() {
            MEMBERS_TOGGLE
        } else {
            return false;
        };
        self.rooms_open.set(false);
        self.members_open.set(false);
        // After the rest of the screen is no longer inert.
        request_animation_frame(move || focus_first(&format!("#{toggle}")));
        true
    }

    /// A dialog opens: remember what has focus, to give it back.
    pub fn dialog_opened(self) {
        if let Some(el) = active_element() {
            self.openers.update_value(|o| o.push(el));
        }
    }

    /// A dialog closed: focus goes back to its opener, once the dialog is
    /// gone (while a modal dialog is open the page behind takes no focus).
    pub fn dialog_closed(self) {
        request_animation_frame(move || {
            if let Some(el) = self.openers.try_update_value(|o| o.pop()).flatten() {
                if el.is_connected() {
                    let _ = el.focus();
                }
            }
        });
    }
}

fn document() -> Option<web_sys::Document> {
    web_sys::window()?.document()
}

/// The element with focus, unless that is the page itself.
pub fn active_element() -> Option<web_sys::HtmlElement> {
    let doc = document()?;
    let el = doc.active_element()?;
    if doc.body().is_some_and(|b| *b == el) {
        return None;
    }
    el.dyn_into().ok()
}

/// Focuses the first element (in document order) matching `selector`.
pub fn focus_first(selector: &str) {
    if let Some(el) = document()
        .and_then(|d| d.query_selector(selector).ok().flatten())
        .and_then(|el| el.dyn_into::<web_sys::HtmlElement>().ok())
    {
        let _ = el.focus();
    }
}

/// Focuses the first element matching `selector` once the view has caught
/// up with a change (a row drawn anew, a popup just opened).
pub fn focus_soon(selector: String) {
    request_animation_frame(move || focus_first(&selector));
}
