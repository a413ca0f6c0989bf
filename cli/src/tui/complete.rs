//! Tab completion in the input line: a `/command` at the start of the
//! line, or an `@nick` anywhere (the members the shared model offers for
//! the prefix; a big room asks the relay, and Tab again completes once the
//! answer is in).

use shared::{client::Client, ClientMsg, RoomName};

/// The commands the TUI knows, for completion and `/help`.
pub const COMMANDS: &[&str] = &[
    "delete", "edit", "goto", "help", "history", "join", "leave", "nick", "notify", "quit",
    "react", "reply", "search", "upload", "who",
];

/// What Tab does to the line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Completion {
    /// The character index where the completed word starts.
    pub start: usize,
    /// What replaces `start..cursor`: the one match and a space, or the
    /// longest prefix all matches share.
    pub replacement: String,
    /// Every match, to list when there are several.
    pub candidates: Vec<String>,
}

/// Completes the word before `cursor` (a character index) in `line`.
/// Returns the completion, if any, and a `members` search to send when a
/// big room's answer is not here yet.
pub fn complete(
    client: &mut Client,
    room: Option<&RoomName>,
    line: &str,
    cursor: usize,
) -> (Option<Completion>, Option<ClientMsg>) {
    let before: Vec<char> = line.chars().take(cursor).collect();
    let start = before
        .iter()
        .rposition(|c| c.is_whitespace())
        .map_or(0, |i| i + 1);
    let word: String = before[start..].iter().collect();
    if let Some(prefix) = word.strip_prefix('/').filter(|_| start == 0) {
        let names: Vec<String> = COMMANDS
            .iter()
            .filter(|c| c.starts_with(prefix))
            .map(|c| format!("/{c}"))
            .collect();
        return (choose(start, &word, names), None);
    }
    let (Some(prefix), Some(room)) = (word.strip_prefix('@'), room) else {
        return (None, None);
    };
    let ask = client.ask_mention_matches(room, prefix);
    let mut nicks: Vec<String> = client
        .mention_matches(room, prefix)
        .into_iter()
        .filter(|u| Some(&u.id) != client.me().map(|me| &me.id))
        .map(|u| format!("@{}", u.nick.as_str()))
        .collect();
    nicks.dedup();
    (choose(start, &word, nicks), ask)
}

fn choose(start: usize, word: &str, candidates: Vec<String>) -> Option<Completion> {
    let replacement = match candidates.as_slice() {
        [] => return None,
        [one] => format!("{one} "),
        [first, rest @ ..] => {
            let mut shared: Vec<char> = first.chars().collect();
            for other in rest {
                let same = shared
                    .iter()
                    .zip(other.chars())
                    .take_while(|(a, b)| a.to_lowercase().eq(b.to_lowercase()))
                    .count();
                shared.truncate(same);
            }
            let shared: String = shared.into_iter().collect();
            // Never shorter than what was typed (nicks match ignoring case).
            if shared.chars().count() < word.chars().count() {
                word.to_owned()
            } else {
                shared
            }
        }
    };
    Some(Completion {
        start,
        replacement,
        candidates,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn completes_a_command_at_the_start_only() {
        let mut client = Client::new("t");
        let (done, _) = complete(&mut client, None, "/jo", 3);
        let done = done.unwrap();
        assert_eq!((done.start, done.replacement.as_str()), (0, "/join "));
        let (done, _) = complete(&mut client, None, "/re", 3);
        let done = done.unwrap();
        assert_eq!(done.replacement, "/re");
        assert_eq!(done.candidates, ["/react", "/reply"]);
        assert_eq!(complete(&mut client, None, "say /jo", 7).0, None);
        assert_eq!(complete(&mut client, None, "/zz", 3).0, None);
    }

    #[test]
    fn the_shared_prefix_of_several_matches() {
        let done = choose(0, "@a", vec!["@alice".into(), "@alan".into()]).unwrap();
        assert_eq!(done.replacement, "@al");
        let done = choose(0, "@AL", vec!["@alice".into(), "@Alan".into()]).unwrap();
        assert_eq!(done.replacement, "@al");
    }
}
