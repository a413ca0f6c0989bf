//! Search in the web app, by keyboard alone, in headless Chromium: `/`
//! opens the dialog, Enter searches, the hits are grouped by room with the
//! matched words in `<mark>`s, ↑/↓ move the active hit (the combobox's
//! `aria-activedescendant`), Enter opens one: its room shows the page of
//! history around it (not the newest messages), the hit marked and
//! focused, and "Jump to latest" brings the newest back. Scrolling that
//! page by keyboard reads on: older pages above, newer ones below, until
//! it meets the newest and the room is live again. axe-core finds
//! nothing serious in the dialog or the page around a hit, light or dark.
//! Screenshots land in target/e2e/.

use tests::browser::{
    dist_dir, ARROW_DOWN, ARROW_UP, END, ENTER, PAGE_DOWN, PAGE_UP, RELEASE, SHIFT, TAB,
};
use tests::{Browser, RelayProcess, WAIT};

/// Serious and critical axe violations now, in both themes (printed, and
/// a screenshot of each).
async fn audit(browser: &Browser, case: &str) -> Vec<String> {
    let mut bad = Vec::new();
    for theme in ["light", "dark"] {
        browser.set_color_scheme(theme).await.unwrap();
        bad.extend(
            browser
                .serious_violations(&format!("search-{case}-{theme}"))
                .await,
        );
    }
    browser.set_color_scheme("light").await.unwrap();
    bad
}

/// A relay with the durable store in `data`, serving the built web app,
/// that lets the tests send as fast as they fill rooms.
async fn relay_serving_app(data: &std::path::Path) -> RelayProcess {
    let dist = dist_dir();
    RelayProcess::spawn(&[
        "--static-dir",
        dist.to_str().unwrap(),
        "--data-dir",
        data.to_str().unwrap(),
        "--rate-limit",
        "0",
        "--room-rate-limit",
        "0",
    ])
    .await
    .unwrap()
}

