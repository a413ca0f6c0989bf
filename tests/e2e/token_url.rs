//! The web app in token mode: `token_url` in `config.json` names a login
//! service (here one the test serves, on another port, answering with CORS
//! and only to the signed-in cookie). The app fetches a token before it
//! connects and a fresh one when the relay warns that it expires, sends it
//! in `reauth`, and so keeps the same connection past the first token's
//! `exp`.

use std::{
    sync::{
        atomic::{AtomicU64, AtomicUsize, Ordering},
        Arc,
    },
    time::Duration,
};

use axum::{
    extract::State,
    http::{header, HeaderMap, StatusCode},
    response::IntoResponse,
    routing::get,
    Router,
};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use relay::Config;
use serde_json::json;
use tests::{
    browser::{dist_with_config, ENTER},
    Browser, InProcessRelay, WAIT,
};
use tokio::time::Instant;

const SECRET: &str = "a test secret of at least thirty-two bytes";
/// The cookie of a signed-in user, which the login service asks for.
const LOGIN_COOKIE: &str = "palaver_login=ada";
/// Seconds the first token lives: short, so the test outlives it, and
/// long enough for a loaded machine to renew it first.
const FIRST_TOKEN_SECS: u64 = 6;
/// The web app's wait before retrying a failed renewal
/// (`shared::client::renewal::RETRY_MS`), in seconds.
const RETRY_SECS: u64 = shared::client::renewal::RETRY_MS / 1000;

fn now() -> u64 {
    jsonwebtoken::get_current_timestamp()
}

/// A login service: `/token` answers a signed-in browser (the cookie) with
/// a token for "ada", the first one short-lived, the later ones long.
#[derive(Default)]
struct Login {
    calls: AtomicUsize,
    /// The first token's `exp`, once handed out.
    first_exp: AtomicU64,
    /// The call (counting from 1) that fails with 503, if any.
    failing_call: Option<usize>,
    /// Seconds the first token lives.
    first_secs: u64,
}

async fn token(State(login): State<Arc<Login>>, headers: HeaderMap) -> impl IntoResponse {
    // Credentialed CORS: the page's own origin, echoed, and cookies allowed.
    let origin = headers
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let cors = [
        (header::ACCESS_CONTROL_ALLOW_ORIGIN, origin),
        (header::ACCESS_CONTROL_ALLOW_CREDENTIALS, "true".to_string()),
    ];
    let signed_in = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .any(|c| c.trim() == LOGIN_COOKIE);
    if !signed_in {
        return (StatusCode::UNAUTHORIZED, cors, String::new());
    }
    let call = login.calls.fetch_add(1, Ordering::SeqCst) + 1;
    if login.failing_call == Some(call) {
        return (StatusCode::SERVICE_UNAVAILABLE, cors, String::new());
    }
    let first = call == 1;
    let exp = if first {
        let exp = now() + login.first_secs;
        login.first_exp.store(exp, Ordering::SeqCst);
        exp
    } else {
        now() + 3600
    };
    let token = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &json!({"sub": "ada", "name": "Ada", "exp": exp}),
        &EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .unwrap();
    (StatusCode::OK, cors, json!({ "token": token }).to_string())
}

/// Serves the login service on a free loopback port; returns its token URL.
async fn serve_login(login: Arc<Login>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = Router::new().route("/token", get(token)).with_state(login);
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}/token")
}

#[tokio::test]
async fn the_web_app_renews_its_token_from_token_url_and_keeps_its_connection() {
    renews_and_keeps_its_connection(Login::default(), FIRST_TOKEN_SECS).await;
}

#[tokio::test]
async fn a_failed_renewal_is_retried_before_the_token_expires() {
    // The renewal's first try gets 503; the retry 5 s later must still
    // come before the first token's exp.
    let login = Login {
        failing_call: Some(2),
        ..Login::default()
    };
    renews_and_keeps_its_connection(login, FIRST_TOKEN_SECS + RETRY_SECS).await;
}

/// Opens the app in token mode against `login`, whose first token lives
/// `first_secs`, and shows that the session outlives that token on its
/// first connection.
async fn renews_and_keeps_its_connection(mut login: Login, first_secs: u64) {
    // The renewal must beat the first token's exp: no other load meanwhile.
    let _heavy = tests::heavy().await;
    login.first_secs = first_secs;
    let login = Arc::new(login);
    let token_url = serve_login(login.clone()).await;
    let dist = dist_with_config(&json!({ "token_url": token_url }));
    let mut config = Config::for_tests();
    config.static_dir = dist.path().to_path_buf();
    config.auth_secret = Some(SECRET.into());
    // No clock leeway: the relay closes a connection at its token's exp.
    config.auth_leeway_secs = 0;
    let relay = InProcessRelay::start(config).await;

    let ada = Browser::start().await.unwrap();
    ada.goto(&relay.http_url("/")).await.unwrap();
    // Signed in at the login service (cookies are per host, not port).
    ada.client
        .execute(
            &format!("document.cookie = '{LOGIN_COOKIE}; path=/'"),
            vec![],
        )
        .await
        .unwrap();
    // The app reads config.json first: in token mode it asks no nick (the
    // token names the user) and connects at once, now with the cookie.
    ada.client.refresh().await.unwrap();
    ada.find("[data-testid=composer-input]").await.unwrap();
    let prompts = ada
        .client
        .find_all(fantoccini::Locator::Css("[data-testid=nick-input]"))
        .await
        .unwrap();
    assert!(prompts.is_empty(), "no nick prompt in token mode");
    ada.say("before expiry").await.unwrap();
    ada.wait_text("[data-testid=message-text]", "before expiry")
        .await
        .unwrap();

    // The first token was short: the relay warned at once, and the app
    // fetched a second one for `reauth`.
    let deadline = Instant::now() + WAIT;
    let renewed = if login.failing_call.is_some() { 3 } else { 2 };
    while login.calls.load(Ordering::SeqCst) < renewed {
        assert!(Instant::now() < deadline, "the app never renewed its token");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Wait out the first token's exp (plus a second of rounding): without
    // the renewal, the relay closes the connection then (4005).
    let first_exp = login.first_exp.load(Ordering::SeqCst);
    while now() <= first_exp + 1 {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    ada.type_into(
        "[data-testid=composer-input]",
        &format!("after expiry{ENTER}"),
    )
    .await
    .unwrap();
    ada.wait_text("[data-testid=message-text]", "after expiry")
        .await
        .unwrap();
    // Stored by the relay, not only shown from the outbox.
    let mut reader = tests::Client::connect(&relay.ws_url()).await.unwrap();
    let reader_token = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &json!({"sub": "reader", "name": "Reader", "exp": now() + 600}),
        &EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .unwrap();
    reader.hello_with_token(&reader_token).await.unwrap();
    let joined = reader.join("general", None).await.unwrap();
    let texts: Vec<String> = tests::client::history_of(&joined)
        .into_iter()
        .map(|m| m.text.as_str().to_string())
        .collect();
    assert_eq!(texts, ["before expiry", "after expiry"]);
    // One connection for ada all along (and one for the reader): the
    // session survived the expiry instead of reconnecting.
    assert_eq!(
        relay
            .metric("palaver_connections_accepted_total")
            .await
            .unwrap(),
        2,
        "ada's connection was closed and reopened"
    );
    assert_eq!(login.calls.load(Ordering::SeqCst), renewed);
    ada.screenshot(&format!("token-url-renewed-{renewed}"))
        .await
        .unwrap();
    ada.close().await.unwrap();
}
