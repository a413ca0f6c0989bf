//! Who a handshake comes from: `X-Forwarded-For` behind trusted proxies,
//! CIDR ranges of proxies, IPv6 clients by /64, and browser origins parsed
//! whole (no prefix matches, no trust in `Host`).

use futures_util::future::join_all;
use relay::Config;
use tests::{Client, InProcessRelay};
use tokio_tungstenite::tungstenite;

/// The HTTP status a refused handshake got, or `None` when it upgraded.
async fn status(url: &str, headers: &[(&'static str, &str)]) -> Option<u16> {
    match Client::connect_with_headers(url, headers).await {
        Ok(_) => None,
        Err(err) => match err.downcast_ref::<tungstenite::Error>() {
            Some(tungstenite::Error::Http(response)) => Some(response.status().as_u16()),
            _ => panic!("unexpected failure: {err}"),
        },
    }
}

fn behind_proxy(trusted: &str, max_per_ip: u32) -> Config {
    let mut config = Config::for_tests();
    config.trusted_proxies = vec![relay::limits::parse_trusted_proxy(trusted).unwrap()];
    config.max_conns_per_ip = max_per_ip;
    config.max_handshakes_per_ip_per_sec = 0;
    config
}

/// nginx's `$proxy_add_x_forwarded_for` keeps what the client sent and
/// appends the address it saw: a forged left-hand hop, a hop that is not an
/// address, then the real one. 40 upgrades rotating the forged hop are
/// still one client.
#[tokio::test]
async fn forged_left_hand_hops_are_held_to_the_per_ip_limit() {
    let relay = InProcessRelay::start(behind_proxy("127.0.0.1", 4)).await;
    let url = relay.ws_url();
    let mut open = Vec::new();
    let mut refused = 0;
    for n in 0..40 {
        let header = format!("10.9.8.{n}, x, 203.0.113.9");
        match Client::connect_with_headers(&url, &[("x-forwarded-for", &header)]).await {
            Ok(client) => open.push(client),
            Err(err) => {
                assert!(
                    matches!(
                        err.downcast_ref::<tungstenite::Error>(),
                        Some(tungstenite::Error::Http(r)) if r.status() == 429
                    ),
                    "{err}"
                );
                refused += 1;
            }
        }
    }
    assert_eq!((open.len(), refused), (4, 36));
    // Another real client behind the same proxy is not affected.
    let other = [("x-forwarded-for", "10.9.8.7, x, 203.0.113.10")];
    assert_eq!(status(&url, &other).await, None);
    relay.stop().await.unwrap();
}

#[tokio::test]
async fn trusted_proxies_are_cidr_ranges_and_ipv6_clients_are_64s() {
    // The test's own address is inside the trusted range, not listed alone.
    let relay = InProcessRelay::start(behind_proxy("127.0.0.0/8", 1)).await;
    let url = relay.ws_url();
    let from = |hop: &'static str| [("x-forwarded-for", hop)];
    let _a = Client::connect_with_headers(&url, &from("2001:db8:1:2::1"))
        .await
        .unwrap();
    // Another address in the same /64 is the same client.
    assert_eq!(status(&url, &from("2001:db8:1:2:ffff::9")).await, Some(429));
    // The next /64 is another.
    let _b = Client::connect_with_headers(&url, &from("2001:db8:1:3::1"))
        .await
        .unwrap();
    // Proxies inside the range are walked over, not counted.
    let _c = Client::connect_with_headers(&url, &from("198.51.100.1, 127.0.0.5"))
        .await
        .unwrap();
    assert_eq!(
        status(&url, &from("198.51.100.1, 127.9.9.9")).await,
        Some(429)
    );
    relay.stop().await.unwrap();
}

#[tokio::test]
async fn handshakes_per_second_count_an_ipv6_64_as_one_client() {
    let mut config = behind_proxy("127.0.0.1", 0);
    config.max_handshakes_per_ip_per_sec = 1; // a burst of 2
    let relay = InProcessRelay::start(config).await;
    let url = relay.ws_url();
    let attempts = (1..=10).map(|n| {
        let hop = format!("2001:db8:7:7::{n:x}");
        let url = url.clone();
        async move { status(&url, &[("x-forwarded-for", &hop)]).await }
    });
    let refused = join_all(attempts)
        .await
        .into_iter()
        .filter(|s| *s == Some(429))
        .count();
    assert!(refused >= 7, "only {refused} of 10 refused");
    relay.stop().await.unwrap();
}

#[tokio::test]
async fn origins_are_compared_whole_and_host_is_not_trusted() {
    let mut config = Config::for_tests();
    config.public_url = Some("https://chat.example.com".parse().unwrap());
    config.allowed_origins = vec!["https://app.example.com".into()];
    let relay = InProcessRelay::start(config).await;
    let url = relay.ws_url();
    let refused = [
        vec![("origin", "https://127.attacker.example")],
        vec![("origin", "http://localhost.evil")],
        vec![("origin", "https://app.example.com.evil.example")],
        // DNS rebinding: evil.example re-pointed at the relay's address.
        vec![("host", "evil.example"), ("origin", "http://evil.example")],
    ];
    for headers in refused {
        assert_eq!(status(&url, &headers).await, Some(403), "{headers:?}");
    }
    let allowed = [
        vec![("origin", "https://chat.example.com")],
        vec![("origin", "https://app.example.com")],
        vec![("origin", "http://localhost:3000")],
        vec![("origin", "http://127.0.0.1:8080")],
        vec![],
    ];
    for headers in allowed {
        assert_eq!(status(&url, &headers).await, None, "{headers:?}");
    }
    assert_eq!(
        relay
            .metric("palaver_origins_rejected_total")
            .await
            .unwrap(),
        4
    );
    relay.stop().await.unwrap();
}

#[tokio::test]
async fn without_localhost_origins_only_the_bound_address_is_own() {
    let mut config = Config::for_tests();
    config.allow_localhost_origins = false;
    let relay = InProcessRelay::start(config).await;
    let url = relay.ws_url();
    let port = relay.addr.port();
    let own = format!("http://127.0.0.1:{port}");
    let own_by_name = format!("http://localhost:{port}");
    let other_port = format!("http://localhost:{}", port.wrapping_add(1));
    assert_eq!(status(&url, &[("origin", &own)]).await, None);
    assert_eq!(status(&url, &[("origin", &own_by_name)]).await, None);
    assert_eq!(status(&url, &[("origin", &other_port)]).await, Some(403));
    let rebound = [("host", "evil.example"), ("origin", "http://evil.example")];
    assert_eq!(status(&url, &rebound).await, Some(403));
    relay.stop().await.unwrap();
}
