//! One user's rooms on two devices in the web app (token mode, two
//! Chromium profiles signed in as the same user by `tests::login`): a room
//! left on one disappears from the other's sidebar, and the other, which
//! showed it, moves to `general`, with the focus in its composer and the
//! reason announced to screen readers, in both themes without serious
//! accessibility violations.

use serde_json::json;
use tests::{
    login::{serve_login, SECRET},
    Browser,
};

const DEV_ENTRY: &str = "[data-testid=room-entry][data-room=dev]";

#[tokio::test]
async fn a_room_left_on_one_device_leaves_the_others_sidebar_and_view() {
    let _heavy = tests::heavy().await;
    let dist = tests::browser::dist_with_config(&json!({ "token_url": serve_login().await }));
    let mut config = relay::Config::for_tests();
    config.static_dir = dist.path().to_path_buf();
    config.auth_secret = Some(SECRET.into());
    let relay = tests::InProcessRelay::start(config).await;
    let url = relay.http_url("/#/room/general");

    let laptop = Browser::start().await.unwrap();
    laptop.goto(&url).await.unwrap();
    laptop.find("[data-testid=composer-input]").await.unwrap();
    let phone = Browser::start().await.unwrap();
    phone.goto(&url).await.unwrap();
    phone.find("[data-testid=composer-input]").await.unwrap();

    // The laptop joins `dev`; the phone is told, lists it and shows it.
    laptop
        .type_into("[data-testid=join-input]", "dev")
        .await
        .unwrap();
    laptop.click("[data-testid=join-submit]").await.unwrap();
    laptop.find(DEV_ENTRY).await.unwrap();
    phone.click(&format!("{DEV_ENTRY} a")).await.unwrap();
    phone
        .wait_text("[data-testid=room-title]", "#dev")
        .await
        .unwrap();

    laptop
        .click(&format!("{DEV_ENTRY} [data-testid=leave-room]"))
        .await
        .unwrap();
    phone
        .wait_js(
            "dev gone from the phone's sidebar",
            &format!("return document.querySelector('{DEV_ENTRY}') === null"),
            |v| v == &json!(true),
        )
        .await;
    phone
        .wait_text("[data-testid=room-title]", "#general")
        .await
        .unwrap();
    phone
        .wait_js(
            "the move announced",
            "return document.querySelector('[data-testid=announcement]').textContent",
            |v| v == &json!("You left #dev on another device. Now showing #general."),
        )
        .await;
    phone
        .wait_js(
            "the focus in general's composer",
            "return document.activeElement && document.activeElement.dataset.testid",
            |v| v == &json!("composer-input"),
        )
        .await;
    let mut bad = Vec::new();
    for theme in ["light", "dark"] {
        phone.set_color_scheme(theme).await.unwrap();
        bad.extend(phone.serious_violations(&format!("dropped-{theme}")).await);
    }
    assert!(bad.is_empty(), "{bad:#?}");
    laptop.close().await.unwrap();
    phone.close().await.unwrap();
}
