//! A room's entry in the `rooms` frame: from the user's membership and the
//! store's messages after their read marker.
//!
//! The counts come from the messages themselves, not from counters kept
//! beside them, so they agree on every device and after any restart, and
//! an edit, a delete or a reaction (events with their own seq) never counts
//! as unread. Reading at most [`UNREAD_COUNT_CAP`] messages per room keeps
//! a login's cost bounded however long a user was away.

use shared::{
    protocol::{NotifyLevel, RoomEntry, UNREAD_COUNT_CAP},
    UserId,
};

use super::{Membership, MembershipsError, Result};
use crate::store::Store;

/// The entry of `membership`'s room, whose `size` (members now) decides a
/// default level.
pub async fn entry(
    user: &UserId,
    membership: &Membership,
    size: u32,
    store: &dyn Store,
) -> Result<RoomEntry> {
    let page = store
        .after(
            &membership.room,
            Some(membership.read),
            UNREAD_COUNT_CAP as usize,
        )
        .await
        .map_err(|err| MembershipsError::Unavailable(err.to_string()))?;
    let last_seq = page
        .messages
        .iter()
        .map(|m| m.seq)
        .chain(page.updates.iter().map(|u| u.seq))
        .fold(membership.read, u64::max);
    let unread: Vec<_> = page
        .messages
        .iter()
        .filter(|m| &m.from.id != user && !m.state.deleted)
        .collect();
    let mentions = unread
        .iter()
        .filter(|m| m.state.mentions_room || m.state.mentions.contains(user))
        .count();
    Ok(RoomEntry {
        room: membership.room.clone(),
        last_seq,
        read: membership.read,
        unread: unread.len() as u32,
        mentions: mentions as u32,
        unread_capped: page.truncated,
        level: membership
            .level
            .unwrap_or_else(|| NotifyLevel::default_for(size)),
    })
}
