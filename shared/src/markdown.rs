//! The Markdown subset messages are formatted with, as a tree a view
//! renders node by node (the web app builds DOM elements from it and never
//! sets HTML): bold, italic, strikethrough, inline code, code blocks,
//! links, block quotes and lists. Everything else CommonMark knows is
//! shown as its text: raw HTML is text, a heading is a paragraph, an
//! image is a link to it (nothing is loaded), a thematic break a rule.
//!
//! Links keep only `http:`, `https:` and `mailto:` targets; any other
//! (`javascript:`, `data:`, relative) leaves its text and no link. Bare
//! `http(s)://` addresses in text become links too (as `shared::text`
//! finds them), and `@name` mentions of the names given become
//! [`Node::Mention`] for highlighting.
//!
//! Parsing is pulldown-cmark's (CommonMark with strikethrough); this
//! module only folds its events into [`Node`]s, with a stack rather than
//! recursion and containers nested at most [`MAX_DEPTH`] deep (deeper
//! ones are flattened into their parent), so a hostile message can neither
//! overflow a stack here nor in a view's recursive render.

use pulldown_cmark::{Event, LinkType, Options, Parser, Tag};

use crate::mentions::mention_spans;
use crate::text::{pieces, Piece};

/// Containers nested deeper than this are flattened into their parent.
pub const MAX_DEPTH: usize = 12;

/// One node of a formatted message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    Paragraph(Vec<Node>),
    /// A fenced or indented code block: its text, as is.
    CodeBlock(String),
    Quote(Vec<Node>),
    /// `start`: the first number of an ordered list; `None`: bullets.
    List {
        start: Option<u64>,
        items: Vec<Node>,
    },
    Item(Vec<Node>),
    Rule,
    Text(String),
    Code(String),
    Strong(Vec<Node>),
    Emphasis(Vec<Node>),
    Strike(Vec<Node>),
    /// `href` is always `http:`, `https:` or `mailto:`.
    Link {
        href: String,
        children: Vec<Node>,
    },
    /// `@name` naming one of the names asked for, or `@room`.
    Mention(String),
    /// A line break (every newline in a message is one).
    Break,
}

/// A container being filled while its events arrive.
enum Frame {
    Paragraph,
    Quote,
    List(Option<u64>),
    Item,
    CodeBlock,
    Strong,
    Emphasis,
    Strike,
    /// A link with a safe target; `None`: its text stays, unlinked.
    Link(Option<String>),
    /// Its children go to the parent (unsupported or too deep).
    Transparent,
}

/// Formats `text`; `@name` of each of `mention_names` (and `@room`) is a
/// [`Node::Mention`]. Never fails: what is not formatting is text.
pub fn parse(text: &str, mention_names: &[&str]) -> Vec<Node> {
    let mut stack: Vec<(Frame, Vec<Node>)> = vec![(Frame::Transparent, Vec::new())];
    let in_link_or_code = |stack: &[(Frame, Vec<Node>)]| {
        stack
            .iter()
            .any(|(f, _)| matches!(f, Frame::Link(_) | Frame::CodeBlock))
    };
    for event in Parser::new_ext(text, Options::ENABLE_STRIKETHROUGH) {
        match event {
            Event::Start(tag) => {
                let frame = if stack.len() > MAX_DEPTH {
                    Frame::Transparent
                } else {
                    frame_of(tag)
                };
                stack.push((frame, Vec::new()));
            }
            Event::End(_) => {
                if stack.len() < 2 {
                    continue;
                }
                let (frame, children) = stack.pop().expect("checked above");
                close(frame, children, top(&mut stack));
            }
            Event::Text(t) => {
                let raw = in_link_or_code(&stack);
                let children = &mut stack.last_mut().expect("never empty").1;
                if raw {
                    push_text(children, &t);
                } else {
                    push_inline_text(children, &t, mention_names);
                }
            }
            Event::Code(code) => top(&mut stack).push(Node::Code(code.into_string())),
            // Raw HTML is shown as the text it is.
            Event::Html(html) | Event::InlineHtml(html) => push_text(top(&mut stack), &html),
            Event::InlineMath(t) | Event::DisplayMath(t) | Event::FootnoteReference(t) => {
                push_text(top(&mut stack), &t)
            }
            Event::SoftBreak | Event::HardBreak => top(&mut stack).push(Node::Break),
            Event::Rule => top(&mut stack).push(Node::Rule),
            Event::TaskListMarker(done) => {
                push_text(top(&mut stack), if done { "[x] " } else { "[ ] " })
            }
        }
    }
    // Balanced events leave only the root; be safe if they ever do not.
    while stack.len() > 1 {
        let (frame, children) = stack.pop().expect("len > 1");
        close(frame, children, &mut stack.last_mut().expect("len >= 1").1);
    }
    stack.pop().map(|(_, nodes)| nodes).unwrap_or_default()
}

