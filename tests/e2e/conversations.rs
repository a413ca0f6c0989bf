//! Conversations in the web app (headless Chromium, a relay process with
//! `--store memory`, the store that keeps message events): a reply shows
//! its quote and jumps to the target (loading older pages), reactions
//! toggle by keyboard, Up edits the last message, a delete leaves a
//! tombstone (a moderator's of others' messages too, in token mode), a
//! long press on touch opens a message's actions, mentions are
//! highlighted (ours strongly) and counted apart, `@` completes
//! member nicks, the Markdown subset renders as elements while a list of
//! classic XSS payloads stays text, and all of it is axe-clean in both
//! themes. Screenshots land in target/e2e/.
//!
//! Past 400 lines on purpose: one scenario per UI action, all on the
//! helpers at the top (rows by seq, focus, chips, waits).

use serde_json::Value;
use shared::{ClientId, ClientMsg, ServerMsg, Text};
use tests::browser::{
    relay_serving_app_in_memory, ARROW_RIGHT, ARROW_UP, ENTER, ESCAPE, RELEASE, SHIFT, TAB,
};
use tests::{client::room, Browser, Client, RelayProcess};

/// Select all, delete: empties a text field.
const CLEAR: &str = "\u{E009}a\u{E000}\u{E003}";

/// A relay serving the app: no send rate (bots fill rooms fast) and only
/// 20 messages in `joined`, so older ones need paging.
async fn serve() -> RelayProcess {
    relay_serving_app_in_memory(&["--rate-limit", "0", "--join-history", "20"])
        .await
        .unwrap()
}

async fn open_as(url: &str, nick: &str) -> Browser {
    let browser = Browser::open_app(url, nick).await.unwrap();
    browser
        .wait_text("[data-testid=room-title]", "general")
        .await
        .unwrap();
    browser
}

/// A WebSocket client in `general`.
async fn bot(relay: &RelayProcess, nick: &str) -> Client {
    let mut client = Client::hello(&relay.ws_url(), nick).await.unwrap();
    client.join("general", None).await.unwrap();
    client
}

async fn js(browser: &Browser, script: &str) -> Value {
    browser.client.execute(script, vec![]).await.unwrap()
}

/// The row showing `text`.
fn row_with(text: &str) -> String {
    format!(
        "Array.from(document.querySelectorAll('[data-testid=message]')).find(r => r.textContent.includes({}))",
        Value::from(text)
    )
}

/// The seq of the row showing `text`, once it shows.
async fn seq_of(browser: &Browser, text: &str) -> u64 {
    browser
        .wait_text("[data-testid=message-text]", text)
        .await
        .unwrap();
    let seq = js(
        browser,
        &format!("const r = {}; return r && r.dataset.seq;", row_with(text)),
    )
    .await;
    seq.as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no seq on the row of {text:?}: {seq}"))
}

fn row(seq: u64) -> String {
    format!("[data-testid=message][data-seq=\"{seq}\"]")
}

