//! The web app by keyboard alone: Tab and Shift+Tab reach every control in
//! reading order; the dialogs are modal and Escape closes them and the
//! drawers, with focus back on what opened them; the shortcuts work
//! (Ctrl-K, Alt+Up/Down, Alt+Shift+Up to the previous unread room, PageUp
//! and PageDown scrolling the messages from the composer).

use tests::browser::{
    relay_serving_app, ALT, ARROW_DOWN, ARROW_UP, CONTROL, ENTER, ESCAPE, PAGE_DOWN, PAGE_UP,
    RELEASE, SHIFT, TAB,
};
use tests::Browser;

/// Presses `keys` and returns what has focus then.
async fn press(browser: &Browser, keys: &str) -> String {
    browser.press(keys).await.unwrap();
    browser.focused().await.unwrap()
}

/// Waits until `what` has focus (focus moves a frame after a dialog or a
/// drawer closes).
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

/// Waits until nothing matches `css` (a closed dialog leaves the DOM).
async fn wait_gone(browser: &Browser, css: &str) {
    let deadline = tokio::time::Instant::now() + tests::WAIT;
    while !browser
        .client
        .find_all(fantoccini::Locator::Css(css))
        .await
        .unwrap()
        .is_empty()
    {
        assert!(tokio::time::Instant::now() < deadline, "{css} stayed open");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// Polls the message list's scroll position (its top, and the most that
/// can be) until `ok` accepts it; returns the top.
async fn wait_scroll(browser: &Browser, what: &str, ok: impl Fn(f64, f64) -> bool) -> f64 {
    let deadline = tokio::time::Instant::now() + tests::WAIT;
    loop {
        let at = browser
            .client
            .execute(
                "const s = document.querySelector('[data-testid=message-scroller]');
                 return [s.scrollTop, s.scrollHeight - s.clientHeight];",
                vec![],
            )
            .await
            .unwrap();
        let (top, end) = (at[0].as_f64().unwrap(), at[1].as_f64().unwrap());
        if ok(top, end) {
            return top;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "waited for {what}: scrolled {top} of {end}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

async fn attribute(browser: &Browser, css: &str, name: &str) -> Option<String> {
    browser.find(css).await.unwrap().attr(name).await.unwrap()
}

#[tokio::test]
async fn tab_order_dialogs_drawers_and_shortcuts_work_by_keyboard() {
    let data = tempfile::tempdir().unwrap();
    let relay = relay_serving_app(None, data.path()).await.unwrap();
    let alice = Browser::open_app(&relay.http_url("/"), "alice")
        .await
        .unwrap();
    alice.say("a message to scroll past").await.unwrap();
    alice
        .wait_text("[data-testid=message-text]", "a message to scroll past")
        .await
        .unwrap();
    wait_focus(&alice, "composer-input").await;

    // Desktop: Shift+Tab from the composer walks back through every control
    // to the first room link; Tab walks the same way forward.
    let expected = [
        "room-entry>a",
        "leave-room",
        "join-input",
        "join-submit",
        "change-nick",
        "notify-toggle",
        "open-shortcuts",
        "room-notify",
        "message-scroller",
        // The message's actions: one stop (arrows move inside).
        "react-button",
        "composer-input",
    ];
    let mut backwards = vec![alice.focused().await.unwrap()];
    while backwards.last().unwrap() != "room-entry>a" && backwards.len() < 20 {
        backwards.push(press(&alice, &format!("{SHIFT}{TAB}{RELEASE}")).await);
    }
    backwards.reverse();
    assert_eq!(backwards, expected, "Shift+Tab order from the composer");
    let mut forwards = vec![alice.focused().await.unwrap()];
    for _ in 1..expected.len() {
        forwards.push(press(&alice, TAB).await);
    }
    assert_eq!(forwards, expected, "Tab order to the composer");
    // After the composer: its attach button (Send is disabled while the
    // composer is empty), the member panel's search box (the panel's
    // "Load more" is in tests/e2e/member_panel.rs), and back.
    assert_eq!(press(&alice, TAB).await, "attach-button");
    assert_eq!(press(&alice, TAB).await, "member-search");
    for back in ["attach-button", "composer-input"] {
        assert_eq!(press(&alice, &format!("{SHIFT}{TAB}{RELEASE}")).await, back);
    }

    // `?` (outside a text field) opens the shortcuts; the dialog is modal:
    // Tab stays in it. Escape closes it and focus returns.
    press(
        &alice,
        &format!("{SHIFT}{TAB}{RELEASE}{SHIFT}{TAB}{RELEASE}"),
    )
    .await;
    wait_focus(&alice, "message-scroller").await;
    alice.press("?").await.unwrap();
    alice.find("[data-testid=shortcuts]").await.unwrap();
    wait_focus(&alice, "shortcuts-close").await;
    for _ in 0..3 {
        let now = press(&alice, TAB).await;
        assert!(
            now == "shortcuts-close" || now == "body",
            "Tab left the modal dialog for {now}"
        );
    }
    alice.click("[data-testid=shortcuts-close]").await.unwrap();
    wait_focus(&alice, "message-scroller").await;
    alice.press("?").await.unwrap();
    alice.find("[data-testid=shortcuts]").await.unwrap();
    press(&alice, ESCAPE).await;
    wait_focus(&alice, "message-scroller").await;
    wait_gone(&alice, "[data-testid=shortcuts]").await;

    // The change-nick dialog: modal, Escape closes it, focus back on Change.
    alice
        .find("[data-testid=change-nick]")
        .await
        .unwrap()
        .send_keys(ENTER)
        .await
        .unwrap();
    alice.find("[data-testid=nick-dialog]").await.unwrap();
    wait_focus(&alice, "nick-input").await;
    assert_eq!(press(&alice, TAB).await, "nick-cancel");
    assert_eq!(press(&alice, TAB).await, "nick-submit");
    let after = press(&alice, TAB).await;
    assert!(
        after.starts_with("nick-") || after == "body",
        "Tab left the modal dialog for {after}"
    );
    alice.click("[data-testid=nick-input]").await.unwrap();
    press(&alice, ESCAPE).await;
    wait_focus(&alice, "change-nick").await;
    wait_gone(&alice, "[data-testid=nick-dialog]").await;

    // Ctrl-K: the room switcher joins a room by name; Alt+Up/Down switch.
    alice.click("[data-testid=composer-input]").await.unwrap();
    press(&alice, &format!("{CONTROL}k{RELEASE}")).await;
    wait_focus(&alice, "switcher-input").await;
    press(&alice, &format!("random{ENTER}")).await;
    alice
        .wait_text("[data-testid=room-title]", "#random")
        .await
        .unwrap();
    wait_focus(&alice, "composer-input").await;
    press(&alice, &format!("{ALT}{ARROW_UP}{RELEASE}")).await;
    alice
        .wait_text("[data-testid=room-title]", "#general")
        .await
        .unwrap();
    press(&alice, &format!("{ALT}{ARROW_DOWN}{RELEASE}")).await;
    alice
        .wait_text("[data-testid=room-title]", "#random")
        .await
        .unwrap();
    // PageUp/PageDown from the composer scroll the message list by a page
    // while focus stays put. Bob, a WebSocket client, writes a tall
    // message here.
    let mut bob = tests::Client::hello(&relay.ws_url(), "bob").await.unwrap();
    bob.join("random", None).await.unwrap();
    bob.join("general", None).await.unwrap();
    let tall: Vec<String> = (1..=120).map(|i| format!("line {i}")).collect();
    bob.say_acked("random", &tall.join("\n"), "bob-1")
        .await
        .unwrap();
    alice
        .wait_text("[data-testid=message-text]", "line 120")
        .await
        .unwrap();
    let bottom = wait_scroll(&alice, "the list at its end", |top, end| {
        end > 400.0 && top >= end - 2.0
    })
    .await;
    press(&alice, PAGE_UP).await;
    assert_eq!(alice.focused().await.unwrap(), "composer-input");
    let up = wait_scroll(&alice, "a page up", |top, _| top < bottom - 200.0).await;
    press(&alice, PAGE_DOWN).await;
    wait_scroll(&alice, "a page down", |top, _| top > up + 200.0).await;

    // Alt+Shift+Up goes to the previous room with unread messages, past
    // one without (where Alt+Up would stop).
    press(&alice, &format!("{CONTROL}k{RELEASE}")).await;
    wait_focus(&alice, "switcher-input").await;
    press(&alice, &format!("quiet{ENTER}")).await;
    alice
        .wait_text("[data-testid=room-title]", "#quiet")
        .await
        .unwrap();
    wait_focus(&alice, "composer-input").await;
    bob.say_acked("general", "news in general", "bob-2")
        .await
        .unwrap();
    alice
        .wait_text("[data-testid=unread-badge]", "1")
        .await
        .unwrap();
    press(&alice, &format!("{ALT}{SHIFT}{ARROW_UP}{RELEASE}")).await;
    alice
        .wait_text("[data-testid=room-title]", "#general")
        .await
        .unwrap();

    // A phone: the drawers. Opening one moves focus into it and the room
    // behind is inert; Escape closes it and focus is back on its toggle.
    alice.set_viewport(390, 844).await.unwrap();
    let members = "[data-testid=toggle-members]";
    assert_eq!(
        attribute(&alice, members, "aria-expanded").await.as_deref(),
        Some("false")
    );
    alice
        .find(members)
        .await
        .unwrap()
        .send_keys(ENTER)
        .await
        .unwrap();
    wait_focus(&alice, "app>aside").await;
    assert_eq!(
        attribute(&alice, members, "aria-expanded").await.as_deref(),
        Some("true")
    );
    press(&alice, ESCAPE).await;
    wait_focus(&alice, "toggle-members").await;
    assert_eq!(
        attribute(&alice, members, "aria-expanded").await.as_deref(),
        Some("false")
    );

    let rooms = "[data-testid=toggle-rooms]";
    alice
        .find(rooms)
        .await
        .unwrap()
        .send_keys(ENTER)
        .await
        .unwrap();
    wait_focus(&alice, "room-entry>a").await;
    assert_eq!(
        attribute(&alice, rooms, "aria-expanded").await.as_deref(),
        Some("true")
    );
    alice.screenshot("keyboard-rooms-drawer").await.unwrap();
    for _ in 0..12 {
        let now = press(&alice, TAB).await;
        let inside: bool = alice
            .client
            .execute(
                "return document.activeElement === document.body || !!document.activeElement.closest('#sidebar')",
                vec![],
            )
            .await
            .unwrap()
            .as_bool()
            .unwrap();
        assert!(inside, "Tab left the open rooms drawer for {now}");
    }
    press(&alice, ESCAPE).await;
    wait_focus(&alice, "toggle-rooms").await;
    assert_eq!(
        attribute(&alice, rooms, "aria-expanded").await.as_deref(),
        Some("false")
    );
    alice.close().await.unwrap();
}
