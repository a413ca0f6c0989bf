//! Cross-site WebSocket hijacking defence: which browser origins may connect.
//!
//! Browsers always send `Origin` on a WebSocket handshake; terminal clients
//! and bots usually send none and are not subject to this check (they hold
//! no victim's cookies). A browser origin is allowed when it is the relay's
//! own origin (its `Host`), a loopback address (unless turned off), or on
//! the allowlist.

use axum::http::{header, HeaderMap};

pub fn allowed(headers: &HeaderMap, allowlist: &[String], allow_localhost: bool) -> bool {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return true;
    };
    let Ok(origin) = origin.to_str() else {
        return false;
    };
    let origin = origin.trim_end_matches('/').to_ascii_lowercase();
    let Some((_scheme, authority)) = origin.split_once("://") else {
        return false;
    };
    if allow_localhost && is_loopback(authority) {
        return true;
    }
    let same_origin = headers
        .get(header::HOST)
        .and_then(|host| host.to_str().ok())
        .is_some_and(|host| host.eq_ignore_ascii_case(authority));
    same_origin
        || allowlist
            .iter()
            .any(|allowed| allowed.trim_end_matches('/').eq_ignore_ascii_case(&origin))
}

fn is_loopback(authority: &str) -> bool {
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => authority.split(':').next().unwrap_or(""),
    };
    host == "localhost" || host == "::1" || host.starts_with("127.")
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

    #[test]
    fn origins() {
        let list = vec!["https://app.example.com".to_string()];
        let cases = [
            (None, "chat.example.com", true),
            (Some("https://chat.example.com"), "chat.example.com", true),
            (Some("http://localhost:3000"), "chat.example.com", true),
            (Some("http://127.0.0.1:8080"), "chat.example.com", true),
            (Some("http://[::1]:8080"), "chat.example.com", true),
            (Some("https://app.example.com/"), "chat.example.com", true),
            (Some("https://evil.example"), "chat.example.com", false),
            (
                Some("https://chat.example.com.evil.example"),
                "chat.example.com",
                false,
            ),
            (Some("null"), "chat.example.com", false),
        ];
        for (origin, host, expected) in cases {
            assert_eq!(
                allowed(&headers(origin, host), &list, true),
                expected,
                "{origin:?}"
            );
        }
        // Without the localhost allowance only the own origin and the list pass.
        let local = headers(Some("http://localhost:3000"), "chat.example.com");
        assert!(!allowed(&local, &list, false));
        let own = headers(Some("http://127.0.0.1:8080"), "127.0.0.1:8080");
        assert!(allowed(&own, &list, false));
    }
}
