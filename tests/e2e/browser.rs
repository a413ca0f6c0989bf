//! The web app in headless Chromium against a real relay process serving
//! the built bundle. Each test saves screenshots under target/e2e/.

use tests::{
    browser::{relay_serving_app, ENTER},
    Browser, RelayProcess,
};

/// Longer than the web app's longest reconnect backoff (30 s).
const BACKOFF_WAIT: std::time::Duration = std::time::Duration::from_secs(40);

/// A relay serving the built app with a durable store in a temp dir (kept
/// as long as the returned guard lives).
async fn serve_app() -> (RelayProcess, tempfile::TempDir) {
    let data = tempfile::tempdir().unwrap();
    let relay = relay_serving_app(None, data.path()).await.unwrap();
    (relay, data)
}

/// Opens the app, picks a nick and waits for the composer of `general`.
async fn open_as(url: &str, nick: &str) -> Browser {
    let browser = Browser::open_app(url, nick).await.unwrap();
    browser
        .wait_text("[data-testid=room-title]", "general")
        .await
        .unwrap();
    browser
}

async fn say(browser: &Browser, text: &str) {
    browser.say(text).await.unwrap();
}

fn count(texts: &[String], needle: &str) -> usize {
    texts.iter().filter(|t| t.contains(needle)).count()
}

#[tokio::test]
async fn two_users_chat_and_see_presence_and_typing() {
    let (relay, _data) = serve_app().await;
    let url = relay.http_url("/");
    let alice = open_as(&url, "alice").await;
    let bob = open_as(&url, "bob").await;

    alice
        .wait_text("[data-testid=member]", "bob")
        .await
        .unwrap();
    bob.wait_text("[data-testid=member]", "alice")
        .await
        .unwrap();

    alice
        .type_into("[data-testid=composer-input]", "hel")
        .await
        .unwrap();
    bob.wait_text("[data-testid=typing-indicator]", "alice")
        .await
        .unwrap();
    alice
        .type_into("[data-testid=composer-input]", &format!("lo bob{ENTER}"))
        .await
        .unwrap();
    bob.wait_text("[data-testid=message-text]", "hello bob")
        .await
        .unwrap();
    say(&bob, "hi alice, all good?").await;
    alice
        .wait_text("[data-testid=message-text]", "hi alice, all good?")
        .await
        .unwrap();
    alice.screenshot("chat-alice").await.unwrap();
    bob.screenshot("chat-bob").await.unwrap();
    alice.close().await.unwrap();
    bob.close().await.unwrap();
}

#[tokio::test]
async fn pages_reconnect_after_a_relay_restart_and_deliver_the_outbox_once() {
    // Two pages' reconnect backoff against a restarting relay: timing a
    // loaded machine can stretch.
    let _heavy = tests::heavy().await;
    let (relay, data) = serve_app().await;
    let port = relay.port();
    let url = relay.http_url("/");
    let alice = open_as(&url, "alice").await;
    let bob = open_as(&url, "bob").await;
    say(&alice, "before the outage").await;
    bob.wait_text("[data-testid=message-text]", "before the outage")
        .await
        .unwrap();

    relay.signal("KILL").unwrap();
    drop(relay);
    alice.wait_reconnecting().await.unwrap();
    say(&alice, "typed during the outage").await;
    alice.screenshot("restart-offline-alice").await.unwrap();

    let _relay = relay_serving_app(Some(port), data.path()).await.unwrap();
    // Both pages come back by themselves within their reconnect backoff
    // (capped at 30 s), as in the PWA test.
    bob.wait_texts_for(
        BACKOFF_WAIT,
        "[data-testid=message-text]",
        "the message typed during the outage",
        |t| t.iter().any(|t| t.contains("typed during the outage")),
    )
    .await
    .unwrap();
    // A later message proves the earlier one had time to be duplicated.
    say(&bob, "after the outage").await;
    for page in [&alice, &bob] {
        page.wait_texts_for(
            BACKOFF_WAIT,
            "[data-testid=message-text]",
            "after the outage",
            |t| t.iter().any(|t| t.contains("after the outage")),
        )
        .await
        .unwrap();
        let texts = page.texts("[data-testid=message-text]").await.unwrap();
        assert_eq!(count(&texts, "typed during the outage"), 1, "{texts:?}");
        // The durable store kept the history from before the restart.
        assert_eq!(count(&texts, "before the outage"), 1, "{texts:?}");
    }
    alice
        .wait_texts("[data-testid=connection-banner]", "no banner", |t| {
            t.iter().all(|t| t.trim().is_empty())
        })
        .await
        .unwrap();
    alice.screenshot("restart-alice").await.unwrap();
    bob.screenshot("restart-bob").await.unwrap();
    alice.close().await.unwrap();
    bob.close().await.unwrap();
}

