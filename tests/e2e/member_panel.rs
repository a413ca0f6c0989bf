//! The web app's member panel in a big room (docs/PROTOCOL.md, "Big
//! rooms"), by keyboard: it shows the room's count and the first members
//! `joined` listed; "Load more" pages on; the search box finds members by
//! nick prefix with the relay's help, page by page; a leave reaches the
//! panel through its subscription; and the room on screen gets the big
//! room's typing because the app sends `focus`, and a hidden tab does not. The crowd is real
//! WebSocket clients.

use shared::{ClientMsg, Nick, RoomName, ServerMsg};
use tests::browser::{relay_serving_big_rooms, BACKSPACE, CONTROL, ENTER, RELEASE, SHIFT, TAB};
use tests::client::crowd;
use tests::Browser;

const NICKS: &str = "[data-testid=member] .nick";

fn nicks(prefix: &str, range: std::ops::Range<usize>) -> Vec<String> {
    range.map(|i| format!("{prefix}{i:04}")).collect()
}

/// Waits until the panel lists exactly `expected`, in order.
async fn wait_rows(browser: &Browser, expected: &[String]) {
    browser
        .wait_texts(NICKS, &format!("{} rows", expected.len()), |rows| {
            rows == expected
        })
        .await
        .unwrap();
}

async fn wait_status(browser: &Browser, expected: &str) {
    browser
        .wait_texts("[data-testid=members-status]", expected, |t| {
            t == [expected]
        })
        .await
        .unwrap();
}

/// Presses `keys` and checks where focus is then.
async fn press_to(browser: &Browser, keys: &str, expected: &str) {
    browser.press(keys).await.unwrap();
    assert_eq!(browser.focused().await.unwrap(), expected, "after {keys:?}");
}

/// What the list shows with nothing searched, after `pages` pages.
fn list(alice: bool, m: std::ops::Range<usize>, zed: std::ops::Range<usize>) -> Vec<String> {
    let mut rows: Vec<String> = alice.then(|| "alice".to_string()).into_iter().collect();
    rows.extend(nicks("m", m));
    rows.extend(nicks("zed", zed));
    rows
}

