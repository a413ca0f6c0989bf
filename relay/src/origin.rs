//! Cross-site WebSocket hijacking defence: which browser origins may connect.
//!
//! Browsers always send `Origin` on a WebSocket handshake; terminal clients
//! and bots usually send none and are not subject to this check (they hold
//! no victim's cookies). A browser origin is allowed when it is the relay's
//! own origin, a loopback origin (unless turned off), or on the allowlist.
//!
//! Origins are parsed (the `url` crate) and compared whole: scheme, host and
//! port, never by prefix. The relay's own origin is configuration
//! (`--public-url`, else the bound address), never the request's `Host`:
//! a page on `http://evil.example` whose name an attacker re-points at the
//! relay's address (DNS rebinding) sends `Host: evil.example`, and would
//! otherwise look same-origin.

use std::net::{IpAddr, SocketAddr};

use axum::http::{header, HeaderMap};
use url::{Host, Origin, Url};

/// The browser origins that may open WebSockets, parsed once at startup.
#[derive(Debug, Clone)]
pub struct Origins {
    /// The relay's own origins: `--public-url`'s, or those of the bound
    /// address (a loopback address also as `localhost`).
    own: Vec<Origin>,
    /// `--allowed-origin`.
    allowed: Vec<Origin>,
    /// `--allow-localhost-origins`: any port on a loopback host.
    allow_localhost: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum OriginError {
    #[error("--allowed-origin {0:?} is not an origin like https://app.example.com")]
    Allowed(String),
    #[error("--public-url {0} is not an http:// or https:// URL with a host")]
    PublicUrl(Url),
}

impl Origins {
    /// `bound` is the address the relay listens on, `tls` whether it serves
    /// https itself; both only matter without `public_url`.
    pub fn new(
        public_url: Option<&Url>,
        bound: SocketAddr,
        tls: bool,
        allowed: &[String],
        allow_localhost: bool,
    ) -> Result<Self, OriginError> {
        let own = match public_url {
            Some(url) => vec![web_origin(url).ok_or_else(|| OriginError::PublicUrl(url.clone()))?],
            None => bound_origins(bound, tls),
        };
        let allowed = allowed
            .iter()
            .map(|entry| parse(entry).ok_or_else(|| OriginError::Allowed(entry.clone())))
            .collect::<Result<_, _>>()?;
        Ok(Origins {
            own,
            allowed,
            allow_localhost,
        })
    }

    /// Whether no own origin is known (bound to every interface, no
    /// `--public-url`): pages the relay serves itself can then connect only
    /// through the allowlist or as localhost.
    pub fn own_unknown(&self) -> bool {
        self.own.is_empty()
    }

    /// Whether a handshake with these headers may open a WebSocket.
    pub fn allows(&self, headers: &HeaderMap) -> bool {
        let Some(origin) = headers.get(header::ORIGIN) else {
            return true;
        };
        let Some(origin) = origin.to_str().ok().and_then(parse) else {
            return false;
        };
        (self.allow_localhost && is_loopback(&origin))
            || self.own.contains(&origin)
            || self.allowed.contains(&origin)
    }
}

/// An `Origin` header or allowlist entry: `scheme://host[:port]`, http or
/// https, with nothing after it but an optional `/`. `null` and anything
/// else is no origin.
fn parse(text: &str) -> Option<Origin> {
    let url = Url::parse(text.trim()).ok()?;
    let bare = url.path() == "/"
        && url.query().is_none()
        && url.fragment().is_none()
        && url.username().is_empty()
        && url.password().is_none();
    if bare {
        web_origin(&url)
    } else {
        None
    }
}

/// The origin of an http(s) URL with a host.
fn web_origin(url: &Url) -> Option<Origin> {
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return None;
    }
    Some(url.origin())
}

/// A loopback IP, or the name `localhost` itself.
fn is_loopback(origin: &Origin) -> bool {
    let Origin::Tuple(_, host, _) = origin else {
        return false;
    };
    match host {
        Host::Ipv4(ip) => ip.is_loopback(),
        Host::Ipv6(ip) => IpAddr::V6(*ip).to_canonical().is_loopback(),
        Host::Domain(name) => name == "localhost",
    }
}