#[tokio::test]
async fn unread_counts_rise_for_the_room_not_in_view() {
    let (relay, _data) = serve_app().await;
    let url = relay.http_url("/");
    let alice = open_as(&url, "alice").await;
    let bob = open_as(&url, "bob").await;
    for page in [&alice, &bob] {
        page.type_into("[data-testid=join-input]", &format!("random{ENTER}"))
            .await
            .unwrap();
        page.wait_text("[data-testid=room-title]", "random")
            .await
            .unwrap();
    }
    // Alice goes back to general; Bob writes in random twice.
    alice
        .click("[data-testid=room-entry][data-room=general]")
        .await
        .unwrap();
    alice
        .wait_text("[data-testid=room-title]", "general")
        .await
        .unwrap();
    say(&bob, "one").await;
    say(&bob, "two").await;
    alice
        .wait_text(
            "[data-testid=room-entry][data-room=random] [data-testid=unread-badge]",
            "2",
        )
        .await
        .unwrap();
    alice.screenshot("unread-alice").await.unwrap();
    // Reading the room clears the count.
    alice
        .click("[data-testid=room-entry][data-room=random]")
        .await
        .unwrap();
    alice
        .wait_text("[data-testid=message-text]", "two")
        .await
        .unwrap();
    alice
        .wait_texts("[data-testid=unread-badge]", "no unread badge", |t| {
            t.is_empty()
        })
        .await
        .unwrap();
    alice.close().await.unwrap();
    bob.close().await.unwrap();
}

#[tokio::test]
async fn markup_in_a_message_shows_as_text() {
    let (relay, _data) = serve_app().await;
    let url = relay.http_url("/");
    let alice = open_as(&url, "alice").await;
    let bob = open_as(&url, "bob").await;
    let hostile = "<script>window.pwned=1</script><b>bold?</b> <img src=x onerror=window.pwned=2>";
    say(&alice, hostile).await;
    bob.wait_text(
        "[data-testid=message-text]",
        "<script>window.pwned=1</script>",
    )
    .await
    .unwrap();
    let injected = bob
        .client
        .execute(
            "return [window.pwned === undefined, \
              document.querySelectorAll('[data-testid=message-text] b, [data-testid=message-text] img, [data-testid=message-text] script').length]",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(injected, serde_json::json!([true, 0]));
    bob.screenshot("markup-bob").await.unwrap();
    alice.close().await.unwrap();
    bob.close().await.unwrap();
}

/// Thirty messages typed as fast as WebDriver types, against the relay's
/// default rate (5 sends/s, burst 10): the page paces itself to the rate
/// `welcome` announced, never shows a message as not sent, and the other
/// member sees all thirty once, in the order they were typed.
#[tokio::test]
async fn thirty_quick_messages_arrive_in_order_and_none_is_refused() {
    let _heavy = tests::heavy().await;
    let (relay, _data) = serve_app().await;
    let url = relay.http_url("/");
    let alice = open_as(&url, "alice").await;
    let bob = open_as(&url, "bob").await;
    let expected: Vec<String> = (1..=30).map(|n| format!("quick {n:02}")).collect();
    for text in &expected {
        say(&alice, text).await;
    }
    bob.wait_texts_for(
        tests::WAIT * 3,
        "[data-testid=message-text]",
        "all thirty messages",
        |t| count(t, "quick ") == expected.len(),
    )
    .await
    .unwrap();
    let texts = bob.texts("[data-testid=message-text]").await.unwrap();
    let quick: Vec<&String> = texts.iter().filter(|t| t.contains("quick ")).collect();
    assert_eq!(
        quick,
        expected.iter().collect::<Vec<_>>(),
        "in the order typed"
    );
    alice
        .wait_texts_for(
            tests::WAIT * 3,
            "[data-testid=message-status]",
            "every message acked",
            |t| t.is_empty(),
        )
        .await
        .unwrap();
    let refused = alice.texts("[data-testid=message-error]").await.unwrap();
    assert!(refused.is_empty(), "shown as not sent: {refused:?}");
    alice.screenshot("quick-messages-alice").await.unwrap();
    alice.close().await.unwrap();
    bob.close().await.unwrap();
}
