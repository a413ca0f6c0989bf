//! The member panel's events, handed to the shared model (which decides
//! what to page, search and subscribe) and its frames written.

use leptos::prelude::*;
use shared::RoomName;

use super::Chat;

impl Chat {
    /// The member list of `room` is on screen (`None`: no list is).
    pub fn show_members(self, room: Option<RoomName>) {
        let frames = self
            .client
            .try_update(|c| c.show_members(room))
            .unwrap_or_default();
        self.write(frames);
    }

    /// The panel's search box of `room` now holds `query`.
    pub fn set_member_query(self, room: &RoomName, query: &str) {
        self.act(|c| c.set_member_query(room, query));
    }

    /// "Load more" in the panel of `room`.
    pub fn load_more_members(self, room: &RoomName) {
        self.act(|c| c.load_more_members(room));
    }

    /// `@prefix` is being typed in `room`'s composer: in a big room, ask
    /// the relay for the members it may name (the answer updates the model).
    pub fn ask_mention_matches(self, room: &RoomName, prefix: &str) {
        // Nothing shown changes until the answer: no need to wake readers.
        let frame = self
            .client
            .try_update_untracked(|c| c.ask_mention_matches(room, prefix))
            .flatten();
        self.write(frame);
    }
}
