//! Attachments in the web app, as two people see them in headless
//! Chromium against a real relay (SQLite store): a pasted screenshot and a
//! picked file upload with their progress, go with the message, show on
//! the other screen as a thumbnail (loaded, sized before it loads) and a
//! download card, and the thumbnail opens a lightbox by keyboard. A
//! cancelled upload sends nothing. A screenshot pasted and sent while the
//! relay is down goes when it is back, and a file attached and sent while
//! it is down survives a reload of the page (kept in IndexedDB until the
//! message is acked). An image left open past its URLs' expiry (a relay
//! with a 5 s TTL) still loads, in the list and the lightbox: the page
//! asked for fresh URLs.

use base64::Engine;
use serde_json::{json, Value};
use tests::{
    browser::{relay_serving_app, relay_serving_app_in_memory},
    files::png_with_exif,
    Browser,
};

const ENTER: &str = "\u{E007}";
/// A page's reconnect backoff is capped at 30 s.
const BACKOFF_WAIT: std::time::Duration = std::time::Duration::from_secs(40);
const ESCAPE: &str = "\u{E00C}";

async fn js(browser: &Browser, script: &str, args: Vec<Value>) -> Value {
    browser.client.execute(script, args).await.unwrap()
}

/// A `File` of `bytes` in the page, handed over as the user's browser
/// would: `paste` on the composer (a screenshot from the clipboard), or
/// `pick` through the attach button's file input.
async fn give_file(browser: &Browser, how: &str, name: &str, mime: &str, bytes: &[u8]) {
    let b64 = base64::engine::general_purpose::STANDARD.encode(bytes);
    js(
        browser,
        "const [how, name, mime, b64] = arguments;
         const bytes = Uint8Array.from(atob(b64), c => c.charCodeAt(0));
         const dt = new DataTransfer();
         dt.items.add(new File([bytes], name, { type: mime }));
         if (how === 'paste') {
           const input = document.querySelector('[data-testid=composer-input]');
           input.focus();
           input.dispatchEvent(new ClipboardEvent('paste', { clipboardData: dt, bubbles: true, cancelable: true }));
         } else {
           const input = document.querySelector('[data-testid=attach-input]');
           input.files = dt.files;
           input.dispatchEvent(new Event('change', { bubbles: true }));
         }",
        vec![json!(how), json!(name), json!(mime), json!(b64)],
    )
    .await;
}

async fn wait_ready_to_send(browser: &Browser, n: usize) {
    browser.wait_js("uploads ready to send",
        "return Array.from(document.querySelectorAll('[data-testid=upload-status]')).map(e => e.textContent);",
        |v| v.as_array().is_some_and(|a| a.len() == n && a.iter().all(|s| s == "Ready to send")),
    )
    .await;
}

