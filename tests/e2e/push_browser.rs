//! The web app's side of Web Push in headless Chromium: the Notifications
//! switch subscribes and sends `push_subscribe`; the relay's real push
//! (captured and decrypted by the local push service) is handed to the
//! service worker with DevTools' `ServiceWorker.deliverPushMessage`, and the
//! notification it shows is read back with `registration.getNotifications()`;
//! a click on it brings the open window to the message. Two devices of
//! one user (token mode, two Chromium profiles): both get a mention while
//! both are away, a read on one clears the other's unread count, and
//! nothing is pushed while one looks at the room. In cluster mode, a
//! message on one relay to a user whose hidden app is on the other shows
//! one notification. The harness is `tests::push_device`.
//!
//! Two stand-ins, because the real things cannot run here: Chromium's push
//! service (FCM) is not reachable, so `PushManager.subscribe` is replaced in
//! the page by one that answers with a subscription of the local push
//! service (`tests::push_service`), and a notification cannot be clicked
//! headless, so the test dispatches `notificationclick` in the worker
//! itself (which runs the same handler; `focus()` is refused without a
//! real click, and the handler goes on without it).

use serde_json::{json, Value};
use tests::{
    browser::relay_serving_app_in_memory,
    login::{serve_login, token, SECRET},
    push_device::Device,
    push_service::{hello_with_cluster_key, hello_with_push_key, PushService, TestSubscription},
    WAIT,
};

/// Alice's app on `relay` with notifications on, moved to another room
/// (#dev) and then hidden behind another tab: away from `general`, as the
/// relay's count of visible apps confirms. (The move is made in the page:
/// a WebDriver navigation could reload it, and a reload subscribes again
/// only once connected.)
async fn away_from_general(relay: &tests::RelayProcess, sub: &TestSubscription) -> Device {
    let mut alice = Device::open(&relay.http_url("/#/room/general"), sub, Some("alice")).await;
    alice.notifications_on().await;
    alice.eval("location.hash = '#/room/dev'").await;
    alice
        .wait_until("document.querySelector('[data-testid=room-title]')?.textContent === '#dev'")
        .await;
    alice.hide().await;
    relay.wait_metric(VISIBLE, |v| v == 0).await.unwrap();
    alice
}

/// Bob mentions alice in #general: one push reaches her away app, which
/// shows it as bob's message. The message's seq, the push and what was
/// shown.
async fn bob_mentions_alice(
    bob: &mut tests::Client,
    service: &PushService,
    alice: &mut Device,
) -> (u64, Value, Value) {
    let seq = bob
        .say_acked("general", "@alice lunch?", "b1")
        .await
        .unwrap();
    let pushed = service.wait_for(1).await.unwrap()[0].payload.clone();
    assert_eq!(pushed["seq"], seq);
    alice.deliver(&pushed).await;
    let shown = alice.notification("room:general").await;
    assert_eq!(shown["title"], "bob in #general");
    assert_eq!(shown["body"], "@alice lunch?");
    (seq, pushed, shown)
}

#[tokio::test]
async fn a_pushed_mention_shows_a_notification_whose_click_opens_the_message() {
    let _heavy = tests::heavy().await;
    let relay = relay_serving_app_in_memory(&["--push-allow-insecure", "--rate-limit", "0"])
        .await
        .unwrap();
    let service = PushService::start().await.unwrap();
    let (mut bob, key) = hello_with_push_key(&relay.ws_url(), "bob").await.unwrap();
    service.trust(&key.expect("the relay pushes"));
    bob.join("general", None).await.unwrap();

    let sub = service.subscription("alice-browser");
    let mut alice = away_from_general(&relay, &sub).await;

    let (seq, pushed, shown) = bob_mentions_alice(&mut bob, &service, &mut alice).await;
    assert_eq!(
        shown["data"],
        json!({ "room": "general", "seq": seq, "count": 1 })
    );
    assert!(
        shown["icon"]
            .as_str()
            .unwrap()
            .ends_with("/icons/icon-192.png"),
        "{shown}"
    );

    // A click: the open window moves to the message, the notification goes.
    alice.click_notification("room:general").await;
    alice
        .wait_until(&format!("location.hash === '#/room/general/{seq}'"))
        .await;
    alice
        .wait_until(
            "document.querySelector('[data-testid=room-title]')?.textContent === '#general'",
        )
        .await;
    assert!(alice.notifications().await.is_empty());

    // While the window is in front and shows the room, a push for it shows
    // nothing; those for another room still do. The second one for `dev`
    // comes after the one for `general`, so once it counts two, the one
    // for `general` was handled.
    alice.show().await;
    let mut other = pushed.clone();
    other["room"] = "dev".into();
    alice.deliver(&other).await;
    alice.notification("room:dev").await;
    alice.deliver(&pushed).await;
    alice.deliver(&other).await;
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let shown = alice.notifications().await;
        if shown.iter().any(|n| n["data"]["count"] == 2) {
            let tags: Vec<&Value> = shown.iter().map(|n| &n["tag"]).collect();
            assert_eq!(tags, [&json!("room:dev")]);
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{shown:?}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }

    // "Hide message text in notifications": the next push carries only the
    // room and the author, and the notification says no more.
    alice
        .browser
        .click("[data-testid=hide-text]")
        .await
        .unwrap();
    alice
        .wait_until("localStorage.getItem('palaver.hide_text') === 'on'")
        .await;
    alice.hide().await;
    relay.wait_metric(VISIBLE, |v| v == 0).await.unwrap();
    let secret = bob
        .say_acked("general", "@alice the code is 4711", "b2")
        .await
        .unwrap();
    let pushed = service.wait_for(2).await.unwrap()[1].payload.clone();
    assert_eq!(
        pushed,
        json!({ "room": "general", "seq": secret, "from": "bob", "mention": true })
    );
    alice.deliver(&pushed).await;
    let shown = alice.notification("room:general").await;
    assert_eq!(shown["body"], "Mentioned you");
    alice.browser.close().await.unwrap();
}

