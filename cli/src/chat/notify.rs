//! `/notify all|mentions|none`: which of the current room's messages
//! notify the user, on every device (the `notify` frame); `/notify` alone
//! shows the level in effect.

use shared::protocol::NotifyLevel;

use super::Driver;

pub const HELP: &str = "  /notify [all|mentions|none]
                 which messages of the current room notify you, on every
                 device (alone: show it)";

impl Driver {
    pub(super) async fn notify(&mut self, arg: &str) {
        let Some(room) = self.current.clone() else {
            return self.out.status("you are in no room: /join ROOM first");
        };
        if arg.is_empty() {
            let level = self.client.room(&room).map(|r| r.level_or_default());
            return match level {
                Some(level) => self
                    .out
                    .status(&format!("notifications in {room}: {}", level.as_str())),
                None => self.out.status("you are in no room: /join ROOM first"),
            };
        }
        let Some(level) = NotifyLevel::parse(arg) else {
            return self.out.status("usage: /notify all|mentions|none");
        };
        if !self.client.is_connected() {
            return self.out.status("not connected; try again once connected");
        }
        let frame = self.client.set_level(&room, level);
        self.out
            .status(&format!("notifications in {room}: {}", level.as_str()));
        self.write(frame).await;
    }
}