#[tokio::test]
async fn the_member_panel_pages_searches_and_follows_a_big_room_by_keyboard() {
    let _heavy = tests::heavy().await;
    let data = tempfile::tempdir().unwrap();
    // Big above 10 members, listing 10 in `joined`; pages are 50.
    let relay = relay_serving_big_rooms(data.path(), 10, 10).await.unwrap();
    let mut ms = crowd(&relay.ws_url(), "general", "m", 67).await;
    let mut zeds = crowd(&relay.ws_url(), "general", "zed", 4).await;

    let alice = Browser::open_app(&relay.http_url("/"), "alice")
        .await
        .unwrap();
    alice
        .wait_text("[data-testid=members-count]", "72")
        .await
        .unwrap();
    wait_rows(&alice, &list(true, 0..9, 0..0)).await;
    wait_status(&alice, "10 members shown, more to load").await;

    // The app said which room it shows: a big room's typing reaches it.
    let general = RoomName::new("general").unwrap();
    ms[1]
        .0
        .send(&ClientMsg::Typing {
            room: general.clone(),
        })
        .await
        .unwrap();
    alice
        .wait_text("[data-testid=typing-indicator]", "m0001 is typing")
        .await
        .unwrap();

    // From the composer, Tab reaches the search box. "zed" sorts after
    // everyone loaded: only the relay can find them.
    alice.click("[data-testid=composer-input]").await.unwrap();
    press_to(&alice, TAB, "attach-button").await;
    press_to(&alice, TAB, "member-search").await;
    alice.press("zed").await.unwrap();
    wait_rows(&alice, &nicks("zed", 0..4)).await;
    wait_status(&alice, "4 members match “zed”").await;
    // The panel is subscribed: a leave reaches it in the next batch.
    zeds[3]
        .0
        .send(&ClientMsg::Leave {
            room: general.clone(),
        })
        .await
        .unwrap();
    wait_rows(&alice, &nicks("zed", 0..3)).await;
    alice
        .wait_text("[data-testid=members-count]", "71")
        .await
        .unwrap();

    // A search with more matches than a page: "Load more" pages it, by
    // keyboard; when it is gone the list keeps the focus.
    alice
        .press(&format!("{CONTROL}a{RELEASE}{BACKSPACE}m00"))
        .await
        .unwrap();
    wait_rows(&alice, &nicks("m", 0..50)).await;
    wait_status(&alice, "50 members match “m00”, more to load").await;
    alice.screenshot("member-panel-search").await.unwrap();
    press_to(&alice, TAB, "members-more").await;
    alice.press(ENTER).await.unwrap();
    wait_rows(&alice, &nicks("m", 0..67)).await;
    wait_status(&alice, "67 members match “m00”").await;
    assert_eq!(alice.focused().await.unwrap(), "member-list");

    // The search cleared: the list as loaded, and its pages.
    press_to(&alice, &format!("{SHIFT}{TAB}{RELEASE}"), "member-search").await;
    alice
        .press(&format!("{CONTROL}a{RELEASE}{BACKSPACE}"))
        .await
        .unwrap();
    wait_rows(&alice, &list(true, 0..9, 0..0)).await;
    press_to(&alice, TAB, "members-more").await;
    alice.press(ENTER).await.unwrap();
    wait_rows(&alice, &list(true, 0..59, 0..0)).await;
    wait_status(&alice, "60 members shown, more to load").await;
    assert_eq!(alice.focused().await.unwrap(), "members-more");
    alice.press(ENTER).await.unwrap();
    wait_rows(&alice, &list(true, 0..67, 0..3)).await;
    wait_status(&alice, "").await;
    assert_eq!(alice.focused().await.unwrap(), "member-list");
    alice.screenshot("member-panel-all").await.unwrap();

    // Another tab in front hides this one: the app says so (`focus`
    // active: false) and the big room's typing stops coming.
    // To know the relay has that `focus`, the hidden page then types (its
    // `typing` follows the `focus` on the same connection) and m0002, who
    // shows the room, waits for it. m0002 then types and renames; its pong
    // says the relay handled both, and the rename reaches the panel in a
    // batch queued after the typing would have been: when the new nick
    // shows, the typing would too.
    let typist = &mut ms[2].0;
    typist
        .send(&ClientMsg::Focus {
            room: Some(general.clone()),
            active: None,
        })
        .await
        .unwrap();
    alice
        .client
        .execute(
            "window.hidings = 0;
             document.addEventListener('visibilitychange', () => {
               if (!document.hidden) return;
               window.hidings++;
               const box = document.querySelector('[data-testid=composer-input]');
               box.value = 'x';
               box.dispatchEvent(new Event('input', { bubbles: true }));
             });",
            vec![],
        )
        .await
        .unwrap();
    let this_tab = alice.client.window().await.unwrap();
    let other_tab = alice.client.new_window(true).await.unwrap();
    alice
        .client
        .switch_to_window(other_tab.handle)
        .await
        .unwrap();
    typist
        .recv_until(
            |m| matches!(m, ServerMsg::Typing { user, .. } if user.nick.as_str() == "alice"),
        )
        .await
        .unwrap();
    typist
        .send(&ClientMsg::Typing {
            room: general.clone(),
        })
        .await
        .unwrap();
    typist
        .send(&ClientMsg::Nick {
            nick: Nick::new("m0002x").unwrap(),
        })
        .await
        .unwrap();
    typist.settle().await.unwrap();
    alice.client.switch_to_window(this_tab).await.unwrap();
    alice.wait_text(NICKS, "m0002x").await.unwrap();
    let hidings = alice
        .client
        .execute("return window.hidings;", vec![])
        .await
        .unwrap();
    assert_eq!(hidings.as_u64(), Some(1), "the tab was hidden once");
    let typing = alice.texts("[data-testid=typing-indicator]").await.unwrap();
    assert!(
        !typing.concat().contains("m0002"),
        "typing reached a hidden tab: {typing:?}"
    );

    alice.close().await.unwrap();
    drop((ms, zeds));
}
