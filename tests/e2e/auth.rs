//! Token mode: the relay believes only signed tokens, and a token decides
//! the id, the nick and the rooms.

use std::path::PathBuf;

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use relay::Config;
use serde_json::json;
use shared::{close, ErrorCode, ServerMsg};
use tests::{Client, InProcessRelay};

const SECRET: &str = "an HS256 secret of at least thirty-two bytes";

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(name)
}

fn now() -> u64 {
    jsonwebtoken::get_current_timestamp()
}

fn hs256(claims: serde_json::Value, secret: &str) -> String {
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

async fn hs256_relay() -> InProcessRelay {
    let mut config = Config::for_tests();
    config.auth_secret = Some(SECRET.into());
    InProcessRelay::start(config).await
}

/// Sends `hello` with `token` and expects `unauthorized`, then close 4003.
async fn refused(url: &str, token: &str) {
    let mut client = Client::connect(url).await.unwrap();
    let reply = client.hello_with_token(token).await.unwrap();
    assert!(
        matches!(
            reply,
            ServerMsg::Error {
                code: ErrorCode::Unauthorized,
                ..
            }
        ),
        "{reply:?}"
    );
    assert_eq!(client.expect_close().await.unwrap(), close::UNAUTHORIZED);
}

#[tokio::test]
async fn a_signed_token_decides_id_nick_and_rooms() {
    let relay = hs256_relay().await;
    let url = relay.ws_url();
    let token = hs256(
        json!({"sub": "emp-42", "name": "Grace", "exp": now() + 600, "rooms": ["ops"]}),
        SECRET,
    );
    let mut grace = Client::connect(&url).await.unwrap();
    let ServerMsg::Welcome { user, .. } = grace.hello_with_token(&token).await.unwrap() else {
        panic!("expected welcome")
    };
    assert_eq!(
        (user.id.0.as_str(), user.nick.as_str()),
        ("emp-42", "Grace")
    );
    grace.join("ops", None).await.unwrap();
    grace.say_acked("ops", "hello ops", "g-1").await.unwrap();

    // Another room: forbidden, and the connection goes on.
    grace
        .send(&shared::ClientMsg::Join {
            room: tests::client::room("finance"),
            since: None,
        })
        .await
        .unwrap();
    assert_eq!(grace.expect_error().await.unwrap().0, ErrorCode::Forbidden);
    // The nick is the token's.
    grace
        .send(&shared::ClientMsg::Nick {
            nick: shared::Nick::new("Admin").unwrap(),
        })
        .await
        .unwrap();
    assert_eq!(grace.expect_error().await.unwrap().0, ErrorCode::Forbidden);
    grace.say_acked("ops", "still here", "g-2").await.unwrap();
    relay.stop().await.unwrap();
}

#[tokio::test]
async fn the_token_may_come_in_the_url_and_the_first_frame_need_not_be_hello() {
    let relay = hs256_relay().await;
    let token = hs256(
        json!({"sub": "u-url", "name": "Linus", "exp": now() + 600}),
        SECRET,
    );
    let mut linus = Client::connect(&format!("{}?token={token}", relay.ws_url()))
        .await
        .unwrap();
    linus
        .send(&shared::ClientMsg::Join {
            room: tests::client::room("anywhere"),
            since: None,
        })
        .await
        .unwrap();
    let ServerMsg::Welcome { user, .. } = linus.recv().await.unwrap() else {
        panic!("expected welcome")
    };
    assert_eq!(user.id.0, "u-url");
    assert!(matches!(
        linus.recv().await.unwrap(),
        ServerMsg::Joined { .. }
    ));
    relay.stop().await.unwrap();
}

#[tokio::test]
async fn a_hello_token_wins_over_the_url_token() {
    // The URL's token may be stale (it sits in the page's address); the
    // one in `hello` is what the client means now.
    let relay = hs256_relay().await;
    let in_url = hs256(
        json!({"sub": "u-url", "name": "Linus", "exp": now() + 600}),
        SECRET,
    );
    let in_hello = hs256(
        json!({"sub": "u-hello", "name": "Grace", "exp": now() + 600}),
        SECRET,
    );
    let mut client = Client::connect(&format!("{}?token={in_url}", relay.ws_url()))
        .await
        .unwrap();
    let ServerMsg::Welcome { user, .. } = client.hello_with_token(&in_hello).await.unwrap() else {
        panic!("expected welcome")
    };
    assert_eq!(user.id.0, "u-hello");
    relay.stop().await.unwrap();
}

#[tokio::test]
async fn missing_expired_forged_and_malformed_tokens_are_refused_with_4003() {
    let relay = hs256_relay().await;
    let url = relay.ws_url();
    refused(
        &url,
        &hs256(
            json!({"sub": "u", "name": "a", "exp": now() - 3600}),
            SECRET,
        ),
    )
    .await;
    refused(
        &url,
        &hs256(
            json!({"sub": "u", "name": "a", "exp": now() + 600}),
            "somebody else's secret, long enough too",
        ),
    )
    .await;
    refused(&url, "not.a.token").await;
    refused(
        &url,
        &hs256(
            json!({"sub": "u", "name": "bad\u{202e}nick", "exp": now() + 600}),
            SECRET,
        ),
    )
    .await;
    // No token at all, and a frame other than hello.
    let mut anonymous = Client::connect(&url).await.unwrap();
    anonymous
        .send(&shared::ClientMsg::Join {
            room: tests::client::room("general"),
            since: None,
        })
        .await
        .unwrap();
    assert_eq!(
        anonymous.expect_error().await.unwrap().0,
        ErrorCode::Unauthorized
    );
    assert_eq!(anonymous.expect_close().await.unwrap(), close::UNAUTHORIZED);
    // A bad token in the URL.
    let mut bad_url = Client::connect(&format!("{url}?token=garbage"))
        .await
        .unwrap();
    bad_url.send(&shared::ClientMsg::Ping).await.unwrap();
    assert_eq!(
        bad_url.expect_error().await.unwrap().0,
        ErrorCode::Unauthorized
    );
    assert_eq!(bad_url.expect_close().await.unwrap(), close::UNAUTHORIZED);
    assert_eq!(
        relay.metric("palaver_auth_failures_total").await.unwrap(),
        6
    );
    relay.stop().await.unwrap();
}

#[tokio::test]
async fn public_keys_verify_rs256_and_eddsa_and_refuse_algorithm_confusion() {
    for (public, private, algorithm) in [
        ("rsa-public.pem", "rsa-private.pem", Algorithm::RS256),
        (
            "ed25519-public.pem",
            "ed25519-private.pem",
            Algorithm::EdDSA,
        ),
    ] {
        let mut config = Config::for_tests();
        config.auth_public_key = Some(fixture(public));
        let relay = InProcessRelay::start(config).await;
        let pem = std::fs::read(fixture(private)).unwrap();
        let key = match algorithm {
            Algorithm::RS256 => EncodingKey::from_rsa_pem(&pem).unwrap(),
            _ => EncodingKey::from_ed_pem(&pem).unwrap(),
        };
        let claims = json!({"sub": "k-1", "name": "Key", "exp": now() + 600});
        let token = jsonwebtoken::encode(&Header::new(algorithm), &claims, &key).unwrap();
        let mut client = Client::connect(&relay.ws_url()).await.unwrap();
        assert!(
            matches!(
                client.hello_with_token(&token).await.unwrap(),
                ServerMsg::Welcome { .. }
            ),
            "{algorithm:?}"
        );
        // HS256 "signed" with the public key itself must not pass.
        let public_pem = std::fs::read_to_string(fixture(public)).unwrap();
        refused(&relay.ws_url(), &hs256(claims, &public_pem)).await;
        relay.stop().await.unwrap();
    }
}

#[tokio::test]
async fn with_a_token_hello_nick_and_resume_are_ignored() {
    let relay = hs256_relay().await;
    let url = relay.ws_url();
    let token = |sub: &str, name: &str| {
        hs256(
            json!({"sub": sub, "name": name, "exp": now() + 600}),
            SECRET,
        )
    };
    // Someone else's resume token and another nick, beside a valid token.
    let mut ada = Client::connect(&url).await.unwrap();
    let ServerMsg::Welcome { .. } = ada.hello_with_token(&token("u-ada", "Ada")).await.unwrap()
    else {
        panic!("expected welcome")
    };
    let mut grace = Client::connect(&url).await.unwrap();
    grace
        .send(&shared::ClientMsg::Hello {
            nick: Some(shared::Nick::new("Impostor").unwrap()),
            resume: ada.resume.clone(),
            token: Some(token("u-grace", "Grace")),
        })
        .await
        .unwrap();
    let ServerMsg::Welcome { user, .. } = grace.recv().await.unwrap() else {
        panic!("expected welcome")
    };
    assert_eq!(
        (user.id.0.as_str(), user.nick.as_str()),
        ("u-grace", "Grace")
    );
    relay.stop().await.unwrap();
}

#[tokio::test]
async fn thirty_seconds_of_clock_skew_are_tolerated_and_no_more() {
    let relay = hs256_relay().await;
    let url = relay.ws_url();
    // Expired 20 s ago by our clock: within the skew.
    let token = hs256(json!({"sub": "u", "name": "a", "exp": now() - 20}), SECRET);
    let mut client = Client::connect(&url).await.unwrap();
    let reply = client.hello_with_token(&token).await.unwrap();
    assert!(matches!(reply, ServerMsg::Welcome { .. }), "{reply:?}");
    // Expired 40 s ago: refused.
    refused(
        &url,
        &hs256(json!({"sub": "u", "name": "a", "exp": now() - 40}), SECRET),
    )
    .await;
    relay.stop().await.unwrap();
}

#[tokio::test]
async fn a_secret_under_32_bytes_stops_the_relay_at_startup() {
    let port = tests::relay::free_port().unwrap().to_string();
    let out = tests::relay::run_relay(&[
        "--bind",
        &format!("127.0.0.1:{port}"),
        "--store",
        "memory",
        "--auth-secret",
        &"s".repeat(31),
    ])
    .await;
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("at least 32 bytes"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    // 32 bytes are enough.
    let mut config = Config::for_tests();
    config.auth_secret = Some("s".repeat(32));
    let relay = InProcessRelay::start(config).await;
    relay.wait_ready().await.unwrap();
    relay.stop().await.unwrap();
}