/// Focuses an element by script (what a Tab through the list would reach),
/// once it is there: a row's toolbar may still be rendering.
async fn focus(browser: &Browser, css: &str) {
    let deadline = tokio::time::Instant::now() + tests::WAIT;
    loop {
        let found = js(
            browser,
            &format!(
                "const el = document.querySelector({}); if (el) el.focus(); return !!el && document.activeElement === el;",
                Value::from(css)
            ),
        )
        .await;
        if found == Value::Bool(true) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{css} is not there to focus"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

async fn wait_focus(browser: &Browser, what: &str) {
    let deadline = tokio::time::Instant::now() + tests::WAIT;
    loop {
        let now = browser.focused().await.unwrap();
        if now == what {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "focus stayed on {now}, expected {what}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

async fn press(browser: &Browser, keys: &str) {
    browser.press(keys).await.unwrap();
}

/// The reaction chips of row `seq`: (emoji, count text, aria-pressed).
async fn chips(browser: &Browser, seq: u64) -> Value {
    js(
        browser,
        &format!(
            "return Array.from(document.querySelectorAll('{} [data-testid=reaction]'))
               .map(c => [c.dataset.emoji, c.querySelector('.count').textContent, c.getAttribute('aria-pressed')]);",
            row(seq)
        ),
    )
    .await
}

async fn wait_chips(browser: &Browser, seq: u64, want: Value) {
    let deadline = tokio::time::Instant::now() + tests::WAIT;
    loop {
        let now = chips(browser, seq).await;
        if now == want {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "chips of {seq}: {now}, expected {want}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

async fn composer_value(browser: &Browser) -> String {
    js(
        browser,
        "return document.querySelector('[data-testid=composer-input]').value;",
    )
    .await
    .as_str()
    .unwrap_or_default()
    .to_string()
}

#[tokio::test]
async fn a_reply_shows_its_quote_and_clicking_it_loads_and_shows_the_target() {
    let relay = serve().await;
    let mut bob = bot(&relay, "bob").await;
    let original = bob
        .say_acked("general", "the original question", "b-0")
        .await
        .unwrap();
    for i in 1..=30 {
        bob.say_acked("general", &format!("filler {i}"), &format!("b-{i}"))
            .await
            .unwrap();
    }
    let alice = open_as(&relay.http_url("/"), "alice").await;
    alice
        .wait_text("[data-testid=message-text]", "filler 30")
        .await
        .unwrap();
    let shown = alice.texts("[data-testid=message-text]").await.unwrap();
    assert!(
        !shown.iter().any(|t| t.contains("the original question")),
        "the target must start out not loaded"
    );

    bob.send(&ClientMsg::Send {
        room: room("general"),
        text: Text::new("answering it").unwrap(),
        client_id: ClientId::new("b-r").unwrap(),
        reply_to: Some(original),
        attachments: Vec::new(),
    })
    .await
    .unwrap();
    alice
        .wait_text("[data-testid=reply-quote]", "the original question")
        .await
        .unwrap();
    alice.click("[data-testid=reply-quote]").await.unwrap();
    // Older pages load until the target is there; it is scrolled into the
    // list's view and has focus.
    let target = row(original);
    wait_focus(&alice, "message").await;
    let shown = alice.wait_js("the target in view",
        &format!(
            "const r = document.querySelector('{target}'); if (!r || document.activeElement !== r) return false;
             const s = document.querySelector('[data-testid=message-scroller]').getBoundingClientRect();
             const b = r.getBoundingClientRect(); return b.top >= s.top && b.bottom <= s.bottom;"
        ),
        |v| v == &Value::Bool(true),
    )
    .await;
    assert_eq!(shown, Value::Bool(true));
    alice.screenshot("conversations-reply-jump").await.unwrap();

    // Alice replies by keyboard: the reply action, then the composer.
    let answer = seq_of(&alice, "answering it").await;
    focus(
        &alice,
        &format!("{} [data-testid=reply-button]", row(answer)),
    )
    .await;
    press(&alice, ENTER).await;
    alice
        .wait_text("[data-testid=replying-to]", "bob")
        .await
        .unwrap();
    wait_focus(&alice, "composer-input").await;
    press(&alice, &format!("thanks{ENTER}")).await;
    let reply = bob
        .recv_until(|m| matches!(m, ServerMsg::Message(m) if m.text.as_str() == "thanks"))
        .await
        .unwrap();
    let ServerMsg::Message(reply) = reply else {
        unreachable!()
    };
    assert_eq!(reply.state.reply_to, Some(answer));
    alice
        .wait_text("[data-testid=reply-quote]", "answering it")
        .await
        .unwrap();
    alice.close().await.unwrap();
}

#[tokio::test]
async fn reactions_toggle_by_keyboard_and_keep_focus() {
    let relay = serve().await;
    let url = relay.http_url("/");
    let alice = open_as(&url, "alice").await;
    let bob = open_as(&url, "bob").await;
    alice.say("react to this").await.unwrap();
    let seq = seq_of(&bob, "react to this").await;

    // Bob: the row's react button, Enter opens the picker with focus on
    // its first emoji, Enter picks it.
    focus(&bob, &format!("{} [data-testid=react-button]", row(seq))).await;
    press(&bob, ENTER).await;
    bob.find("[data-testid=emoji-picker]").await.unwrap();
    wait_focus(&bob, "emoji-choice").await;
    press(&bob, ENTER).await;
    wait_chips(&bob, seq, serde_json::json!([["👍", "1", "true"]])).await;
    wait_chips(&alice, seq, serde_json::json!([["👍", "1", "false"]])).await;
    wait_focus(&bob, "react-button").await;

    // Alice adds hers by clicking the chip.
    alice
        .click(&format!("{} [data-testid=reaction]", row(seq)))
        .await
        .unwrap();
    wait_chips(&alice, seq, serde_json::json!([["👍", "2", "true"]])).await;
    wait_chips(&bob, seq, serde_json::json!([["👍", "2", "true"]])).await;

    // Bob: Shift+Tab from the toolbar reaches the chip; Enter takes his
    // reaction back, and focus stays on the chip while the row is redrawn.
    wait_focus(&bob, "react-button").await;
    press(&bob, &format!("{SHIFT}{TAB}{RELEASE}")).await;
    wait_focus(&bob, "reaction").await;
    press(&bob, ENTER).await;
    wait_chips(&bob, seq, serde_json::json!([["👍", "1", "false"]])).await;
    wait_chips(&alice, seq, serde_json::json!([["👍", "1", "true"]])).await;
    wait_focus(&bob, "reaction").await;
    bob.screenshot("conversations-reactions-bob").await.unwrap();
    alice.close().await.unwrap();
    bob.close().await.unwrap();
}

#[tokio::test]
async fn up_edits_the_last_message_and_escape_cancels() {
    let relay = serve().await;
    let url = relay.http_url("/");
    let alice = open_as(&url, "alice").await;
    let bob = open_as(&url, "bob").await;
    alice.say("helo wrld").await.unwrap();
    let seq = seq_of(&bob, "helo wrld").await;
    seq_of(&alice, "helo wrld").await;

    wait_focus(&alice, "composer-input").await;
    press(&alice, ARROW_UP).await;
    alice.find("[data-testid=editing]").await.unwrap();
    assert_eq!(composer_value(&alice).await, "helo wrld");
    press(&alice, ESCAPE).await;
    alice
        .wait_js(
            "the edit bar gone",
            "return !document.querySelector('[data-testid=editing]');",
            |v| v == &Value::Bool(true),
        )
        .await;
    assert_eq!(composer_value(&alice).await, "");

    press(&alice, ARROW_UP).await;
    alice.find("[data-testid=editing]").await.unwrap();
    press(&alice, &format!("{CLEAR}hello **world**{ENTER}")).await;
    for page in [&alice, &bob] {
        page.wait_text(
            &format!("{} [data-testid=message-text] strong", row(seq)),
            "world",
        )
        .await
        .unwrap();
        let edited = page
            .find(&format!("{} [data-testid=message-edited]", row(seq)))
            .await
            .unwrap();
        let title = edited.attr("title").await.unwrap().unwrap_or_default();
        assert!(title.starts_with("edited "), "{title}");
    }
    assert_eq!(composer_value(&alice).await, "");
    let texts = bob.texts("[data-testid=message-text]").await.unwrap();
    assert_eq!(
        texts.iter().filter(|t| t.contains("hello")).count(),
        1,
        "an edit is not a new message: {texts:?}"
    );
    bob.screenshot("conversations-edited-bob").await.unwrap();
    alice.close().await.unwrap();
    bob.close().await.unwrap();
}

#[tokio::test]
async fn delete_by_keyboard_leaves_a_tombstone_for_everyone() {
    let relay = serve().await;
    let url = relay.http_url("/");
    let alice = open_as(&url, "alice").await;
    let bob = open_as(&url, "bob").await;
    alice.say("regrettable words").await.unwrap();
    alice.say("kept words").await.unwrap();
    let seq = seq_of(&bob, "regrettable words").await;
    seq_of(&alice, "kept words").await;

    // The toolbar's buttons: react, reply, edit, delete (arrow keys).
    focus(&alice, &format!("{} [data-testid=react-button]", row(seq))).await;
    press(&alice, &format!("{ARROW_RIGHT}{ARROW_RIGHT}{ARROW_RIGHT}")).await;
    wait_focus(&alice, "delete-button").await;
    press(&alice, ENTER).await;
    alice.find("[data-testid=delete-confirm]").await.unwrap();
    wait_focus(&alice, "delete-cancel").await;
    press(&alice, &format!("{SHIFT}{TAB}{RELEASE}")).await;
    wait_focus(&alice, "delete-confirm-button").await;
    press(&alice, ENTER).await;
    for page in [&alice, &bob] {
        page.wait_text(
            &format!("{} [data-testid=message-deleted]", row(seq)),
            "This message was deleted.",
        )
        .await
        .unwrap();
        let body = js(page, "return document.body.innerText;").await;
        assert!(!body.as_str().unwrap().contains("regrettable"), "{body}");
        page.wait_text("[data-testid=message-text]", "kept words")
            .await
            .unwrap();
    }
    bob.screenshot("conversations-deleted-bob").await.unwrap();
    alice.close().await.unwrap();
    bob.close().await.unwrap();
}

#[tokio::test]
async fn mentions_are_completed_highlighted_and_counted_apart_from_unread() {
    let relay = serve().await;
    let url = relay.http_url("/");
    let alice = open_as(&url, "alice").await;
    let bob = open_as(&url, "bob").await;
    bob.wait_text("[data-testid=member]", "alice")
        .await
        .unwrap();
    // Alice looks at another room.
    alice
        .type_into("[data-testid=join-input]", &format!("random{ENTER}"))
        .await
        .unwrap();
    alice
        .wait_text("[data-testid=room-title]", "random")
        .await
        .unwrap();

    // Bob types `@al`: the list offers alice; Enter completes it.
    bob.type_into("[data-testid=composer-input]", "@al")
        .await
        .unwrap();
    bob.wait_text("[data-testid=mention-option]", "@alice")
        .await
        .unwrap();
    let active = bob
        .find("[data-testid=composer-input]")
        .await
        .unwrap()
        .attr("aria-activedescendant")
        .await
        .unwrap();
    assert_eq!(active.as_deref(), Some("mention-list-0"));
    bob.screenshot("conversations-mention-complete")
        .await
        .unwrap();
    press(&bob, ENTER).await;
    assert_eq!(composer_value(&bob).await, "@alice ");
    press(&bob, &format!("look at this{ENTER}")).await;
    bob.say("no mention here").await.unwrap();

    let general = "[data-testid=room-entry][data-room=general]";
    alice
        .wait_text(&format!("{general} [data-testid=mention-badge]"), "@1")
        .await
        .unwrap();
    alice
        .wait_text(&format!("{general} [data-testid=unread-badge]"), "2")
        .await
        .unwrap();
    // Bob edits his last message to mention alice: one more mention, and
    // no more unread (an edit is not a new message).
    wait_focus(&bob, "composer-input").await;
    press(&bob, ARROW_UP).await;
    bob.find("[data-testid=editing]").await.unwrap();
    press(&bob, &format!("{CLEAR}@alice: a mention after all{ENTER}")).await;
    alice
        .wait_text(&format!("{general} [data-testid=mention-badge]"), "@2")
        .await
        .unwrap();
    alice
        .wait_text(&format!("{general} [data-testid=unread-badge]"), "2")
        .await
        .unwrap();
    alice
        .screenshot("conversations-mention-badge")
        .await
        .unwrap();
    alice.click(&format!("{general} a")).await.unwrap();
    alice
        .wait_text("[data-testid=message].mentions-me mark.mention", "@alice")
        .await
        .unwrap();
    let highlighted = alice
        .texts("[data-testid=message].mentions-me [data-testid=message-text]")
        .await
        .unwrap();
    assert_eq!(
        highlighted,
        [
            "@alice look at this",
            "@alice: a mention after all (edited)"
        ]
    );
    // Others' nicks are marked too, lighter than ours.
    bob.say("and @bob, that is me").await.unwrap();
    alice
        .wait_text(
            "[data-testid=message-text] mark.mention:not(.mention-me)",
            "@bob",
        )
        .await
        .unwrap();
    assert_eq!(
        alice.texts("mark.mention-me").await.unwrap(),
        ["@alice", "@alice"],
        "only mentions of us are marked strongly"
    );
    alice
        .screenshot("conversations-mentions-highlighted")
        .await
        .unwrap();
    alice
        .wait_texts("[data-testid=mention-badge]", "no mention badge", |t| {
            t.is_empty()
        })
        .await
        .unwrap();
    alice.close().await.unwrap();
    bob.close().await.unwrap();
}

const MARKDOWN: &str = "**bold** _it_ ~~gone~~ `code` [docs](https://example.com/docs)\n\n> quoted\n\n- one\n- two\n\n```\nfn main() {}\n```";

#[tokio::test]
async fn markdown_renders_as_elements_and_every_xss_payload_stays_text() {
    let relay = serve().await;
    let alice = open_as(&relay.http_url("/"), "alice").await;
    let mut mallory = bot(&relay, "mallory").await;
    let payloads: Vec<&str> = include_str!("fixtures/xss.txt")
        .lines()
        .filter(|l| !l.trim().is_empty())
        .collect();
    assert!(payloads.len() >= 40);
    for (i, payload) in payloads.iter().enumerate() {
        mallory
            .say_acked("general", payload, &format!("x-{i}"))
            .await
            .unwrap();
    }
    mallory.say_acked("general", MARKDOWN, "md").await.unwrap();
    mallory
        .say_acked("general", "the end", "end")
        .await
        .unwrap();
    alice
        .wait_text("[data-testid=message-text]", "the end")
        .await
        .unwrap();
    // Every payload is there, as text (20 come with `joined`; scroll back
    // for the rest).
    alice
        .wait_js(
            "every message loaded",
            "const s = document.querySelector('[data-testid=message-scroller]'); s.scrollTop = 0;
         return document.querySelectorAll('[data-testid=message]').length;",
            |v| v.as_u64() == Some(payloads.len() as u64 + 2),
        )
        .await;
    let verdict = js(
        &alice,
        r#"const list = document.querySelector('[data-testid=message-list]');
        const all = Array.from(list.querySelectorAll('*'));
        const onAttrs = all.flatMap(e => Array.from(e.attributes).filter(a => a.name.toLowerCase().startsWith('on')).map(a => e.tagName + ' ' + a.name));
        const banned = list.querySelectorAll('script,iframe,img,svg,object,embed,video,source,form,input,meta,link,details,marquee,style,math,textarea,body');
        const badLinks = Array.from(list.querySelectorAll('a')).filter(a =>
          !/^(https?:|mailto:)/i.test(a.getAttribute('href') || '') ||
          a.getAttribute('rel') !== 'noopener noreferrer nofollow' || a.getAttribute('target') !== '_blank')
          .map(a => a.outerHTML);
        const styled = all.filter(e => e.hasAttribute('style')).map(e => e.outerHTML);
        return { xss: window.__xss === undefined ? null : window.__xss, onAttrs, banned: banned.length, badLinks, styled };"#,
    )
    .await;
    assert_eq!(
        verdict,
        serde_json::json!({"xss": null, "onAttrs": [], "banned": 0, "badLinks": [], "styled": []})
    );
    let texts = alice.texts("[data-testid=message-text]").await.unwrap();
    for payload in [
        "<script>window.__xss=1</script>",
        "<svg onload=window.__xss=1>",
        "<a href=\"javascript:window.__xss=1\">click</a>",
    ] {
        assert!(
            texts.iter().any(|t| t.contains(payload)),
            "{payload} not shown as text"
        );
    }

    // The Markdown sample: one element of each kind.
    let md = js(
        &alice,
        &format!(
            "const r = {}; return ['strong','em','s','code','pre code','blockquote','ul li','a[href=\"https://example.com/docs\"]']
               .map(q => [q, r.querySelectorAll('[data-testid=message-text] ' + q).length]);",
            row_with("quoted")
        ),
    )
    .await;
    for pair in md.as_array().unwrap() {
        assert!(
            pair[1].as_u64().unwrap() >= 1,
            "no {} in the Markdown message",
            pair[0]
        );
    }
    js(&alice, &format!("{}.scrollIntoView();", row_with("quoted"))).await;
    alice.screenshot("conversations-markdown").await.unwrap();
    alice.close().await.unwrap();
}

#[tokio::test]
async fn the_conversation_ui_has_no_serious_accessibility_violations_in_either_theme() {
    // Long and keyboard-driven: not beside the tests that load the machine.
    let _heavy = tests::heavy().await;
    let relay = serve().await;
    let url = relay.http_url("/");
    let alice = open_as(&url, "alice").await;
    let bob = open_as(&url, "bob").await;
    bob.say("**Welcome** @alice, ask @bob, see `the docs`")
        .await
        .unwrap();
    let first = seq_of(&alice, "Welcome").await;
    // A reply, a reaction, an edit and a tombstone on screen.
    focus(
        &alice,
        &format!("{} [data-testid=reply-button]", row(first)),
    )
    .await;
    press(&alice, ENTER).await;
    wait_focus(&alice, "composer-input").await;
    press(&alice, &format!("thanks{ENTER}")).await;
    focus(
        &alice,
        &format!("{} [data-testid=react-button]", row(first)),
    )
    .await;
    press(&alice, ENTER).await;
    wait_focus(&alice, "emoji-choice").await;
    press(&alice, ENTER).await;
    wait_chips(&alice, first, serde_json::json!([["👍", "1", "true"]])).await;
    alice.say("typo here").await.unwrap();
    seq_of(&alice, "typo here").await;
    wait_focus(&alice, "composer-input").await;
    press(&alice, &format!("{ARROW_UP}{CLEAR}fixed here{ENTER}")).await;
    alice.find("[data-testid=message-edited]").await.unwrap();
    alice.say("to be removed").await.unwrap();
    let gone = seq_of(&alice, "to be removed").await;
    focus(&alice, &format!("{} [data-testid=react-button]", row(gone))).await;
    press(
        &alice,
        &format!("{ARROW_RIGHT}{ARROW_RIGHT}{ARROW_RIGHT}{ENTER}"),
    )
    .await;
    wait_focus(&alice, "delete-cancel").await;
    press(&alice, &format!("{SHIFT}{TAB}{RELEASE}{ENTER}")).await;
    alice.find("[data-testid=message-deleted]").await.unwrap();

    let mut bad = Vec::new();
    for theme in ["light", "dark"] {
        alice.set_color_scheme(theme).await.unwrap();
        // The first message's toolbar shown (focus inside it) with its
        // emoji picker open.
        focus(
            &alice,
            &format!("{} [data-testid=react-button]", row(first)),
        )
        .await;
        press(&alice, ENTER).await;
        alice.find("[data-testid=emoji-picker]").await.unwrap();
        bad.extend(
            alice
                .serious_violations(&format!("conversations-{theme}"))
                .await,
        );
        press(&alice, ESCAPE).await;
        // The composer with a reply bar and the mention list open.
        focus(
            &alice,
            &format!("{} [data-testid=reply-button]", row(first)),
        )
        .await;
        press(&alice, ENTER).await;
        wait_focus(&alice, "composer-input").await;
        press(&alice, "@b").await;
        alice.find("[data-testid=mention-option]").await.unwrap();
        bad.extend(
            alice
                .serious_violations(&format!("conversations-composer-{theme}"))
                .await,
        );
        press(&alice, &format!("{ESCAPE}{CLEAR}{ESCAPE}")).await;
    }
    assert!(bad.is_empty(), "{bad:#?}");
    alice.close().await.unwrap();
    bob.close().await.unwrap();
}

/// A relay that lets one send a second through: a paste stays in the
/// outbox for a while, and Up edits the last line while it waits. The edit
/// shows at once and reaches the others after the message itself, as an
/// edit of it.
#[tokio::test]
async fn an_edit_of_a_message_still_in_the_outbox_follows_it() {
    let relay = relay_serving_app_in_memory(&["--rate-limit", "1", "--rate-burst", "2"])
        .await
        .unwrap();
    let url = relay.http_url("/");
    let alice = open_as(&url, "alice").await;
    let bob = open_as(&url, "bob").await;
    wait_focus(&alice, "composer-input").await;
    press(
        &alice,
        &format!("line 1{ENTER}line 2{ENTER}line 3{ENTER}line 4{ENTER}"),
    )
    .await;
    press(&alice, &format!("{ARROW_UP}{CLEAR}line 4, edited{ENTER}")).await;
    // At once, on alice's side, whether or not line 4 has gone yet.
    alice
        .wait_text("[data-testid=message-text]", "line 4, edited")
        .await
        .unwrap();
    let seq = seq_of(&bob, "line 4, edited").await;
    bob.find(&format!("{} [data-testid=message-edited]", row(seq)))
        .await
        .unwrap();
    let texts = bob.texts("[data-testid=message-text]").await.unwrap();
    let lines: Vec<&str> = texts
        .iter()
        .map(|t| t.as_str())
        .filter(|t| t.starts_with("line"))
        .collect();
    assert_eq!(
        lines,
        ["line 1", "line 2", "line 3", "line 4, edited (edited)"]
    );
    bob.screenshot("conversations-edit-pending-bob")
        .await
        .unwrap();
    alice.close().await.unwrap();
    bob.close().await.unwrap();
}

/// A copied link (`#/room/NAME/SEQ`) opens the room at that message, older
/// pages loaded as needed; the copy button writes that link.
#[tokio::test]
async fn a_link_to_a_message_opens_the_room_at_it() {
    let relay = serve().await;
    let mut bob = bot(&relay, "bob").await;
    let linked = bob
        .say_acked("general", "the linked message", "b-0")
        .await
        .unwrap();
    for i in 1..=30 {
        bob.say_acked("general", &format!("later {i}"), &format!("b-{i}"))
            .await
            .unwrap();
    }
    let alice = Browser::open_app(
        &relay.http_url(&format!("/#/room/general/{linked}")),
        "alice",
    )
    .await
    .unwrap();
    alice
        .wait_js(
            "the linked message focused",
            &format!(
            "const r = document.querySelector('{}'); return !!r && document.activeElement === r;",
            row(linked)
        ),
            |v| v == &Value::Bool(true),
        )
        .await;
    // The copy button of a message puts the same kind of link on the
    // clipboard (by keyboard: the toolbar's last button).
    let later = seq_of(&alice, "later 30").await;
    alice
        .cdp(
            "Browser.grantPermissions",
            serde_json::json!({"permissions": ["clipboardReadWrite", "clipboardSanitizedWrite"]}),
        )
        .await
        .unwrap();
    focus(
        &alice,
        &format!("{} [data-testid=react-button]", row(later)),
    )
    .await;
    press(&alice, &format!("{ARROW_RIGHT}{ARROW_RIGHT}")).await;
    wait_focus(&alice, "copy-link").await;
    press(&alice, ENTER).await;
    let copied = alice
        .client
        .execute_async(
            "const done = arguments[arguments.length - 1];
             navigator.clipboard.readText().then(done, e => done('error: ' + e));",
            vec![],
        )
        .await
        .unwrap();
    let copied = copied.as_str().unwrap_or_default().to_string();
    assert!(
        copied.starts_with("http://") && copied.ends_with(&format!("#/room/general/{later}")),
        "{copied}"
    );
    alice.screenshot("conversations-link").await.unwrap();
    alice.close().await.unwrap();
}

/// Token mode for the moderator test: a login service that signs a token
/// for whoever the browser's cookie says (`palaver_login=NAME`), with the
/// moderator role for "mod".
mod moderation {
    use axum::{
        http::{header, HeaderMap, StatusCode},
        routing::get,
        Router,
    };
    use jsonwebtoken::{Algorithm, EncodingKey, Header};
    use serde_json::json;

    pub const SECRET: &str = "a test secret of at least thirty-two bytes";

    pub fn token(sub: &str, roles: &[&str]) -> String {
        let exp = jsonwebtoken::get_current_timestamp() + 3600;
        jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &json!({"sub": sub, "name": sub, "exp": exp, "roles": roles}),
            &EncodingKey::from_secret(SECRET.as_bytes()),
        )
        .unwrap()
    }

    async fn answer(headers: HeaderMap) -> (StatusCode, [(header::HeaderName, String); 2], String) {
        let origin = headers
            .get(header::ORIGIN)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let cors = [
            (header::ACCESS_CONTROL_ALLOW_ORIGIN, origin),
            (header::ACCESS_CONTROL_ALLOW_CREDENTIALS, "true".to_string()),
        ];
        let who = headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .find_map(|c| c.trim().strip_prefix("palaver_login=").map(str::to_string));
        let Some(who) = who else {
            return (StatusCode::UNAUTHORIZED, cors, String::new());
        };
        let roles: &[&str] = if who == "mod" { &["moderator"] } else { &[] };
        let body = json!({ "token": token(&who, roles) }).to_string();
        (StatusCode::OK, cors, body)
    }

    /// Serves the login service on a free loopback port; its token URL.
    pub async fn serve_login() -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = Router::new().route("/token", get(answer));
        tokio::spawn(async move { axum::serve(listener, app).await });
        format!("http://{addr}/token")
    }
}

/// Opens the app of `relay` signed in at the login service as `who`.
async fn open_signed_in(relay: &tests::InProcessRelay, who: &str) -> Browser {
    let browser = Browser::start().await.unwrap();
    browser.goto(&relay.http_url("/healthz")).await.unwrap();
    js(
        &browser,
        &format!("document.cookie = 'palaver_login={who}; path=/'"),
    )
    .await;
    browser.goto(&relay.http_url("/")).await.unwrap();
    browser
        .wait_text("[data-testid=room-title]", "general")
        .await
        .unwrap();
    browser
}

/// In token mode `welcome.roles` tells the app that a token has the
/// moderator role: it offers to delete others' messages, by keyboard,
/// and the relay takes it; without the role there is no such button.
#[tokio::test]
async fn a_moderator_deletes_others_messages_from_the_toolbar() {
    let token_url = moderation::serve_login().await;
    let dist = tests::browser::dist_with_config(&serde_json::json!({ "token_url": token_url }));
    let mut config = relay::Config::for_tests();
    config.static_dir = dist.path().to_path_buf();
    config.auth_secret = Some(moderation::SECRET.into());
    let relay = tests::InProcessRelay::start(config).await;
    let mut bob = Client::connect(&relay.ws_url()).await.unwrap();
    bob.hello_with_token(&moderation::token("bob", &[]))
        .await
        .unwrap();
    bob.join("general", None).await.unwrap();
    let spam = bob
        .say_acked("general", "buy cheap watches", "b-1")
        .await
        .unwrap();
    bob.say_acked("general", "sorry, wrong room", "b-2")
        .await
        .unwrap();

    let ann = open_signed_in(&relay, "ann").await;
    let moderator = open_signed_in(&relay, "mod").await;
    for page in [&ann, &moderator] {
        page.wait_text("[data-testid=message-text]", "wrong room")
            .await
            .unwrap();
    }
    // Ann (no role): reply and react on bob's message, no delete.
    focus(&ann, &format!("{} [data-testid=react-button]", row(spam))).await;
    let ann_buttons = js(
        &ann,
        &format!(
            "return Array.from(document.querySelectorAll('{} .actions button')).map(b => b.dataset.testid);",
            row(spam)
        ),
    )
    .await;
    assert_eq!(
        ann_buttons,
        serde_json::json!(["react-button", "reply-button", "copy-link"])
    );

    // The moderator: react, reply, delete (arrow keys), then confirm.
    focus(
        &moderator,
        &format!("{} [data-testid=react-button]", row(spam)),
    )
    .await;
    press(&moderator, &format!("{ARROW_RIGHT}{ARROW_RIGHT}")).await;
    wait_focus(&moderator, "delete-button").await;
    let label = moderator
        .find(&format!("{} [data-testid=delete-button]", row(spam)))
        .await
        .unwrap()
        .attr("aria-label")
        .await
        .unwrap();
    assert_eq!(label.as_deref(), Some("Delete bob's message (moderator)"));
    press(&moderator, ENTER).await;
    moderator
        .find("[data-testid=delete-confirm]")
        .await
        .unwrap();
    wait_focus(&moderator, "delete-cancel").await;
    let mut bad = Vec::new();
    for theme in ["light", "dark"] {
        moderator.set_color_scheme(theme).await.unwrap();
        bad.extend(
            moderator
                .serious_violations(&format!("conversations-moderator-{theme}"))
                .await,
        );
    }
    assert!(bad.is_empty(), "{bad:#?}");
    press(&moderator, &format!("{SHIFT}{TAB}{RELEASE}")).await;
    wait_focus(&moderator, "delete-confirm-button").await;
    press(&moderator, ENTER).await;

    let deleted = bob
        .recv_until(|m| matches!(m, ServerMsg::Update(u) if u.target == spam))
        .await
        .unwrap();
    let ServerMsg::Update(deleted) = deleted else {
        unreachable!()
    };
    assert_eq!(
        (deleted.kind, deleted.from.id.0.as_str()),
        (shared::protocol::UpdateKind::Delete, "mod")
    );
    for page in [&ann, &moderator] {
        page.wait_text(
            &format!("{} [data-testid=message-deleted]", row(spam)),
            "This message was deleted.",
        )
        .await
        .unwrap();
    }
    moderator
        .screenshot("conversations-moderator-deleted")
        .await
        .unwrap();
    ann.close().await.unwrap();
    moderator.close().await.unwrap();
    relay.stop().await.unwrap();
}

/// Touch has no hover: a finger held still on a message for half a second
/// opens its actions (focus on the toolbar's first button). A finger that
/// moves (a scroll), a gesture the browser takes over (`pointercancel`)
/// and a mouse button open nothing. Pointer events as a touch screen
/// sends them, dispatched on the rows.
#[tokio::test]
async fn a_long_press_on_touch_opens_a_messages_actions() {
    let relay = serve().await;
    let mut bob = bot(&relay, "bob").await;
    let mut seqs = Vec::new();
    for (i, text) in ["scrolled past", "cancelled", "clicked", "held"]
        .iter()
        .enumerate()
    {
        seqs.push(
            bob.say_acked("general", text, &format!("b-{i}"))
                .await
                .unwrap(),
        );
    }
    let alice = open_as(&relay.http_url("/"), "alice").await;
    seq_of(&alice, "held").await;
    // Every row that takes focus, in order.
    js(
        &alice,
        "window.focusedRows = [];
         document.addEventListener('focusin', e => {
           const r = e.target.closest('[data-testid=message]');
           if (r) window.focusedRows.push(Number(r.dataset.seq));
         });",
    )
    .await;
    let pointer = |seq: u64, kind: &str, ty: &str, dy: i32| {
        format!(
            "{{ const r = document.querySelector('{}'); const b = r.getBoundingClientRect();
             r.dispatchEvent(new PointerEvent('{kind}', {{pointerType: '{ty}', isPrimary: true,
               bubbles: true, clientX: b.left + 40, clientY: b.top + b.height / 2 + {dy}}})); }}",
            row(seq)
        )
    };
    let (scrolled, cancelled, clicked, held) = (seqs[0], seqs[1], seqs[2], seqs[3]);
    let script = [
        pointer(scrolled, "pointerdown", "touch", 0),
        pointer(scrolled, "pointermove", "touch", 4),
        pointer(scrolled, "pointermove", "touch", 30),
        pointer(cancelled, "pointerdown", "touch", 0),
        pointer(cancelled, "pointercancel", "touch", 0),
        pointer(clicked, "pointerdown", "mouse", 0),
        // Held last: were any of the others still timing, it would fire
        // first (same delay, set earlier).
        pointer(held, "pointerdown", "touch", 0),
        pointer(held, "pointermove", "touch", 3),
    ]
    .concat();
    js(&alice, &script).await;
    wait_focus(&alice, "react-button").await;
    let opened = alice
        .wait_js(
            "the held row's toolbar shown",
            &format!(
                "const a = document.querySelector('{} .message-actions .actions');
             return [window.focusedRows, getComputedStyle(a).opacity];",
                row(held)
            ),
            |v| v[1] == "1",
        )
        .await;
    assert_eq!(
        opened[0],
        serde_json::json!([held]),
        "only the held row opened"
    );
    alice.screenshot("conversations-long-press").await.unwrap();
    // The toolbar works from there: the reply button under the finger.
    press(&alice, &format!("{ARROW_RIGHT}{ENTER}")).await;
    alice
        .wait_text("[data-testid=replying-to]", "bob")
        .await
        .unwrap();
    alice.close().await.unwrap();
}
