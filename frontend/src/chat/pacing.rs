//! The outbox's timer: the shared model decides when the next queued
//! message fits the relay's rate ([`shared::client::Client::wake_at`]); this
//! sets a browser timeout for then, writes what
//! [`shared::client::Client::poll`] returns, and sets the next. One timer
//! at a time: a later wake time waits for the earlier one, which sets it.

use std::time::Duration;

use leptos::prelude::*;

use super::{now_ms, Chat};

impl Chat {
    /// Sets the outbox's timer if the model waits for a time and no timer
    /// as early is set already. Called after every write.
    pub(super) fn schedule_outbox(self) {
        let Some(at) = self.client.with_untracked(|c| c.wake_at()) else {
            return;
        };
        if self.outbox_timer.get_value().is_some_and(|set| set <= at) {
            return;
        }
        self.outbox_timer.set_value(Some(at));
        let wait = Duration::from_millis(at.saturating_sub(now_ms()));
        set_timeout(
            move || {
                self.outbox_timer.set_value(None);
                let now = now_ms();
                self.act(|c| c.poll(now));
            },
            wait,
        );
    }
}
