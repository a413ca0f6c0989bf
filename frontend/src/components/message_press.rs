//! Long-press on touch: a finger held still on a message for
//! [`HOLD`] opens its actions, which a mouse reaches by hovering and a
//! keyboard by Tab. Only touch pointers start it; moving the finger more
//! than [`SLOP_PX`] (a scroll or a swipe), lifting it, or the browser
//! taking the gesture over (`pointercancel`, which it sends when it
//! starts scrolling) cancels it. Opening is focusing the toolbar's first
//! button, so what shows is exactly what keyboard focus shows, and the
//! screen reader hears the same toolbar.

use std::time::Duration;

use leptos::ev::{MouseEvent, PointerEvent};
use leptos::prelude::*;

use super::ui::focus_first;

/// How long a finger must stay down.
pub const HOLD: Duration = Duration::from_millis(500);
/// How far (CSS pixels) it may wander and still be a press.
const SLOP_PX: f64 = 10.0;

/// One row's long-press state; cheap to copy into its handlers.
#[derive(Clone, Copy)]
pub struct LongPress {
    /// The row's DOM id.
    row: StoredValue<String>,
    /// Where the finger went down, while a press may still happen.
    start: StoredValue<Option<(f64, f64)>>,
    /// The pending timer, cleared when the press is cancelled.
    timer: StoredValue<Option<TimeoutHandle>>,
    /// The press opened the actions: the click and context menu that the
    /// same touch brings are not the user's.
    fired: StoredValue<bool>,
}

impl LongPress {
    pub fn new(row: String) -> Self {
        LongPress {
            row: StoredValue::new(row),
            start: StoredValue::new(None),
            timer: StoredValue::new(None),
            fired: StoredValue::new(false),
        }
    }

    pub fn down(self, ev: PointerEvent) {
        self.cancel();
        self.fired.set_value(false);
        if ev.pointer_type() != "touch" || !ev.is_primary() {
            return;
        }
        self.start
            .set_value(Some((f64::from(ev.client_x()), f64::from(ev.client_y()))));
        let handle = set_timeout_with_handle(move || self.open(), HOLD).ok();
        self.timer.set_value(handle);
    }

    pub fn moved(self, ev: PointerEvent) {
        let Some((x, y)) = self.start.get_value() else {
            return;
        };
        let (dx, dy) = (f64::from(ev.client_x()) - x, f64::from(ev.client_y()) - y);
        if dx.hypot(dy) > SLOP_PX {
            self.cancel();
        }
    }

    /// The finger lifted, or the browser took the gesture (a scroll).
    pub fn cancel(self) {
        self.start.set_value(None);
        if let Some(handle) = self.timer.get_value() {
            handle.clear();
        }
        self.timer.set_value(None);
    }

    /// A click or context menu after the press opened the actions: the
    /// touch that opened them ends here.
    pub fn swallow(self, ev: MouseEvent) {
        if self.fired.get_value() {
            ev.prevent_default();
            ev.stop_propagation();
            self.fired.set_value(false);
        }
    }

    /// The browser's own long-press menu: not while a press of ours is
    /// under way or just opened the actions (it would cover them).
    pub fn menu(self, ev: MouseEvent) {
        if self.start.get_value().is_some() || self.fired.get_value() {
            ev.prevent_default();
        }
    }

    fn open(self) {
        self.timer.set_value(None);
        if self.start.get_value().is_none() {
            return;
        }
        self.start.set_value(None);
        self.fired.set_value(true);
        let row = self.row.get_value();
        focus_first(&format!("#{row} .message-actions .actions button"));
    }
}
