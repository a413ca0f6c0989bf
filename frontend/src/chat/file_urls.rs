//! Fresh attachment URLs. `url` and `thumb` are signed and expire
//! (docs/PROTOCOL.md, "Files"); a tab open longer than that asks the
//! relay for the message again (`Client::refresh_files`: a `history`
//! page, the model swaps in the new URLs) once a URL's expiry (its `e=`)
//! has passed, or when an image fails to load. Once per URL: a URL asked
//! about is never asked about again, so a file that is really gone (the
//! relay gives the same URL, or one that fails again) costs one request,
//! not a loop.

use std::collections::HashSet;

use leptos::prelude::*;
use shared::RoomName;

use super::Chat;

impl Chat {
    /// Asks once for fresh URLs of `room`'s message `seq`, whose `url`
    /// expired or failed; false if that URL was asked about already. Not
    /// connected, nothing is asked (nor counted): the clock asks again
    /// once the relay is back.
    pub fn refresh_file_url(self, room: &RoomName, seq: u64, url: &str) -> bool {
        if self.refreshed.with_value(|asked| asked.contains(url)) {
            return false;
        }
        let frames = self
            .client
            .try_update(|c| c.refresh_files(room, &[seq]))
            .unwrap_or_default();
        if !frames.is_empty() {
            self.refreshed.update_value(|asked: &mut HashSet<String>| {
                asked.insert(url.to_owned());
            });
            self.write(frames);
        }
        true
    }
}

/// A capability URL's expiry (`e=`, Unix seconds), if it has one.
pub fn expiry(url: &str) -> Option<u64> {
    let query = url.split_once('?')?.1;
    query
        .split('&')
        .find_map(|pair| pair.strip_prefix("e="))
        .and_then(|e| e.parse().ok())
}
