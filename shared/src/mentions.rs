//! Mentions: `@nick` and `@room` in a message's text, found by this one
//! function for the relay (which lists them in `message.mentions`) and for
//! every client (which highlights them).
//!
//! A mention starts with `@` at the start of the text or after a
//! character that is not a letter or digit (so `bob@example.org` is not
//! one), and names a member's nick, ignoring case, followed by the end or
//! a character that is not a letter or digit. Nicks may hold spaces, so
//! the longest member nick that fits wins (`@Alice B.` over `@Alice`).

use crate::names::UserId;
use crate::protocol::User;

/// Who a text mentions.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Mentions {
    /// Each mentioned member once, in the order first mentioned.
    pub users: Vec<UserId>,
    /// `@room`: everyone in the room.
    pub room: bool,
}

/// The first word after each `@` that may start a mention (the characters
/// a nick may hold, up to a space), lowercased: what a
/// relay looks up by nick prefix to find the candidates for
/// [`find_mentions`] without walking a big room's whole roster.
pub fn mention_prefixes(text: &str) -> Vec<String> {
    let mut prefixes: Vec<String> = starts(text)
        .filter_map(|rest| {
            let word: String = rest
                .chars()
                // What a nick's first word may hold: `@bob,` looks up `bob`.
                .take_while(|c| c.is_alphanumeric() || "-_.'".contains(*c))
                .flat_map(char::to_lowercase)
                .collect();
            (!word.is_empty()).then_some(word)
        })
        .collect();
    prefixes.sort();
    prefixes.dedup();
    prefixes
}

/// The members of `members` that `text` mentions, and whether it says
/// `@room`.
pub fn find_mentions<'a>(text: &str, members: impl IntoIterator<Item = &'a User>) -> Mentions {
    let members: Vec<&User> = members.into_iter().collect();
    let mut found = Mentions::default();
    for rest in starts(text) {
        if matched_len(rest, "room").is_some() {
            found.room = true;
            continue;
        }
        let best = members
            .iter()
            .filter_map(|user| matched_len(rest, user.nick.as_str()).map(|len| (len, *user)))
            .max_by_key(|(len, _)| *len);
        if let Some((_, user)) = best {
            if !found.users.contains(&user.id) {
                found.users.push(user.id.clone());
            }
        }
    }
    found
}

/// Where `text` mentions one of `nicks` or `@room`: the byte ranges of
/// each `@name`, in order, for a view to highlight (the same rules as
/// [`find_mentions`]).
pub fn mention_spans(text: &str, nicks: &[&str]) -> Vec<std::ops::Range<usize>> {
    starts(text)
        .filter_map(|rest| {
            let at = text.len() - rest.len() - 1;
            let len = nicks
                .iter()
                .copied()
                .chain(["room"])
                .filter_map(|nick| matched_len(rest, nick))
                .max()?;
            Some(at..at + 1 + len)
        })
        .collect()
}

/// Whether `mention`, an `@name` as [`mention_spans`] found it, names
/// `nick` (ignoring case, as a mention does): a view tells a mention of
/// the reader from a mention of someone else with it.
pub fn names(mention: &str, nick: &str) -> bool {
    mention
        .strip_prefix('@')
        .is_some_and(|rest| matched_len(rest, nick) == Some(rest.len()))
}

/// Whether `mention` is `@room` (everyone, the reader too).
pub fn is_room(mention: &str) -> bool {
    names(mention, "room")
}

/// The text after each `@` that may start a mention.
fn starts(text: &str) -> impl Iterator<Item = &str> {
    text.char_indices().filter_map(move |(i, c)| {
        let before = text[..i].chars().next_back();
        let starts = c == '@' && !before.is_some_and(|b| b.is_alphanumeric() || b == '@');
        starts.then(|| &text[i + 1..])
    })
}

/// How many bytes of `rest` spell `nick` (ignoring case) up to a word
/// boundary, if they do.
fn matched_len(rest: &str, nick: &str) -> Option<usize> {
    let mut chars = rest.char_indices();
    for expected in nick.chars() {
        let (_, got) = chars.next()?;
        if !got.to_lowercase().eq(expected.to_lowercase()) {
            return None;
        }
    }
    let end = chars.next().map_or(rest.len(), |(i, _)| i);
    let boundary = !rest[end..]
        .chars()
        .next()
        .is_some_and(char::is_alphanumeric);
    boundary.then_some(end)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::names::Nick;

    fn user(id: &str, nick: &str) -> User {
        User {
            id: UserId(id.into()),
            nick: Nick::new(nick).unwrap(),
        }
    }

    fn ids(text: &str, members: &[User]) -> (Vec<String>, bool) {
        let found = find_mentions(text, members);
        (found.users.into_iter().map(|id| id.0).collect(), found.room)
    }

    #[test]
    fn finds_nicks_ignoring_case_at_word_starts() {
        let members = [
            user("u-a", "alice"),
            user("u-b", "Bob"),
            user("u-c", "Bobby"),
        ];
        assert_eq!(ids("@alice hi", &members), (vec!["u-a".into()], false));
        assert_eq!(ids("hi @BOB, and @bobby!", &members).0, ["u-b", "u-c"]);
        assert_eq!(ids("(@Alice) @alice again", &members).0, ["u-a"]);
        // Not a mention: inside a word, an address, an unknown nick, a
        // nick that goes on.
        for text in [
            "bob@alice.org",
            "@carol",
            "@alicex",
            "@",
            "@@alice",
            "alice",
        ] {
            assert_eq!(ids(text, &members), (vec![], false), "{text:?}");
        }
    }

    #[test]
    fn the_longest_nick_wins_and_room_means_everyone() {
        let members = [user("u-1", "Alice"), user("u-2", "Alice B.")];
        assert_eq!(ids("@alice b. look", &members).0, ["u-2"]);
        assert_eq!(ids("@alice bob", &members).0, ["u-1"]);
        assert_eq!(ids("@room lunch!", &members), (vec![], true));
        assert_eq!(ids("@roomy", &members), (vec![], false));
        assert_eq!(ids("@Ünïcode", &[user("u-3", "ünïcode")]).0, ["u-3"]);
    }

    #[test]
    fn spans_cover_each_at_name() {
        let text = "@Alice and @room, not bob@alice or @alicex";
        let spans: Vec<&str> = mention_spans(text, &["alice"])
            .into_iter()
            .map(|r| &text[r])
            .collect();
        assert_eq!(spans, ["@Alice", "@room"]);
    }

    #[test]
    fn a_span_names_its_nick_whole_and_ignoring_case() {
        assert!(names("@Alice", "alice"));
        assert!(names("@alice b.", "Alice B."));
        assert!(!names("@Alice B.", "alice"), "only a whole span");
        assert!(!names("@alice", "alice b."));
        assert!(!names("alice", "alice"), "a mention starts with @");
        assert!(is_room("@ROOM") && !is_room("@roomy") && !is_room("@alice"));
    }

    #[test]
    fn prefixes_are_the_words_after_each_at() {
        assert_eq!(
            mention_prefixes("@Alice B. and @bob, @bob x@y @"),
            ["alice", "bob"]
        );
    }
}
