//! Token mode for browser tests of one user on several devices: a login
//! service that signs every browser in as the same user, so two Chromium
//! profiles are two devices of one user, and the tokens of other users.

use serde_json::json;

/// The relay's HS256 secret (`Config::auth_secret`) for these tokens.
pub const SECRET: &str = "a test secret of at least thirty-two bytes";

/// A token for user `sub` named `name`, valid for an hour.
pub fn token(sub: &str, name: &str) -> String {
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &json!({ "sub": sub, "name": name, "exp": jsonwebtoken::get_current_timestamp() + 3600 }),
        &jsonwebtoken::EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .unwrap()
}

/// A login service for token mode that signs every browser in as Ada:
/// two browsers are two devices of one user. Returns its `token_url`.
pub async fn serve_login() -> String {
    use axum::{
        http::{header, HeaderMap},
        routing::get,
        Router,
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = Router::new().route(
        "/token",
        get(|headers: HeaderMap| async move {
            let origin = headers
                .get(header::ORIGIN)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_string();
            (
                [
                    (header::ACCESS_CONTROL_ALLOW_ORIGIN, origin),
                    (header::ACCESS_CONTROL_ALLOW_CREDENTIALS, "true".into()),
                ],
                json!({ "token": token("ada", "Ada") }).to_string(),
            )
        }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}/token")
}
