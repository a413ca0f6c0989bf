//! What a room's message list shows, as a pure function of the model: the
//! stored messages by `seq`, then our pending and failed sends, grouped by
//! sender, with a divider before the first message of each local day.
//!
//! Views render these rows and nothing else, so grouping and dividers are
//! tested here natively; the time zone and the clock are passed in because
//! only the driver can read them.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};

use super::{Client, PendingState, Shown, Target};
use crate::names::{ClientId, Emoji, RoomName, UserId};
use crate::protocol::{Attachment, ChatMessage, Quote, User};

/// Users' nicks by id, as loaded.
type Nicks<'a> = HashMap<&'a UserId, &'a str>;

/// Consecutive messages of one sender closer than this share one header.
pub const GROUP_GAP_MS: u64 = 5 * 60 * 1000;
const DAY_MS: i64 = 24 * 60 * 60 * 1000;

/// The viewer's clock and time zone, read by the driver.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeZone {
    /// Now, Unix milliseconds.
    pub now_ms: u64,
    /// The local offset from UTC in milliseconds, east positive (UTC+2 is
    /// `7_200_000`).
    pub offset_ms: i64,
}

impl TimeZone {
    /// The local calendar day of `ts`, as days since 1970-01-01 local.
    pub fn day(&self, ts: u64) -> i64 {
        (ts as i64 + self.offset_ms).div_euclid(DAY_MS)
    }
}

/// What a day divider says; the view formats [`DayLabel::Date`] in the
/// viewer's locale.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DayLabel {
    Today,
    Yesterday,
    /// An older (or future) day: show the date of this timestamp.
    Date(u64),
}

/// Where a row's message stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RowStatus {
    /// Stored by the relay (it has a `seq`).
    Stored,
    /// Ours, written or queued, waiting for the relay's ack.
    Pending,
    /// Ours, refused; the reason is the relay's.
    Failed(String),
}

/// One message row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    /// Identifies what the row shows, for keyed lists: unchanged key, same
    /// DOM. It names the room's [`super::Room::generation`], so a relay that
    /// numbered the room anew gets new rows for reused `seq`s.
    pub key: String,
    pub seq: Option<u64>,
    pub client_id: Option<ClientId>,
    pub from: String,
    pub mine: bool,
    pub text: String,
    /// The relay's timestamp, or when we wrote a pending message.
    pub ts: u64,
    /// First of a group of one sender's messages: show the sender and time.
    pub first_of_group: bool,
    /// Missing messages come before this one (a truncated rejoin).
    pub gap_before: bool,
    /// A day divider comes before this row.
    pub day: Option<DayLabel>,
    pub status: RowStatus,
    /// How actions (reply, edit, delete, react) name this message.
    pub target: Target,
    /// The `seq` this message replies to, and what it quotes of it.
    pub reply_to: Option<u64>,
    pub quote: Option<Quote>,
    /// When its text was last edited (ours: when we edited it, until the
    /// relay's time comes).
    pub edited_ts: Option<u64>,
    /// A tombstone: `text` is the placeholder.
    pub deleted: bool,
    pub reactions: Vec<RowReaction>,
    /// It mentions us, by nick or `@room`.
    pub mentions_me: bool,
    /// The nicks of the others it mentions, as loaded (members, senders):
    /// what a view highlights besides our own nick and `@room`.
    pub mentioned: Vec<String>,
    /// One of our changes of it (edit, delete, reaction) waits for the
    /// relay.
    pub changing: bool,
    /// Its files, as the relay delivered them.
    pub attachments: Vec<Attachment>,
}

/// One reaction chip.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RowReaction {
    pub emoji: Emoji,
    pub count: u32,
    /// We reacted with it.
    pub mine: bool,
}

/// The parts of a row that come from a message's [`Shown`] state; `nicks`
/// names the users loaded.
fn shown_parts(row: &mut Row, shown: Shown, me: Option<&UserId>, nicks: &Nicks) {
    row.text = shown.text.to_string();
    row.reply_to = shown.state.reply_to;
    row.quote = shown.state.quote;
    row.edited_ts = shown.state.edited_ts;
    row.deleted = shown.state.deleted;
    row.mentions_me = !row.mine
        && (shown.state.mentions_room || me.is_some_and(|me| shown.state.mentions.contains(me)));
    row.mentioned = shown
        .state
        .mentions
        .iter()
        .filter(|id| Some(*id) != me)
        .filter_map(|id| nicks.get(id).map(|nick| nick.to_string()))
        .collect();
    row.reactions = shown
        .state
        .reactions
        .into_iter()
        .map(|r| RowReaction {
            mine: me.is_some_and(|me| r.users.contains(me)),
            emoji: r.emoji,
            count: r.count,
        })
        .collect();
    row.changing = shown.changing;
    row.attachments = shown.state.attachments;
}