/// The origins of the bound address; none when bound to every interface
/// (which name the browser used is then unknowable).
fn bound_origins(bound: SocketAddr, tls: bool) -> Vec<Origin> {
    if bound.ip().is_unspecified() {
        return Vec::new();
    }
    let scheme = if tls { "https" } else { "http" };
    let mut hosts = vec![bound.to_string()];
    if bound.ip().is_loopback() {
        hosts.push(format!("localhost:{}", bound.port()));
    }
    hosts
        .iter()
        .filter_map(|host| Url::parse(&format!("{scheme}://{host}")).ok())
        .map(|url| url.origin())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(origin: Option<&str>, host: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, host.parse().unwrap());
        if let Some(origin) = origin {
            headers.insert(header::ORIGIN, origin.parse().unwrap());
        }
        headers
    }

    fn origins(public: Option<&str>, bound: &str, allow_localhost: bool) -> Origins {
        let public = public.map(|url| Url::parse(url).unwrap());
        let list = vec!["https://app.example.com".to_string()];
        Origins::new(
            public.as_ref(),
            bound.parse().unwrap(),
            false,
            &list,
            allow_localhost,
        )
        .unwrap()
    }

    #[test]
    fn origins_are_parsed_and_compared_whole() {
        let relay = origins(Some("https://chat.example.com"), "0.0.0.0:8080", true);
        let cases = [
            (None, true),
            (Some("https://chat.example.com"), true),
            (Some("https://CHAT.example.com:443"), true),
            (Some("http://chat.example.com"), false),
            (Some("https://chat.example.com:8443"), false),
            (Some("http://localhost:3000"), true),
            (Some("http://127.0.0.1:8080"), true),
            (Some("http://127.9.9.9"), true),
            (Some("http://[::1]:8080"), true),
            (Some("https://app.example.com/"), true),
            (Some("https://app.example.com/path"), false),
            (Some("https://evil.example"), false),
            (Some("https://chat.example.com.evil.example"), false),
            (Some("https://127.attacker.example"), false),
            (Some("http://127.0.0.1.attacker.example"), false),
            (Some("http://localhost.evil"), false),
            (Some("http://localhost@evil.example"), false),
            (Some("ftp://localhost"), false),
            (Some("null"), false),
            (Some(""), false),
        ];
        for (origin, expected) in cases {
            assert_eq!(
                relay.allows(&headers(origin, "chat.example.com")),
                expected,
                "{origin:?}"
            );
        }
    }

    #[test]
    fn the_host_header_does_not_make_an_origin_own() {
        // DNS rebinding: evil.example now resolves to the relay's address.
        let relay = origins(Some("https://chat.example.com"), "0.0.0.0:8080", false);
        let rebound = headers(Some("http://evil.example"), "evil.example");
        assert!(!relay.allows(&rebound));
        let rebound = headers(Some("http://evil.example:8080"), "evil.example:8080");
        let by_address = origins(None, "192.0.2.10:8080", true);
        assert!(!by_address.allows(&rebound));
    }

    #[test]
    fn without_a_public_url_the_bound_address_is_the_own_origin() {
        let relay = origins(None, "127.0.0.1:8080", false);
        let host = "127.0.0.1:8080";
        assert!(relay.allows(&headers(Some("http://127.0.0.1:8080"), host)));
        assert!(relay.allows(&headers(Some("http://localhost:8080"), host)));
        assert!(!relay.allows(&headers(Some("http://localhost:3000"), host)));
        assert!(!relay.allows(&headers(Some("https://127.0.0.1:8080"), host)));
        let relay = origins(None, "192.0.2.10:80", false);
        assert!(relay.allows(&headers(Some("http://192.0.2.10"), "192.0.2.10")));
        let everywhere = origins(None, "0.0.0.0:8080", false);
        assert!(everywhere.own_unknown());
        assert!(!everywhere.allows(&headers(Some("http://127.0.0.1:8080"), host)));
    }

    #[test]
    fn a_bad_allowlist_entry_or_public_url_is_a_startup_error() {
        let bound = "127.0.0.1:8080".parse().unwrap();
        for entry in ["app.example.com", "https://app.example.com/chat", "null"] {
            assert!(Origins::new(None, bound, false, &[entry.into()], true).is_err());
        }
        let ftp = Url::parse("ftp://chat.example.com").unwrap();
        assert!(Origins::new(Some(&ftp), bound, false, &[], true).is_err());
    }
}