#[tokio::test]
async fn attachments_upload_show_on_the_other_screen_and_open_by_keyboard() {
    let data = tempfile::tempdir().unwrap();
    let relay = relay_serving_app(None, data.path()).await.unwrap();
    let url = relay.http_url("/");
    let alice = Browser::open_app(&url, "alice").await.unwrap();
    let bob = Browser::open_app(&url, "bob").await.unwrap();
    let mut bad = Vec::new();

    // A screenshot pasted into the composer: listed, uploaded, ready.
    let png = png_with_exif(640, 320);
    give_file(&alice, "paste", "screenshot.png", "image/png", &png).await;
    wait_ready_to_send(&alice, 1).await;
    assert_eq!(
        alice.texts(".upload-name").await.unwrap(),
        ["screenshot.png"]
    );
    for theme in ["light", "dark"] {
        alice.set_color_scheme(theme).await.unwrap();
        bad.extend(
            alice
                .serious_violations(&format!("files-ready-{theme}"))
                .await,
        );
    }
    alice.set_color_scheme("light").await.unwrap();
    alice.say("look at this").await.unwrap();
    // Sent: the composer's list empties.
    alice
        .wait_js(
            "the upload list emptied",
            "return document.querySelectorAll('[data-testid=upload]').length;",
            |v| v == 0,
        )
        .await;

    // Bob sees the thumbnail, loaded, sized to the relay's 320 px before
    // it loaded, under the message.
    let thumb = "[data-testid=attachment-image] img";
    let loaded = bob.wait_js("the thumbnail loaded",
        &format!(
            "const i = document.querySelector('{thumb}');
             return i && i.complete && [i.naturalWidth, i.getAttribute('width'), i.getAttribute('height'), i.alt];"
        ),
        |v| v.as_array().is_some_and(|a| a[0].as_u64().is_some_and(|w| w > 0)),
    )
    .await;
    assert_eq!(loaded, json!([320, "320", "160", "screenshot.png"]));
    bob.wait_text("[data-testid=message-text]", "look at this")
        .await
        .unwrap();
    bob.screenshot("files-thumbnail").await.unwrap();

    // Enter on the thumbnail opens the full image in a lightbox, focus
    // inside; Escape closes it and focus is back on the thumbnail.
    js(
        &bob,
        "document.querySelector('[data-testid=attachment-image]').focus();",
        Vec::new(),
    )
    .await;
    assert_eq!(bob.focused().await.unwrap(), "attachment-image");
    bob.press(ENTER).await.unwrap();
    bob.find("[data-testid=lightbox]").await.unwrap();
    let full = bob.wait_js("the full image loaded",
        "const i = document.querySelector('.lightbox-image'); return i && i.complete && i.naturalWidth;",
        |v| v.as_u64().is_some_and(|w| w > 0),
    )
    .await;
    assert_eq!(full, 640);
    assert_eq!(bob.focused().await.unwrap(), "lightbox-close");
    for theme in ["light", "dark"] {
        bob.set_color_scheme(theme).await.unwrap();
        bad.extend(
            bob.serious_violations(&format!("files-lightbox-{theme}"))
                .await,
        );
    }
    bob.press(ESCAPE).await.unwrap();
    bob.wait_js(
        "the lightbox closed",
        "return document.querySelectorAll('[data-testid=lightbox]').length;",
        |v| v == 0,
    )
    .await;
    assert_eq!(bob.focused().await.unwrap(), "attachment-image");

    // A file picked with the attach button: a download card whose link
    // gives the bytes back.
    let notes = b"minutes of the meeting\n";
    give_file(&alice, "pick", "notes.txt", "text/plain", notes).await;
    wait_ready_to_send(&alice, 1).await;
    alice.say("the notes").await.unwrap();
    let card = bob.wait_js("the file's card",
        "const a = document.querySelector('[data-testid=attachment-file]'); return a && [a.querySelector('.attachment-name').textContent, a.querySelector('.attachment-meta').textContent];",
        |v| v.is_array(),
    )
    .await;
    assert_eq!(card[0], "notes.txt");
    assert!(
        card[1].as_str().unwrap().starts_with("23 B, text/plain"),
        "{card}"
    );
    let body: Value = bob
        .client
        .execute_async(
            "const done = arguments[arguments.length - 1];
             fetch(document.querySelector('[data-testid=attachment-file]').href)
               .then(r => r.text()).then(done, e => done('error: ' + e));",
            Vec::new(),
        )
        .await
        .unwrap();
    assert_eq!(body, "minutes of the meeting\n");

    // A cancelled upload: gone from the list, and the next message goes
    // without it.
    give_file(&alice, "pick", "wrong.png", "image/png", &png).await;
    alice.find("[data-testid=upload-cancel]").await.unwrap();
    alice.click("[data-testid=upload-cancel]").await.unwrap();
    alice
        .wait_js(
            "the cancelled upload gone",
            "return document.querySelectorAll('[data-testid=upload]').length;",
            |v| v == 0,
        )
        .await;
    alice.say("no file this time").await.unwrap();
    bob.wait_text("[data-testid=message-text]", "no file this time")
        .await
        .unwrap();
    let files_shown = js(
        &bob,
        "return document.querySelectorAll('[data-testid=attachments] li').length;",
        Vec::new(),
    )
    .await;
    assert_eq!(files_shown, 2, "the screenshot and the notes only");

    assert!(bad.is_empty(), "{bad:#?}");
    alice.close().await.unwrap();
    bob.close().await.unwrap();
}