#[tokio::test]
async fn search_finds_hits_by_keyboard_and_enter_shows_the_page_around_one() {
    let data = tempfile::tempdir().unwrap();
    let relay = relay_serving_app(data.path()).await;

    // ops: 60 fillers, the hit, 60 more, so the hit is far from the
    // newest page; general: an older English hit.
    let mut bob = tests::Client::hello(&relay.ws_url(), "bob").await.unwrap();
    bob.join("general", None).await.unwrap();
    bob.join("ops", None).await.unwrap();
    bob.say_acked("general", "deploy the relay tonight", "g")
        .await
        .unwrap();
    for i in 1..=60 {
        bob.say_acked("ops", &format!("filler {i}"), &format!("a{i}"))
            .await
            .unwrap();
    }
    let hit = bob
        .say_acked("ops", "我们的分布式聊天系统 deploys today", "hit")
        .await
        .unwrap();
    // Alice's own message right after the hit, then 60 more fillers.
    let url = relay.http_url("/");
    let alice = Browser::open_app(&url, "alice").await.unwrap();
    alice.goto(&format!("{url}#/room/ops")).await.unwrap();
    alice
        .wait_text("[data-testid=message-text]", "deploys today")
        .await
        .unwrap();
    alice.say("mine, next to the hit").await.unwrap();
    let mine = "[data-testid=message].mine [data-testid=message-text]";
    alice
        .wait_text(mine, "mine, next to the hit")
        .await
        .unwrap();
    bob.recv_until(|m| matches!(m, shared::ServerMsg::Message(m) if m.text.as_str() == "mine, next to the hit"))
        .await
        .unwrap();
    for i in 61..=120 {
        bob.say_acked("ops", &format!("filler {i}"), &format!("a{i}"))
            .await
            .unwrap();
    }
    alice
        .wait_text("[data-testid=message-text]", "filler 120")
        .await
        .unwrap();
    alice.goto(&format!("{url}#/room/general")).await.unwrap();
    alice
        .wait_text("[data-testid=message-text]", "deploy the relay tonight")
        .await
        .unwrap();

    // Out of the composer (where `/` is text), then `/`.
    alice.find("[data-testid=composer-input]").await.unwrap();
    let deadline = tokio::time::Instant::now() + WAIT;
    while alice.focused().await.unwrap() != "composer-input" {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the composer never had focus"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    alice
        .press(&format!("{SHIFT}{TAB}{RELEASE}"))
        .await
        .unwrap();
    alice.press("/").await.unwrap();
    alice.find("[data-testid=search]").await.unwrap();
    assert_eq!(alice.focused().await.unwrap(), "search-input");

    alice.press(&format!("deploy*{ENTER}")).await.unwrap();
    let rooms = alice
        .wait_texts("[data-testid=search-room]", "two rooms of hits", |t| {
            t.len() == 2
        })
        .await
        .unwrap();
    assert_eq!(rooms, ["#ops", "#general"], "rooms by their newest hit");
    let hits = alice.texts("[data-testid=search-text]").await.unwrap();
    assert_eq!(
        hits,
        [
            "我们的分布式聊天系统 deploys today",
            "deploy the relay tonight"
        ]
    );
    let marks = alice.texts("[data-testid=search-text] mark").await.unwrap();
    assert_eq!(marks, ["deploy", "deploy"]);
    let active = |b: &Browser| {
        let b = b.client.clone();
        async move {
            b.execute(
                "const i = document.querySelector('[data-testid=search-input]');
                 const id = i.getAttribute('aria-activedescendant');
                 const el = id && document.getElementById(id);
                 return [id, el && el.getAttribute('aria-selected'),
                         el && el.querySelector('[data-testid=search-text]').textContent];",
                vec![],
            )
            .await
            .unwrap()
        }
    };
    assert_eq!(
        active(&alice).await,
        serde_json::json!(["search-hit-0", "true", "我们的分布式聊天系统 deploys today"])
    );
    alice.press(ARROW_DOWN).await.unwrap();
    assert_eq!(
        active(&alice).await,
        serde_json::json!(["search-hit-1", "true", "deploy the relay tonight"])
    );
    alice.press(ARROW_UP).await.unwrap();
    assert_eq!(active(&alice).await[0], "search-hit-0");
    assert_eq!(
        alice.focused().await.unwrap(),
        "search-input",
        "focus stays in the field"
    );
    let mut bad = audit(&alice, "dialog").await;

    // A Chinese word inside a run, then Enter on its hit.
    alice
        .press(&format!("\u{E009}a\u{E000}\u{E003}聊天{ENTER}"))
        .await
        .unwrap();
    alice
        .wait_texts("[data-testid=search-text] mark", "the Chinese hit", |t| {
            t == ["聊天"]
        })
        .await
        .unwrap();
    alice.press(ENTER).await.unwrap();

    // The room around the hit: the hit marked and focused, its neighbours
    // loaded, the newest messages not.
    let row = format!("msg-{hit}");
    alice.wait_js("the hit focused",
        "const el = document.activeElement; return [el && el.id, el && el.classList.contains('flash')];",
        |v| v[0] == row.as_str() && v[1] == true,
    )
    .await;
    assert!(alice
        .client
        .current_url()
        .await
        .unwrap()
        .as_str()
        .ends_with("#/room/ops"));
    let texts = alice.texts("[data-testid=message-text]").await.unwrap();
    assert!(texts.iter().any(|t| t == "filler 60"), "{texts:?}");
    // Alice's own message there is hers, as in the live list.
    assert_eq!(
        alice.texts(mine).await.unwrap(),
        ["mine, next to the hit"],
        "{texts:?}"
    );
    assert!(texts.iter().any(|t| t == "filler 61"), "{texts:?}");
    assert!(
        !texts.iter().any(|t| t == "filler 120"),
        "not the newest: {texts:?}"
    );
    alice.find("[data-testid=jump-latest]").await.unwrap();
    bad.extend(audit(&alice, "around").await);

    // Shift+Tab to "Jump to latest" (before the list, since Tab through
    // the rows reads on, newer), Enter: the newest messages again.
    let mut presses = 0;
    while alice.focused().await.unwrap() != "jump-latest" {
        presses += 1;
        assert!(presses < 300, "Shift+Tab never reached Jump to latest");
        alice
            .press(&format!("{SHIFT}{TAB}{RELEASE}"))
            .await
            .unwrap();
    }
    alice.press(ENTER).await.unwrap();
    alice
        .wait_text("[data-testid=message-text]", "filler 120")
        .await
        .unwrap();
    assert!(alice
        .client
        .find_all(fantoccini::Locator::Css("[data-testid=jump-latest]"))
        .await
        .unwrap()
        .is_empty());
    alice.screenshot("search-back-to-latest").await.unwrap();
    assert!(
        bad.is_empty(),
        "serious accessibility violations:\n{}",
        bad.join("\n")
    );
    alice.close().await.unwrap();
}

/// Presses `key` in the page around a hit until `done` (a JS expression)
/// holds, letting each page asked for come first.
async fn press_until(browser: &Browser, key: &str, done: &str, what: &str) {
    let deadline = tokio::time::Instant::now() + WAIT * 4;
    let loading = "return !document.querySelector(\
        '[data-testid=loading-older],[data-testid=loading-newer]')";
    loop {
        let value = browser
            .client
            .execute(&format!("return {done};"), vec![])
            .await
            .unwrap();
        if value == true {
            return;
        }
        if tokio::time::Instant::now() >= deadline {
            let state = browser
                .client
                .execute(
                    "const s = document.querySelector('[data-testid=message-scroller]');
                     const a = document.activeElement;
                     return [s.scrollTop, s.scrollHeight, s.clientHeight,
                             document.querySelectorAll('[data-testid=message]').length,
                             a && (a.id || a.getAttribute('data-testid'))];",
                    vec![],
                )
                .await
                .unwrap();
            panic!("never {what}: scroll top, height, view, rows, focus: {state}");
        }
        // The key goes to what has focus. When the last page turned the
        // room live between the check above and the key, the list that
        // had focus was just replaced, and focus lands on the reader's row
        // a frame later: then check again rather than fail.
        if browser.press(key).await.is_err() {
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            continue;
        }
        browser
            .wait_js("the page asked for", loading, |v| *v == true)
            .await;
    }
}

/// 300 messages, one old one with a word no other has: Enter on its hit
/// (another client's edit of a message on the page shows there at once),
/// then PageUp reads older pages up to the room's start, End (focus in
/// the list) a newer one, and PageDown newer ones until the page meets
/// the newest; then the room is live: every message once, in order,
/// "Jump to latest" gone, a new message shown.
#[tokio::test]
async fn the_page_around_a_hit_grows_both_ways_until_the_room_is_live() {
    let data = tempfile::tempdir().unwrap();
    let relay = relay_serving_app(data.path()).await;
    let line = |n: usize| match n {
        100 => "the old zebra line".to_string(),
        n => format!("line {n}"),
    };
    let mut bob = tests::Client::hello(&relay.ws_url(), "bob").await.unwrap();
    bob.join("lore", None).await.unwrap();
    let mut hit = 0;
    for n in 1..=300 {
        let seq = bob
            .say_acked("lore", &line(n), &format!("l{n}"))
            .await
            .unwrap();
        if n == 100 {
            hit = seq;
        }
    }
    let url = relay.http_url("/");
    let alice = Browser::open_app(&url, "alice").await.unwrap();
    alice.goto(&format!("{url}#/room/lore")).await.unwrap();
    alice
        .wait_text("[data-testid=message-text]", "line 300")
        .await
        .unwrap();
    alice.find("[data-testid=composer-input]").await.unwrap();
    alice
        .wait_js(
            "the composer focused",
            "return document.activeElement && \
            document.activeElement.getAttribute('data-testid');",
            |v| *v == "composer-input",
        )
        .await;
    alice
        .press(&format!("{SHIFT}{TAB}{RELEASE}"))
        .await
        .unwrap();
    alice.press("/").await.unwrap();
    alice.find("[data-testid=search]").await.unwrap();
    alice.press(&format!("zebra{ENTER}")).await.unwrap();
    alice
        .wait_texts("[data-testid=search-text]", "the one hit", |t| {
            t == ["the old zebra line"]
        })
        .await
        .unwrap();
    alice.press(ENTER).await.unwrap();
    let row = format!("msg-{hit}");
    alice
        .wait_js(
            "the hit focused",
            "const el = document.activeElement; return el && el.id;",
            |v| *v == row.as_str(),
        )
        .await;
    let texts = alice.texts("[data-testid=message-text]").await.unwrap();
    assert!(
        !texts.iter().any(|t| t == "line 1" || t == "line 300"),
        "{texts:?}"
    );
    // Another client edits a message on the page: the page shows the new
    // text at once, still apart from the live list.
    let edited = "line 101, edited while detached";
    let edit = shared::ClientMsg::Edit {
        room: tests::client::room("lore"),
        seq: hit + 1,
        text: shared::Text::new(edited).unwrap(),
        client_id: shared::ClientId::new("e1").unwrap(),
    };
    tests::events::acked(&mut bob, edit, "e1").await.unwrap();
    alice
        .wait_texts("[data-testid=message-text]", "the edit on the page", |t| {
            t.iter().any(|t| *t == format!("{edited} (edited)"))
        })
        .await
        .unwrap();
    alice.find("[data-testid=jump-latest]").await.unwrap();

    // Up by PageUp: older pages, to the room's start.
    press_until(
        &alice,
        PAGE_UP,
        "!!document.querySelector('[data-testid=room-start]')",
        "the room's start",
    )
    .await;
    let texts = alice.texts("[data-testid=message-text]").await.unwrap();
    assert_eq!(texts.first().map(String::as_str), Some("line 1"));
    assert!(!texts.iter().any(|t| t == "line 300"), "{texts:?}");
    alice.find("[data-testid=jump-latest]").await.unwrap();
    let bad = audit(&alice, "grown").await;

    // End, with focus on the list: the next newer page.
    let shown = alice
        .texts("[data-testid=message-text]")
        .await
        .unwrap()
        .len();
    alice
        .client
        .execute(
            "document.querySelector('[data-testid=message-scroller]').focus();",
            vec![],
        )
        .await
        .unwrap();
    alice.press(END).await.unwrap();
    alice
        .wait_texts("[data-testid=message-text]", "a newer page", |t| {
            t.len() > shown
        })
        .await
        .unwrap();

    // Down by PageDown: newer pages, until the page meets the newest.
    press_until(
        &alice,
        PAGE_DOWN,
        "!document.querySelector('[data-testid=jump-latest]')",
        "live again",
    )
    .await;
    let texts = alice.texts("[data-testid=message-text]").await.unwrap();
    let every: Vec<String> = (1..=300)
        .map(|n| match n {
            101 => format!("{edited} (edited)"),
            n => line(n),
        })
        .collect();
    assert_eq!(texts, every, "every message once, in order");
    // Live: a new message shows, in the same list.
    bob.say_acked("lore", "line 301", "l301").await.unwrap();
    alice
        .wait_texts("[data-testid=message-text]", "the new message last", |t| {
            t.last().map(String::as_str) == Some("line 301")
        })
        .await
        .unwrap();
    alice.screenshot("search-grown-to-live").await.unwrap();
    assert!(
        bad.is_empty(),
        "serious accessibility violations:\n{}",
        bad.join("\n")
    );
    alice.close().await.unwrap();
}
