//! Accessibility: axe-core (npm, run inside headless Chromium) over the web
//! app in both of its states (the nickname form; the chat with messages),
//! light and dark, desktop (1280 px) and phone (390 px) widths, and the
//! phone's drawers open; and the member panel of a big room (its search,
//! status and "Load more") in both themes. Zero serious or critical
//! violations allowed; the rest are printed. What axe does not check is
//! measured here: text fields' borders (3:1) and placeholders (4.5:1). Screenshots of every case land
//! in target/e2e/.

use tests::{
    browser::{relay_serving_app, relay_serving_big_rooms},
    client::crowd,
    Browser,
};

const THEMES: [&str; 2] = ["light", "dark"];
/// Select all, delete: empties a text field.
const CLEAR: &str = "\u{E009}a\u{E000}\u{E003}";
/// Desktop, then a phone (the drawers' layout).
const WIDTHS: [(u32, u32); 2] = [(1280, 800), (390, 844)];

#[tokio::test]
async fn the_app_has_no_serious_accessibility_violations_in_any_state_theme_or_width() {
    let data = tempfile::tempdir().unwrap();
    let relay = relay_serving_app(None, data.path()).await.unwrap();
    let url = relay.http_url("/");
    let mut bad = Vec::new();

    // The nickname form of a first visit.
    let visitor = Browser::start().await.unwrap();
    for theme in THEMES {
        visitor.set_color_scheme(theme).await.unwrap();
        for (width, height) in WIDTHS {
            visitor.set_viewport(width, height).await.unwrap();
            visitor.goto(&url).await.unwrap();
            visitor.find("[data-testid=nick-input]").await.unwrap();
            bad.extend(
                visitor
                    .serious_violations(&format!("nick-{theme}-{width}"))
                    .await,
            );
        }
    }
    visitor.close().await.unwrap();

    // The chat: messages from two people, a day divider, the member list.
    let alice = Browser::open_app(&url, "alice").await.unwrap();
    let bob = Browser::open_app(&url, "bob").await.unwrap();
    alice
        .say("Hello bob, see https://example.com/docs")
        .await
        .unwrap();
    bob.wait_text("[data-testid=message-text]", "Hello bob")
        .await
        .unwrap();
    bob.say("Hi alice!").await.unwrap();
    alice
        .wait_text("[data-testid=message-text]", "Hi alice!")
        .await
        .unwrap();
    alice
        .wait_text("[data-testid=member]", "bob")
        .await
        .unwrap();
    for theme in THEMES {
        alice.set_color_scheme(theme).await.unwrap();
        for (width, height) in WIDTHS {
            alice.set_viewport(width, height).await.unwrap();
            bad.extend(
                alice
                    .serious_violations(&format!("chat-{theme}-{width}"))
                    .await,
            );
        }
        // The phone's drawers and the dialogs, open.
        alice.click("[data-testid=toggle-members]").await.unwrap();
        bad.extend(
            alice
                .serious_violations(&format!("members-drawer-{theme}-390"))
                .await,
        );
        alice.press(tests::browser::ESCAPE).await.unwrap();
        alice.click("[data-testid=toggle-rooms]").await.unwrap();
        bad.extend(
            alice
                .serious_violations(&format!("rooms-drawer-{theme}-390"))
                .await,
        );
        alice.click("[data-testid=change-nick]").await.unwrap();
        alice.find("[data-testid=nick-dialog]").await.unwrap();
        bad.extend(
            alice
                .serious_violations(&format!("nick-dialog-{theme}-390"))
                .await,
        );
        alice.click("[data-testid=nick-cancel]").await.unwrap();
        alice.click("[data-testid=open-shortcuts]").await.unwrap();
        alice.find("[data-testid=shortcuts]").await.unwrap();
        bad.extend(
            alice
                .serious_violations(&format!("shortcuts-{theme}-390"))
                .await,
        );
        alice.click("[data-testid=shortcuts-close]").await.unwrap();
        alice.press(tests::browser::ESCAPE).await.unwrap();
    }
    assert!(
        bad.is_empty(),
        "serious accessibility violations:\n{}",
        bad.join("\n")
    );
    alice.close().await.unwrap();
    bob.close().await.unwrap();
}