#[tokio::test]
async fn a_screenshot_sent_while_the_relay_is_down_goes_when_it_is_back() {
    // Two pages' reconnect backoff against a restarting relay.
    let _heavy = tests::heavy().await;
    let data = tempfile::tempdir().unwrap();
    let relay = relay_serving_app(None, data.path()).await.unwrap();
    let port = relay.port();
    let url = relay.http_url("/");
    let alice = Browser::open_app(&url, "alice").await.unwrap();
    let bob = Browser::open_app(&url, "bob").await.unwrap();
    alice.say("going into the tunnel").await.unwrap();
    bob.wait_text("[data-testid=message-text]", "going into the tunnel")
        .await
        .unwrap();

    relay.signal("KILL").unwrap();
    drop(relay);
    alice.wait_reconnecting().await.unwrap();
    // Pasted and sent offline: the file waits, and so does the message.
    let png = png_with_exif(640, 320);
    give_file(&alice, "paste", "tunnel.png", "image/png", &png).await;
    alice
        .wait_texts("[data-testid=upload-status]", "the upload waiting", |t| {
            t == ["Waiting for the relay: uploads when you are back online"]
        })
        .await
        .unwrap();
    alice.say("from the tunnel").await.unwrap();
    alice
        .wait_texts("[data-testid=composer-error]", "the message waiting", |t| {
            t == ["Sends when the uploads finish."]
        })
        .await
        .unwrap();
    let mut bad = Vec::new();
    for theme in ["light", "dark"] {
        alice.set_color_scheme(theme).await.unwrap();
        bad.extend(
            alice
                .serious_violations(&format!("files-waiting-{theme}"))
                .await,
        );
    }
    alice.set_color_scheme("light").await.unwrap();

    // Back: the upload goes by itself, then the message with it.
    let _relay = relay_serving_app(Some(port), data.path()).await.unwrap();
    alice
        .wait_js_for(
            BACKOFF_WAIT,
            "the upload list emptied",
            "return document.querySelectorAll('[data-testid=upload]').length;",
            |v| v == 0,
        )
        .await;
    let thumb = bob
        .wait_js_for(
            BACKOFF_WAIT,
            "bob's thumbnail of the tunnel screenshot",
            "const i = document.querySelector('[data-testid=attachment-image] img');
             return i && i.complete && i.naturalWidth > 0 && i.alt;",
            |v| v.is_string(),
        )
        .await;
    assert_eq!(thumb, "tunnel.png");
    let texts = bob.texts("[data-testid=message-text]").await.unwrap();
    assert_eq!(
        texts.iter().filter(|t| *t == "from the tunnel").count(),
        1,
        "{texts:?}"
    );
    assert_eq!(
        alice.texts("[data-testid=composer-error]").await.unwrap(),
        [""]
    );
    bob.screenshot("files-after-the-tunnel").await.unwrap();
    assert!(bad.is_empty(), "{bad:#?}");
    alice.close().await.unwrap();
    bob.close().await.unwrap();
}

/// How many records the app keeps in IndexedDB for waiting uploads
/// (files and the message waiting for them).
async fn kept_uploads(browser: &Browser) -> i64 {
    let count = browser
        .client
        .execute_async(
            "const done = arguments[arguments.length - 1];
             const open = indexedDB.open('palaver-uploads');
             open.onerror = () => done(-1);
             open.onsuccess = () => {
               const db = open.result;
               if (!db.objectStoreNames.contains('uploads')) { db.close(); return done(0); }
               const count = db.transaction('uploads').objectStore('uploads').count();
               count.onsuccess = () => { db.close(); done(count.result); };
               count.onerror = () => done(-1);
             };",
            Vec::new(),
        )
        .await
        .unwrap();
    count.as_i64().unwrap()
}