/// The relay's count of apps on screen: a hidden tab's `focus` has been
/// read once it drops (the page hides before the relay hears of it).
const VISIBLE: &str = "palaver_visible_apps";

/// The unread count the sidebar shows for `room`.
async fn unread(device: &mut Device, room: &str) -> Value {
    device
        .eval(&format!(
            "document.querySelector('[data-testid=room-entry][data-room={room}]')?.dataset.unread"
        ))
        .await
}

#[tokio::test]
async fn two_devices_of_one_user_share_reads_and_pushes_stop_while_one_looks() {
    let _heavy = tests::heavy().await;
    let dist = tests::browser::dist_with_config(&json!({ "token_url": serve_login().await }));
    let mut config = relay::Config::for_tests();
    config.static_dir = dist.path().to_path_buf();
    config.auth_secret = Some(SECRET.into());
    config.push_allow_insecure = true;
    let relay = tests::InProcessRelay::start(config).await;
    let service = PushService::start().await.unwrap();

    let mut bob = tests::Client::connect(&relay.ws_url()).await.unwrap();
    let shared::ServerMsg::Welcome { push_key, .. } =
        bob.hello_with_token(&token("bob", "Bob")).await.unwrap()
    else {
        panic!("bob is welcome")
    };
    service.trust(&push_key.expect("the relay pushes"));
    bob.join("general", None).await.unwrap();
    // Carol, subscribed and alone with bob in `side`: her push of a later
    // message shows the sender is past the earlier ones (it takes them in
    // order).
    let mut carol = tests::Client::connect(&relay.ws_url()).await.unwrap();
    carol
        .hello_with_token(&token("carol", "Carol"))
        .await
        .unwrap();
    carol.join("side", None).await.unwrap();
    carol
        .send(&service.subscription("carol").subscribe_frame())
        .await
        .unwrap();
    bob.join("side", None).await.unwrap();

    let url = relay.http_url("/#/room/general");
    let (laptop_sub, phone_sub) = (
        service.subscription("laptop"),
        service.subscription("phone"),
    );
    let mut laptop = Device::open(&url, &laptop_sub, None).await;
    let mut phone = Device::open(&url, &phone_sub, None).await;
    laptop.notifications_on().await;
    phone.notifications_on().await;
    laptop.hide().await;
    phone.hide().await;
    relay.wait_metric(VISIBLE, |v| v == 0).await.unwrap();

    // Both away: a mention reaches both subscriptions, and each device's
    // worker shows it.
    let first = bob.say_acked("general", "@Ada lunch?", "b1").await.unwrap();
    let got = service.wait_for(2).await.unwrap();
    let mut names: Vec<&str> = got.iter().map(|r| r.name.as_str()).collect();
    names.sort();
    assert_eq!(names, ["laptop", "phone"]);
    assert!(got.iter().all(|r| r.payload["seq"] == first), "{got:?}");
    for (device, name) in [(&mut laptop, "laptop"), (&mut phone, "phone")] {
        let payload = got.iter().find(|r| r.name == name).unwrap().payload.clone();
        device.deliver(&payload).await;
        let shown = device.notification("room:general").await;
        assert_eq!(
            (&shown["title"], &shown["body"]),
            (&json!("Bob in #general"), &json!("@Ada lunch?"))
        );
    }
    phone
        .wait_until("document.querySelector('[data-testid=room-entry][data-room=general]')?.dataset.unread === '1'")
        .await;

    // The laptop comes to the front on the room: it reads, and the phone's
    // unread count clears.
    laptop.show().await;
    relay.wait_metric(VISIBLE, |v| v == 1).await.unwrap();
    phone
        .wait_until("document.querySelector('[data-testid=room-entry][data-room=general]')?.dataset.unread === '0'")
        .await;
    assert_eq!(unread(&mut laptop, "general").await, json!("0"));

    // While the laptop looks, nothing is pushed to either device.
    bob.say_acked("general", "@Ada seen it?", "b2")
        .await
        .unwrap();
    bob.say_acked("side", "carol?", "b3").await.unwrap();
    let got = service.wait_for(3).await.unwrap();
    assert_eq!(got[2].name, "carol", "{got:?}");
    assert_eq!(got.len(), 3, "{got:?}");

    // The room's level, chosen in the laptop's header, shows on the phone,
    // and nothing of the room is pushed any more, even away.
    let level = "document.querySelector('[data-testid=room-notify]')?.value";
    assert_eq!(
        phone.eval(level).await,
        json!("all"),
        "the default of a small room"
    );
    let menu = laptop
        .browser
        .find("[data-testid=room-notify]")
        .await
        .unwrap();
    menu.select_by_value("none").await.unwrap();
    phone.wait_until(&format!("{level} === 'none'")).await;
    laptop.hide().await;
    relay.wait_metric(VISIBLE, |v| v == 0).await.unwrap();
    bob.say_acked("general", "@Ada muted?", "b4").await.unwrap();
    bob.say_acked("side", "carol again", "b5").await.unwrap();
    let got = service.wait_for(4).await.unwrap();
    assert_eq!((got.len(), got[3].name.as_str()), (4, "carol"), "{got:?}");
    laptop.browser.close().await.unwrap();
    phone.browser.close().await.unwrap();
}

