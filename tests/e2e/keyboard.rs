//! The web app by keyboard alone: Tab and Shift+Tab reach every control in
//! reading order; the dialogs are modal and Escape closes them and the
//! drawers, with focus back on what opened them; the shortcuts work.

use tests::browser::{
    relay_serving_app, ALT, ARROW_DOWN, ARROW_UP, CONTROL, ENTER, ESCAPE, PAGE_UP, RELEASE, SHIFT,
    TAB,
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
        "message-scroller",
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
    // After the composer: the member panel's search box (the panel's
    // "Load more" is in tests/e2e/member_panel.rs), and back.
    assert_eq!(press(&alice, TAB).await, "member-search");
    assert_eq!(
        press(&alice, &format!("{SHIFT}{TAB}{RELEASE}")).await,
        "composer-input"
    );

    // `?` (outside a text field) opens the shortcuts; the dialog is modal:
    // Tab stays in it. Escape closes it and focus returns.
    press(&alice, &format!("{SHIFT}{TAB}{RELEASE}")).await;
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
    // PageUp from the composer is the message list's (focus stays put).
    press(&alice, PAGE_UP).await;
    assert_eq!(alice.focused().await.unwrap(), "composer-input");

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
