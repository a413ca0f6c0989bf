//! Identities that last as long as their user: an online account never
//! expires, not across a `kill -9` (SQLite) nor a dead relay (cluster),
//! resume tokens are stored only hashed, and in token mode a connection
//! lives as long as its token, renewed with `reauth`.

use std::time::Duration;

use futures_util::StreamExt;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use relay::{accounts::TokenHash, Config};
use serde_json::json;
use shared::{close, ClientMsg, ErrorCode, ServerMsg};
use tests::{
    client::{history_of, InFlight},
    Client, InProcessRelay, NatsServer, RelayProcess, WAIT,
};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// The resume TTL of these tests: shorter than the time they stay online.
const TTL: &str = "5";
/// How long a user stays connected: two TTLs.
const ONLINE: Duration = Duration::from_secs(10);

/// Keeps `client` busy (a ping a second, each answered) for `span`.
async fn stay_connected(client: &mut Client, span: Duration) {
    let until = Instant::now() + span;
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    while Instant::now() < until {
        tick.tick().await;
        client.settle().await.unwrap();
    }
}

/// Every file of a data directory (database, WAL), as text.
fn data_dir_text(dir: &std::path::Path) -> String {
    let mut text = String::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            text.push_str(&String::from_utf8_lossy(&std::fs::read(&path).unwrap()));
        }
    }
    text
}

#[tokio::test]
async fn an_online_identity_outlives_its_ttl_a_kill_9_and_retention() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().display().to_string();
    let args = ["--data-dir", &data_dir, "--resume-ttl-secs", TTL];
    let relay = RelayProcess::spawn(&args).await.unwrap();
    // Stored, but the ack is "lost": the client will send it again.
    let (mut alice, in_flight) = InFlight::start(&relay.ws_url()).await.unwrap();
    // Online for two TTLs, while retention runs (every refresh round).
    stay_connected(&mut alice, ONLINE).await;

    let mut relay = relay;
    relay.signal("KILL").unwrap();
    tokio::time::timeout(WAIT, relay.child.wait())
        .await
        .unwrap()
        .unwrap();
    drop(alice);
    let stored = data_dir_text(dir.path());
    assert!(
        stored.contains(&in_flight.identity.id.0),
        "the identity is on disk"
    );
    assert!(
        !stored.contains(&in_flight.token),
        "the resume token is stored hashed"
    );

    // The next relay runs retention at startup, then alice resumes and
    // sends her message again (the same identity, checked by `resume`).
    let relay = RelayProcess::spawn(&args).await.unwrap();
    let (_alice, seq) = in_flight.resume(&relay.ws_url()).await.unwrap();
    assert_eq!(
        seq, in_flight.seq,
        "the resend is recognised, not stored again"
    );
    let joined = Client::hello(&relay.ws_url(), "bob")
        .await
        .unwrap()
        .join("general", None)
        .await
        .unwrap();
    assert_eq!(history_of(&joined).len(), 1);
    assert!(!data_dir_text(dir.path()).contains(&in_flight.token));
}

/// Every message NATS carries, subject and payload as text, until `stop`.
async fn record_nats(url: &str, stop: CancellationToken) -> tokio::task::JoinHandle<Vec<String>> {
    let client = async_nats::connect(url).await.unwrap();
    let mut all = client.subscribe(">").await.unwrap();
    client.flush().await.unwrap();
    tokio::spawn(async move {
        let _client = client;
        let mut seen = Vec::new();
        while let Some(Some(message)) = stop.run_until_cancelled(all.next()).await {
            seen.push(format!(
                "{} {}",
                message.subject,
                String::from_utf8_lossy(&message.payload)
            ));
        }
        seen
    })
}

