//! The CDN-and-VM split on one machine: the built bundle served by a plain
//! static server on another origin, with `config.json` pointing at the
//! relay; the relay allows that origin only.

use std::process::Stdio;

use tests::{
    browser::{dist_dir, dist_with_config, ENTER},
    relay::free_port,
    Browser, RelayProcess,
};
use tokio::process::{Child, Command};

/// A copy of dist/ with `config.json`, served by Python's static server.
struct StaticHost {
    port: u16,
    _dir: tempfile::TempDir,
    _server: Child,
}

impl StaticHost {
    async fn start(port: u16, relay_url: &str) -> StaticHost {
        let dir = dist_with_config(&serde_json::json!({ "relay_url": relay_url }));
        let server = Command::new("python3")
            .args([
                "-m",
                "http.server",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--directory",
            ])
            .arg(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("python3 serves the static bundle");
        let addr = ([127, 0, 0, 1], port).into();
        let deadline = tokio::time::Instant::now() + tests::WAIT;
        while !tests::relay::http_get(addr, "/config.json")
            .await
            .is_ok_and(|(code, _)| code == 200)
        {
            assert!(
                tokio::time::Instant::now() < deadline,
                "static server did not start"
            );
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        StaticHost {
            port,
            _dir: dir,
            _server: server,
        }
    }

    fn origin(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

async fn open_as(url: &str, nick: &str) -> Browser {
    Browser::open_app(url, nick).await.unwrap()
}

#[tokio::test]
async fn the_app_on_a_static_host_chats_through_the_relay_and_other_origins_are_refused() {
    let cdn_port = free_port().unwrap();
    let cdn_origin = format!("http://127.0.0.1:{cdn_port}");
    let relay = RelayProcess::spawn(&[
        "--store",
        "memory",
        "--allow-localhost-origins",
        "false",
        "--allowed-origin",
        &cdn_origin,
    ])
    .await
    .unwrap();
    let cdn = StaticHost::start(cdn_port, &relay.ws_url()).await;
    assert_eq!(cdn.origin(), cdn_origin);
    let page = format!("{}/", cdn.origin());
    let alice = open_as(&page, "alice").await;
    let bob = open_as(&page, "bob").await;
    alice
        .type_into(
            "[data-testid=composer-input]",
            &format!("served from the CDN{ENTER}"),
        )
        .await
        .unwrap();
    bob.wait_text("[data-testid=message-text]", "served from the CDN")
        .await
        .unwrap();
    bob.screenshot("deploy-cdn-bob").await.unwrap();

    // The same bundle on an origin the relay does not allow cannot connect.
    let foreign = StaticHost::start(free_port().unwrap(), &relay.ws_url()).await;
    let eve = open_as(&format!("{}/", foreign.origin()), "eve").await;
    let deadline = tokio::time::Instant::now() + tests::WAIT;
    loop {
        let (_, metrics) = tests::relay::http_get(relay.metrics_addr.unwrap(), "/metrics")
            .await
            .unwrap();
        if metrics.contains("palaver_origins_rejected_total 1")
            || metrics.contains("palaver_origins_rejected_total 2")
        {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the foreign origin was never refused"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    eve.wait_texts(
        "[data-testid=connection-banner]",
        "a connection banner",
        |t| t.iter().any(|t| !t.trim().is_empty()),
    )
    .await
    .unwrap();
    eve.screenshot("deploy-foreign-eve").await.unwrap();
    let members = alice.texts("[data-testid=member]").await.unwrap();
    assert!(!members.iter().any(|m| m.contains("eve")), "{members:?}");
    for b in [alice, bob, eve] {
        b.close().await.unwrap();
    }
}

#[tokio::test]
async fn the_relay_serves_hashed_files_immutable_and_entry_points_fresh() {
    let dist = dist_dir();
    let relay = RelayProcess::spawn(&["--store", "memory", "--static-dir", dist.to_str().unwrap()])
        .await
        .unwrap();
    let wasm = std::fs::read_dir(&dist)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .find(|n| n.ends_with(".wasm"))
        .unwrap();
    let cache_control = |headers: &[(String, String)]| {
        headers
            .iter()
            .find(|(k, _)| k == "cache-control")
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let (code, headers, _) = tests::relay::http_get_with_headers(relay.addr, &format!("/{wasm}"))
        .await
        .unwrap();
    assert_eq!(code, 200);
    assert!(cache_control(&headers).contains("immutable"), "{headers:?}");
    for entry in ["/", "/index.html", "/sw.js", "/manifest.webmanifest"] {
        let (code, headers, _) = tests::relay::http_get_with_headers(relay.addr, entry)
            .await
            .unwrap();
        assert_eq!(code, 200, "{entry}");
        assert_eq!(cache_control(&headers), "no-cache", "{entry}");
    }
}

/// A shipped config file, as text.
fn shipped(name: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../deploy")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|err| panic!("{}: {err}", path.display()))
}

/// The `$variables` of nginx text.
fn nginx_variables(text: &str) -> Vec<String> {
    text.split('$')
        .skip(1)
        .map(|rest| {
            rest.chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect()
        })
        .collect()
}

/// Whether any line that is not a comment names the metrics port.
fn forwards_metrics_port(config: &str) -> bool {
    config
        .lines()
        .any(|line| !line.trim_start().starts_with('#') && line.contains("9187"))
}

/// No server or process is started: nginx and Caddy are not installed
/// here, so this reads the shipped files for what docs/SECURITY.md
/// promises of them (issue 11, items 13 and 14).
#[test]
fn the_shipped_proxy_configs_hide_metrics_and_log_no_token() {
    let nginx = shipped("nginx.conf");
    // `/ws` is logged with a format that has no query string in it.
    let ws = nginx
        .split("location /ws")
        .nth(1)
        .and_then(|rest| rest.split('}').next())
        .expect("a location /ws block");
    let format_name = ws
        .lines()
        .find_map(|line| line.trim().strip_prefix("access_log "))
        .and_then(|rest| rest.trim_end_matches(';').split_whitespace().nth(1))
        .expect("/ws has an access_log with a named format");
    let format = nginx
        .split(&format!("log_format {format_name}"))
        .nth(1)
        .and_then(|rest| rest.split(';').next())
        .expect("the format is defined");
    let leaks: Vec<String> = nginx_variables(format)
        .into_iter()
        .filter(|v| {
            ["request", "request_uri", "args", "query_string", "is_args"].contains(&v.as_str())
                || v.starts_with("arg_")
        })
        .collect();
    assert!(
        leaks.is_empty(),
        "the /ws log format logs the query: {leaks:?}"
    );
    // /metrics is never forwarded.
    assert!(nginx.contains("location = /metrics {\n        return 404;"));
    assert!(!forwards_metrics_port(&nginx));

    let caddy = shipped("Caddyfile");
    let filter = caddy
        .split("request>uri query {")
        .nth(1)
        .and_then(|rest| rest.split('}').next())
        .expect("the log drops query parameters");
    assert!(filter.contains("delete token"), "{filter}");
    assert!(caddy.contains("respond /metrics 404"));
    assert!(!forwards_metrics_port(&caddy));
}