/// Waits until [`kept_uploads`] is `n`.
async fn wait_kept_uploads(browser: &Browser, n: i64) {
    let deadline = tokio::time::Instant::now() + tests::WAIT;
    loop {
        let kept = kept_uploads(browser).await;
        if kept == n {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "waited for {n} kept uploads; {kept}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_file_waiting_for_the_relay_survives_a_reload() {
    // A page's reconnect backoff against a restarting relay.
    let _heavy = tests::heavy().await;
    let data = tempfile::tempdir().unwrap();
    let relay = relay_serving_app(None, data.path()).await.unwrap();
    let port = relay.port();
    let url = relay.http_url("/");
    let alice = Browser::open_app(&url, "alice").await.unwrap();
    let bob = Browser::open_app(&url, "bob").await.unwrap();
    // The service worker serves the app when the relay is gone.
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
    alice.say("going into the tunnel").await.unwrap();
    bob.wait_text("[data-testid=message-text]", "going into the tunnel")
        .await
        .unwrap();

    relay.signal("KILL").unwrap();
    drop(relay);
    alice.wait_reconnecting().await.unwrap();
    let offline = |offline: bool| json!({"offline": offline, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1});
    alice.cdp("Network.enable", json!({})).await.unwrap();
    alice
        .cdp("Network.emulateNetworkConditions", offline(true))
        .await
        .unwrap();
    let bytes = tests::files::noise(300_000);
    give_file(
        &alice,
        "pick",
        "tunnel.bin",
        "application/octet-stream",
        &bytes,
    )
    .await;
    alice.say("sent before the reload").await.unwrap();
    alice
        .wait_texts("[data-testid=composer-error]", "the message waiting", |t| {
            t == ["Sends when the uploads finish."]
        })
        .await
        .unwrap();
    // The file and the message's text are kept.
    wait_kept_uploads(&alice, 2).await;

    // Reloaded, still offline: the file waits again in the composer, the
    // message with it.
    alice.client.refresh().await.unwrap();
    alice.find("[data-testid=composer-input]").await.unwrap();
    alice
        .wait_texts("[data-testid=upload-status]", "the restored upload", |t| {
            t == ["Waiting for the relay: uploads when you are back online"]
        })
        .await
        .unwrap();
    alice
        .wait_texts(
            "[data-testid=composer-error]",
            "the message waiting again",
            |t| t == ["Sends when the uploads finish."],
        )
        .await
        .unwrap();
    let draft = js(
        &alice,
        "return document.querySelector('[data-testid=composer-input]').value;",
        vec![],
    )
    .await;
    assert_eq!(draft, "sent before the reload");
    let mut bad = Vec::new();
    for theme in ["light", "dark"] {
        alice.set_color_scheme(theme).await.unwrap();
        bad.extend(
            alice
                .serious_violations(&format!("files-restored-{theme}"))
                .await,
        );
    }
    alice.set_color_scheme("light").await.unwrap();

    // Back: the file uploads, the message goes with it, once.
    let _relay = relay_serving_app(Some(port), data.path()).await.unwrap();
    alice
        .cdp("Network.emulateNetworkConditions", offline(false))
        .await
        .unwrap();
    bob.wait_texts_for(
        BACKOFF_WAIT,
        "[data-testid=message-text]",
        "the message sent before the reload",
        |t| t.iter().any(|t| t == "sent before the reload"),
    )
    .await
    .unwrap();
    let got = bob
        .wait_js(
            "bob's card of tunnel.bin",
            "const a = document.querySelector('[data-testid=attachment-file]');
             return a && a.download;",
            |v| v.is_string(),
        )
        .await;
    assert_eq!(got, "tunnel.bin");
    let body: Value = bob
        .client
        .execute_async(
            "const done = arguments[arguments.length - 1];
             fetch(document.querySelector('[data-testid=attachment-file]').href)
               .then(r => r.arrayBuffer())
               .then(b => {
                 const bytes = new Uint8Array(b);
                 let s = '';
                 for (let i = 0; i < bytes.length; i += 8192) {
                   s += String.fromCharCode(...bytes.subarray(i, i + 8192));
                 }
                 done(btoa(s));
               }, e => done('error: ' + e));",
            Vec::new(),
        )
        .await
        .unwrap();
    let got = base64::engine::general_purpose::STANDARD
        .decode(body.as_str().unwrap())
        .unwrap_or_else(|_| panic!("{body}"));
    assert_eq!(
        tests::files::sha256_hex(&got),
        tests::files::sha256_hex(&bytes)
    );
    let texts = bob.texts("[data-testid=message-text]").await.unwrap();
    assert_eq!(
        texts
            .iter()
            .filter(|t| *t == "sent before the reload")
            .count(),
        1,
        "{texts:?}"
    );
    assert_eq!(
        alice.texts("[data-testid=upload]").await.unwrap().len(),
        0,
        "the composer's list emptied"
    );
    // Acked: nothing is kept any more.
    wait_kept_uploads(&alice, 0).await;
    assert!(bad.is_empty(), "{bad:#?}");
    alice.close().await.unwrap();
    bob.close().await.unwrap();
}

/// An attachment URL's expiry (`e=`).
fn url_expiry(url: &Value) -> u64 {
    let url = url.as_str().unwrap_or_else(|| panic!("not a URL: {url}"));
    let query = url.split_once('?').unwrap().1;
    query
        .split('&')
        .find_map(|p| p.strip_prefix("e="))
        .unwrap()
        .parse()
        .unwrap()
}

/// The relay's status for a GET of `url` (absolute, on the relay), asked
/// outside the browser and its cache.
async fn status(relay: &tests::RelayProcess, url: &Value) -> u16 {
    let url = url.as_str().unwrap();
    let path = &url[url
        .find("/thumbs/")
        .or_else(|| url.find("/files/"))
        .unwrap()..];
    tests::files::get(relay.addr, path, &[])
        .await
        .unwrap()
        .status
}

#[tokio::test]
async fn an_image_left_open_past_its_urls_expiry_still_loads() {
    // URLs that expire within 5 to 10 s.
    let relay = relay_serving_app_in_memory(&["--file-url-ttl-secs", "5"])
        .await
        .unwrap();
    let url = relay.http_url("/");
    let alice = Browser::open_app(&url, "alice").await.unwrap();
    let bob = Browser::open_app(&url, "bob").await.unwrap();
    give_file(
        &alice,
        "paste",
        "board.png",
        "image/png",
        &png_with_exif(64, 48),
    )
    .await;
    wait_ready_to_send(&alice, 1).await;
    alice.say("the board").await.unwrap();
    let thumb = "const i = document.querySelector('[data-testid=attachment-image] img');
                 return i && i.complete && i.naturalWidth > 0 ? i.src : null;";
    let first = bob
        .wait_js("bob's thumbnail", thumb, |v| v.is_string())
        .await;
    let expires = url_expiry(&first);

    // Past the expiry: the page asked for fresh URLs and shows the image
    // from one that works.
    let fresh = bob
        .wait_js_for(
            std::time::Duration::from_secs(30),
            "a fresh thumbnail URL, loaded",
            thumb,
            |v| v.is_string() && url_expiry(v) > expires,
        )
        .await;
    assert_eq!(status(&relay, &fresh).await, 200);
    // The relay takes a URL up to its expiry's second inclusive.
    let unix = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
    };
    while unix() <= expires {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(status(&relay, &first).await, 403, "the first expired");

    // The lightbox and its download link use the fresh URL too.
    bob.click("[data-testid=attachment-image]").await.unwrap();
    let download = "const i = document.querySelector('.lightbox-image');
         const a = document.querySelector('[data-testid=lightbox-download]');
         return i && a && i.complete && i.naturalWidth > 0 ? a.href : null;";
    let href = bob
        .wait_js("the lightbox's image loaded", download, |v| v.is_string())
        .await;
    assert!(url_expiry(&href) > expires, "{href}");
    // The link works (read again if it was swapped just then: the URLs
    // of a 5 s TTL are renewed every few seconds).
    let deadline = tokio::time::Instant::now() + tests::WAIT;
    loop {
        let href = bob.client.execute(download, vec![]).await.unwrap();
        if status(&relay, &href).await == 200 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{href} never loads");
    }
    alice.close().await.unwrap();
    bob.close().await.unwrap();
}
