//! Search: the query syntax, how text is cut into searchable words, and
//! where a hit's words are in its text. The relay's index and every client
//! use this one module, so what is indexed and what is asked for agree.
//!
//! **Text without spaces.** Chinese and Japanese are written without spaces
//! between words, so a word tokenizer would see `分布式聊天系统` as one
//! word and never find `聊天` in it. Runs of such script are cut into
//! overlapping pairs of characters (bigrams: `分布 布式 式聊 聊天 天系 系统`)
//! both when text is indexed and when a query is parsed, so any word of two
//! or more characters is found: `聊天` is one of the pairs, and `分布式` is
//! the phrase `分布 布式`. (Trigram indexing would not find two-character
//! words, which are most Chinese words.) A one-character query matches the
//! pairs that start with it. Other scripts keep words and `prefix*`.
//!
//! **Query syntax** (docs/PROTOCOL.md, `search`): words, all of which must
//! match (`deploy relay`); `"an exact phrase"`; `word*` for a prefix;
//! `in:room` and `from:nick` to narrow; anything else is a word. A query is
//! never an error: what cannot be read is taken as words, and an empty
//! query matches nothing.
//!
//! For the clients' views: `pieces` cuts a hit's text at its highlights,
//! `by_room` groups a results list by room.

use crate::names::RoomName;

mod groups;
mod pieces;
pub use groups::{by_room, display_order, RoomHits};
pub use pieces::{pieces, Piece};

/// A parsed search query.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Query {
    /// What the text must contain, all of it.
    pub terms: Vec<Term>,
    /// `in:room`: only this room.
    pub room: Option<RoomName>,
    /// `from:nick`: only messages from this nick (case-insensitive).
    pub from: Option<String>,
}

/// One thing the text must contain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Term {
    /// These words, next to each other, in order (a plain word is a
    /// phrase of one; a CJK word is the phrase of its bigrams). Lowercase.
    /// `prefix`: the last word may be the start of a longer one (`word*`,
    /// or a lone CJK character).
    Phrase { words: Vec<String>, prefix: bool },
}

/// The most terms a query keeps (the rest is ignored): a bound on the
/// work one request costs the index.
pub const MAX_TERMS: usize = 16;
/// Longest query, in bytes, the relay reads.
pub const MAX_QUERY_BYTES: usize = 256;

impl Query {
    /// Parses `q` (never fails; see the module's syntax).
    pub fn parse(q: &str) -> Query {
        let q = truncate(q, MAX_QUERY_BYTES);
        let mut query = Query::default();
        let mut rest = q;
        while let Some(start) = rest.find(|c: char| !c.is_whitespace()) {
            rest = &rest[start..];
            let (raw, quoted, after) = if let Some(body) = rest.strip_prefix('"') {
                match body.find('"') {
                    Some(end) => (&body[..end], true, &body[end + 1..]),
                    None => (body, true, ""),
                }
            } else {
                let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
                (&rest[..end], false, &rest[end..])
            };
            rest = after;
            if !quoted {
                if let Some(room) = raw.strip_prefix("in:") {
                    if let Ok(room) = RoomName::new(room.trim_start_matches('#')) {
                        query.room = Some(room);
                        continue;
                    }
                }
                if let Some(nick) = raw.strip_prefix("from:") {
                    let nick = nick.trim_start_matches('@');
                    if !nick.is_empty() {
                        query.from = Some(nick.to_lowercase());
                        continue;
                    }
                }
            }
            let starred = !quoted && raw.ends_with('*');
            let words = words(raw.trim_end_matches('*'));
            if !words.is_empty() && query.terms.len() < MAX_TERMS {
                // A CJK word ends in a bigram, which a `*` would loosen; a
                // lone CJK character is only found as the start of bigrams.
                let single_cjk = words.len() == 1
                    && words[0].chars().count() == 1
                    && is_cjk(words[0].chars().next());
                let last_cjk = is_cjk(words.last().and_then(|w| w.chars().last()));
                let prefix = single_cjk || (starred && !last_cjk);
                query.terms.push(Term::Phrase { words, prefix });
            }
        }
        query
    }

    /// Whether there is anything to look for.
    pub fn is_empty(&self) -> bool {
        self.terms.is_empty()
    }

    /// The query as an SQLite FTS5 `MATCH` expression over text indexed
    /// with [`index_text`] (every word quoted: nothing the user types is
    /// FTS syntax). `None` when there is nothing to look for.
    pub fn fts5(&self) -> Option<String> {
        let parts: Vec<String> = self
            .terms
            .iter()
            .map(|Term::Phrase { words, prefix }| {
                let quoted: Vec<String> = words
                    .iter()
                    .map(|w| format!("\"{}\"", w.replace('"', "\"\"")))
                    .collect();
                let star = if *prefix { " *" } else { "" };
                format!("({}{star})", quoted.join(" + "))
            })
            .collect();
        (!parts.is_empty()).then(|| parts.join(" AND "))
    }

