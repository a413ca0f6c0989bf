//! `palaver chat`'s commands for conversations: `/reply SEQ text`,
//! `/edit SEQ text` (or `/edit text` for your last message), `/delete SEQ`,
//! `/react SEQ emoji` (again to take it back). Messages are printed with
//! their seq so people can name them; the shared model queues each change
//! in its outbox like a send.

use shared::client::{ActionError, Target};
use shared::{ClientMsg, Emoji, Text};

use super::{now_ms, Driver};

pub const HELP: &str = "  /reply SEQ TEXT  reply to message SEQ (messages show as #SEQ)
  /edit SEQ TEXT   replace the text of your message SEQ; /edit TEXT: your last
  /delete SEQ      delete your message SEQ
  /react SEQ EMOJI add a reaction to message SEQ (again: take it back)";

impl Driver {
    /// Runs a conversation command; false if `name` is not one.
    pub(super) async fn conversation_command(&mut self, name: &str, arg: &str) -> bool {
        let usage = match name {
            "reply" => "usage: /reply SEQ TEXT",
            "edit" => "usage: /edit SEQ TEXT, or /edit TEXT for your last message",
            "delete" => "usage: /delete SEQ",
            "react" => "usage: /react SEQ EMOJI",
            _ => return false,
        };
        let Some(room) = self.current.clone() else {
            self.out.status("you are in no room: /join ROOM first");
            return true;
        };
        let (seq, rest) = match arg.split_once(char::is_whitespace) {
            Some((first, rest)) => (first.parse::<u64>().ok(), rest.trim()),
            None => (arg.parse::<u64>().ok(), ""),
        };
        let text = |s: &str| Text::new(s).ok();
        let now = now_ms();
        let result: Result<Option<ClientMsg>, String> = match (name, seq) {
            ("reply", Some(seq)) => match text(rest) {
                Some(t) => Ok(self.client.reply(&room, t, Target::Seq(seq), now).1),
                None => Err(usage.into()),
            },
            ("edit", Some(seq)) if !rest.is_empty() => match text(rest) {
                Some(t) => self
                    .client
                    .edit(&room, Target::Seq(seq), t, now)
                    .map_err(why),
                None => Err(usage.into()),
            },
            ("edit", _) => match (self.client.last_editable(&room), text(arg)) {
                (Some(target), Some(t)) => self.client.edit(&room, target, t, now).map_err(why),
                (None, _) => Err("you have no message here to edit".into()),
                (_, None) => Err(usage.into()),
            },
            ("delete", Some(seq)) if rest.is_empty() => self
                .client
                .delete(&room, Target::Seq(seq), now)
                .map_err(why),
            ("react", Some(seq)) => match Emoji::new(rest) {
                Ok(emoji) => self
                    .client
                    .toggle_reaction(&room, Target::Seq(seq), emoji, now)
                    .map_err(why),
                Err(_) => Err("not an emoji: one emoji, or :short_name:".into()),
            },
            _ => Err(usage.into()),
        };
        match result {
            Ok(frame) => self.write(frame).await,
            Err(message) => {
                self.failed = true;
                self.out.status(&message);
            }
        }
        true
    }
}

fn why(err: ActionError) -> String {
    match err {
        ActionError::Unknown => "no such message here (is it loaded? /history)".into(),
        other => other.to_string(),
    }
}