/// A browser that blocks notifications for the site: the switch asks, is
/// refused, stays off, says how to allow them again, and nothing is
/// subscribed; the section has no serious accessibility violation in
/// either theme.
#[tokio::test]
async fn notifications_blocked_by_the_browser_stay_off_and_say_how_to_allow_them() {
    let _heavy = tests::heavy().await;
    let relay = relay_serving_app_in_memory(&["--push-allow-insecure"])
        .await
        .unwrap();
    let url = relay.http_url("/");
    let origin = url.trim_end_matches('/').to_string();
    let browser = tests::browser::Browser::start().await.unwrap();
    let mut devtools = browser.devtools().await.unwrap();
    let (_tab, context) = devtools.target("page", "").await.unwrap();
    devtools
        .call(
            None,
            "Browser.setPermission",
            json!({
                "origin": origin,
                "permission": { "name": "notifications" },
                "setting": "denied",
                "browserContextId": context,
            }),
        )
        .await
        .unwrap();
    browser.enter_app(&url, "dora").await.unwrap();
    assert_eq!(
        browser
            .wait_js(
                "the browser's answer",
                "return Notification.permission",
                |_| true
            )
            .await,
        "denied"
    );

    browser.click("[data-testid=notify-toggle]").await.unwrap();
    browser
        .wait_text(
            "[data-testid=notify-help]",
            "Notifications are blocked for this site",
        )
        .await
        .unwrap();
    let pressed = browser
        .wait_js(
            "the switch to stay off",
            "return document.querySelector('[data-testid=notify-toggle]').getAttribute('aria-pressed')",
            |v| v == "false",
        )
        .await;
    assert_eq!(pressed, "false");
    assert_eq!(
        browser.texts("[data-testid=notify-toggle]").await.unwrap(),
        ["Notifications: off"]
    );
    assert!(
        browser
            .texts("[data-testid=hide-text]")
            .await
            .unwrap()
            .is_empty(),
        "no push options while off"
    );
    assert_eq!(
        relay
            .metric("palaver_frames_in_total{kind=\"push_subscribe\"}")
            .await
            .unwrap(),
        0,
        "nothing subscribed"
    );

    let mut bad = Vec::new();
    for scheme in ["light", "dark"] {
        browser.set_color_scheme(scheme).await.unwrap();
        bad.extend(
            browser
                .serious_violations(&format!("notifications-denied-{scheme}"))
                .await,
        );
    }
    assert!(bad.is_empty(), "{bad:#?}");
}

#[tokio::test]
async fn in_a_cluster_a_message_on_one_relay_shows_one_notification_on_a_device_of_the_other() {
    let _heavy = tests::heavy().await;
    let nats = tests::NatsServer::start().await.unwrap();
    let dist = tests::browser::dist_dir();
    let dist = dist.to_str().unwrap();
    let flags = ["--push-allow-insecure", "--static-dir", dist];
    let one = tests::RelayProcess::clustered(&nats.url(), &flags)
        .await
        .unwrap();
    let two = tests::RelayProcess::clustered(&nats.url(), &flags)
        .await
        .unwrap();
    let service = PushService::start().await.unwrap();
    let (mut bob, key) = hello_with_cluster_key(&one.ws_url(), "bob").await;
    service.trust(&key);
    bob.join("general", None).await.unwrap();

    // Alice's app is on relay two, in another room, then hidden.
    let sub = service.subscription("alice-browser");
    let mut alice = away_from_general(&two, &sub).await;

    let (seq, _, _) = bob_mentions_alice(&mut bob, &service, &mut alice).await;
    // Only the relay that stored the message pushed it: a later message's
    // push comes second, with nothing between.
    let next = bob
        .say_acked("general", "@alice still?", "b2")
        .await
        .unwrap();
    let got = service.wait_for(2).await.unwrap();
    assert_eq!(
        got.iter()
            .map(|p| p.payload["seq"].clone())
            .collect::<Vec<_>>(),
        [json!(seq), json!(next)],
        "one push per message"
    );
    let shown = alice.notifications().await;
    assert_eq!(shown.len(), 1, "{shown:?}");
    alice.browser.close().await.unwrap();
}
