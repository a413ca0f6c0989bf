//! The installable app: manifest, service worker, installability as Chromium
//! judges it, and working offline against a relay that is really gone.

use serde_json::{json, Value};
use tests::{
    browser::{dist_dir, relay_serving_app},
    relay::http_get,
    Browser,
};

/// Width and height from a PNG's IHDR chunk.
fn png_size(bytes: &[u8]) -> (u32, u32) {
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "not a PNG");
    let be = |at: usize| u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap());
    (be(16), be(20))
}

#[test]
fn the_manifest_has_what_an_installable_app_needs() {
    let dist = dist_dir();
    let manifest: Value =
        serde_json::from_str(&std::fs::read_to_string(dist.join("manifest.webmanifest")).unwrap())
            .unwrap();
    for field in [
        "name",
        "short_name",
        "description",
        "start_url",
        "scope",
        "theme_color",
        "background_color",
    ] {
        assert!(
            manifest[field].as_str().is_some_and(|v| !v.is_empty()),
            "{field} missing"
        );
    }
    assert_eq!(manifest["display"], "standalone");
    let icons = manifest["icons"].as_array().unwrap();
    let mut seen = Vec::new();
    for icon in icons {
        let src = icon["src"].as_str().unwrap();
        let bytes = std::fs::read(dist.join(src)).unwrap_or_else(|e| panic!("{src}: {e}"));
        let (w, h) = png_size(&bytes);
        assert_eq!(icon["sizes"], format!("{w}x{h}"), "{src} is {w}x{h}");
        seen.push((w, icon["purpose"].as_str().unwrap_or("any").to_string()));
    }
    assert!(seen.contains(&(192, "any".into())), "{seen:?}");
    assert!(seen.contains(&(512, "any".into())), "{seen:?}");
    assert!(seen.contains(&(512, "maskable".into())), "{seen:?}");
}

#[test]
fn the_service_worker_precaches_exactly_this_build() {
    let dist = dist_dir();
    let sw = std::fs::read_to_string(dist.join("sw.js")).unwrap();
    assert!(
        !sw.contains("__PALAVER_"),
        "the post_build hook did not fill sw.js"
    );
    let list = sw
        .lines()
        .find_map(|l| l.strip_prefix("const PRECACHE = "))
        .unwrap()
        .trim_end_matches(';');
    let precached: Vec<String> = serde_json::from_str(list).unwrap();
    // Every file of the build is in the list, and every listed file exists.
    for entry in std::fs::read_dir(&dist).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        if name.ends_with(".wasm")
            || name.ends_with(".js") && name != "sw.js"
            || name.ends_with(".css")
        {
            assert!(precached.contains(&name), "{name} is not precached");
        }
    }
    for file in precached.iter().filter(|f| *f != "./") {
        assert!(
            dist.join(file).is_file(),
            "{file} is precached but not built"
        );
    }
}

#[tokio::test]
async fn chromium_finds_the_app_installable_and_it_works_offline() {
    let _heavy = tests::heavy().await;
    let data = tempfile::tempdir().unwrap();
    let relay = relay_serving_app(None, data.path()).await.unwrap();
    let port = relay.port();
    let url = relay.http_url("/");
    let (code, _) = http_get(relay.addr, "/sw.js").await.unwrap();
    assert_eq!(code, 200);

    let alice = Browser::open_app(&url, "alice").await.unwrap();
    let bob = Browser::open_app(&url, "bob").await.unwrap();
    alice.say("before going offline").await.unwrap();
    bob.wait_text("[data-testid=message-text]", "before going offline")
        .await
        .unwrap();

    // The service worker is installed and controls the page after a reload.
    let ready = alice
        .client
        .execute_async(
            "const done = arguments[arguments.length - 1];
             navigator.serviceWorker.ready.then(r => done(r.active !== null), () => done(false));",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(ready, json!(true));
    alice.client.refresh().await.unwrap();
    alice.find("[data-testid=composer-input]").await.unwrap();
    let controlled = alice
        .client
        .execute("return navigator.serviceWorker.controller !== null", vec![])
        .await
        .unwrap();
    assert_eq!(controlled, json!(true));

    let errors = alice
        .cdp("Page.getInstallabilityErrors", json!({}))
        .await
        .unwrap();
    assert_eq!(errors["installabilityErrors"], json!([]), "{errors}");

    // Offline for real: the relay (which also serves the app) is gone, and
    // the browser's network is emulated offline.
    relay.signal("KILL").unwrap();
    drop(relay);
    alice.cdp("Network.enable", json!({})).await.unwrap();
    alice
        .cdp(
            "Network.emulateNetworkConditions",
            json!({"offline": true, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1}),
        )
        .await
        .unwrap();
    alice.client.refresh().await.unwrap();
    alice.find("[data-testid=composer-input]").await.unwrap();
    alice
        .wait_text("[data-testid=message-text]", "before going offline")
        .await
        .unwrap();
    alice.say("written offline").await.unwrap();
    alice
        .wait_texts(
            "[data-testid=connection-banner]",
            "an offline banner",
            |t| t.iter().any(|t| !t.trim().is_empty()),
        )
        .await
        .unwrap();
    alice.screenshot("pwa-offline-alice").await.unwrap();
    // The unsent message is kept across a reload, still offline: the page
    // shows it again from its stored outbox, and sends it when back.
    alice.client.refresh().await.unwrap();
    alice.find("[data-testid=composer-input]").await.unwrap();
    alice
        .wait_text("[data-testid=message-text]", "written offline")
        .await
        .unwrap();

    // Back online: the outbox is delivered exactly once.
    let _relay = relay_serving_app(Some(port), data.path()).await.unwrap();
    alice
        .cdp(
            "Network.emulateNetworkConditions",
            json!({"offline": false, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1}),
        )
        .await
        .unwrap();
    // Both pages come back by themselves, within their reconnect backoff
    // (capped at 30 s), with no click.
    bob.wait_texts_for(
        std::time::Duration::from_secs(40),
        "[data-testid=message-text]",
        "the message written offline",
        |t| t.iter().any(|t| t.contains("written offline")),
    )
    .await
    .unwrap();
    bob.say("welcome back").await.unwrap();
    for page in [&alice, &bob] {
        page.wait_text("[data-testid=message-text]", "welcome back")
            .await
            .unwrap();
        let texts = page.texts("[data-testid=message-text]").await.unwrap();
        let count = texts
            .iter()
            .filter(|t| t.contains("written offline"))
            .count();
        assert_eq!(count, 1, "{texts:?}");
    }
    bob.screenshot("pwa-back-online-bob").await.unwrap();
    alice.close().await.unwrap();
    bob.close().await.unwrap();
}