#[tokio::test]
async fn a_cluster_identity_outlives_its_ttl_and_its_relay_and_is_shared_hashed() {
    let nats = NatsServer::start().await.unwrap();
    let url = nats.url();
    let stop = CancellationToken::new();
    let traffic = record_nats(&url, stop.clone()).await;
    let args = ["--nats", &url, "--resume-ttl-secs", TTL];
    let a = RelayProcess::spawn(&args).await.unwrap();
    let b = RelayProcess::spawn(&args).await.unwrap();
    a.wait_ready().await.unwrap();
    b.wait_ready().await.unwrap();
    let (mut alice, in_flight) = InFlight::start(&a.ws_url()).await.unwrap();
    stay_connected(&mut alice, ONLINE).await;

    a.signal("KILL").unwrap();
    drop(alice);
    // The other relay knows alice and her resend.
    let (_alice, seq) = in_flight.resume(&b.ws_url()).await.unwrap();
    assert_eq!(seq, in_flight.seq);
    let InFlight {
        identity, token, ..
    } = in_flight;
    let mut bob = Client::hello(&b.ws_url(), "bob").await.unwrap();
    assert_eq!(
        history_of(&bob.join("general", None).await.unwrap()).len(),
        1
    );

    // The shared record is under the token's hash, and nothing NATS
    // carried or keeps holds the token itself.
    let js = async_nats::jetstream::new(async_nats::connect(&url).await.unwrap());
    let stream = js.get_stream("PALAVER_IDENTITIES").await.unwrap();
    let hashed = format!("palaver.identity.{}", TokenHash::of(&token).to_hex());
    let record = stream
        .get_last_raw_message_by_subject(&hashed)
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&record.payload).to_string();
    assert!(
        text.contains(&identity.id.0) && !text.contains(&token),
        "{text}"
    );
    drop(bob);
    stop.cancel();
    let seen = traffic.await.unwrap();
    assert!(seen.iter().any(|m| m.starts_with(&hashed)), "recorded");
    let leaks: Vec<&String> = seen.iter().filter(|m| m.contains(&token)).collect();
    assert!(leaks.is_empty(), "the clear token crossed NATS: {leaks:?}");
}

const SECRET: &str = "an HS256 secret of at least thirty-two bytes";

fn now() -> u64 {
    jsonwebtoken::get_current_timestamp()
}

fn sign(claims: serde_json::Value) -> String {
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .unwrap()
}

/// A token-mode relay without clock leeway, so a token ends at its `exp`.
async fn token_relay(audience: Option<&str>, issuer: Option<&str>) -> InProcessRelay {
    let mut config = Config::for_tests();
    config.auth_secret = Some(SECRET.into());
    config.auth_leeway_secs = 0;
    config.auth_audience = audience.map(String::from);
    config.auth_issuer = issuer.map(String::from);
    InProcessRelay::start(config).await
}

/// Connects with `token` and expects `welcome`.
async fn welcomed(url: &str, token: &str) -> Client {
    let mut client = Client::connect(url).await.unwrap();
    let reply = client.hello_with_token(token).await.unwrap();
    assert!(matches!(reply, ServerMsg::Welcome { .. }), "{reply:?}");
    client
}

/// Waits for `token_expiring` and returns its `exp`.
async fn expiring(client: &mut Client) -> u64 {
    match client
        .recv_until(|m| matches!(m, ServerMsg::TokenExpiring { .. }))
        .await
        .unwrap()
    {
        ServerMsg::TokenExpiring { exp } => exp,
        _ => unreachable!(),
    }
}

#[tokio::test]
async fn without_reauth_the_connection_closes_at_exp() {
    let relay = token_relay(None, None).await;
    let exp = now() + 3;
    let mut ada = welcomed(
        &relay.ws_url(),
        &sign(json!({"sub": "ada", "name": "Ada", "exp": exp})),
    )
    .await;
    // Less than the warning time left: told at once.
    assert_eq!(expiring(&mut ada).await, exp);
    assert_eq!(ada.expect_close().await.unwrap(), close::TOKEN_EXPIRED);
    assert!(now() >= exp, "not before exp");
}

#[tokio::test]
async fn reauth_before_exp_keeps_the_session() {
    let relay = token_relay(None, None).await;
    let exp = now() + 2;
    let mut ada = welcomed(
        &relay.ws_url(),
        &sign(json!({"sub": "ada", "name": "Ada", "exp": exp})),
    )
    .await;
    // Less than the warning time left: told at once, before anything else.
    assert_eq!(expiring(&mut ada).await, exp);
    ada.join("general", None).await.unwrap();
    let fresh = sign(json!({"sub": "ada", "name": "Ada", "exp": now() + 3600}));
    ada.send(&ClientMsg::Reauth { token: fresh }).await.unwrap();
    // Past the first token's exp, the session still serves.
    stay_connected(&mut ada, Duration::from_secs(4)).await;
    assert!(now() > exp);
    assert_eq!(
        ada.say_acked("general", "still here", "r-1").await.unwrap(),
        1
    );
}

