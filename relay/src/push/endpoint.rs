//! Which push endpoints the relay will POST to.
//!
//! An endpoint is user input: without a check, any client could make the
//! relay send requests into its own network (loopback admin ports, the
//! cloud metadata address, private services). Only `https` URLs whose name
//! resolves to public addresses are taken, at `push_subscribe` and again
//! at every send (a name can be re-pointed after the check), and the send
//! connects to the very address that was checked. `--push-allow-insecure`
//! (tests only) lifts both rules.

use std::{
    net::{IpAddr, Ipv4Addr, SocketAddr},
    time::Duration,
};

use url::Url;

/// The longest endpoint taken (real ones are under 600 bytes).
pub const MAX_ENDPOINT_BYTES: usize = 1024;
/// How long a name may take to resolve.
const RESOLVE_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EndpointError {
    #[error("the endpoint is longer than {MAX_ENDPOINT_BYTES} bytes")]
    TooLong,
    #[error("the endpoint is not a URL with a host")]
    Malformed,
    #[error("push endpoints must be https")]
    NotHttps,
    #[error("the endpoint's host does not resolve")]
    Unresolved,
    #[error("the endpoint resolves to a loopback, private, link-local or reserved address")]
    NotPublic,
}

/// Who may be POSTed to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    /// https and public addresses only.
    Public,
    /// `--push-allow-insecure`: any scheme of http(s), any address.
    Insecure,
}

/// Parses and checks an endpoint's form (not yet its addresses).
pub fn parse(endpoint: &str, policy: Policy) -> Result<Url, EndpointError> {
    if endpoint.len() > MAX_ENDPOINT_BYTES {
        return Err(EndpointError::TooLong);
    }
    let url = Url::parse(endpoint).map_err(|_| EndpointError::Malformed)?;
    if url.host().is_none() || !url.username().is_empty() || url.password().is_some() {
        return Err(EndpointError::Malformed);
    }
    match (url.scheme(), policy) {
        ("https", _) | ("http", Policy::Insecure) => Ok(url),
        _ => Err(EndpointError::NotHttps),
    }
}

/// The addresses of `url`'s host that the policy allows, in resolver
/// order; an error when there is none (or, under `Public`, when any is
/// not public: a name that half points inward is not trusted at all).
pub async fn resolve(url: &Url, policy: Policy) -> Result<Vec<SocketAddr>, EndpointError> {
    let host = url.host_str().ok_or(EndpointError::Malformed)?;
    let port = url
        .port_or_known_default()
        .ok_or(EndpointError::Malformed)?;
    // `host_str` keeps an IPv6 literal's brackets; the resolver wants none.
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let addrs: Vec<SocketAddr> =
        tokio::time::timeout(RESOLVE_TIMEOUT, tokio::net::lookup_host((host, port)))
            .await
            .map_err(|_| EndpointError::Unresolved)?
            .map_err(|_| EndpointError::Unresolved)?
            .collect();
    if addrs.is_empty() {
        return Err(EndpointError::Unresolved);
    }
    if policy == Policy::Public && !addrs.iter().all(|a| is_public(a.ip())) {
        return Err(EndpointError::NotPublic);
    }
    Ok(addrs)
}

/// Whether `ip` is a globally routed unicast address.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public_v4(v4);
            }
            let first = v6.segments()[0];
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || v6.is_unique_local()
                || v6.is_unicast_link_local()
                // Site-local (deprecated), documentation, NAT64 (which
                // reaches IPv4 space, private parts included) and
                // IPv4-compatible addresses.
                || first & 0xffc0 == 0xfec0
                || (first == 0x2001 && v6.segments()[1] == 0x0db8)
                || (first == 0x0064 && v6.segments()[1] == 0xff9b)
                || v6.segments()[..6] == [0; 6])
        }
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local() // 169.254/16, the cloud metadata address among them
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0
        || (a == 100 && (64..128).contains(&b)) // shared address space (CGNAT)
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 198 && (b == 18 || b == 19)) // benchmarking
        || a >= 240)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v6(s: &str) -> IpAddr {
        IpAddr::V6(s.parse::<std::net::Ipv6Addr>().unwrap())
    }

    #[test]
    fn only_https_with_a_host_and_no_credentials() {
        let ok = "https://fcm.googleapis.com/fcm/send/abc";
        assert!(parse(ok, Policy::Public).is_ok());
        for (bad, why) in [
            ("http://fcm.googleapis.com/x", EndpointError::NotHttps),
            ("ftp://example.com/x", EndpointError::NotHttps),
            ("https://user:pw@example.com/x", EndpointError::Malformed),
            ("not a url", EndpointError::Malformed),
            ("data:text/plain,hi", EndpointError::Malformed),
        ] {
            assert_eq!(parse(bad, Policy::Public), Err(why), "{bad}");
        }
        assert!(parse("http://127.0.0.1:9/x", Policy::Insecure).is_ok());
        let long = format!("https://example.com/{}", "a".repeat(MAX_ENDPOINT_BYTES));
        assert_eq!(parse(&long, Policy::Insecure), Err(EndpointError::TooLong));
    }

    #[test]
    fn inward_addresses_are_not_public() {
        for inward in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "224.0.0.1",
            "255.255.255.255",
            "192.0.0.8",
            "198.18.0.1",
            "240.0.0.1",
        ] {
            assert!(!is_public(inward.parse().unwrap()), "{inward}");
        }
        for inward in [
            "::1",
            "::",
            "fc00::1",
            "fd12::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "64:ff9b::a00:1",
            "2001:db8::1",
            "ff02::1",
        ] {
            assert!(!is_public(v6(inward)), "{inward}");
        }
        for public in ["142.250.74.110", "1.1.1.1"] {
            assert!(is_public(public.parse().unwrap()), "{public}");
        }
        assert!(is_public(v6("2607:f8b0:4004:c1b::5f")));
        assert!(is_public(v6("::ffff:1.1.1.1")));
    }

    #[tokio::test]
    async fn a_loopback_endpoint_resolves_only_under_the_insecure_policy() {
        let url = parse("https://127.0.0.1:4443/push", Policy::Public).unwrap();
        assert_eq!(
            resolve(&url, Policy::Public).await,
            Err(EndpointError::NotPublic)
        );
        let url = parse("https://localhost:4443/push", Policy::Public).unwrap();
        assert_eq!(
            resolve(&url, Policy::Public).await,
            Err(EndpointError::NotPublic)
        );
        let url = parse("http://[::1]:4443/push", Policy::Insecure).unwrap();
        assert_eq!(
            resolve(&url, Policy::Insecure).await.unwrap()[0].port(),
            4443
        );
    }
}
