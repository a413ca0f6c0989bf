//! The session's frames as IRC lines: the welcome numerics, a join's
//! names, messages as `PRIVMSG`s, presence as `JOIN`/`PART`/`NICK`, edits
//! and deletes as `NOTICE`s to the channel, errors as `NOTICE`s.

use shared::{
    protocol::{PresenceEvent, Update, UpdateKind},
    ChatMessage, ErrorCode, RoomName, ServerMsg, User,
};

use super::{
    msgid,
    reply::{self, channel},
    Irc, Query,
};
use crate::gateway::Out;

impl Irc {
    /// One frame from the session.
    pub(super) fn frame(&mut self, msg: ServerMsg, out: &mut Out) {
        match msg {
            ServerMsg::Welcome { user, .. } => self.welcome(user, out),
            ServerMsg::Joined {
                room,
                members,
                history,
                ..
            } => self.joined_room(room, members, history, out),
            ServerMsg::Message(msg) => {
                let own = msg
                    .client_id
                    .as_ref()
                    .is_some_and(|id| self.sent.contains(id))
                    && self.is_me(&msg.from);
                if !own || self.echo {
                    self.message(&msg, out);
                }
            }
            ServerMsg::Ack { client_id, .. } => {
                self.sent.remove(&client_id);
            }
            ServerMsg::Presence { room, event, user } => {
                if self.is_me(&user) {
                    return;
                }
                match event {
                    PresenceEvent::Join => {
                        let prefix = self.prefix(&user);
                        out.line(format!(":{prefix} JOIN {}", channel(&room)));
                    }
                    PresenceEvent::Leave => {
                        let prefix = self.prefix(&user);
                        out.line(format!(":{prefix} PART {}", channel(&room)))
                    }
                    PresenceEvent::Nick => {
                        if let (new, Some(old)) = self.nicks.show(&user) {
                            out.line(format!(":{} NICK :{new}", reply::prefix(&old, &user)));
                        }
                    }
                }
            }
            ServerMsg::Members { room, members, .. } => {
                let Some(at) = self.queries.iter().position(|(r, _)| *r == room) else {
                    return;
                };
                let (_, query) = self.queries.remove(at).expect("found");
                let members = self.shown(members);
                let mut r = self.replies(out);
                match query {
                    Query::Names => r.names(&room, &members),
                    Query::Who => r.who(&room, &members),
                }
            }
            ServerMsg::Error { code, message, .. } => {
                if code == ErrorCode::Unauthorized && self.me.is_none() {
                    self.replies(out).numeric(
                        "464",
                        &[],
                        &format!("Password incorrect: {message}"),
                    );
                } else {
                    self.replies(out)
                        .notice(&format!("error {}: {message}", code.as_str()));
                }
            }
            ServerMsg::Update(update) => self.update(&update, out),
            ServerMsg::Typing { room, user }
                if self.tags && self.channels.contains(&room) && !self.is_me(&user) =>
            {
                let prefix = self.prefix(&user);
                out.line(format!(
                    "@+typing=active :{prefix} TAGMSG {}",
                    channel(&room)
                ));
            }
            ServerMsg::TokenExpiring { .. } => self
                .replies(out)
                .notice("your token expires soon; reconnect with a fresh one (PASS)"),
            // Pongs, big rooms' batches, and frames newer than this
            // gateway: nothing IRC shows.
            _ => {}
        }
    }

    /// An edit or a delete as a NOTICE to the channel from its author:
    /// `[edited] new text`, `[deleted a message]`. IRC cannot change what
    /// it showed, so the notice is what tells the channel. Reactions are
    /// not shown: a NOTICE per emoji would drown the talk.
    fn update(&mut self, update: &Update, out: &mut Out) {
        if !self.channels.contains(&update.room) {
            return;
        }
        let text = match (update.kind, &update.text) {
            (UpdateKind::Edit, Some(text)) => format!("[edited] {}", text.as_str()),
            (UpdateKind::Delete, _) => "[deleted a message]".to_owned(),
            _ => return,
        };
        let from = self.prefix(&update.from);
        let tags = self.tags_for(&update.room, None, Some(update.target), update.ts);
        reply::notice_to_channel(out, &from, &update.room, &text, &tags);
    }

    /// Each member with the nick they are shown as here.
    fn shown(&mut self, members: Vec<User>) -> Vec<(String, User)> {
        (members.into_iter())
            .map(|user| (self.nicks.show(&user).0, user))
            .collect()
    }

    fn message(&mut self, msg: &ChatMessage, out: &mut Out) {
        let from = self.prefix(&msg.from);
        let tags = self.tags_for(&msg.room, Some(msg.seq), msg.state.reply_to, msg.ts);
        reply::privmsg(out, &from, &msg.room, msg.text.as_str(), &tags);
    }

    /// The tags this client asked for on a line about a message: its time
    /// (`server-time`); its `msgid` and what it replies to
    /// (`message-tags`).
    fn tags_for(
        &self,
        room: &RoomName,
        seq: Option<u64>,
        reply_to: Option<u64>,
        ts: u64,
    ) -> String {
        let mut tags = Vec::new();
        if self.server_time {
            tags.push(("time", reply::iso8601(ts)));
        }
        if self.tags {
            if let Some(seq) = seq {
                tags.push(("msgid", msgid::of(room, seq)));
            }
            if let Some(target) = reply_to {
                tags.push(("+draft/reply", msgid::of(room, target)));
            }
        }
        reply::tags(&tags)
    }

    pub(super) fn welcome(&mut self, user: User, out: &mut Out) {
        self.nicks.set_me(&user);
        self.me = Some(user);
        let mut r = self.replies(out);
        r.numeric("001", &[], &format!("Welcome to Palaver, {}", r.nick()));
        r.numeric("002", &[], "Your host is palaver, a Palaver relay");
        r.numeric(
            "003",
            &[],
            "This server speaks Palaver protocol v1 underneath",
        );
        r.numeric(
            "004",
            &["palaver", env!("CARGO_PKG_VERSION"), "i", "nt"],
            "",
        );
        r.numeric(
            "005",
            &[
                "CHANTYPES=#",
                "NICKLEN=32",
                "CHANNELLEN=33",
                "CASEMAPPING=ascii",
                "NETWORK=Palaver",
            ],
            "are supported by this server",
        );
        r.numeric("422", &[], "MOTD File is missing");
    }

    fn joined_room(
        &mut self,
        room: RoomName,
        members: Vec<User>,
        history: Vec<ChatMessage>,
        out: &mut Out,
    ) {
        // The session always welcomes before a join; nothing to show if not.
        let Some(me) = self.me.clone() else { return };
        self.channels.insert(room.clone());
        let members = self.shown(members);
        let prefix = self.prefix(&me);
        out.line(format!(":{prefix} JOIN {}", channel(&room)));
        let mut r = self.replies(out);
        r.numeric("331", &[&channel(&room)], "No topic is set");
        r.names(&room, &members);
        // History has its times only with server-time; without, it would
        // look like talk happening now.
        if self.server_time {
            for msg in &history {
                self.message(msg, out);
            }
        }
    }
}
