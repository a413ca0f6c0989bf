//! The Markdown subset: what formats, what stays text, which links live,
//! and that no input panics.

use proptest::prelude::*;

use super::*;

fn text(s: &str) -> Node {
    Node::Text(s.into())
}

fn para(children: Vec<Node>) -> Node {
    Node::Paragraph(children)
}

#[test]
fn inline_formatting() {
    assert_eq!(
        parse("**bold** *it* ~~gone~~ `x<y>`", &[]),
        [para(vec![
            Node::Strong(vec![text("bold")]),
            text(" "),
            Node::Emphasis(vec![text("it")]),
            text(" "),
            Node::Strike(vec![text("gone")]),
            text(" "),
            Node::Code("x<y>".into()),
        ])]
    );
}

#[test]
fn blocks_and_line_breaks() {
    let nodes = parse(
        "> quoted\n\n- one\n- two\n\n3. c\n\n```\nlet a = 1;\n```\nline\nnext",
        &[],
    );
    assert_eq!(
        nodes,
        [
            Node::Quote(vec![para(vec![text("quoted")])]),
            Node::List {
                start: None,
                items: vec![Node::Item(vec![text("one")]), Node::Item(vec![text("two")])]
            },
            Node::List {
                start: Some(3),
                items: vec![Node::Item(vec![text("c")])]
            },
            Node::CodeBlock("let a = 1;".into()),
            para(vec![text("line"), Node::Break, text("next")]),
        ]
    );
}

#[test]
fn only_web_and_mail_links_live() {
    let link = |href: &str, label: &str| Node::Link {
        href: href.into(),
        children: vec![text(label)],
    };
    assert_eq!(
        parse(
            "[a](https://x.org) <mailto:me@x.org> <me@x.org> see http://y.io.",
            &[]
        ),
        [para(vec![
            link("https://x.org", "a"),
            text(" "),
            link("mailto:me@x.org", "mailto:me@x.org"),
            text(" "),
            link("mailto:me@x.org", "me@x.org"),
            text(" see "),
            link("http://y.io", "http://y.io"),
            text("."),
        ])]
    );
    for bad in [
        "[x](javascript:alert(1))",
        "[x](JaVaScRiPt:alert(1))",
        "[x](jav&#x61;script:alert(1))",
        "[x](data:text/html,<script>alert(1)</script>)",
        "[x](vbscript:msgbox)",
        "[x](/relative)",
        "[x](https:)",
        "<javascript:alert(1)>",
        "![x](javascript:alert(1))",
    ] {
        let nodes = parse(bad, &[]);
        let mut hrefs = Vec::new();
        links(&nodes, &mut hrefs);
        assert!(hrefs.is_empty(), "{bad}: {nodes:?}");
    }
}

#[test]
fn html_is_text_and_images_are_not_loaded() {
    assert_eq!(
        parse("<script>alert(1)</script>", &[]),
        [text("<script>alert(1)</script>")]
    );
    assert_eq!(
        parse("a <b onmouseover=x>b</b>", &[]),
        [para(vec![text("a <b onmouseover=x>b</b>")])]
    );
    assert_eq!(
        parse("![cat](https://x.org/c.png)", &[]),
        [para(vec![Node::Link {
            href: "https://x.org/c.png".into(),
            children: vec![text("cat")]
        }])]
    );
    assert_eq!(parse("# Title", &[]), [para(vec![text("Title")])]);
}

#[test]
fn mentions_of_the_given_names_and_room() {
    assert_eq!(
        parse("hi @Alice and @room, `@alice` stays", &["alice"]),
        [para(vec![
            text("hi "),
            Node::Mention("@Alice".into()),
            text(" and "),
            Node::Mention("@room".into()),
            text(", "),
            Node::Code("@alice".into()),
            text(" stays"),
        ])]
    );
}

#[test]
fn deep_nesting_is_flattened() {
    let deep = ">".repeat(500) + " x";
    let nodes = parse(&deep, &[]);
    assert!(depth(&nodes) <= MAX_DEPTH + 1, "{}", depth(&nodes));
    let mut all = String::new();
    collect_text(&nodes, &mut all);
    assert_eq!(all, "x");
}

fn depth(nodes: &[Node]) -> usize {
    nodes
        .iter()
        .map(|n| match n {
            Node::Paragraph(c)
            | Node::Quote(c)
            | Node::Item(c)
            | Node::Strong(c)
            | Node::Emphasis(c)
            | Node::Strike(c)
            | Node::Link { children: c, .. }
            | Node::List { items: c, .. } => 1 + depth(c),
            _ => 1,
        })
        .max()
        .unwrap_or(0)
}

fn links(nodes: &[Node], out: &mut Vec<String>) {
    for node in nodes {
        match node {
            Node::Link { href, children } => {
                out.push(href.clone());
                links(children, out);
            }
            Node::Paragraph(c)
            | Node::Quote(c)
            | Node::Item(c)
            | Node::Strong(c)
            | Node::Emphasis(c)
            | Node::Strike(c)
            | Node::List { items: c, .. } => links(c, out),
            _ => {}
        }
    }
}

proptest! {
    /// Any text parses, stays within the depth, and every link is safe.
    #[test]
    fn never_panics_and_links_stay_safe(
        s in r#"([\[\]()<>*_~`>#\-+!:/ \nahjstvcrip.@0-9]|javascript:|https://|mailto:|```|&#x61;){0,80}"#
    ) {
        let nodes = parse(&s, &["alice"]);
        prop_assert!(depth(&nodes) <= MAX_DEPTH + 2);
        let mut hrefs = Vec::new();
        links(&nodes, &mut hrefs);
        for href in hrefs {
            // Checked apart from `safe_href`, which this would trust.
            let lower = href.to_ascii_lowercase();
            prop_assert!(
                ["http://", "https://", "mailto:"].iter().any(|p| lower.starts_with(p)),
                "{href}"
            );
        }
    }

    #[test]
    fn arbitrary_unicode_never_panics(s in "\\PC{0,200}") {
        let _ = parse(&s, &["alice", "bob b."]);
    }
}
