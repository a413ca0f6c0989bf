//! How the app loads: the relay sends the build's precompressed files to
//! browsers that accept them, and the app the tests use is a release build
//! (the relay would warn about a debug one).

use std::net::SocketAddr;

use tests::browser::{dist_dir, relay_serving_app};

/// GET `path` with `Accept-Encoding: accept` (none if empty): the status,
/// the headers (lowercased names) and the raw body bytes.
async fn get(addr: SocketAddr, path: &str, accept: &str) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let headers: &[(&str, &str)] = if accept.is_empty() {
        &[]
    } else {
        &[("Accept-Encoding", accept)]
    };
    tests::relay::http_get_raw(addr, path, headers)
        .await
        .unwrap()
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

#[tokio::test]
async fn the_relay_serves_the_wasm_and_index_precompressed_to_browsers_that_accept_it() {
    let dist = dist_dir();
    let wasm = std::fs::read_dir(&dist)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .find(|name| name.ends_with("_bg.wasm"))
        .expect("a wasm in dist/");
    let plain = std::fs::read(dist.join(&wasm)).unwrap();
    let br = std::fs::read(dist.join(format!("{wasm}.br"))).expect("the build wrote .br");
    let gz = std::fs::read(dist.join(format!("{wasm}.gz"))).expect("the build wrote .gz");
    assert!(br.len() < gz.len() && gz.len() < plain.len());

    let data = tempfile::tempdir().unwrap();
    let relay = relay_serving_app(None, data.path()).await.unwrap();
    let path = format!("/{wasm}");

    let (code, headers, body) = get(relay.addr, &path, "gzip, deflate, br").await;
    assert_eq!(code, 200);
    assert_eq!(header(&headers, "content-encoding"), Some("br"));
    assert_eq!(header(&headers, "content-type"), Some("application/wasm"));
    assert_eq!(header(&headers, "vary"), Some("accept-encoding"));
    assert!(header(&headers, "cache-control")
        .unwrap()
        .contains("immutable"));
    assert_eq!(body, br, "the brotli file as built");

    let (_, headers, body) = get(relay.addr, &path, "gzip").await;
    assert_eq!(header(&headers, "content-encoding"), Some("gzip"));
    assert_eq!(body, gz);

    let (_, headers, body) = get(relay.addr, &path, "").await;
    assert_eq!(header(&headers, "content-encoding"), None);
    assert_eq!(body, plain, "no Accept-Encoding, the plain file");

    // The entry point too, and the app's own routes (which answer index.html).
    for path in ["/", "/index.html"] {
        let (code, headers, _) = get(relay.addr, path, "br").await;
        assert_eq!(code, 200, "{path}");
        assert_eq!(header(&headers, "content-encoding"), Some("br"), "{path}");
        assert_eq!(
            header(&headers, "cache-control"),
            Some("no-cache"),
            "{path}"
        );
    }
}

#[test]
fn the_app_under_test_is_a_release_build_with_its_shell_and_preloads() {
    let dist = dist_dir();
    let index = std::fs::read_to_string(dist.join("index.html")).unwrap();
    assert!(
        index.contains(r#"<meta name="palaver-build" content="release""#),
        "the post_build hook marks the build profile"
    );
    assert_eq!(relay::web_app::debug_build(&dist), None);
    assert!(index.contains(r#"id="app-shell""#), "the static shell");
    assert!(
        index.contains(r#"rel="preload""#) && index.contains(".wasm"),
        "the wasm is preloaded"
    );
}
