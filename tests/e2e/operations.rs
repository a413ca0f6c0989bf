//! What operators get (docs/OPERATIONS.md): `/metrics` of a real relay
//! parsed by an independent Prometheus text-format parser, histograms that
//! move when messages flow, label sets that stay bounded, the shipped
//! Grafana dashboard and alert rules querying only metrics that exist, and
//! JSON logs with the connection's span and no message text.
//! One file for all of it: the scrape and API helpers are shared, and
//! every test checks what docs/OPERATIONS.md promises.

use std::{
    collections::{BTreeSet, HashMap},
    path::{Path, PathBuf},
    process::Stdio,
};

use prometheus_parse::{LineInfo, Scrape, Value};
use tests::{relay::http_get, Client, RelayProcess, WAIT};
use tokio::{
    io::{AsyncBufReadExt, BufReader},
    process::Command,
};

/// One scrape, parsed: the parser's samples, and every sample name as
/// written (histograms' `_bucket`, `_sum`, `_count` too).
struct Metrics {
    scrape: Scrape,
    names: BTreeSet<String>,
}

impl Metrics {
    async fn of(relay: &RelayProcess) -> Metrics {
        let (code, body) = http_get(relay.metrics_addr.unwrap(), "/metrics")
            .await
            .unwrap();
        assert_eq!(code, 200, "{body}");
        let names = body
            .lines()
            .filter_map(|line| match LineInfo::parse(line) {
                LineInfo::Sample { metric_name, .. } => Some(metric_name.to_string()),
                _ => None,
            })
            .collect();
        let scrape = Scrape::parse(body.lines().map(|l| Ok(l.to_string()))).unwrap();
        assert!(!scrape.samples.is_empty(), "nothing parsed from\n{body}");
        Metrics { scrape, names }
    }