#[tokio::test]
async fn reauth_for_another_user_or_a_bad_token_is_refused() {
    let relay = token_relay(None, None).await;
    let url = relay.ws_url();
    let mut ada = welcomed(
        &url,
        &sign(json!({"sub": "ada", "name": "Ada", "exp": now() + 3600})),
    )
    .await;
    // A token that does not verify changes nothing.
    let expired = sign(json!({"sub": "ada", "name": "Ada", "exp": now() - 60}));
    ada.send(&ClientMsg::Reauth { token: expired })
        .await
        .unwrap();
    assert_eq!(ada.expect_error().await.unwrap().0, ErrorCode::Unauthorized);
    ada.join("general", None).await.unwrap();
    // Another user's token ends the connection.
    let eve = sign(json!({"sub": "eve", "name": "Eve", "exp": now() + 3600}));
    ada.send(&ClientMsg::Reauth { token: eve }).await.unwrap();
    assert_eq!(ada.expect_error().await.unwrap().0, ErrorCode::Forbidden);
    assert_eq!(ada.expect_close().await.unwrap(), close::UNAUTHORIZED);

    // Anonymous relays have no token to renew.
    let anonymous = InProcessRelay::default().await;
    let mut bob = Client::hello(&anonymous.ws_url(), "bob").await.unwrap();
    let token = sign(json!({"sub": "bob", "name": "Bob", "exp": now() + 60}));
    bob.send(&ClientMsg::Reauth { token }).await.unwrap();
    assert_eq!(bob.expect_error().await.unwrap().0, ErrorCode::Forbidden);
}

#[tokio::test]
async fn audience_and_issuer_are_checked_when_configured() {
    let relay = token_relay(Some("palaver"), Some("https://login.example")).await;
    let url = relay.ws_url();
    let exp = now() + 3600;
    welcomed(
        &url,
        &sign(json!({"sub": "ada", "name": "Ada", "exp": exp,
            "aud": "palaver", "iss": "https://login.example"})),
    )
    .await;
    for claims in [
        json!({"sub": "ada", "name": "Ada", "exp": exp, "aud": "other", "iss": "https://login.example"}),
        json!({"sub": "ada", "name": "Ada", "exp": exp, "aud": "palaver", "iss": "https://evil.example"}),
        json!({"sub": "ada", "name": "Ada", "exp": exp, "iss": "https://login.example"}),
        json!({"sub": "ada", "name": "Ada", "exp": exp, "aud": "palaver"}),
    ] {
        let mut client = Client::connect(&url).await.unwrap();
        let reply = client
            .hello_with_token(&sign(claims.clone()))
            .await
            .unwrap();
        assert!(
            matches!(
                reply,
                ServerMsg::Error {
                    code: ErrorCode::Unauthorized,
                    ..
                }
            ),
            "{claims}: {reply:?}"
        );
        assert_eq!(client.expect_close().await.unwrap(), close::UNAUTHORIZED);
    }
}

#[tokio::test]
async fn palaver_chat_renews_its_token_through_token_cmd() {
    let relay = RelayProcess::spawn(&[
        "--store",
        "memory",
        "--auth-secret",
        SECRET,
        "--auth-leeway-secs",
        "0",
    ])
    .await
    .unwrap();
    let url = relay.ws_url();
    let dir = tempfile::tempdir().unwrap();
    let exp = now() + 2;
    let tokens =
        [exp, now() + 3600].map(|exp| sign(json!({"sub": "cli", "name": "Cli", "exp": exp})));
    for (n, token) in tokens.iter().enumerate() {
        std::fs::write(dir.path().join(format!("token-{n}")), token).unwrap();
    }
    // Prints token-0, then token-1, ...; counts its runs in `n`.
    let d = dir.path().display();
    let command =
        format!("n=$(cat {d}/n 2>/dev/null || echo 0); echo $((n + 1)) > {d}/n; cat {d}/token-$n");
    let mut ada = welcomed(
        &url,
        &sign(json!({"sub": "ada", "name": "Ada", "exp": now() + 3600})),
    )
    .await;
    ada.join("general", None).await.unwrap();
    let mut chat = tokio::process::Command::new(tests::binary("palaver"))
        .args(["chat", &url, "--room", "general", "--token-cmd", &command])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    ada.recv_until(|m| matches!(m, ServerMsg::Presence { user, .. } if user.id.0 == "cli"))
        .await
        .unwrap();
    // Past the first token's exp.
    stay_connected(
        &mut ada,
        Duration::from_secs((exp + 2).saturating_sub(now())),
    )
    .await;
    let mut stdin = chat.stdin.take().unwrap();
    tokio::io::AsyncWriteExt::write_all(&mut stdin, b"after exp\n")
        .await
        .unwrap();
    let said = ada
        .recv_until(|m| matches!(m, ServerMsg::Message(m) if m.from.id.0 == "cli"))
        .await
        .unwrap();
    assert!(matches!(said, ServerMsg::Message(m) if m.text.as_str() == "after exp"));
    let runs = std::fs::read_to_string(dir.path().join("n")).unwrap();
    assert_eq!(runs.trim(), "2", "one token for hello, one for reauth");
    // A reconnect would also take two tokens: count the connections.
    assert_eq!(
        relay
            .metric("palaver_connections_accepted_total")
            .await
            .unwrap(),
        2,
        "ada's and palaver chat's, which was never closed"
    );
}
