//! What the user looks at: the room on screen and whether the app is
//! visible at all. It decides the active room (never unread) and what the
//! relay is told with `focus`, so a big room's typing reaches only those
//! who see it (docs/PROTOCOL.md, "focus").
//!
//! The relay keeps one `focus` per connection and a new connection starts
//! "active, no room": after every `welcome` the model tells it again.

use super::Client;
use crate::names::RoomName;
use crate::protocol::ClientMsg;

/// The room on screen and the app's visibility, as the user has them and
/// as the relay was last told on this connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct View {
    room: Option<RoomName>,
    visible: bool,
    told_room: Option<RoomName>,
    told_visible: bool,
}

impl Default for View {
    fn default() -> Self {
        View {
            room: None,
            visible: true,
            told_room: None,
            told_visible: true,
        }
    }
}

impl Client {
    /// The user now sees `room` (`None`: no room on screen) and the app is
    /// `visible` or hidden (a background tab). The room shown in a visible
    /// app is the active one; while hidden every room counts unread.
    /// Returns the `focus` frame that tells the relay, when connected and
    /// something changed for it.
    pub fn set_view(&mut self, room: Option<RoomName>, visible: bool) -> Option<ClientMsg> {
        self.set_active(room.clone().filter(|_| visible));
        self.view.room = room;
        self.view.visible = visible;
        if self.ready {
            self.focus_frame()
        } else {
            None
        }
    }

    /// The `focus` that brings the relay up to date, if it is not: only
    /// the fields that differ. (A room cannot be un-named: with no room on
    /// screen the relay keeps the last one, which matters only while the
    /// user is in it.)
    fn focus_frame(&mut self) -> Option<ClientMsg> {
        let view = &mut self.view;
        let room = view
            .room
            .clone()
            .filter(|r| view.told_room.as_ref() != Some(r));
        let active = (view.told_visible != view.visible).then_some(view.visible);
        if room.is_none() && active.is_none() {
            return None;
        }
        if room.is_some() {
            view.told_room = room.clone();
        }
        view.told_visible = view.visible;
        Some(ClientMsg::Focus { room, active })
    }

    /// A new connection was welcomed: the relay knows nothing of what we
    /// show.
    pub(crate) fn focus_after_welcome(&mut self) -> Option<ClientMsg> {
        self.view.told_room = None;
        self.view.told_visible = true;
        self.focus_frame()
    }
}