    /// A histogram's observation count for the series with these labels.
    fn count(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        let sample = self
            .scrape
            .samples
            .iter()
            .find(|s| s.metric == name && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
            .unwrap_or_else(|| panic!("no histogram {name} {labels:?}"));
        match &sample.value {
            Value::Histogram(buckets) => {
                let inf = buckets.last().expect("a +Inf bucket");
                assert!(inf.less_than.is_infinite(), "{name}: last bucket {inf:?}");
                // Cumulative buckets never go down.
                assert!(buckets.windows(2).all(|w| w[0].count <= w[1].count));
                inf.count
            }
            other => panic!("{name} is not a histogram: {other:?}"),
        }
    }

    /// A counter's or gauge's value.
    fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        let sample = self
            .scrape
            .samples
            .iter()
            .find(|s| s.metric == name && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
            .unwrap_or_else(|| panic!("no {name} {labels:?}"));
        match sample.value {
            Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => v,
            ref other => panic!("{name}: {other:?}"),
        }
    }

    /// Every label value in the scrape.
    fn label_values(&self) -> BTreeSet<String> {
        self.scrape
            .samples
            .iter()
            .flat_map(|s| s.labels.values().cloned())
            .collect()
    }
}

async fn sqlite_relay(dir: &Path) -> RelayProcess {
    RelayProcess::spawn(&[
        "--store",
        "sqlite",
        "--data-dir",
        dir.to_str().unwrap(),
        "--rate-limit",
        "0",
    ])
    .await
    .unwrap()
}

/// Two users chat; every message moves the delivery and append histograms
/// by one, joins move the catch-up read, a history page the other read.
#[tokio::test]
async fn histograms_move_when_messages_flow() {
    let dir = tempfile::tempdir().unwrap();
    let relay = sqlite_relay(dir.path()).await;
    let before = Metrics::of(&relay).await;
    let engine = [("engine", "sqlite")];
    let mut alice = Client::hello(&relay.ws_url(), "alice").await.unwrap();
    let mut bob = Client::hello(&relay.ws_url(), "bob").await.unwrap();
    alice.join("ops-room", None).await.unwrap();
    bob.join("ops-room", None).await.unwrap();
    const SENT: u64 = 12;
    for i in 0..SENT {
        alice
            .say_acked("ops-room", "hello there", &format!("m{i}"))
            .await
            .unwrap();
    }
    for _ in 0..SENT {
        bob.recv_until(|m| matches!(m, shared::ServerMsg::Message(_)))
            .await
            .unwrap();
    }
    alice.history("ops-room", None, Some(10)).await.unwrap();
    let after = Metrics::of(&relay).await;

    let moved = |name: &str, labels: &[(&str, &str)]| {
        after.count(name, labels) - before.count(name, labels)
    };
    // One observation per message: its last recipient's write (the sender
    // and bob both got each one, and bob's frame was read only after it).
    assert_eq!(moved("palaver_delivery_seconds", &engine), SENT as f64);
    assert_eq!(moved("palaver_store_append_seconds", &engine), SENT as f64);
    assert_eq!(
        moved(
            "palaver_store_read_seconds",
            &[("engine", "sqlite"), ("read", "after")]
        ),
        2.0
    );
    assert!(
        moved(
            "palaver_store_read_seconds",
            &[("engine", "sqlite"), ("read", "before")]
        ) >= 1.0
    );
    assert_eq!(
        after.value("palaver_frames_in_total", &[("kind", "send")]),
        SENT as f64
    );
    assert_eq!(after.value("palaver_messages_in_total", &[]), SENT as f64);
    // Frames out by kind: each message went to both members, each send was
    // acked once, each connection was welcomed and answered one join.
    let sent = |kind: &str| after.value("palaver_frames_sent_total", &[("kind", kind)]);
    assert_eq!(sent("message"), 2.0 * SENT as f64);
    assert_eq!(sent("ack"), SENT as f64);
    assert_eq!(sent("welcome"), 2.0);
    assert_eq!(sent("joined"), 2.0);
    assert_eq!(sent("history"), 1.0);
    assert_eq!(sent("error"), 0.0);
    assert_eq!(after.value("palaver_connections", &[]), 2.0);
    assert_eq!(after.value("palaver_members", &[]), 2.0);
    assert_eq!(after.value("palaver_rooms", &[]), 1.0);
    assert_eq!(after.value("palaver_store_ready", &engine), 1.0);
    let in_bands: f64 = ["0", "1-3", "4-15", "16-63", "64+"]
        .iter()
        .map(|depth| after.value("palaver_queue_depth_connections", &[("depth", depth)]))
        .sum();
    assert_eq!(in_bands, 2.0, "each connection in a room in one band");

    // Bounded labels: no room, user or nick shows up as a label value.
    let users = [alice.user.clone().unwrap(), bob.user.clone().unwrap()];
    for value in after.label_values() {
        assert!(!value.contains("ops-room"), "room name as a label: {value}");
        for user in &users {
            assert!(!value.contains(user.id.0.as_str()), "user id as a label");
            assert!(value != user.nick.as_str(), "nick as a label");
        }
    }

    // A close is counted by its code.
    drop(bob);
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let now = Metrics::of(&relay).await;
        if now.value("palaver_connections", &[]) == 1.0 {
            assert!(now.value("palaver_closes_total", &[("code", "1001")]) >= 1.0);
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "bob never left");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

fn repo_file(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(path)
}

/// Metric names an expression uses (`palaver_*`; `up` is Prometheus's own).
fn names_in(expr: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = expr;
    while let Some(at) = rest.find("palaver_") {
        let tail = &rest[at..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(tail.len());
        names.push(tail[..end].to_string());
        rest = &tail[end..];
    }
    names
}

/// A scrape of a relay that has seen a message, for the names it serves.
async fn served_names() -> BTreeSet<String> {
    let dir = tempfile::tempdir().unwrap();
    let relay = sqlite_relay(dir.path()).await;
    let mut alice = Client::hello(&relay.ws_url(), "alice").await.unwrap();
    alice.join("general", None).await.unwrap();
    alice.say_acked("general", "hi", "m1").await.unwrap();
    Metrics::of(&relay).await.names
}

/// deploy/grafana/palaver.json is a Grafana dashboard model: panels with
/// ids, positions, a Prometheus datasource and queries, each query on
/// metrics a real relay serves, and the panels issue 22 asks for.
#[tokio::test]
async fn the_dashboard_queries_real_metrics() {
    let text = std::fs::read_to_string(repo_file("deploy/grafana/palaver.json")).unwrap();
    let dashboard: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert!(dashboard["title"].is_string());
    assert!(dashboard["uid"].is_string());
    assert!(dashboard["schemaVersion"].as_u64().unwrap() >= 30);
    let variables = dashboard["templating"]["list"].as_array().unwrap();
    assert!(variables
        .iter()
        .any(|v| v["type"] == "datasource" && v["query"] == "prometheus"));
    let panels = dashboard["panels"].as_array().unwrap();
    let served = served_names().await;
    let mut ids = BTreeSet::new();
    let mut queried = HashMap::new();
    for panel in panels {
        let title = panel["title"].as_str().unwrap();
        assert!(
            ids.insert(panel["id"].as_u64().unwrap()),
            "{title}: id reused"
        );
        for key in ["x", "y", "w", "h"] {
            assert!(panel["gridPos"][key].is_u64(), "{title}: gridPos.{key}");
        }
        assert!(panel["type"].is_string(), "{title}: type");
        assert_eq!(panel["datasource"]["type"], "prometheus", "{title}");
        let targets = panel["targets"].as_array().unwrap();
        assert!(!targets.is_empty(), "{title}: no query");
        for target in targets {
            let expr = target["expr"].as_str().unwrap();
            assert!(target["refId"].is_string(), "{title}: refId");
            let names = names_in(expr);
            assert!(
                !names.is_empty(),
                "{title}: {expr} queries no palaver metric"
            );
            for name in names {
                assert!(served.contains(&name), "{title}: {name} is not served");
                queried.insert(name, title.to_string());
            }
        }
    }
    for wanted in [
        "palaver_connections",
        "palaver_frames_out_total",
        "palaver_delivery_seconds_bucket",
        "palaver_store_append_seconds_bucket",
        "palaver_slow_consumers_total",
        "palaver_room_rate_limited_total",
        "palaver_store_ready",
    ] {
        assert!(queried.contains_key(wanted), "no panel shows {wanted}");
    }
}

/// deploy/prometheus/alerts.yml passes `promtool check rules` (Debian's
/// prometheus package; `./x setup --test` installs it) and alerts only on
/// metrics a real relay serves.
#[tokio::test]
async fn the_alert_rules_check_and_use_real_metrics() {
    let path = repo_file("deploy/prometheus/alerts.yml");
    let out = Command::new("promtool")
        .arg("check")
        .arg("rules")
        .arg(&path)
        .output()
        .await
        .expect("promtool (apt-get install prometheus, or ./x setup --test)");
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let rules: serde_yaml::Value =
        serde_yaml::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let served = served_names().await;
    let mut alerts = BTreeSet::new();
    for group in rules["groups"].as_sequence().unwrap() {
        for rule in group["rules"].as_sequence().unwrap() {
            let alert = rule["alert"].as_str().unwrap();
            let expr = rule["expr"].as_str().unwrap();
            assert!(rule["annotations"]["summary"].is_string(), "{alert}");
            for name in names_in(expr) {
                assert!(served.contains(&name), "{alert}: {name} is not served");
            }
            alerts.insert(alert.to_string());
        }
    }
    for wanted in [
        "PalaverStoreErrors",
        "PalaverNotReady",
        "PalaverNatsDisconnected",
        "PalaverSlowConsumerSpike",
        "PalaverDeliveryLatencyHigh",
    ] {
        assert!(alerts.contains(wanted), "no alert {wanted}");
    }
}

/// `--log-format json`: every line a JSON object; a connection's lines
/// carry its span (conn id, client IP, user id); message text never
/// appears at info level.
#[tokio::test]
async fn json_logs_carry_the_connection_span_and_no_text() {
    let port = tests::relay::free_port().unwrap();
    let addr = format!("127.0.0.1:{port}");
    let mut relay = Command::new(tests::binary("palaver-relay"))
        .args([
            "--bind",
            &addr,
            "--metrics-bind",
            "off",
            "--store",
            "memory",
        ])
        .args(["--log-format", "json", "--static-dir", "/nonexistent"])
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(relay.stderr.take().unwrap()).lines();
    let mut seen = Vec::new();
    tests::relay::wait_ready(addr.parse().unwrap())
        .await
        .unwrap();
    let url = format!("ws://{addr}/ws");
    let secret = "the secret words nobody may log";
    let mut chatter = Client::hello(&url, "chatter").await.unwrap();
    chatter.join("general", None).await.unwrap();
    chatter.say_acked("general", secret, "s1").await.unwrap();
    // A flood is logged at info from inside the session.
    let mut flooder = Client::hello(&url, "flooder").await.unwrap();
    let user = flooder.user.clone().unwrap();
    for _ in 0..1000 {
        if flooder.send(&shared::ClientMsg::Ping).await.is_err() {
            break;
        }
    }
    let flood = loop {
        let line = tokio::time::timeout(WAIT, lines.next_line())
            .await
            .expect("no flood line within WAIT")
            .unwrap()
            .expect("the relay's stderr ended");
        seen.push(line.clone());
        let json: serde_json::Value = serde_json::from_str(&line).unwrap();
        if json["fields"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("flooding"))
        {
            break json;
        }
    };
    let span = &flood["span"];
    assert_eq!(span["name"], "conn", "{flood}");
    assert!(span["conn"].is_u64(), "{flood}");
    assert_eq!(span["ip"], "127.0.0.1", "{flood}");
    assert_eq!(span["user"], user.id.0.as_str(), "{flood}");
    assert_eq!(flood["level"], "INFO");
    drop((chatter, flooder));
    relay.kill().await.unwrap();
    while let Ok(Ok(Some(line))) = tokio::time::timeout(WAIT, lines.next_line()).await {
        seen.push(line);
    }
    for line in &seen {
        let json: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|err| panic!("not JSON ({err}): {line}"));
        assert!(json["timestamp"].is_string() && json["level"].is_string());
        assert!(!line.contains(secret), "message text logged: {line}");
    }
}

/// Cluster mode: the JetStream engine's histograms (publish-ack, append)
/// move, and `palaver_store_ready{engine="jetstream"}` is the NATS state.
#[tokio::test]
async fn cluster_mode_times_jetstream_acks_and_shows_nats_state() {
    let mut nats = tests::NatsServer::start().await.unwrap();
    let relay = RelayProcess::spawn(&["--nats", &nats.url(), "--rate-limit", "0"])
        .await
        .unwrap();
    relay.wait_ready().await.unwrap();
    let engine = [("engine", "jetstream")];
    let before = Metrics::of(&relay).await;
    assert_eq!(before.value("palaver_store_ready", &engine), 1.0);
    let mut alice = Client::hello(&relay.ws_url(), "alice").await.unwrap();
    alice.join("general", None).await.unwrap();
    for i in 0..3 {
        alice
            .say_acked("general", "over nats", &format!("n{i}"))
            .await
            .unwrap();
    }
    let after = Metrics::of(&relay).await;
    let moved = |name: &str| after.count(name, &engine) - before.count(name, &engine);
    assert_eq!(moved("palaver_jetstream_publish_ack_seconds"), 3.0);
    assert_eq!(moved("palaver_store_append_seconds"), 3.0);
    assert_eq!(moved("palaver_delivery_seconds"), 3.0);
    nats.kill().await.unwrap();
    let deadline = tokio::time::Instant::now() + WAIT * 2;
    while Metrics::of(&relay)
        .await
        .value("palaver_store_ready", &engine)
        != 0.0
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "NATS gone, still ready"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// A body that may be sent in HTTP/1.1 chunks, as Go's server does.
fn dechunk(headers: &[(String, String)], body: &str) -> String {
    let chunked = headers
        .iter()
        .any(|(k, v)| k == "transfer-encoding" && v.contains("chunked"));
    if !chunked {
        return body.to_string();
    }
    let mut out = String::new();
    let mut rest = body;
    while let Some((size, tail)) = rest.split_once("\r\n") {
        let size = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if size == 0 {
            break;
        }
        out.push_str(&tail[..size]);
        rest = tail[size..].trim_start_matches("\r\n");
    }
    out
}

async fn api(addr: std::net::SocketAddr, path: &str) -> serde_json::Value {
    let (code, headers, body) = tests::relay::http_get_with_headers(addr, path)
        .await
        .unwrap();
    assert_eq!(code, 200, "{path}: {body}");
    serde_json::from_str(&dechunk(&headers, &body)).unwrap()
}

/// A real Prometheus (Debian's package) scrapes the relay's OpenMetrics
/// output without error, stores its histograms with their labels, and
/// evaluates every shipped alert rule without error.
#[tokio::test]
async fn a_real_prometheus_scrapes_the_relay_and_evaluates_the_alerts() {
    let relay = RelayProcess::spawn(&["--store", "memory"]).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("prometheus.yml");
    let rules = repo_file("deploy/prometheus/alerts.yml");
    std::fs::write(
        &config,
        format!(
            "global: {{scrape_interval: 1s, evaluation_interval: 1s}}\n\
             rule_files: [{rules:?}]\n\
             scrape_configs:\n  - job_name: palaver\n    static_configs: [{{targets: [\"{}\"]}}]\n",
            relay.metrics_addr.unwrap()
        ),
    )
    .unwrap();
    let port = tests::relay::free_port().unwrap();
    let addr: std::net::SocketAddr = ([127, 0, 0, 1], port).into();
    let _prometheus = Command::new("prometheus")
        .arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.path().join("data").display()
        ))
        .arg(format!("--web.listen-address={addr}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("prometheus (apt-get install prometheus, or ./x setup --test)");
    let mut alice = Client::hello(&relay.ws_url(), "alice").await.unwrap();
    alice.join("general", None).await.unwrap();
    alice.say_acked("general", "hi", "p1").await.unwrap();

    // Until a scrape and a rule evaluation have both happened.
    let deadline = tokio::time::Instant::now() + WAIT * 3;
    loop {
        let ready = async move {
            let targets = api(addr, "/api/v1/targets").await;
            let target = targets["data"]["activeTargets"][0].clone();
            let query = "/api/v1/query?query=palaver_delivery_seconds_count";
            let result = api(addr, query).await["data"]["result"].clone();
            let rules = api(addr, "/api/v1/rules").await;
            (target, result, rules)
        };
        let (target, result, rules) = match tokio::time::timeout(WAIT, tokio::spawn(ready)).await {
            Ok(Ok(found)) => found,
            // Prometheus still starting: not answering, or not 200.
            _ => {
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "prometheus never answered"
                );
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                continue;
            }
        };
        let evaluated: Vec<_> = rules["data"]["groups"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|g| g["rules"].as_array().unwrap().clone())
            .collect();
        let done = target["health"] == "up"
            && result.as_array().is_some_and(|r| !r.is_empty())
            && !evaluated.is_empty()
            && evaluated.iter().all(|r| r["health"] != "unknown");
        if done {
            assert_eq!(target["lastError"], "", "{target}");
            assert_eq!(result[0]["metric"]["engine"], "memory", "{result}");
            assert_eq!(
                result[0]["value"][1], "1",
                "one message delivered: {result}"
            );
            for rule in &evaluated {
                assert_eq!(rule["health"], "ok", "{rule}");
            }
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no scrape and evaluation: {target} {result}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}