/// A short fingerprint of what a row shows besides its position, for its
/// key: an edit, a delete or a reaction gives the row a new key, so a keyed
/// list renders it again.
fn fingerprint(row: &Row) -> u64 {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    (
        &row.text,
        row.edited_ts,
        row.deleted,
        &row.reactions,
        row.changing,
        row.mentions_me,
        &row.mentioned,
    )
        .hash(&mut hasher);
    row.quote
        .as_ref()
        .map(|q| (&q.text, q.deleted, q.from.nick.as_str()))
        .hash(&mut hasher);
    hasher.finish()
}

/// The rows of a page of `room`'s messages on its own (the page around a
/// search hit), laid out as the live list lays out the room, for `me`: its
/// own messages are "mine" and its mentions marked, as in the live list.
pub fn page_timeline(
    me: Option<&User>,
    room: &RoomName,
    page: &[ChatMessage],
    tz: TimeZone,
) -> Vec<Row> {
    let mut model = Client::new("page");
    model.me = me.cloned();
    model.join(room.clone());
    if let Some(state) = model.room_mut(room) {
        for msg in page {
            state.insert(msg.clone(), false, None, false, &mut Vec::new());
        }
    }
    timeline(&model, room, tz)
}

/// The rows of `room`, oldest first: stored messages, then our sends not
/// stored yet (a send whose message is already stored is shown once, as
/// stored).
pub fn timeline(client: &Client, room: &RoomName, tz: TimeZone) -> Vec<Row> {
    let Some(state) = client.room(room) else {
        return Vec::new();
    };
    let me = client.me().map(|u| &u.id);
    // Who a mention's id is: members first, else a sender seen.
    let mut nicks: Nicks = state
        .messages()
        .map(|m| (&m.from.id, m.from.nick.as_str()))
        .collect();
    nicks.extend(state.members_unsorted().map(|u| (&u.id, u.nick.as_str())));
    let gap = state.gap();
    let generation = state.generation();
    let blank = |target: Target| Row {
        key: String::new(),
        seq: None,
        client_id: None,
        from: String::new(),
        mine: false,
        text: String::new(),
        ts: 0,
        first_of_group: true,
        gap_before: false,
        day: None,
        status: RowStatus::Stored,
        target,
        reply_to: None,
        quote: None,
        edited_ts: None,
        deleted: false,
        reactions: Vec::new(),
        mentions_me: false,
        mentioned: Vec::new(),
        changing: false,
        attachments: Vec::new(),
    };
    let mut rows: Vec<Row> = state
        .messages()
        .map(|m| {
            let target = Target::Seq(m.seq);
            let mut row = Row {
                key: format!("s{generation}.{}.{}", m.seq, m.ts),
                seq: Some(m.seq),
                client_id: m.client_id.clone(),
                from: m.from.nick.to_string(),
                mine: Some(&m.from.id) == me,
                ts: m.ts,
                gap_before: gap.is_some_and(|g| g.before == m.seq),
                ..blank(target.clone())
            };
            if let Some(shown) = client.shown(room, &target) {
                shown_parts(&mut row, shown, me, &nicks);
            }
            row
        })
        .collect();
    let stored = |id: &ClientId| {
        state
            .messages()
            .rev()
            .any(|m| m.client_id.as_ref() == Some(id) && Some(&m.from.id) == me)
    };
    let my_nick = client.display_nick();
    for p in client.outbox().for_room(room) {
        if !p.is_send() || stored(&p.client_id) {
            continue;
        }
        let target = Target::Pending(p.client_id.clone());
        let mut row = Row {
            key: format!("p{}", p.client_id),
            client_id: Some(p.client_id.clone()),
            from: my_nick.clone(),
            mine: true,
            ts: p.created_ms,
            status: match &p.state {
                PendingState::Failed { reason, .. } => RowStatus::Failed(reason.clone()),
                _ => RowStatus::Pending,
            },
            ..blank(target.clone())
        };
        if let Some(shown) = client.shown(room, &target) {
            shown_parts(&mut row, shown, me, &nicks);
        }
        rows.push(row);
    }
    let today = tz.day(tz.now_ms);
    let label = |ts: u64| match today - tz.day(ts) {
        0 => DayLabel::Today,
        1 => DayLabel::Yesterday,
        _ => DayLabel::Date(ts),
    };
    for i in 0..rows.len() {
        let this = &rows[i];
        let new_day = i == 0 || tz.day(rows[i - 1].ts) != tz.day(this.ts);
        let same_group = i > 0 && {
            let prev = &rows[i - 1];
            prev.from == this.from
                && prev.mine == this.mine
                && this.ts.saturating_sub(prev.ts) < GROUP_GAP_MS
                && !this.gap_before
                && !new_day
        };
        let day = new_day.then(|| label(this.ts));
        let row = &mut rows[i];
        row.first_of_group = !same_group;
        row.day = day;
        // What the row looks like is part of its identity, so a change
        // re-renders it.
        let status = match &row.status {
            RowStatus::Stored => String::new(),
            RowStatus::Pending => ":pending".into(),
            RowStatus::Failed(reason) => format!(":failed:{reason}"),
        };
        row.key = format!(
            "{}{status}:{}:{}:{}:{:x}",
            row.key,
            row.first_of_group,
            row.gap_before,
            new_day,
            fingerprint(row)
        );
    }
    rows
}

#[cfg(test)]
mod tests;
