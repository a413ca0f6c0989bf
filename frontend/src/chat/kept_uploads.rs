//! Kept uploads (`upload_store`) whose message is in the outbox: they are
//! forgotten once the outbox is done with it (acked, or discarded by the
//! user), not when it is handed to the outbox. The outbox (kept in
//! localStorage) names the uploaded files by id from then on; the bytes
//! stay kept until the relay has stored the message.

use leptos::prelude::*;
use leptos::task::spawn_local;
use shared::ClientId;

use super::{upload_store, Chat};

impl Chat {
    /// The kept files `records` went with the outbox's message `id`.
    pub fn kept_sent(self, id: ClientId, records: Vec<String>) {
        if self
            .client
            .with_untracked(|c| c.outbox().get(&id).is_some())
        {
            self.kept_sent.update_value(|k| k.push((id, records)));
        } else {
            spawn_local(async move { upload_store::forget(&records).await });
        }
    }

    /// Forgets kept files once their message left the outbox; at start,
    /// takes over what a previous load of this tab sent. Call it from a
    /// component, so the effect has an owner.
    pub(super) fn forget_kept_when_acked(self) {
        let kept = self.kept_sent;
        let client = self.client;
        Effect::new(move |_| {
            let gone: Vec<(ClientId, Vec<String>)> = client.with(|c| {
                kept.with_value(|k| {
                    k.iter()
                        .filter(|(id, _)| c.outbox().get(id).is_none())
                        .cloned()
                        .collect()
                })
            });
            if gone.is_empty() {
                return;
            }
            kept.update_value(|k| k.retain(|(id, _)| !gone.iter().any(|(g, _)| g == id)));
            let records: Vec<String> = gone.into_iter().flat_map(|(_, r)| r).collect();
            spawn_local(async move { upload_store::forget(&records).await });
        });
        let tab = self.tab.get_value();
        spawn_local(async move {
            let restored = upload_store::restore(&tab).await;
            for file in restored.files {
                if let Some(id) = upload_store::client_id(&file) {
                    self.kept_sent(id, vec![file.id]);
                }
            }
        });
    }
}