#[tokio::test]
async fn the_member_panel_of_a_big_room_has_no_serious_violations_in_either_theme() {
    let _heavy = tests::heavy().await;
    let data = tempfile::tempdir().unwrap();
    let relay = relay_serving_big_rooms(data.path(), 10, 10).await.unwrap();
    let _crowd = crowd(&relay.ws_url(), "general", "m", 30).await;
    let alice = Browser::open_app(&relay.http_url("/"), "alice")
        .await
        .unwrap();
    let mut bad = Vec::new();
    for theme in THEMES {
        alice.set_color_scheme(theme).await.unwrap();
        // The list as `joined` left it: partial, with "Load more".
        alice.set_viewport(1280, 800).await.unwrap();
        alice.find("[data-testid=members-more]").await.unwrap();
        bad.extend(
            alice
                .serious_violations(&format!("big-room-panel-{theme}-1280"))
                .await,
        );
        // A search with its matches and status, then one that finds no one.
        for (typed, status, case) in [
            ("m001", "10 members match", "search"),
            ("zz", "No member matches", "no-match"),
        ] {
            alice
                .type_into("[data-testid=member-search]", typed)
                .await
                .unwrap();
            alice
                .wait_text("[data-testid=members-status]", status)
                .await
                .unwrap();
            bad.extend(
                alice
                    .serious_violations(&format!("big-room-{case}-{theme}-1280"))
                    .await,
            );
        }
        alice
            .type_into("[data-testid=member-search]", CLEAR)
            .await
            .unwrap();
        // A phone: the same panel as a drawer.
        alice.set_viewport(390, 844).await.unwrap();
        alice.click("[data-testid=toggle-members]").await.unwrap();
        alice.find("[data-testid=members-more]").await.unwrap();
        bad.extend(
            alice
                .serious_violations(&format!("big-room-drawer-{theme}-390"))
                .await,
        );
        alice.press(tests::browser::ESCAPE).await.unwrap();
    }
    assert!(
        bad.is_empty(),
        "serious accessibility violations:\n{}",
        bad.join("\n")
    );
    alice.close().await.unwrap();
}

/// The contrast axe does not check: every visible text field's border
/// against the colours on both sides of it (WCAG 1.4.11, 3:1), and its
/// placeholder against its background (1.4.3, 4.5:1). Returns the
/// failures as `field: what ratio`.
async fn field_contrast(browser: &Browser, case: &str) -> Vec<String> {
    let found = browser
        .client
        .execute(
            r#"const rgba = (c) => {
                 const m = c.match(/rgba?\(([^)]+)\)/);
                 if (!m) return null;
                 const [r, g, b, a] = m[1].split(/[ ,\/]+/).map(parseFloat);
                 return [r, g, b, a === undefined ? 1 : a];
               };
               const lum = ([r, g, b]) => {
                 const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
                 return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
               };
               const ratio = (x, y) => {
                 const [a, b] = [lum(x), lum(y)].sort((p, q) => q - p);
                 return (a + 0.05) / (b + 0.05);
               };
               const background = (el) => {
                 for (; el; el = el.parentElement) {
                   const c = rgba(getComputedStyle(el).backgroundColor);
                   if (c && c[3] > 0.5) return c;
                 }
                 return rgba(getComputedStyle(document.body).backgroundColor);
               };
               return [...document.querySelectorAll("input:not([type=hidden]), textarea")]
                 .filter((el) => el.offsetParent !== null)
                 .map((el) => {
                   const style = getComputedStyle(el);
                   const border = rgba(style.borderTopColor);
                   const inside = background(el);
                   const outside = background(el.parentElement);
                   const placeholder = rgba(getComputedStyle(el, "::placeholder").color);
                   return {
                     field: el.dataset.testid || el.id || el.tagName,
                     border: Math.min(ratio(border, inside), ratio(border, outside)),
                     placeholder: el.placeholder ? ratio(placeholder, inside) : null,
                   };
                 });"#,
            vec![],
        )
        .await
        .unwrap();
    let fields = found.as_array().unwrap();
    assert!(!fields.is_empty(), "{case}: no text fields to check");
    let mut bad = Vec::new();
    for field in fields {
        let name = field["field"].as_str().unwrap_or("?");
        let border = field["border"].as_f64().unwrap();
        if border < 3.0 {
            bad.push(format!("{case}: {name}: border {border:.2}:1"));
        }
        if let Some(placeholder) = field["placeholder"].as_f64() {
            if placeholder < 4.5 {
                bad.push(format!("{case}: {name}: placeholder {placeholder:.2}:1"));
            }
        }
    }
    bad
}

#[tokio::test]
async fn text_fields_have_contrasting_borders_and_placeholders_in_both_themes() {
    let data = tempfile::tempdir().unwrap();
    let relay = relay_serving_app(None, data.path()).await.unwrap();
    let url = relay.http_url("/");
    let mut bad = Vec::new();
    let visitor = Browser::start().await.unwrap();
    let alice = Browser::open_app(&url, "alice").await.unwrap();
    visitor.goto(&url).await.unwrap();
    visitor.find("[data-testid=nick-input]").await.unwrap();
    for theme in THEMES {
        visitor.set_color_scheme(theme).await.unwrap();
        bad.extend(field_contrast(&visitor, &format!("nick-{theme}")).await);
        // The chat: the join box (on the sidebar's colour), the composer,
        // the member search; then the change-nick dialog's field.
        alice.set_color_scheme(theme).await.unwrap();
        bad.extend(field_contrast(&alice, &format!("chat-{theme}")).await);
        alice.click("[data-testid=change-nick]").await.unwrap();
        alice.find("[data-testid=nick-dialog]").await.unwrap();
        bad.extend(field_contrast(&alice, &format!("nick-dialog-{theme}")).await);
        alice.click("[data-testid=nick-cancel]").await.unwrap();
    }
    assert!(bad.is_empty(), "low contrast:\n{}", bad.join("\n"));
    visitor.close().await.unwrap();
    alice.close().await.unwrap();
}
