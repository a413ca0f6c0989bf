//! `palaver chat`'s commands for conversations: `/reply SEQ text`,
//! `/edit #SEQ text` (or `/edit text` for your last message), `/delete
//! SEQ`, `/react SEQ emoji` (again to take it back). Messages are printed
//! with their seq (`#SEQ`) so people can name them; the shared model
//! queues each change in its outbox like a send.
//!
//! `/edit` takes a seq only with its `#`: `/edit 3 apples` makes your last
//! message say "3 apples", and `/edit #3 apples` edits message 3. A bare
//! number cannot say which of the two was meant. The other commands always
//! need a seq, so they take it with or without the `#`.

use shared::client::{ActionError, Target};
use shared::{ClientMsg, Emoji, Text};

use super::{now_ms, Driver};

pub const HELP: &str = "  /reply SEQ TEXT  reply to message SEQ (messages show as #SEQ)
  /edit #SEQ TEXT  replace the text of your message SEQ (the # is needed)
  /edit TEXT       replace the text of your last message (/edit 3 apples: \"3 apples\")
  /delete SEQ      delete your message SEQ
  /react SEQ EMOJI add a reaction to message SEQ (again: take it back)";

/// A command's argument split into the seq it names, if any, and the rest.
#[derive(Debug, PartialEq, Eq)]
struct Parsed<'a> {
    seq: Option<u64>,
    rest: &'a str,
}

/// Splits `arg` at its first word: a seq when that word is `#N`, or also
/// `N` when `bare` (commands that always name a message).
fn parse(arg: &str, bare: bool) -> Parsed<'_> {
    let arg = arg.trim();
    let (first, rest) = match arg.split_once(char::is_whitespace) {
        Some((first, rest)) => (first, rest.trim()),
        None => (arg, ""),
    };
    let number = match first.strip_prefix('#') {
        Some(n) => Some(n),
        None if bare => Some(first),
        None => None,
    };
    match number.and_then(|n| n.parse::<u64>().ok()) {
        Some(seq) => Parsed {
            seq: Some(seq),
            rest,
        },
        None => Parsed {
            seq: None,
            rest: arg,
        },
    }
}

impl Driver {
    /// Runs a conversation command; false if `name` is not one.
    pub(super) async fn conversation_command(&mut self, name: &str, arg: &str) -> bool {
        let usage = match name {
            "reply" => "usage: /reply SEQ TEXT",
            "edit" => "usage: /edit #SEQ TEXT, or /edit TEXT for your last message",
            "delete" => "usage: /delete SEQ",
            "react" => "usage: /react SEQ EMOJI",
            _ => return false,
        };
        let Some(room) = self.current.clone() else {
            self.out.status("you are in no room: /join ROOM first");
            return true;
        };
        let Parsed { seq, rest } = parse(arg, name != "edit");
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
            ("edit", None) => match (self.client.last_editable(&room), text(rest)) {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn seq_and_rest(arg: &str, bare: bool) -> (Option<u64>, &str) {
        let Parsed { seq, rest } = parse(arg, bare);
        (seq, rest)
    }

    #[test]
    fn edit_takes_a_seq_only_with_its_hash() {
        assert_eq!(seq_and_rest("#3 apples", false), (Some(3), "apples"));
        assert_eq!(seq_and_rest("3 apples", false), (None, "3 apples"));
        assert_eq!(
            seq_and_rest("  #12   two  words ", false),
            (Some(12), "two  words")
        );
        assert_eq!(seq_and_rest("#3", false), (Some(3), ""));
        assert_eq!(seq_and_rest("#x apples", false), (None, "#x apples"));
        assert_eq!(seq_and_rest("3", false), (None, "3"));
    }

    #[test]
    fn the_help_says_how_to_name_a_seq_for_edit() {
        assert!(HELP.contains("/edit #SEQ TEXT"));
        assert!(HELP.contains("/edit TEXT"));
    }

    #[test]
    fn other_commands_take_a_seq_with_or_without_its_hash() {
        assert_eq!(seq_and_rest("3 👍", true), (Some(3), "👍"));
        assert_eq!(seq_and_rest("#3 👍", true), (Some(3), "👍"));
        assert_eq!(seq_and_rest("7", true), (Some(7), ""));
        assert_eq!(seq_and_rest("soon", true), (None, "soon"));
    }
}
