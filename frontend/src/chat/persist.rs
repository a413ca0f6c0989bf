//! Keeping the browser's storage in step with the model: rooms, resume
//! token and this tab's outbox, the offline cache of recent messages, and
//! the unread count in the title.

use leptos::prelude::*;

use super::Chat;
use crate::storage;

/// Messages per room kept for offline use, when they fit the budget.
const CACHE_PER_ROOM: usize = 100;

impl Chat {
    /// Keeps storage in step with the model: rooms, resume token and this
    /// tab's outbox (so a reload loses no typed message), and the title.
    /// Call it from a component, so the effect has an owner.
    pub fn persist(self) {
        self.forget_kept_when_acked();
        let client = self.client;
        let saved = Memo::new(move |_| {
            client.with(|c| {
                let rooms: Vec<String> = c.rooms().iter().map(|r| r.name().to_string()).collect();
                let outbox = (!c.outbox().is_empty()).then(|| c.outbox().save());
                let unread: u32 = c.rooms().iter().map(|r| r.unread()).sum();
                (rooms, c.resume_token().map(String::from), outbox, unread)
            })
        });
        // The offline cache: each room's latest messages, as many per room
        // as fit the storage budget. Serialising it is not cheap, so it is
        // written only when some room's messages change (a new last `seq`,
        // a message more or fewer, a renumbered room), not on typing or
        // presence.
        Effect::new(move |written: Option<Vec<(Option<u64>, usize, u64)>>| {
            let key = client.with(|c| {
                c.rooms()
                    .iter()
                    .map(|r| (r.last_seq(), r.messages().len(), r.generation()))
                    .collect::<Vec<_>>()
            });
            if written.as_ref() == Some(&key) {
                return key;
            }
            let json = client.with_untracked(|c| {
                [CACHE_PER_ROOM, CACHE_PER_ROOM / 4, 5]
                    .into_iter()
                    .map(|per_room| c.cache_snapshot(per_room))
                    .find(|json| json.len() <= storage::CACHE_BUDGET_BYTES)
            });
            if let Some(json) = json {
                storage::set_cache(&json);
            }
            key
        });
        let tab = self.tab.get_value();
        Effect::new(move |_| {
            let (rooms, resume, outbox, unread) = saved.get();
            storage::set_rooms(&rooms);
            storage::set_resume(resume.as_deref());
            storage::set_outbox(&tab, outbox.as_deref());
            if let Some(document) = web_sys::window().and_then(|w| w.document()) {
                document.set_title(&if unread > 0 {
                    format!("({unread}) Palaver")
                } else {
                    "Palaver".into()
                });
            }
        });
    }
}
