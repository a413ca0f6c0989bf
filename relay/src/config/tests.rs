//! Parsing the command line: defaults and the value formats.

use super::*;

#[test]
fn the_durable_store_is_the_default() {
    let config = Config::parse_from(["palaver-relay"]);
    assert_eq!(config.store, StoreKind::Sqlite);
    assert_eq!(config.sync, SyncLevel::Normal);
    assert_eq!(config.data_dir, PathBuf::from("data"));
    assert_eq!(config.retention_age(), None);
    assert_eq!(
        config.metrics_bind,
        MetricsBind(Some(DEFAULT_METRICS_BIND.parse().unwrap()))
    );
    let metrics: SocketAddr = DEFAULT_METRICS_BIND.parse().unwrap();
    assert!(metrics.ip().is_loopback(), "/metrics is private by default");
    assert!(config.trusted_proxies.is_empty());
}

#[test]
fn proxies_are_networks_and_metrics_can_be_off() {
    let config = Config::try_parse_from([
        "palaver-relay",
        "--trusted-proxy",
        "10.0.0.0/8,127.0.0.1",
        "--trusted-proxy",
        "fd00::/8",
        "--metrics-bind",
        "off",
        "--public-url",
        "https://chat.example.com",
    ])
    .unwrap();
    let nets: Vec<String> = config
        .trusted_proxies
        .iter()
        .map(|n| n.to_string())
        .collect();
    assert_eq!(nets, ["10.0.0.0/8", "127.0.0.1/32", "fd00::/8"]);
    assert_eq!(config.metrics_bind, MetricsBind(None));
    assert_eq!(
        config.public_url.unwrap().origin().ascii_serialization(),
        "https://chat.example.com"
    );
    assert!(Config::try_parse_from(["palaver-relay", "--trusted-proxy", "nope"]).is_err());
    assert!(Config::try_parse_from(["palaver-relay", "--metrics-bind", "9187"]).is_err());
}