fn top(stack: &mut [(Frame, Vec<Node>)]) -> &mut Vec<Node> {
    &mut stack.last_mut().expect("never empty").1
}

fn frame_of(tag: Tag) -> Frame {
    match tag {
        Tag::Paragraph | Tag::Heading { .. } => Frame::Paragraph,
        Tag::BlockQuote(_) => Frame::Quote,
        Tag::CodeBlock(_) => Frame::CodeBlock,
        Tag::List(start) => Frame::List(start),
        Tag::Item => Frame::Item,
        Tag::Emphasis => Frame::Emphasis,
        Tag::Strong => Frame::Strong,
        Tag::Strikethrough => Frame::Strike,
        Tag::Link {
            link_type,
            dest_url,
            ..
        } => {
            let href = if link_type == LinkType::Email {
                format!("mailto:{dest_url}")
            } else {
                dest_url.into_string()
            };
            Frame::Link(safe_href(&href).then_some(href))
        }
        // An image is never loaded: a link to it, its alt text as text.
        Tag::Image { dest_url, .. } => {
            let href = dest_url.into_string();
            Frame::Link(safe_href(&href).then_some(href))
        }
        _ => Frame::Transparent,
    }
}

/// Folds a finished container into its parent.
fn close(frame: Frame, children: Vec<Node>, parent: &mut Vec<Node>) {
    let node = match frame {
        Frame::Paragraph => Node::Paragraph(children),
        Frame::Quote => Node::Quote(children),
        Frame::List(start) => Node::List {
            start,
            items: children,
        },
        Frame::Item => Node::Item(children),
        Frame::Strong => Node::Strong(children),
        Frame::Emphasis => Node::Emphasis(children),
        Frame::Strike => Node::Strike(children),
        Frame::CodeBlock => {
            let mut code = String::new();
            collect_text(&children, &mut code);
            Node::CodeBlock(code.strip_suffix('\n').unwrap_or(&code).to_owned())
        }
        Frame::Link(Some(href)) => Node::Link { href, children },
        Frame::Link(None) | Frame::Transparent => {
            for child in children {
                match child {
                    Node::Text(t) => push_text(parent, &t),
                    other => parent.push(other),
                }
            }
            return;
        }
    };
    parent.push(node);
}

/// Whether a link may point there: the web's and mail's schemes only.
pub fn safe_href(href: &str) -> bool {
    let lower = href.trim_start().to_ascii_lowercase();
    ["http://", "https://", "mailto:"]
        .iter()
        .any(|scheme| lower.starts_with(scheme) && lower.len() > scheme.len())
}

/// All the text under `nodes`, in order.
pub fn collect_text(nodes: &[Node], out: &mut String) {
    for node in nodes {
        match node {
            Node::Text(t) | Node::Code(t) | Node::CodeBlock(t) | Node::Mention(t) => {
                out.push_str(t)
            }
            Node::Break => out.push('\n'),
            Node::Rule => {}
            Node::Paragraph(c)
            | Node::Quote(c)
            | Node::Item(c)
            | Node::Strong(c)
            | Node::Emphasis(c)
            | Node::Strike(c)
            | Node::Link { children: c, .. }
            | Node::List { items: c, .. } => collect_text(c, out),
        }
    }
}

fn push_text(nodes: &mut Vec<Node>, text: &str) {
    if text.is_empty() {
        return;
    }
    if let Some(Node::Text(last)) = nodes.last_mut() {
        last.push_str(text);
    } else {
        nodes.push(Node::Text(text.to_owned()));
    }
}

/// Text outside links and code: bare links and mentions are found in it.
fn push_inline_text(nodes: &mut Vec<Node>, text: &str, mention_names: &[&str]) {
    for piece in pieces(text) {
        match piece {
            Piece::Link(url) => nodes.push(Node::Link {
                children: vec![Node::Text(url.clone())],
                href: url,
            }),
            Piece::Text(t) => {
                let mut at = 0;
                for span in mention_spans(&t, mention_names) {
                    push_text(nodes, &t[at..span.start]);
                    nodes.push(Node::Mention(t[span.clone()].to_owned()));
                    at = span.end;
                }
                push_text(nodes, &t[at..]);
            }
        }
    }
}

#[cfg(test)]
mod tests;
