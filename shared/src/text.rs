//! Turning message text into pieces a view renders: plain text and links.
//!
//! Views render text as text nodes (never as HTML), so the only markup a
//! message can produce is the links found here. It lives here rather than
//! in the web app so that its tests run natively with the rest of
//! `shared`'s (the web app's own crate only builds for the browser).

/// One piece of a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    Text(String),
    Link(String),
}

/// Splits text into plain runs and `http(s)://` links. Trailing punctuation
/// (`.`, `,`, `)`, ...) stays outside the link, as people write it.
pub fn pieces(text: &str) -> Vec<Piece> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = find_link(rest) {
        let (before, from) = rest.split_at(start);
        let end = from
            .find(|c: char| c.is_whitespace() || matches!(c, '<' | '>' | '"'))
            .unwrap_or(from.len());
        let mut link = &from[..end];
        while let Some(last) = link.chars().last() {
            let unbalanced_paren =
                last == ')' && link.matches('(').count() < link.matches(')').count();
            if matches!(last, '.' | ',' | ';' | ':' | '!' | '?' | '\'') || unbalanced_paren {
                link = &link[..link.len() - last.len_utf8()];
            } else {
                break;
            }
        }
        let host_at = link.find("://").map_or(link.len(), |i| i + 3);
        if host_at >= link.len() {
            // Just a scheme: keep it as text.
            push_text(&mut out, before);
            push_text(&mut out, &from[..end]);
            rest = &from[end..];
            continue;
        }
        push_text(&mut out, before);
        out.push(Piece::Link(link.to_owned()));
        rest = &from[link.len()..];
    }
    push_text(&mut out, rest);
    out
}

fn find_link(text: &str) -> Option<usize> {
    let lower = text.to_ascii_lowercase();
    [lower.find("https://"), lower.find("http://")]
        .into_iter()
        .flatten()
        .min()
}

fn push_text(out: &mut Vec<Piece>, text: &str) {
    if text.is_empty() {
        return;
    }
    if let Some(Piece::Text(last)) = out.last_mut() {
        last.push_str(text);
    } else {
        out.push(Piece::Text(text.to_owned()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(s: &str) -> Piece {
        Piece::Text(s.into())
    }
    fn link(s: &str) -> Piece {
        Piece::Link(s.into())
    }

    #[test]
    fn finds_links_and_leaves_punctuation_out() {
        assert_eq!(pieces("no links here"), [text("no links here")]);
        assert_eq!(
            pieces("see https://example.com/a?b=1. ok"),
            [
                text("see "),
                link("https://example.com/a?b=1"),
                text(". ok")
            ]
        );
        assert_eq!(
            pieces("(http://x.org/wiki/Foo_(bar)) and HTTPS://Y.io"),
            [
                text("("),
                link("http://x.org/wiki/Foo_(bar)"),
                text(") and "),
                link("HTTPS://Y.io")
            ]
        );
        assert_eq!(pieces("a https:// b"), [text("a https:// b")]);
    }

    #[test]
    fn markup_is_just_text() {
        assert_eq!(
            pieces("<script>alert(1)</script>"),
            [text("<script>alert(1)</script>")]
        );
        assert_eq!(
            pieces("https://a.b/<script>"),
            [link("https://a.b/"), text("<script>")]
        );
    }
}
