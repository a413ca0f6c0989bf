//! Which address a request counts against for the per-IP limits.
//!
//! Behind a reverse proxy every request comes from the proxy; the real
//! client is in `X-Forwarded-For`, which each proxy extends on the right
//! with the address it saw. Only the right-hand end is therefore believed:
//! the walk goes from the right, over hops that are trusted proxies, and
//! stops at the first that is not. Everything left of it was written by the
//! client and may be forged (nginx's `$proxy_add_x_forwarded_for` keeps
//! whatever the client sent).
//!
//! An IPv6 client owns at least a /64, so every per-IP limit counts a
//! whole /64 as one client ([`ClientKey`]).

use std::net::{IpAddr, Ipv6Addr};

use axum::http::HeaderMap;
use ipnet::IpNet;

/// The networks whose `X-Forwarded-For` is believed (`--trusted-proxy`).
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    pub fn new(nets: impl IntoIterator<Item = IpNet>) -> Self {
        TrustedProxies(nets.into_iter().collect())
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.0.iter().any(|net| net.contains(&ip))
    }
}

/// A `--trusted-proxy` value: a network (`10.0.0.0/8`, `fd00::/8`) or one
/// address (`127.0.0.1`, a /32 or /128).
pub fn parse_trusted_proxy(value: &str) -> Result<IpNet, String> {
    let value = value.trim();
    value
        .parse::<IpNet>()
        .map(|net| net.trunc())
        .or_else(|_| value.parse::<IpAddr>().map(IpNet::from))
        .map_err(|_| format!("{value:?} is neither an address nor a CIDR range like 10.0.0.0/8"))
}

/// The address a request counts against: the peer's, unless the peer is a
/// trusted proxy; then the right-most `X-Forwarded-For` hop that is not a
/// trusted proxy.
///
/// A hop that is not an address ends the walk, and the request counts
/// against the nearest trusted proxy to its right (the one that passed it
/// on): skipping it would let a client pick the hop left of it. When every
/// hop is a trusted proxy, the left-most is the client (a client inside the
/// trusted network).
pub fn client_ip(peer: IpAddr, headers: &HeaderMap, trusted: &TrustedProxies) -> IpAddr {
    let peer = peer.to_canonical();
    if !trusted.contains(peer) {
        return peer;
    }
    let mut client = peer;
    let hops = headers
        .get_all("x-forwarded-for")
        .iter()
        .rev()
        .flat_map(|value| match value.to_str() {
            Ok(value) => value.rsplit(',').map(Some).collect::<Vec<_>>(),
            Err(_) => vec![None],
        });
    for hop in hops {
        let Some(ip) = hop.and_then(|hop| hop.trim().parse::<IpAddr>().ok()) else {
            return client;
        };
        client = ip.to_canonical();
        if !trusted.contains(client) {
            return client;
        }
    }
    client
}

/// What the per-IP limits count: an IPv4 address, or an IPv6 /64.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ClientKey(IpAddr);

impl ClientKey {
    pub fn of(ip: IpAddr) -> ClientKey {
        match ip.to_canonical() {
            IpAddr::V4(v4) => ClientKey(IpAddr::V4(v4)),
            IpAddr::V6(v6) => {
                let prefix = v6.to_bits() & !((1u128 << 64) - 1);
                ClientKey(IpAddr::V6(Ipv6Addr::from_bits(prefix)))
            }
        }
    }
}

