//! `history` and the guards of every command that reads the store
//! (`join`'s catch-up, `history`, `search`): the connection's read budget
//! and the relay's cap on reads at once.

use shared::{ErrorCode, RoomName, ServerMsg};

use super::{
    commands::{Outcome, Refusal},
    Session,
};
use crate::{
    peer::{encode, Frame},
    reads::ReadError,
    store::StoreError,
};

/// Where a `history` page lies: its optional `before`, `around` and
/// `after`, of which at most one may be given.
pub(super) struct Cursor {
    pub before: Option<u64>,
    pub around: Option<u64>,
    pub after: Option<u64>,
}

impl Session {
    pub(super) async fn history(
        &mut self,
        room: RoomName,
        limit: Option<u32>,
        cursor: Cursor,
    ) -> Outcome {
        self.require_joined(&room)?;
        let Cursor {
            before,
            around,
            after,
        } = cursor;
        let given = [before, around, after]
            .iter()
            .filter(|c| c.is_some())
            .count();
        if given > 1 {
            return Err(Refusal::new(
                ErrorCode::BadFrame,
                "history takes one of `before`, `around` and `after`, not more",
            ));
        }
        self.check_read_budget()?;
        let limit = limit
            .unwrap_or(50)
            .clamp(1, shared::limits::MAX_HISTORY_PAGE) as usize;
        let messages = match after {
            // Reading on: the oldest `limit` newer than `after`.
            Some(after) => {
                self.read(self.state.store.newer(&room, after, limit))
                    .await?
            }
            None => {
                // Around `seq`: the page of `limit` that ends `limit / 2`
                // seqs after it. At most that many messages are newer than
                // `seq` there, so `seq` is always on the page (the room's
                // start or end only shortens one side).
                let before = around.map_or(before, |seq| {
                    Some(seq.saturating_add(limit as u64 / 2).saturating_add(1))
                });
                self.read(self.state.store.before(&room, before, limit))
                    .await?
            }
        };
        let page = encode(&ServerMsg::History { room, messages });
        self.charge_read(&page);
        self.peer.push(page, &self.state.metrics);
        Ok(())
    }

    /// The guard of `join` and `history`: the connection's reply bytes
    /// budget must not be in debt (`reads`).
    pub(super) fn check_read_budget(&mut self) -> Outcome {
        self.read_budget.check().map_err(|wait| {
            self.state.metrics.read_budget_refused.inc();
            Refusal::new(
                ErrorCode::RateLimited,
                format!(
                    "history and joins are limited to {} KiB/s per connection; wait {} ms",
                    self.read_budget.rate() / 1024,
                    wait.as_millis().max(1)
                ),
            )
            .retry_after(wait)
        })
    }

    /// A store read, within the relay's cap on reads at once.
    pub(super) async fn read<T>(
        &self,
        read: impl std::future::Future<Output = Result<T, StoreError>>,
    ) -> Result<T, Refusal> {
        self.state.reads.run(read).await.map_err(|err| {
            if matches!(err, ReadError::Busy) {
                self.state.metrics.store_reads_refused.inc();
            }
            Refusal::new(ErrorCode::Unavailable, err.to_string())
        })
    }

    pub(super) fn charge_read(&mut self, reply: &Frame) {
        self.read_budget.charge(reply.len());
        self.state.metrics.read_bytes.add(reply.len() as u64);
    }
}
