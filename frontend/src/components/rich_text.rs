//! A message's text as DOM nodes: the Markdown subset `shared::markdown`
//! parses, mapped node by node to elements built by Leptos views. Nothing
//! is ever set as HTML, so a message can produce only these elements, and
//! the only attributes that come from its text are a link's `href`, which
//! `shared::markdown` allows only for `http:`, `https:` and `mailto:`.
//! Links open in a new tab without the opener or a referrer, and carry
//! `nofollow`: they are what users wrote.

use leptos::prelude::*;
use shared::markdown::{parse, Node};
use shared::mentions;

/// Renders `text`; a mention of the reader (`@name` of one of `mine`, or
/// `@room`) is highlighted strongly (`mark.mention.mention-me`), one of `others`
/// lightly (`mark.mention`).
pub fn rich_text(text: &str, mine: &[&str], others: &[&str]) -> AnyView {
    let names: Vec<&str> = mine.iter().chain(others).copied().collect();
    let is_mine = |mention: &str| {
        mentions::is_room(mention) || mine.iter().any(|nick| mentions::names(mention, nick))
    };
    nodes(parse(text, &names), &is_mine)
}

/// Whether a mention's text names the reader.
type IsMine<'a> = dyn Fn(&str) -> bool + 'a;

fn nodes(nodes: Vec<Node>, mine: &IsMine) -> AnyView {
    nodes
        .into_iter()
        .map(|n| node(n, mine))
        .collect_view()
        .into_any()
}

fn node(node: Node, mine: &IsMine) -> AnyView {
    let nodes = |c| nodes(c, mine);
    match node {
        Node::Paragraph(c) => view! { <p>{nodes(c)}</p> }.into_any(),
        Node::CodeBlock(code) => view! {
            <pre>
                <code>{code}</code>
            </pre>
        }
        .into_any(),
        Node::Quote(c) => view! { <blockquote>{nodes(c)}</blockquote> }.into_any(),
        Node::List { start: None, items } => view! { <ul>{nodes(items)}</ul> }.into_any(),
        Node::List {
            start: Some(start),
            items,
        } => view! { <ol start=start.to_string()>{nodes(items)}</ol> }.into_any(),
        Node::Item(c) => view! { <li>{nodes(c)}</li> }.into_any(),
        Node::Rule => view! { <hr /> }.into_any(),
        Node::Text(t) => t.into_any(),
        Node::Code(t) => view! { <code>{t}</code> }.into_any(),
        Node::Strong(c) => view! { <strong>{nodes(c)}</strong> }.into_any(),
        Node::Emphasis(c) => view! { <em>{nodes(c)}</em> }.into_any(),
        Node::Strike(c) => view! { <s>{nodes(c)}</s> }.into_any(),
        Node::Link { href, children } => view! {
            <a href=href target="_blank" rel="noopener noreferrer nofollow">
                {nodes(children)}
            </a>
        }
        .into_any(),
        Node::Mention(name) => {
            let class = if mine(&name) {
                "mention mention-me"
            } else {
                "mention"
            };
            view! {
                <mark class=class data-testid="mention">
                    {name}
                </mark>
            }
            .into_any()
        }
        Node::Break => view! { <br /> }.into_any(),
    }
}