impl std::fmt::Display for ClientKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            IpAddr::V4(v4) => v4.fmt(f),
            IpAddr::V6(v6) => write!(f, "{v6}/64"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn forwarded(values: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append("x-forwarded-for", value.parse().unwrap());
        }
        headers
    }

    fn trusted(nets: &[&str]) -> TrustedProxies {
        TrustedProxies::new(nets.iter().map(|n| parse_trusted_proxy(n).unwrap()))
    }

    #[test]
    fn forwarded_for_counts_only_from_trusted_proxies() {
        let proxies = trusted(&["10.0.0.9"]);
        let headers = forwarded(&["1.1.1.1, 198.51.100.7, 10.0.0.9"]);
        // An untrusted peer cannot choose its address.
        assert_eq!(
            client_ip(ip("203.0.113.5"), &headers, &proxies),
            ip("203.0.113.5")
        );
        // Behind the proxy: the last hop the proxies did not add.
        assert_eq!(
            client_ip(ip("10.0.0.9"), &headers, &proxies),
            ip("198.51.100.7")
        );
        // A trusted peer without the header counts as itself.
        assert_eq!(
            client_ip(ip("10.0.0.9"), &HeaderMap::new(), &proxies),
            ip("10.0.0.9")
        );
    }

    #[test]
    fn a_forged_hop_left_of_garbage_is_not_believed() {
        // The client sent `X-Forwarded-For: 10.9.8.7, x`; nginx's
        // $proxy_add_x_forwarded_for appended the address it saw.
        let proxies = trusted(&["127.0.0.1"]);
        let headers = forwarded(&["10.9.8.7, x, 198.51.100.7"]);
        assert_eq!(
            client_ip(ip("127.0.0.1"), &headers, &proxies),
            ip("198.51.100.7")
        );
        // Garbage where the proxy's hop should be ends the walk at the proxy.
        let headers = forwarded(&["10.9.8.7, x"]);
        assert_eq!(
            client_ip(ip("127.0.0.1"), &headers, &proxies),
            ip("127.0.0.1")
        );
        let proxies = trusted(&["127.0.0.1", "10.0.0.0/8"]);
        let headers = forwarded(&["192.0.2.1, garbage, 10.1.1.1"]);
        assert_eq!(
            client_ip(ip("127.0.0.1"), &headers, &proxies),
            ip("10.1.1.1")
        );
    }

    #[test]
    fn hops_are_walked_across_repeated_headers_from_the_right() {
        let proxies = trusted(&["127.0.0.1", "10.0.0.0/8"]);
        let headers = forwarded(&["192.0.2.1, 198.51.100.7", "10.2.3.4"]);
        assert_eq!(
            client_ip(ip("127.0.0.1"), &headers, &proxies),
            ip("198.51.100.7")
        );
        // Only trusted hops: the left-most is the client.
        let headers = forwarded(&["10.5.5.5, 10.2.3.4"]);
        assert_eq!(
            client_ip(ip("127.0.0.1"), &headers, &proxies),
            ip("10.5.5.5")
        );
    }

    #[test]
    fn trusted_proxies_are_networks() {
        let proxies = trusted(&["10.0.0.0/8", "fd00::/8", "192.0.2.1"]);
        assert!(proxies.contains(ip("10.200.1.2")));
        assert!(proxies.contains(ip("fd12::1")));
        assert!(proxies.contains(ip("192.0.2.1")));
        assert!(proxies.contains(ip("::ffff:10.0.0.1")));
        assert!(!proxies.contains(ip("192.0.2.2")));
        assert!(!proxies.contains(ip("fe80::1")));
        assert!(parse_trusted_proxy("10.0.0.0/33").is_err());
        assert!(parse_trusted_proxy("proxy.example").is_err());
        assert_eq!(
            parse_trusted_proxy("10.1.2.3/8").unwrap(),
            "10.0.0.0/8".parse::<IpNet>().unwrap()
        );
    }

    #[test]
    fn ipv6_clients_are_grouped_by_64() {
        assert_eq!(
            ClientKey::of(ip("2001:db8:1:2::1")),
            ClientKey::of(ip("2001:db8:1:2:ffff::9"))
        );
        assert_ne!(
            ClientKey::of(ip("2001:db8:1:2::1")),
            ClientKey::of(ip("2001:db8:1:3::1"))
        );
        assert_ne!(
            ClientKey::of(ip("192.0.2.1")),
            ClientKey::of(ip("192.0.2.2"))
        );
        assert_eq!(
            ClientKey::of(ip("::ffff:192.0.2.1")),
            ClientKey::of(ip("192.0.2.1"))
        );
        assert_eq!(
            ClientKey::of(ip("2001:db8::1")).to_string(),
            "2001:db8::/64"
        );
    }
}