    /// Whether `text` matches every term (for stores without an index):
    /// the same words as the index would see, in order.
    pub fn matches(&self, text: &str) -> bool {
        if self.terms.is_empty() {
            return false;
        }
        let indexed = words(text);
        self.terms.iter().all(
            |Term::Phrase {
                 words: want,
                 prefix,
             }| {
                indexed.windows(want.len()).any(|window| {
                    window
                        .iter()
                        .zip(want)
                        .enumerate()
                        .all(|(i, (have, want))| {
                            let last = i + 1 == window.len();
                            if last && *prefix {
                                have.starts_with(want.as_str())
                            } else {
                                have == want
                            }
                        })
                })
            },
        )
    }

    /// Where the query's words are in `text`: `[start, end)` ranges in
    /// characters (Unicode scalar values), sorted and merged.
    pub fn highlights(&self, text: &str) -> Vec<[usize; 2]> {
        let lower: Vec<char> = text.chars().flat_map(char::to_lowercase).collect();
        // Lowercasing can change lengths (rarely); offsets are only
        // reported when it did not, so they always index `text`.
        if lower.len() != text.chars().count() {
            return Vec::new();
        }
        let mut ranges = Vec::new();
        for Term::Phrase { words, .. } in &self.terms {
            for needle in needles(words) {
                let needle: Vec<char> = needle.chars().collect();
                if needle.is_empty() {
                    continue;
                }
                let mut at = 0;
                while at + needle.len() <= lower.len() {
                    if lower[at..at + needle.len()] == needle[..] {
                        ranges.push([at, at + needle.len()]);
                        at += needle.len();
                    } else {
                        at += 1;
                    }
                }
            }
        }
        ranges.sort_unstable();
        let mut merged: Vec<[usize; 2]> = Vec::new();
        for range in ranges {
            match merged.last_mut() {
                Some(last) if range[0] <= last[1] => last[1] = last[1].max(range[1]),
                _ => merged.push(range),
            }
        }
        merged
    }
}

/// The strings to highlight for a phrase's words: a CJK phrase's bigrams
/// joined back into the word the user typed; other words as they are.
fn needles(words: &[String]) -> Vec<String> {
    if words.iter().all(|w| w.chars().all(|c| is_cjk(Some(c)))) && words.len() > 1 {
        let mut word: String = words[0].clone();
        for w in &words[1..] {
            word.extend(w.chars().skip(1));
        }
        return vec![word];
    }
    words.to_vec()
}

/// Text as the index stores it: lowercase words separated by spaces, runs
/// of CJK script cut into overlapping bigrams.
pub fn index_text(text: &str) -> String {
    words(text).join(" ")
}

/// The lowercase words of `text`: letters and digits (and `_`) make words;
/// a CJK run of n ≥ 2 characters makes its n - 1 bigrams, of one
/// character that character.
pub fn words(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut word = String::new();
    let mut run: Vec<char> = Vec::new();
    let flush_run = |run: &mut Vec<char>, out: &mut Vec<String>| {
        match run.len() {
            0 => {}
            1 => out.push(run[0].to_string()),
            _ => out.extend(run.windows(2).map(|pair| pair.iter().collect::<String>())),
        }
        run.clear();
    };
    for c in text.chars() {
        if is_cjk(Some(c)) {
            if !word.is_empty() {
                out.push(std::mem::take(&mut word));
            }
            run.push(c);
        } else if c.is_alphanumeric() || c == '_' {
            flush_run(&mut run, &mut out);
            word.extend(c.to_lowercase());
        } else {
            flush_run(&mut run, &mut out);
            if !word.is_empty() {
                out.push(std::mem::take(&mut word));
            }
        }
    }
    flush_run(&mut run, &mut out);
    if !word.is_empty() {
        out.push(word);
    }
    out
}

/// Scripts written without spaces between words: CJK ideographs,
/// Hiragana, Katakana, and Hangul syllables.
fn is_cjk(c: Option<char>) -> bool {
    let Some(c) = c else { return false };
    matches!(c as u32,
        0x3040..=0x30FF      // Hiragana, Katakana
        | 0x3400..=0x4DBF    // CJK Extension A
        | 0x4E00..=0x9FFF    // CJK Unified Ideographs
        | 0xAC00..=0xD7AF    // Hangul syllables
        | 0xF900..=0xFAFF    // CJK Compatibility Ideographs
        | 0x20000..=0x2FA1F  // CJK Extensions B..F, Compatibility Supplement
    )
}

fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn phrase(words: &[&str], prefix: bool) -> Term {
        Term::Phrase {
            words: words.iter().map(|w| w.to_string()).collect(),
            prefix,
        }
    }

    #[test]
    fn cjk_runs_are_indexed_as_overlapping_pairs() {
        assert_eq!(
            index_text("分布式聊天系统"),
            "分布 布式 式聊 聊天 天系 系统"
        );
        assert_eq!(
            index_text("Palaver是分布式的"),
            "palaver 是分 分布 布式 式的"
        );
        assert_eq!(index_text("天"), "天");
        assert_eq!(index_text("Deploy the relay, v2!"), "deploy the relay v2");
    }

    #[test]
    fn two_and_three_character_cjk_words_are_found_inside_a_run() {
        let text = "我们的分布式聊天系统上线了";
        for (q, found) in [
            ("聊天", true),
            ("分布式", true),
            ("系统", true),
            ("天气", false),
        ] {
            assert_eq!(Query::parse(q).matches(text), found, "{q}");
        }
        assert_eq!(
            Query::parse("分布式").terms,
            [phrase(&["分布", "布式"], false)]
        );
    }

    #[test]
    fn english_keeps_words_prefixes_and_phrases() {
        let text = "Deploying the relay behind nginx";
        assert!(Query::parse("relay nginx").matches(text));
        assert!(Query::parse("deploy*").matches(text));
        assert!(
            !Query::parse("deploy").matches(text),
            "a word, not a prefix"
        );
        assert!(Query::parse("\"the relay\"").matches(text));
        assert!(!Query::parse("\"relay the\"").matches(text));
        assert!(!Query::parse("relay caddy").matches(text), "all words");
    }

    #[test]
    fn in_and_from_narrow_the_search() {
        let q = Query::parse("in:#ops from:@Alice deploy");
        assert_eq!(q.room, Some(RoomName::new("ops").unwrap()));
        assert_eq!(q.from.as_deref(), Some("alice"));
        assert_eq!(q.terms, [phrase(&["deploy"], false)]);
        // Not a room name: taken as words.
        assert_eq!(Query::parse("in:").terms, [phrase(&["in"], false)]);
    }

    #[test]
    fn the_fts5_expression_quotes_everything_the_user_typed() {
        let q = Query::parse("deploy* \"a b\" 聊天 分布式 天 OR NEAR(x)");
        assert_eq!(
            q.fts5().unwrap(),
            "(\"deploy\" *) AND (\"a\" + \"b\") AND (\"聊天\") AND (\"分布\" + \"布式\") AND (\"天\" *) AND (\"or\") AND (\"near\" + \"x\")"
        );
        assert_eq!(Query::parse("  ").fts5(), None);
        assert_eq!(Query::parse("!!! ...").fts5(), None);
    }

    #[test]
    fn highlights_are_character_ranges_of_the_words_found() {
        let q = Query::parse("聊天 relay");
        assert_eq!(q.highlights("新的聊天 Relay"), [[2, 4], [5, 10]]);
        assert_eq!(Query::parse("分布式").highlights("分布式聊天"), [[0, 3]]);
        assert!(Query::parse("x").highlights("nothing here").is_empty());
    }

    #[test]
    fn long_queries_are_cut_and_terms_capped() {
        let q = Query::parse(&"word ".repeat(1000));
        assert_eq!(q.terms.len(), MAX_TERMS);
        let q = Query::parse(&"聊".repeat(400));
        assert!(q.terms.len() == 1);
    }

    proptest::proptest! {
        /// No query is an error or a panic, and its FTS5 expression is
        /// only quoted words joined by the operators this module writes.
        #[test]
        fn any_query_parses_into_quoted_words(q in "\\PC{0,80}", text in "\\PC{0,80}") {
            let query = Query::parse(&q);
            if let Some(fts) = query.fts5() {
                let mut outside = String::new();
                let mut quoted = false;
                let mut chars = fts.chars().peekable();
                while let Some(c) = chars.next() {
                    if c == '"' {
                        if quoted && chars.peek() == Some(&'"') {
                            chars.next();
                            continue;
                        }
                        quoted = !quoted;
                    } else if !quoted {
                        outside.push(c);
                    }
                }
                proptest::prop_assert!(!quoted, "{fts}");
                let rest = outside.replace("AND", "").replace(['(', ')', '+', '*', ' '], "");
                proptest::prop_assert!(rest.is_empty(), "{fts}");
            }
            let _ = query.matches(&text);
            let chars = text.chars().count();
            for [start, end] in query.highlights(&text) {
                proptest::prop_assert!(start < end && end <= chars);
            }
        }
    }
}
